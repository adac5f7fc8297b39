#!/bin/sh
# reason_codes.sh: every reason code the stages give has a short stored name in item.c, and txpiped(8) lists the same table.
#
# The stored record keeps reasons under the short names of item.c's
# reason_codes[] so that the largest record stays within one DynamoDB
# write unit (test_item); a code missing from it is stored whole, which
# is correct but could take that record over 1 KB.  The codes are read
# from the sources: each literal passed to txp_txn_add_reason() or the
# compliance stage's fire(), and the members of fraud.c's *_codes tables.
set -u

: "${top_srcdir:=.}"
src=$top_srcdir/src
tmp=${TMPDIR:-/tmp}/reason_codes.$$
trap 'rm -f "$tmp".*' EXIT

{
	grep -ohE '(txp_txn_add_reason\(t, |fire\(t, )"[a-z_]+"' "$src"/screening/*.c "$src"/pipeline/*.c |
		sed -E 's/.*"([a-z_]+)"/\1/'
	sed -n '/_codes\[.*\] = {/,/};/p' "$src/screening/fraud.c" | grep -oE '"[a-z_]+"' | tr -d '"'
} | sort -u >"$tmp.given"
sed -n '/^} reason_codes\[\] = {/,/^};/p' "$src/decision/item.c" |
	sed -nE 's/^[[:space:]]*\{ "([a-z_]+)", "([a-z]+)" \},$/\1 \2/p' | sort >"$tmp.table"
sed -n '/^Code|Stored$/,/^\.TE$/p' "$top_srcdir/man/txpiped.8" | grep -E '^[a-z_]+\|[a-z]+$' | tr '|' ' ' |
	sort >"$tmp.man"

fail=0
n=$(wc -l <"$tmp.given")
if [ "$n" -lt 39 ]; then
	echo "FAIL: only $n reason codes found in the sources: the extraction is broken"
	fail=1
fi
missing=$(cut -d' ' -f1 "$tmp.table" | comm -23 "$tmp.given" -)
if [ -n "$missing" ]; then
	echo "FAIL: reason codes without a short stored name in item.c's reason_codes[]:" $missing
	fail=1
fi
if [ "$(cut -d' ' -f2 "$tmp.table" | sort | uniq -d)" != "" ]; then
	echo "FAIL: two codes share a short name:" $(cut -d' ' -f2 "$tmp.table" | sort | uniq -d)
	fail=1
fi
if ! cmp -s "$tmp.table" "$tmp.man"; then
	echo "FAIL: txpiped(8) STORED RECORD and item.c's reason_codes[] differ:"
	diff "$tmp.table" "$tmp.man"
	fail=1
fi
echo "$n reason codes in the sources, $(wc -l <"$tmp.table") in item.c's table"
exit $fail
