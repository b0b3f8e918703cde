#!/usr/bin/env bash
# Runs the plugin's tests in headless Neovim against the built sidecar.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
: "${MIMIR_SIDECAR_BIN:=$repo/.build/mimir-sidecar}"
export MIMIR_SIDECAR_BIN MIMIR_REPO="$repo"
nvim --version | head -1
exec timeout 300 nvim --headless -u NONE -i NONE -n \
  --cmd "set rtp^=$here" --cmd "runtime plugin/mimir.lua" \
  -c "luafile $here/tests/run.lua"
