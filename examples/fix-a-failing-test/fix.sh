#!/bin/sh
# The worker: a scripted stand-in for a coding agent, so the example needs
# no network. It works in a git worktree of the project, as the user has it,
# and edits slugify.sh in place. On its first attempt it only handles
# punctuation, as an agent that did not run the tests might; QC's gap (in
# $MIMIR_GAP_FILE) names the failing test, and the second attempt fixes the
# spaces too.
set -e
if [ "$MIMIR_ATTEMPT" = 1 ]; then
	cat > slugify.sh <<'SH'
#!/bin/sh
# slugify TITLE: the URL slug of a title ("Hello, World!" -> hello-world).
printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9 \n' | tr ' ' '-'
SH
	echo "Dropped the punctuation."
else
	echo "The gap says:"
	cat "$MIMIR_GAP_FILE"
	cat > slugify.sh <<'SH'
#!/bin/sh
# slugify TITLE: the URL slug of a title ("Hello, World!" -> hello-world).
printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9 \n' |
	tr -s ' ' | sed 's/^ //; s/ $//' | tr ' ' '-'
SH
	echo "Squeezed and trimmed the spaces as well."
fi
