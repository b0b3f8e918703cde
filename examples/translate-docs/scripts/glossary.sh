#!/bin/sh
# Worker: list every word of the source with its French and German entries.
set -eu
here="$MIMIR_WORKFLOW_DIR"
mkdir -p reports
{
  echo "word,fr,de"
  tr 'A-Z' 'a-z' < "$here/source/README.md" | tr -cs 'a-z' '\n' | sort -u | grep . |
    awk -v fr="$here/dict/fr.txt" -v de="$here/dict/de.txt" '
      BEGIN {
        while ((getline l < fr) > 0) { split(l, kv, "="); f[kv[1]] = kv[2] }
        while ((getline l < de) > 0) { split(l, kv, "="); g[kv[1]] = kv[2] }
      }
      { print $0 "," f[$0] "," g[$0] }'
} > reports/glossary.csv
echo "glossary: $(($(wc -l < reports/glossary.csv) - 1)) words"
