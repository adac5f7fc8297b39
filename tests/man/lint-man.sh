#!/bin/sh
# lint-man.sh: every man page renders without a single warning from groff, and from mandoc when installed.
#
# groff -ww turns on every warning category and -z discards the output, so
# anything printed is a problem in the page.  Pages that start with '\" t
# go through tbl first, as man(1) does.  mandoc's lint is stricter about
# structure; its style-level notes are not counted, only warnings and up.
# Skips (77) without groff.
set -u

: "${top_srcdir:=.}"
PAGES="man/txpiped.8 man/txpipectl.1 man/txpiped.ini.5"

if ! command -v groff >/dev/null 2>&1; then
	echo "SKIP: groff is not installed"
	exit 77
fi
status=0
for p in $PAGES; do
	f=$top_srcdir/$p
	if [ ! -f "$f" ]; then
		echo "FAIL: $p is missing"
		status=1
		continue
	fi
	pre=
	head -n 1 "$f" | grep -q "^'\\\\\" t" && pre=-t
	out=$(LC_ALL=C groff $pre -man -ww -z "$f" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL: groff $pre -man -ww -z $p:"
		echo "$out"
		status=1
	else
		echo "ok: groff $pre -man -ww -z $p"
	fi
	if command -v mandoc >/dev/null 2>&1; then
		out=$(mandoc -Tlint -Wwarning "$f" 2>&1)
		if [ -n "$out" ]; then
			echo "FAIL: mandoc -Tlint -Wwarning $p:"
			echo "$out"
			status=1
		else
			echo "ok: mandoc -Tlint -Wwarning $p"
		fi
	fi
done
exit $status
