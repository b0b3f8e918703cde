#!/usr/bin/env bash
# The VS Code extension: type check, unit tests, the Studio page in
# headless Chromium. scripts/release packages it (release.sh checks that).
set -euo pipefail
cd "$(dirname "$0")/../../editors/vscode"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm test
npm run --silent test:browser
