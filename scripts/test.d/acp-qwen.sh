#!/usr/bin/env bash
# Qwen Code, a real third-party ACP agent, from npm (pinned in
# tests/acp-qwen/package-lock.json), against the scripted chat-completions
# server of internal/fakemodel: the Go tests that need the agent run here,
# with MIMIR_QWEN set, and skip in the plain `go test ./...` run before.
# Qwen Code 0.24.4 declares Node >= 22 but runs on the Node 20 the
# code-server suite needs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo/tests/acp-qwen"
# Not npm ci: Qwen Code lists optional platform packages the registry does
# not have (@teddyzhu/clipboard-darwin-arm64, …), which npm leaves out of
# the lockfile and npm ci then calls out of sync. Its own package bundles
# everything (no dependencies), and none of the optional ones (clipboard,
# images, a pty) serves ACP, so this installs that one package, at the
# version and integrity the lockfile pins, without touching the lockfile.
npm install --no-save --omit=optional --no-audit --no-fund --loglevel=error
export MIMIR_QWEN="$PWD/node_modules/.bin/qwen"
"$MIMIR_QWEN" --version >/dev/null
cd "$repo"
go test -race -count=1 -run 'Qwen' ./tests/acp-qwen/
