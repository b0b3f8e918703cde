#!/usr/bin/env bash
# The VS Code extension: type check, unit tests, the Studio page in
# headless Chromium, and packaging into a .vsix.
set -euo pipefail
cd "$(dirname "$0")/../../editors/vscode"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm test
npm run --silent test:browser
npx vsce package --no-dependencies --out test-artifacts/mimir-sidecar.vsix >/dev/null
echo "packaged test-artifacts/mimir-sidecar.vsix"
