#!/usr/bin/env bash
# The sidecar driven by vscode-jsonrpc, the JSON-RPC library of VS Code.
set -euo pipefail
cd "$(dirname "$0")/../../tests/lsp-client"
npm ci --no-audit --no-fund --loglevel=error
npm test
