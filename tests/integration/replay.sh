#!/usr/bin/env bash
# replay.sh: `txpipectl replay` as an operator runs it: offline (no daemon, no AWS), the candidate
# against --baseline or the global --config, exactly the changed decisions listed, usage errors.
#
# Exit status 0 when every check passed, 1 otherwise.  Needs no emulator and no Node.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"

TXPIPECTL=$top_builddir/txpipectl
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-replay.XXXXXX")
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$TXPIPECTL" genkey "$workdir/card.key" >/dev/null && "$TXPIPECTL" genkey "$workdir/pseud.key" >/dev/null
# config NAME HIGH_AMOUNT_USD: the daemon's socket is one no daemon listens on: replay never uses it.
config() {
	cat >"$workdir/$1.ini" <<EOC
[daemon]
socket = $workdir/nobody.sock
[fraud]
high_amount_usd = $2
high_amount_points = 60
[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
[aws]
enabled = false
EOC
}
config running 1000
config candidate 3000
config stricter 500

# txn ID AMOUNT CUSTOMER TIME
txn() {
	printf '{"transaction_id":"%s","amount":"%s","currency":"USD","merchant_id":"m-%s","customer_id":"%s","merchant_country":"DE","customer_country":"DE","timestamp":"2026-12-06T10:00:%02dZ"}\n' \
		"$1" "$2" "$1" "$3" "$4"
}
{
	txn r1 500.55 c-1 1
	txn r2 1500.55 c-2 2
	txn r3 1700.55 c-3 3
	txn r4 700.55 c-4 4
	echo '{"transaction_id":"r5","currency":"USD"}'
} >"$workdir/day.ndjson"

"$TXPIPECTL" --config "$workdir/running.ini" replay --config "$workdir/candidate.ini" "$workdir/day.ndjson" \
	>"$workdir/out1" 2>&1
check "replay against the running config exits 0" 0 "$?"
check "it lists exactly the two decisions the raised threshold changes" \
	"r2 review -> approved score 60 -> 0 -high_amount:60|r3 review -> approved score 60 -> 0 -high_amount:60" \
	"$(grep -E '^r[0-9] ' "$workdir/out1" | tr '\n' '|' | sed 's/|$//')"
check_line "the approved count moves by two" "$workdir/out1" "approved              2            4       +2"
check_line "the rejected line is counted on both sides" "$workdir/out1" "rejected              1            1       +0"
check "the summary names five lines and both rules versions" 1 \
	"$(grep -cE '^lines 5, status changed 2, reasons changed 0 \(baseline rules [0-9a-f]{12}, candidate [0-9a-f]{12}\)$' "$workdir/out1")"

"$TXPIPECTL" replay --baseline "$workdir/stricter.ini" --config "$workdir/candidate.ini" - \
	<"$workdir/day.ndjson" >"$workdir/out2" 2>&1
check "--baseline and standard input" 0 "$?"
check "against the stricter baseline (500), r1 and r4 change too" \
	"r1 review -> approved|r2 review -> approved|r3 review -> approved|r4 review -> approved" \
	"$(grep -E '^r[0-9] ' "$workdir/out2" | cut -d' ' -f1-4 | tr '\n' '|' | sed 's/|$//')"
check_absent "no socket is needed" "nobody.sock" "$workdir/out1" "$workdir/out2"

"$TXPIPECTL" replay "$workdir/day.ndjson" >/dev/null 2>"$workdir/err3"
check "without --config it is a usage error (64)" 64 "$?"
"$TXPIPECTL" --config "$workdir/running.ini" replay --config "$workdir/candidate.ini" "$workdir/none.ndjson" \
	>/dev/null 2>"$workdir/err4"
check "a missing file exits 66" 66 "$?"
"$TXPIPECTL" --config "$workdir/running.ini" replay --config "$workdir/missing.ini" "$workdir/day.ndjson" \
	>/dev/null 2>"$workdir/err5"
check "a candidate that does not load exits 78" 78 "$?"
