#!/bin/sh
# Worker: publish both translations as a small static site.
set -eu
root="$MIMIR_STAGING_ROOT"
mkdir -p site/fr site/de
cp "$root/translate-fr/docs/fr/README.md" site/fr/README.md
cp "$root/translate-de/docs/de/README.md" site/de/README.md
cat > site/index.html <<HTML
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
echo "site: $(find site -type f | wc -l) files"
