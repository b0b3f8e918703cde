#!/usr/bin/env bash
# The SSE mirror with real clients: curl, eventsource, and Chromium.
set -euo pipefail
cd "$(dirname "$0")/../../tests/sse-clients"
npm ci --no-audit --no-fund --loglevel=error
npm test
