#!/bin/sh
# Worker: publish both translations as a small static site.
set -eu
root="$MIMIR_STAGING_ROOT"
# The task's folder is the site: its deliverables are site/index.html,
# site/fr/README.md and site/de/README.md, not site/site/….
mkdir -p fr de
cp "$root/translate-fr/docs/fr/README.md" fr/README.md
cp "$root/translate-de/docs/de/README.md" de/README.md
cat > index.html <<HTML
<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Mimir documentation</title>
<h1>Mimir documentation</h1>
<ul>
  <li><a href="fr/README.md">Français</a></li>
  <li><a href="de/README.md">Deutsch</a></li>
</ul>
HTML
echo "site: $(find . -type f | wc -l) files"
