#!/bin/sh
# Run the example on a fresh copy of project/ in a temporary git repository,
# apply the fix and run the tests. From the repository's root:
#   sh examples/fix-a-failing-test/try.sh
# MIMIR_SIDECAR names the binary to use (default: go run ./cmd/mimir-sidecar).
set -e
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)}
cp -R "$here/project/." "$work/"
cd "$work"
git init -q
git add .
git -c user.name=example -c user.email=example@localhost commit -qm "slugify with a failing test"
echo "📁 The project is in $work; its tests fail:"
sh test.sh || true
echo
if [ -n "$MIMIR_SIDECAR" ]; then
	"$MIMIR_SIDECAR" run "$here/workflow.yaml" --workspace "$work" --apply
else
	(cd "$here/../.." && go run ./cmd/mimir-sidecar run "$here/workflow.yaml" --workspace "$work" --apply)
fi
echo
echo "After the apply:"
sh test.sh
git status --short
