#!/bin/sh
# slugify TITLE: the URL slug of a title ("Hello, World!" -> hello-world).
printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]' | tr ' ' '-'
