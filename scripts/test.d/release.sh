#!/usr/bin/env bash
# What scripts/release made (scripts/test runs it once, into $MIMIR_DIST):
# six binaries whose headers are their platforms', six platform .vsix each
# holding its own binary, the universal one, and SHA256SUMS.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
if [ -z "${MIMIR_DIST:-}" ]; then
  export MIMIR_DIST="$repo/.build/dist"
  scripts/release --out "$MIMIR_DIST"
fi
go test -count=1 ./tests/release/
