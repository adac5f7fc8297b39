#!/usr/bin/env bash
# fleet-adopt.sh: a [fleet] host killed with -9 under load while DynamoDB is away, its journal then
# delivered by `txpipectl journal adopt` from another host's configuration: every transaction the
# dead host acknowledged is in DynamoDB exactly once.  The journal's lease refuses an adopt while
# its daemon lives, a second adopt while one runs, and a daemon while an adopt holds it.
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped) only when Node cannot be set up.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TXP_TESTS_DIR=${TXP_TESTS_DIR:-$top_srcdir/tests}
export TXP_TESTS_DIR
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"

TXPIPED=$top_builddir/txpiped
TXPIPECTL=$top_builddir/txpipectl
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-fleet-adopt.XXXXXX")
table=txpipe-it-adopt
fleet=txpipe-it-adopt-fleet
# The records survive dynalite's restart.
export TXP_DYNALITE_PATH=$workdir/dynalite
declare -A pid=()

txp_cleanup() {
	local h
	for h in "${!pid[@]}"; do
		kill -KILL "${pid[$h]}" 2>/dev/null
		wait "${pid[$h]}" 2>/dev/null
	done
}

if ! txp_svc_node; then
	rm -rf "$workdir"
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh)"
	exit 77
fi
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "work directory: $workdir"
mkdir -p "$TXP_DYNALITE_PATH"
txp_svc_start_all "$workdir/logs" || exit 1
ok "emulators started"
"$TXPIPECTL" genkey "$workdir/card.key" >/dev/null && "$TXPIPECTL" genkey "$workdir/pseud.key" >/dev/null
check "key files created" 0 "$?"

# config HOST: $workdir/HOST.ini, its own socket and journal, the shared tables, a 3 s lease.
config() {
	cat >"$workdir/$1.ini" <<EOC
[daemon]
socket = $workdir/$1.sock
shutdown_timeout_ms = 5s

[pipeline]
workers = 1

[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
usd_rates = USD:1000000,EUR:1080000

[aws]
region = us-east-1
imds = false
connect_timeout_ms = 500ms
request_timeout_ms = 2s

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $table
flush_delay_ms = 5ms

[sns]
topic_arn =

[sqs]
queue_url =

[journal]
dir = $workdir/$1.journal
ack = journaled

[fleet]
enabled = true
instance_id = $1
table = $fleet
lease_ms = 3s
# dynalite has no TransactWriteItems (fleet-records.sh runs transactions at DynamoDB Local).
record_writes = put
EOC
}

start() { # HOST
	"$TXPIPED" --config "$workdir/$1.ini" 2>>"$workdir/$1.log" &
	pid[$1]=$!
	local i
	for ((i = 0; i < 300; i++)); do
		"$TXPIPECTL" --socket "$workdir/$1.sock" version >/dev/null 2>&1 && return 0
		kill -0 "${pid[$1]}" 2>/dev/null || break
		sleep 0.05
	done
	not_ok "txpiped $1 starts" "$(tail -n 20 "$workdir/$1.log")"
	return 1
}

adopt() { # HOST OUT: journal adopt of the dead host's journal with HOST's configuration
	"$TXPIPECTL" --config "$workdir/$1.ini" journal adopt "$workdir/dead.journal" >"$workdir/$2.out" 2>&1
}

for h in dead survivor other; do config "$h"; done
"$TXPIPECTL" --config "$workdir/dead.ini" provision >"$workdir/provision.out" 2>&1
check "txpipectl provision (records and fleet table) exits 0" 0 "$?"

start dead || exit 1
check "the dead-to-be host took its journal's lease" 1 \
	"$(grep -cE 'event=fleet_lease journal_id=[0-9a-f]{32} owner=dead ' "$workdir/dead.log")"
check "its journal has an id" 1 "$(grep -cE '^[0-9a-f]{32}$' "$workdir/dead.journal/journal.id")"

# --- adopting the journal of a live daemon is refused ----------------------------------------------
adopt survivor live
check "adopting a live daemon's journal exits 75" 75 "$?"
check "the refusal names the live owner" 1 "$(grep -c 'refused: .*held by dead, whose lease runs' "$workdir/live.out")"

# --- kill -9 under load, with DynamoDB away for the last part ------------------------------------------
awk 'BEGIN { for (i = 1; i <= 30000; i++)
	printf "{\"transaction_id\":\"ad-%d\",\"amount\":\"%d.%02d\",\"currency\":\"USD\",\"merchant_id\":\"m-%d\",\"customer_id\":\"cust-%d\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"card_number\":\"4111111111111111\"}\n", i, 5 + i % 300, i % 100, i % 7, i }' \
	>"$workdir/load.ndjson"
"$TXPIPECTL" --socket "$workdir/dead.sock" submit --file "$workdir/load.ndjson" >"$workdir/replies" 2>/dev/null &
producer=$!
for ((i = 0; i < 3000; i++)); do
	(($(grep -c transaction_id "$workdir/replies" 2>/dev/null) >= 300)) 2>/dev/null && break
	sleep 0.01
done
# DynamoDB stops answering (frozen: its requests time out), then the host dies.
kill -STOP -- "-${TXP_SVC_PGID[dynalite]}"
sleep 0.2
kill -KILL "${pid[dead]}"
wait "${pid[dead]}" 2>/dev/null
unset 'pid[dead]'
wait "$producer" 2>/dev/null
sed -nE 's/.*"transaction_id":"([^"]+)","status":"(approved|review|declined|rejected)".*/\1/p' "$workdir/replies" |
	sort -u >"$workdir/acked.txt"
acked=$(wc -l <"$workdir/acked.txt")
echo "     $acked acknowledged before kill -9"
check "the dead host acknowledged transactions" 1 "$((acked >= 300))"
check "it was killed in the middle of its load" 1 "$((acked < 30000))"
kill -CONT -- "-${TXP_SVC_PGID[dynalite]}"
check "some acknowledged transactions were not stored when it died" 1 \
	"$(($(txp_js ddb-scan.mjs "$table" | txp_node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))') < acked))"

# --- an adopt holding the lease refuses a second adopt and the daemon --------------------------------
jid=$(cat "$workdir/dead.journal/journal.id")
txp_js ddb-put-item.mjs "$fleet" "{\"pk\":\"lease|$jid\",\"owner\":\"adopt@other\",\"expires\":$(($(date +%s) + 600))}"
adopt survivor held
check "an adopt while another adopt holds the lease exits 75" 75 "$?"
check "the refusal names the other adopt" 1 "$(grep -c 'held by adopt@other' "$workdir/held.out")"
"$TXPIPED" --config "$workdir/dead.ini" 2>"$workdir/dead-restart.log"
check "the daemon refuses to start while an adopt holds its journal's lease: exit 75" 75 "$?"
check "its message names the holder" 1 "$(grep -c 'event=start_failed .*held by adopt@other, whose lease runs' "$workdir/dead-restart.log")"
txp_js ddb-put-item.mjs "$fleet" "{\"pk\":\"lease|$jid\",\"owner\":\"dead\",\"expires\":1}"

# --- two adopts at once: one delivers, the other is refused ------------------------------------------
adopt survivor first &
a1=$!
adopt other second &
a2=$!
wait "$a1"
rc1=$?
wait "$a2"
rc2=$?
sed 's/^/     first  | /' "$workdir/first.out"
sed 's/^/     second | /' "$workdir/second.out"
check "of two concurrent adopts, one exits 0 and the other 75" "0 75" "$(printf '%s\n' "$rc1" "$rc2" | sort -n | tr '\n' ' ' | sed 's/ $//')"
winner=first
[[ $rc1 == 0 ]] || winner=second
check "the refused one names the adopt holding the lease" 1 \
	"$(cat "$workdir/first.out" "$workdir/second.out" | grep -cE 'refused: .*held by adopt@(survivor|other)')"
check "the adopt delivered everything" 1 "$(grep -c '^left undelivered: 0$' "$workdir/$winner.out")"
check "the adopt released the lease" 1 "$(grep -c '^lease released$' "$workdir/$winner.out")"
check "nothing was dead-lettered" 1 "$(grep -c 'dead-lettered 0)$' "$workdir/$winner.out")"
# The dead host stored some of them before it died: the adopt finds those stored already (its
# records read back equal, decided_by apart), never as another host's decision.
check "records the dead host had stored count as stored already, not as conflicts" 1 \
	"$(grep -cE 'already stored [0-9]+, stored first by another host 0,' "$workdir/$winner.out")"

# --- every acknowledged transaction is stored once, as the dead host decided it -------------------------
txp_js ddb-scan.mjs "$table" >"$workdir/items.json"
txp_node -e 'for (const it of JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")))
	console.log(it.transaction_id, it.decided_by)' "$workdir/items.json" | sort >"$workdir/stored.txt"
check "the table holds each id once" "" "$(cut -d' ' -f1 "$workdir/stored.txt" | uniq -d | head -n 3)"
check "no acknowledged transaction is missing" "" \
	"$(comm -23 "$workdir/acked.txt" <(cut -d' ' -f1 "$workdir/stored.txt") | head -n 5 | tr '\n' ' ')"
check "every stored record says the dead host decided it" "" "$(awk '$2 != "dead"' "$workdir/stored.txt" | head -n 3)"

# --- again: nothing left to deliver ------------------------------------------------------------------
adopt survivor again
check "a second adopt after the first exits 0" 0 "$?"
check_line "and finds nothing undelivered" "$workdir/again.out" "undelivered records: 0"
start dead || exit 1
check "the host's daemon starts again on its journal" 0 "$(kill -0 "${pid[dead]}" 2>/dev/null; echo $?)"
kill -TERM "${pid[dead]}"
wait "${pid[dead]}"
check "and stops cleanly" 0 "$?"
unset 'pid[dead]'

# --- DynamoDB away at start: the daemon starts all the same and takes its lease once it answers -------
txp_svc_stop dynalite
start other || exit 1
check "with DynamoDB away the daemon starts, without its lease" 1 \
	"$(grep -c 'event=fleet_lease_unavailable ' "$workdir/other.log")"
txp_svc_restart_dynalite "$workdir/logs" || exit 1
for ((i = 0; i < 100; i++)); do
	grep -q 'event=fleet_lease journal_id=[0-9a-f]* owner=other lease_ms=3000 late=true' "$workdir/other.log" && break
	sleep 0.1
done
check "it takes the lease once DynamoDB answers" 1 \
	"$(grep -c 'event=fleet_lease journal_id=[0-9a-f]* owner=other lease_ms=3000 late=true' "$workdir/other.log")"
adopt_other=$("$TXPIPECTL" --config "$workdir/survivor.ini" journal adopt "$workdir/other.journal" 2>&1)
check "and an adopt of its journal is then refused: it is alive" 1 "$(grep -c 'refused: .*held by other' <<<"$adopt_other")"
# Killed and started again at once: its own lease is still live, and it is its own.
kill -KILL "${pid[other]}"
wait "${pid[other]}" 2>/dev/null
start other || exit 1
check "restarted after kill -9 within its lease, the daemon takes its own lease back" 1 \
	"$(grep -cE 'event=fleet_lease journal_id=[0-9a-f]{32} owner=other lease_ms=3000 before="other"' "$workdir/other.log")"
kill -TERM "${pid[other]}"
wait "${pid[other]}"
check "it stops cleanly" 0 "$?"
unset 'pid[other]'
check "and releases its lease" "" \
	"$(txp_js ddb-get.mjs "$fleet" "lease|$(cat "$workdir/other.journal/journal.id")" --key pk 2>/dev/null | grep -o '"owner"')"
