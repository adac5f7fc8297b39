#!/usr/bin/env bash
# outage.sh: DynamoDB goes away in the middle of a load and comes back: txpiped keeps answering
# (the journal holds the backlog, stats show it), nothing acknowledged is lost, the backlog drains
# when DynamoDB returns, and with [journal] ack = stored a reply waits for DynamoDB.
#
# dynalite keeps its tables on disk (TXP_DYNALITE_PATH) so the restarted one still has the table.
# Transactions whose retries ran out during the outage are dead-lettered (that counts as delivered,
# see txpiped(8)); `txpipectl dlq redrive` stores them once DynamoDB is back.
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
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-outage.XXXXXX")
# shellcheck source=SCRIPTDIR/durable-lib.sh
. "$top_srcdir/tests/integration/durable-lib.sh"

if ! txp_svc_node; then
	rm -rf "$workdir"
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh)"
	exit 77
fi
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "work directory: $workdir"
export TXP_DYNALITE_PATH=$workdir/dynalite-data
txp_svc_start_all "$workdir/logs" || exit 1
ok "emulators started (dynalite on disk)"
provision

# Retries that outlast a few seconds of outage: 20 attempts, backoff capped at 500 ms.
retry='[retry]
max_attempts = 20
base_delay_ms = 50ms
max_delay_ms = 500ms
budget_percent = 100'

# --- ack = stored: the reply waits for DynamoDB -----------------------------------------------------
write_config "ack = stored
$retry"
start_daemon || exit 1
producer stored-1 20
check "ack = stored: every reply counted a stored record" 20 "$(stat delivery.stored)"
txp_svc_stop dynalite
gen_lines stored-2 1 | "$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - \
	>"$workdir/replies/stored-2" 2>/dev/null &
submit_pid=$!
sleep 1.5
check "ack = stored: no reply while DynamoDB is down" 0 "$(grep -c transaction_id "$workdir/replies/stored-2")"
txp_svc_restart_dynalite "$workdir/logs" || exit 1
wait "$submit_pid"
check "ack = stored: the reply comes once DynamoDB is back" 1 "$(grep -c '"status":"approved"' "$workdir/replies/stored-2")"
stop_daemon
check "txpiped exits 0" 0 "$daemon_rc"

# --- ack = journaled: an outage in the middle of a load ----------------------------------------------
write_config "$retry"
start_daemon || exit 1
pids=()
for c in 1 2 3; do
	producer "load-$c" 3000 &
	pids+=($!)
done
sleep 0.5
txp_svc_stop dynalite
ok "dynalite stopped during the load"
# A fast build may have stored the whole load before the stop: these lines
# are sent while DynamoDB is down, so they certainly meet the outage.
producer load-4 500
sleep 2
undelivered=$(stat journal.undelivered)
check "the backlog shows in the stats (journal.undelivered > 0)" 1 "$((undelivered > 0))"
check "the journal holds it on disk" 1 "$(($(stat journal.disk_bytes) > 0))"
txp_svc_restart_dynalite "$workdir/logs" || exit 1
ok "dynalite restarted on the same port"
wait "${pids[@]}"
check "every line of the load was answered" 9500 "$(cat "$workdir"/replies/load-? | grep -c transaction_id)"
check "none was refused" 0 "$(cat "$workdir"/replies/load-? | grep -c '"code":"overloaded"')"
check "the backlog drains: nothing left to deliver" 0 "$(wait_stat journal.undelivered 0 120)"
check "delivery has nothing pending" 0 "$(wait_stat delivery.pending 0 60)"
dead=$(stat delivery.dead_lettered)
echo "     $(stat delivery.stored) stored, $dead dead-lettered, $(stat delivery.store_retries) store retries"
"$TXPIPECTL" --config "$workdir/txpiped.ini" dlq redrive --max 100000 >"$workdir/redrive.out" 2>&1
check "txpipectl dlq redrive exits 0" 0 "$?"
check "it redrives every dead letter" "$dead redriven, 0 left in the queue after failures" \
	"$(tail -n 1 "$workdir/redrive.out")"
check "delivery has nothing pending after the redrive" 0 "$(wait_stat delivery.pending 0 60)"
stop_daemon
check "txpiped exits 0" 0 "$daemon_rc"
check "nothing was reported lost" 0 "$(grep -c 'event=delivery_lost' "$workdir/txpiped.log")"
check_all_stored "after the outage"
