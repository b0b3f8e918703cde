#!/usr/bin/env bash
# The SSE mirror with real clients: curl, eventsource, and Chromium; and a
# listener written as a Mimir user writes one (mimir.test.mjs).
set -euo pipefail
cd "$(dirname "$0")/../../tests/sse-clients"
npm ci --no-audit --no-fund --loglevel=error
npm test
