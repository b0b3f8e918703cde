#!/bin/sh
# QC: run the project's tests in the worker's worktree, and check the change
# touches only the code (the diff is in $MIMIR_PATCH_FILE). A failed test
# becomes the gap the worker gets for its next attempt.
if ! out=$(sh test.sh 2>&1); then
	printf '%s\n' "$out" | grep FAIL | sed 's/"/\\"/g' | awk 'BEGIN { printf "{\"passed\": false, \"score\": 40, \"feedback\": \"The tests fail.\", \"issues\": [" } { printf "%s\"%s\"", (NR > 1 ? ", " : ""), $0 } END { print "], \"requiredFixes\": [\"Make sh test.sh pass.\"]}" }'
	exit 1
fi
if grep '^+++ b/' "$MIMIR_PATCH_FILE" | grep -qv '^+++ b/slugify.sh$'; then
	echo '{"passed": false, "score": 50, "feedback": "Change only slugify.sh.", "issues": [], "requiredFixes": ["Leave the tests alone."]}'
	exit 1
fi
echo '{"passed": true, "score": 100, "feedback": "All tests pass."}'
