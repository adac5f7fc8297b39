#!/usr/bin/env bash
# outage-large.sh: issue 14: an AWS outage with a large backlog does not freeze the daemon.
# First DynamoDB and SQS are down (alerts off), then DynamoDB, SNS and SQS (fauxqs serves both SNS
# and SQS; alerts on, the first backlog replayed with its alerts), each time with over 100,000
# decisions waiting: every line is answered, new transactions keep being answered within a bound,
# `txpipectl stats` answers within a second, the daemon idles at near-zero CPU, nothing is
# dead-lettered, and SIGTERM exits 0 within [daemon] shutdown_timeout_ms.  Then the services come
# back and the next start stores every acknowledged transaction in DynamoDB, each once.
#
# The backlog is sized by sending (TXP_OUTAGE_LARGE_N per client, two clients), not by time, so a
# slow (sanitizer) build reaches it too.  Exit status 0 when every check passed, 1 otherwise, 77
# (skipped) only when Node cannot be set up.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TXP_TESTS_DIR=${TXP_TESTS_DIR:-$top_srcdir/tests}
export TXP_TESTS_DIR
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-outage-large.XXXXXX")
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

per_client=${TXP_OUTAGE_LARGE_N:-50000}
# Long enough for a sanitizer build to free 100,000 queued jobs at exit; the flush itself ends at
# once, since only unreachable services are left.
shutdown_ms=10000

echo "work directory: $workdir"
export TXP_DYNALITE_PATH=$workdir/dynalite-data
txp_svc_start_all "$workdir/logs" || exit 1
ok "emulators started (dynalite on disk)"
provision

ms_now() { date +%s%3N; }

# cpu_ms: user + system CPU the daemon has used, in ms.
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$daemon_pid/stat"
}

# luhn_lines PREFIX N: N valid transactions with ids PREFIX-1 .. PREFIX-N, each with its own
# customer and its own (Luhn-valid) card, so velocity rules stay quiet and alerts come from the
# amounts alone (one line in 50 is large).
luhn_lines() {
	awk -v p="$1" -v n="$2" 'BEGIN {
		for (i = 1; i <= n; i++) {
			body = sprintf("4%014d", i)
			sum = 0
			for (k = 15; k >= 1; k--) {
				d = substr(body, k, 1) + 0
				if ((15 - k) % 2 == 0) { d *= 2; if (d > 9) d -= 9 }
				sum += d
			}
			amt = (i % 50 == 0) ? "9000.00" : sprintf("%d.%02d", 5 + i % 300, i % 100)
			printf "{\"transaction_id\":\"%s-%d\",\"amount\":\"%s\",\"currency\":\"USD\",\"merchant_id\":\"m-%d\",\"customer_id\":\"%s-c%d\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"card_number\":\"%s%d\"}\n", p, i, amt, i % 7, p, i, body, (10 - sum % 10) % 10
		}
	}'
}

# send PREFIX N: one client sending N lines; replies in $workdir/replies/PREFIX.
send() {
	mkdir -p "$workdir/replies"
	luhn_lines "$1" "$2" | "$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - \
		>"$workdir/replies/$1" 2>"$workdir/replies/$1.err"
}

# outage NAME TOPIC N: one outage: the services are down when the daemon starts (so nothing
# drains), it gets 2 * N lines (what the journal already holds is replayed on top), and must stay
# responsive, idle and stop within its budget.  TOPIC empty leaves alerts off.
outage() {
	local name=$1 topic=$2 n=$3 t0 t1 c0 c1 worst=0 i el undelivered pending want

	echo "--- $name ---"
	# Backlog bounds over the backlog, so nothing waits for room ([dynamodb] max_pending would
	# hold new lines back, by design); write_config's topic and timeout give way to ours.
	write_config "ack = journaled
[dynamodb]
max_pending = 1000000
[sqs]
max_held = 1000000"
	sed -i -e "s|^topic_arn = .*|topic_arn = $topic|" -e "s|^shutdown_timeout_ms = .*|shutdown_timeout_ms = ${shutdown_ms}ms|" \
		"$workdir/txpiped.ini"
	txp_svc_stop dynalite
	txp_svc_stop fauxqs
	ok "$name: services stopped"
	start_daemon || return 1
	want=$(($(stat journal.undelivered) + 2 * n))

	t0=$(ms_now)
	send "$name-a" "$n" &
	local pa=$!
	send "$name-b" "$n" &
	local pb=$!
	wait "$pa" "$pb"
	t1=$(ms_now)
	echo "     $((2 * n)) lines answered in $((t1 - t0)) ms"
	check "$name: every line was answered with a decision" "$((2 * n))" \
		"$(cat "$workdir/replies/$name"-[ab] | grep -cE '"status":"(approved|review|declined)"')"
	# Waiting to be sent, or for a retry (the calls that were out when the services went).  A
	# probe of a service found unreachable may be out at the moment of asking, its batch in
	# neither figure: it comes back refused at once, so ask again for a little while.
	for ((i = 0; i < 50; i++)); do
		undelivered=$(stat journal.undelivered)
		pending=$(($(stat delivery.pending) + $(stat delivery.retrying)))
		((pending >= want)) && break
		sleep 0.1
	done
	echo "     journal.undelivered=$undelivered delivery.pending+retrying=$pending"
	check "$name: $want (at least 100000) decisions wait for delivery" 1 \
		"$((want >= 100000 && undelivered == want && pending >= want))"
	check "$name: nothing was dead-lettered or dropped" "0 0" \
		"$(stat delivery.dead_lettered) $(stat delivery.dlq_dropped)"

	# Idle in the outage: the backlog waits, only a probe now and then.
	sleep 1
	c0=$(cpu_ms)
	sleep 5
	c1=$(cpu_ms)
	echo "     CPU over 5 s of outage: $((c1 - c0)) ms"
	check "$name: CPU over 5 s of outage under 250 ms" 1 "$((c1 - c0 < 250))"

	for i in 1 2 3 4 5; do
		t0=$(ms_now)
		"$TXPIPECTL" --socket "$workdir/txpiped.sock" stats --format json >/dev/null 2>&1
		el=$(($(ms_now) - t0))
		((el > worst)) && worst=$el
	done
	echo "     txpipectl stats: slowest of 5 in $worst ms"
	check "$name: txpipectl stats answers within 1 s" 1 "$((worst < 1000))"

	t0=$(ms_now)
	luhn_lines "$name-new" 500 | timeout 10 "$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - \
		>"$workdir/replies/$name-new" 2>"$workdir/replies/$name-new.err"
	el=$(($(ms_now) - t0))
	echo "     500 new transactions answered in $el ms"
	check "$name: new transactions during the outage are all answered within 10 s" 500 \
		"$(grep -cE '"status":"(approved|review|declined)"' "$workdir/replies/$name-new")"

	t0=$(ms_now)
	stop_daemon
	el=$(($(ms_now) - t0))
	echo "     SIGTERM to exit: $el ms (shutdown_timeout_ms = $shutdown_ms)"
	check "$name: SIGTERM: txpiped exits 0" 0 "$daemon_rc"
	check "$name: SIGTERM: it exits within shutdown_timeout_ms" 1 "$((el <= shutdown_ms))"
	check "$name: nothing was reported lost" 0 "$(grep -c 'event=delivery_lost' "$workdir/txpiped.log")"
}

: >"$workdir/txpiped.log"
# DynamoDB and SQS down, alerts off: 100,000 decisions for DynamoDB alone.
outage ddb-sqs "" "$per_client" || exit 1
# DynamoDB, SNS and SQS down (fauxqs serves both), alerts on: the journal's backlog is replayed
# (now with its alerts) and more comes on top.
outage ddb-sns-sqs "$topic_arn" "$((per_client / 5))" || exit 1

# Over [dynamodb] max_pending (the backlog above is replayed into a bound of 1000): new
# transactions are answered overloaded at once instead of waiting for an outage to end, and
# control requests are still answered.  (They used to wait unanswered, stats too.)
echo "--- over max_pending ---"
write_config "ack = journaled
[dynamodb]
max_pending = 1000"
start_daemon || exit 1
luhn_lines over 200 | timeout 10 "$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - \
	>"$workdir/replies/over" 2>"$workdir/replies/over.err"
check "over max_pending: all 200 new transactions are answered overloaded within 10 s" 200 \
	"$(grep -c '"code":"overloaded"' "$workdir/replies/over")"
t0=$(ms_now)
congested=$(timeout 10 "$TXPIPECTL" --socket "$workdir/txpiped.sock" stats --format json 2>/dev/null |
	jget delivery.congested)
el=$(($(ms_now) - t0))
check "over max_pending: stats answer within 1 s and say congested" "true 1" "$congested $((el < 1000))"
stop_daemon
check "over max_pending: txpiped exits 0" 0 "$daemon_rc"

# The services come back (fauxqs keeps nothing: the topic and queue are made again), and the next
# start delivers what the journal kept.
echo "--- services back ---"
txp_svc_restart_dynalite "$workdir/logs" || exit 1
for ((i = 0; i < 50; i++)); do
	TXP_FAUXQS_PORT=${SQS_ENDPOINT##*:} txp_svc_start_fauxqs "$workdir/logs" && break
	txp_svc_stop fauxqs
	sleep 0.1
done
check "fauxqs back on its port" "http://127.0.0.1:${SQS_ENDPOINT##*:}" "$SNS_ENDPOINT"
"$TXPIPECTL" --config "$workdir/txpiped.ini" provision >>"$workdir/provision.out" 2>&1
check "provisioned again" 0 "$?"
start_daemon || exit 1
t0=$(ms_now)
check "the restart redelivers the whole backlog" 0 "$(wait_stat journal.undelivered 0 400)"
echo "     redelivered in $(($(ms_now) - t0)) ms"
check "nothing dead-lettered after the restart" 0 "$(stat delivery.dead_lettered)"
check "alerts were published" 1 "$(($(stat delivery.alerts_published) > 0))"
stop_daemon
check "txpiped exits 0" 0 "$daemon_rc"
check_all_stored "after both outages"
check "every acknowledged transaction of both outages was counted" \
	"$((2 * per_client + 2 * (per_client / 5) + 1000))" "$(wc -l <"$workdir/acked.txt")"
