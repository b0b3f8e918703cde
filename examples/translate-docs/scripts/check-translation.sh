#!/bin/sh
# QC: every section of the translation must be translated. Prints a JSON
# verdict; a section still containing the English "the" is untranslated.
set -eu
lang="$1"
file="docs/$lang/README.md"
if [ ! -s "$file" ]; then
  printf '{"passed":false,"score":0,"feedback":"No translation found at %s.","issues":["%s is missing"],"requiredFixes":["Write the translation to %s"]}\n' "$file" "$file" "$file"
  exit 0
fi
awk '
  /^## / { n++; title[n] = substr($0, 4); next }
  n > 0 && tolower($0) ~ /(^| )the( |$)/ { bad[n] = 1 }
  END {
    missing = 0; issues = ""; first = 0
    for (i = 1; i <= n; i++) if (bad[i]) {
      missing++
      if (!first) first = i
      issues = issues (issues == "" ? "" : ",") "\"Section " title[i] " is not translated\""
    }
    done = n - missing
    score = n == 0 ? 0 : int(done * 100 / n + 0.5)
    if (missing == 0) {
      printf "{\"passed\":true,\"score\":%d,\"feedback\":\"All %d sections translated.\",\"issues\":[],\"requiredFixes\":[]}\n", score, n
    } else {
      printf "{\"passed\":false,\"score\":%d,\"feedback\":\"Translation incomplete: only %d of %d sections translated.\",\"issues\":[%s],\"requiredFixes\":[\"Fix 1: Translate the remaining sections (%d-%d)\",\"Fix 2: Keep the section numbering of the source\"]}\n", score, done, n, issues, first, n
    }
  }' "$file"
