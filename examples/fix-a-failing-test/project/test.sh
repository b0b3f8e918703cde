#!/bin/sh
# The project's tests: each line is a title and the slug it must give.
fail=0
check() {
	got=$(sh "$(dirname "$0")/slugify.sh" "$1")
	if [ "$got" = "$2" ]; then
		echo "ok   slugify \"$1\" = $2"
	else
		echo "FAIL slugify \"$1\" = $got, want $2"
		fail=1
	fi
}
check "Hello World" hello-world
check "Hello, World!" hello-world
check "  Many   spaces  " many-spaces
exit $fail
