# durable-lib.sh: shared by crash.sh and outage.sh: the daemon against the emulators, producers that
# record which transactions were acknowledged, and the check that each of them is in DynamoDB.
# Sourced after tests/lib/services.sh and tests/lib/itest.sh; the caller sets top_builddir and
# workdir, and traps finish.
# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # top_builddir and workdir come from the caller; daemon_rc goes to it

TXPIPED=$top_builddir/txpiped
TXPIPECTL=$top_builddir/txpipectl
table=txpipe-durable-transactions
topic_arn=arn:aws:sns:us-east-1:000000000000:txpipe-durable-alerts

# A crashed test leaves no daemon behind: kill -9, no drain.
txp_cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
}

# write_config [EXTRA-INI]: $workdir/txpiped.ini against the emulators, journal in $workdir/journal.
# shellcheck disable=SC2120 # the callers in outage.sh pass EXTRA-INI
write_config() {
	local queue_url="http://sqs.us-east-1.localhost:${SQS_ENDPOINT##*:}/000000000000/txpipe-durable-dlq"
	cat >"$workdir/txpiped.ini" <<EOC
[daemon]
socket = $workdir/txpiped.sock
shutdown_timeout_ms = 5s

[pipeline]
workers = 2

[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
usd_rates = USD:1000000,EUR:1080000

[aws]
region = us-east-1
imds = false

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $table
flush_delay_ms = 10ms

[sns]
endpoint = $SNS_ENDPOINT
topic_arn = $topic_arn

[sqs]
endpoint = $SQS_ENDPOINT
queue_url = $queue_url

[journal]
dir = $workdir/journal
${1:-}
EOC
}

# provision: keys, table, topic and queue.
provision() {
	"$TXPIPECTL" genkey "$workdir/card.key" >/dev/null && "$TXPIPECTL" genkey "$workdir/pseud.key" >/dev/null
	check "key files created" 0 "$?"
	write_config
	"$TXPIPECTL" --config "$workdir/txpiped.ini" provision >"$workdir/provision.out" 2>&1
	check "txpipectl provision exits 0" 0 "$?"
}

# start_daemon: starts txpiped (log appended to txpiped.log) and waits for its socket.
start_daemon() {
	local i
	"$TXPIPED" --config "$workdir/txpiped.ini" 2>>"$workdir/txpiped.log" &
	daemon_pid=$!
	for ((i = 0; i < 300; i++)); do
		if [[ -S $workdir/txpiped.sock ]] && "$TXPIPECTL" --socket "$workdir/txpiped.sock" version >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	not_ok "txpiped starts" "$(tail -n 20 "$workdir/txpiped.log")"
	return 1
}

# crash_daemon: kill -9, no drain, no flush.
crash_daemon() {
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=""
}

# gen_lines PREFIX N: N valid transactions with ids PREFIX-1 .. PREFIX-N, a few customers, amounts
# that give approved, review and declined.
gen_lines() {
	awk -v p="$1" -v n="$2" 'BEGIN {
		for (i = 1; i <= n; i++) {
			amt = (i % 50 == 0) ? "9000.00" : sprintf("%d.%02d", 5 + i % 300, i % 100)
			printf "{\"transaction_id\":\"%s-%d\",\"amount\":\"%s\",\"currency\":\"USD\",\"merchant_id\":\"m-%d\",\"customer_id\":\"cust-%d\",\"merchant_country\":\"US\",\"customer_country\":\"%s\",\"card_number\":\"4111111111111111\"}\n", p, i, amt, i % 7, i % 97, (i % 40 == 0) ? "GB" : "US"
		}
	}'
}

# producer PREFIX N: one client sending N lines; its replies go to $workdir/replies/PREFIX.
producer() {
	mkdir -p "$workdir/replies"
	gen_lines "$1" "$2" | "$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - \
		>"$workdir/replies/$1" 2>"$workdir/replies/$1.err"
}

# acked_ids: every transaction_id whose reply had a decision (approved, review, declined, rejected),
# sorted, one per line.
acked_ids() {
	local f
	for f in "$workdir"/replies/*; do
		[[ $f == *.err ]] || cat "$f"
	done |
		sed -nE 's/.*"transaction_id":"([^"]+)","status":"(approved|review|declined|rejected)".*/\1/p' | sort -u
}

# stored_ids: every transaction_id in the table, sorted (with repetitions, if any).
stored_ids() {
	txp_js ddb-scan.mjs "$table" >"$workdir/scan.json" || return 1
	txp_node -e '
		const items = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
		for (const it of items) console.log(it.transaction_id);' "$workdir/scan.json" | sort
}

# check_all_stored NAME: every acknowledged id is in the table, once.
check_all_stored() {
	acked_ids >"$workdir/acked.txt"
	stored_ids >"$workdir/stored.txt"
	check "$1: the table holds each id once" "" "$(uniq -d "$workdir/stored.txt" | head -n 3)"
	check "$1: no acknowledged transaction is missing from the table" "" \
		"$(comm -23 "$workdir/acked.txt" <(uniq "$workdir/stored.txt") | head -n 5 | tr '\n' ' ')"
	echo "     $(wc -l <"$workdir/acked.txt") acknowledged, $(uniq "$workdir/stored.txt" | wc -l) in the table"
}
