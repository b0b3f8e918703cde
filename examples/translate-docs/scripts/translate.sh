#!/bin/sh
# Worker: translate the README word by word with the language's dictionary.
#
# Like an agent that runs out of budget, the first attempt stops after three
# sections. When QC has sent a gap ($MIMIR_GAP_FILE, JSON), the worker reads
# which sections are missing and translates the whole document.
set -eu
lang="$1"
here="$MIMIR_WORKFLOW_DIR"
limit=3
if [ -n "${MIMIR_GAP_FILE:-}" ] && [ -s "$MIMIR_GAP_FILE" ]; then
  echo "attempt $MIMIR_ATTEMPT: QC reported: $(grep -o '"feedback": *"[^"]*"' "$MIMIR_GAP_FILE" | cut -d'"' -f4)"
  limit=1000
fi
mkdir -p "docs/$lang"
awk -v limit="$limit" -v dict="$here/dict/$lang.txt" '
  BEGIN { while ((getline l < dict) > 0) { split(l, kv, "="); d[kv[1]] = kv[2] } }
  /^## / { section++ }
  section > limit || /^# / { print; next }
  {
    out = ""
    for (i = 1; i <= NF; i++) {
      w = $i; p = ""
      if (match(w, /[.,:]+$/)) { p = substr(w, RSTART); w = substr(w, 1, RSTART - 1) }
      k = tolower(w)
      if (k in d) w = d[k]
      out = out (i > 1 ? " " : "") w p
    }
    print out
  }' "$here/source/README.md" > "docs/$lang/README.md"
echo "translated $(grep -c '^## ' "docs/$lang/README.md") sections (limit $limit)"
