#!/usr/bin/env bash
# Runs the plugin's tests in headless Neovim against the built sidecar, then
# checks the runner's summary: it must be there, with no failure, and with
# every test of run.lua passed (a run that stopped early passes fewer).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
: "${MIMIR_SIDECAR_BIN:=$repo/.build/mimir-sidecar}"
export MIMIR_SIDECAR_BIN MIMIR_REPO="$repo"
nvim --version | head -1

# One test( at the start of a line per test: see run.lua.
expected=$(grep -c '^test("' "$here/tests/run.lua")
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# run.lua ends Neovim itself; an error that stops it from loading at all
# would leave headless Neovim waiting, so it is caught here too.
status=0
timeout 300 nvim --headless -u NONE -i NONE -n \
  --cmd "set rtp^=$here" --cmd "runtime plugin/mimir.lua" \
  -c "lua local ok, err = pcall(dofile, [[$here/tests/run.lua]]) if not ok then io.stdout:write('FAIL loading run.lua\n' .. tostring(err) .. '\n0 passed, 1 failed\n') vim.cmd('cquit 1') end" \
  | tee "$out" || status=$?
[ "$status" = 124 ] && echo "the tests timed out after 300 s" >&2

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
if [ -z "$summary" ]; then
  echo "no 'N passed, N failed' summary: the runner stopped early (exit status $status)" >&2
  exit 1
fi
read -r passed _ failed _ <<<"$summary"
if [ "$failed" != 0 ] || [ "$passed" != "$expected" ] || [ "$status" != 0 ]; then
  echo "nvim tests: $passed of $expected passed, $failed failed (exit status $status)" >&2
  exit 1
fi
