#!/usr/bin/env bash
# The Neovim plugin in headless Neovim against the built sidecar.
set -euo pipefail
bash "$(dirname "$0")/../../editors/nvim/tests/run.sh"
