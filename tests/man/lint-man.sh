#!/bin/sh
# lint-man.sh: every man page renders without a single warning from groff, and from mandoc when installed.
#
# groff -ww turns on every warning category and -z discards the output, so
# anything printed is a problem in the page.  Pages that start with '\" t
# go through tbl first, as man(1) does.  mandoc's lint is stricter about
# structure; its style-level notes are not counted, only warnings and up.
# It also checks that txpiped.8's copies of man/fields.inc and
# man/reasons.inc match those files (`make update-man-inc` refreshes them).
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

# The body of an .inc file: all but its leading comment lines.
inc_body() {
	awk 'body || !/^\.\\"/ { body = 1; print }' "$1"
}
# The copy of man/$1.inc between txpiped.8's marker comments.
inc_copy() {
	awk -v b="---- man/$1.inc begin ----" -v e="---- man/$1.inc end ----" \
		'index($0, e) { on = 0 } on { print } index($0, b) { on = 1; found = 1 } END { exit !found }' \
		"$top_srcdir/man/txpiped.8"
}
for inc in fields reasons; do
	if ! inc_copy "$inc" >/dev/null; then
		echo "FAIL: man/txpiped.8 has no man/$inc.inc markers"
		status=1
	elif [ "$(inc_copy "$inc")" != "$(inc_body "$top_srcdir/man/$inc.inc")" ]; then
		echo "FAIL: man/txpiped.8's copy of man/$inc.inc is stale: run make update-man-inc"
		status=1
	else
		echo "ok: man/txpiped.8 holds man/$inc.inc as it is"
	fi
done
exit $status
