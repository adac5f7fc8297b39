#!/usr/bin/env bash
# fleet-records-bench.sh BUILDDIR [COUNT]: what first-decision-wins records cost: txpiped with [fleet] off
# (BatchWriteItem batches of 25) against [fleet] on (one conditional PutItem per record), same
# transactions, same dynalite, same run.
#
# For each: DynamoDB requests per stored transaction (the daemon's aws.dynamodb.requests), daemon
# CPU per transaction (user + system, screening included) and wall time until every record is
# stored.  A third run sends the same transactions again to a [fleet] daemon with a fresh journal:
# each conditional put then fails and the record is read back (a later submission of the same id is
# another decision, received later, so these count as conflicts): the cost of a cross-host duplicate.
set -u

build=$(cd "${1:?usage: fleet-records-bench.sh BUILDDIR [COUNT]}" && pwd)
count=${2:-${BENCH_FLEET_COUNT:-20000}}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
# shellcheck source=../tests/lib/services.sh
. "$top_srcdir/tests/lib/services.sh"

tmp=$(mktemp -d /tmp/txpipe-fleet-bench.XXXXXX)
daemon_pid=""
runs=0
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	txp_svc_stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

txp_svc_start_dynalite "$tmp" >/dev/null || { echo "fleet-records-bench: dynalite did not start" >&2; exit 1; }
txp_svc_aws_env
"$build/bench/txpbench" --dump "$count" --mix good=100,risky=0,invalid=0 --customers 5000 --seed 7 \
	>"$tmp/txns.ndjson"
lines=$(wc -l <"$tmp/txns.ndjson")
"$build/txpipectl" genkey "$tmp/card.key" >/dev/null
"$build/txpipectl" genkey "$tmp/pseud.key" >/dev/null
now_ms() { date +%s%3N; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
stat_of() { # PATH: one figure of the daemon's stats
	"$build/txpipectl" --socket "$tmp/txpiped.sock" stats --format json 2>/dev/null |
		TXP_P="$1" txp_node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
			let v=JSON.parse(s);for(const k of process.env.TXP_P.split("."))v=v?.[k];console.log(v??"")})'
}

echo "== machine"
echo "cpus: $(nproc); load: $(cut -d ' ' -f 1-3 /proc/loadavg) (before the runs); transactions: $lines"

# run NAME FLEET TABLE: starts a daemon, sends the file, waits until every record is stored (or found
# stored, or lost to a stored one), prints one line of figures, stops the daemon.
run() {
	# Each run its own journal: a journal's recent decisions fill the duplicate window at start.
	runs=$((runs + 1))
	cat >"$tmp/$1.ini" <<EOC
[daemon]
socket = $tmp/txpiped.sock
[log]
level = warning
[compliance]
card_token_key_file = $tmp/card.key
pseudonym_key_file = $tmp/pseud.key
usd_rates = USD:1000000,EUR:1080000,GBP:1270000,JPY:6700,CHF:1130000,CAD:730000,AUD:660000
[aws]
region = us-east-1
imds = false
[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $3
[sns]
topic_arn =
[sqs]
queue_url =
[journal]
dir = $tmp/journal-$runs
[fleet]
enabled = $2
instance_id = bench
table = txpipe-bench-fleet
# dynalite has no TransactWriteItems: this compares one conditional PutItem a record with batches.
record_writes = put
EOC
	"$build/txpipectl" --config "$tmp/$1.ini" provision >/dev/null 2>&1
	"$build/txpiped" --config "$tmp/$1.ini" 2>"$tmp/$1.log" &
	daemon_pid=$!
	for _ in $(seq 100); do "$build/txpipectl" --socket "$tmp/txpiped.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
	local req0 cpu0 t0 t1 cpu1 req1 done_n s1 s2 s3
	req0=$(stat_of aws.dynamodb.requests)
	cpu0=$(cpu_ticks "$daemon_pid")
	t0=$(now_ms)
	"$build/txpipectl" --quiet --socket "$tmp/txpiped.sock" submit --file "$tmp/txns.ndjson" >/dev/null 2>&1
	while :; do
		s1=$(stat_of delivery.stored)
		s2=$(stat_of fleet.already_stored) # absent with [fleet] off
		s3=$(stat_of fleet.conditional_conflicts)
		done_n=$((${s1:-0} + ${s2:-0} + ${s3:-0}))
		[ "$done_n" -ge "$lines" ] && break
		[ $(($(now_ms) - t0)) -lt 600000 ] || { echo "fleet-records-bench: $done_n of $lines in 10 min" >&2; exit 1; }
		sleep 0.05
	done
	t1=$(now_ms)
	cpu1=$(cpu_ticks "$daemon_pid")
	req1=$(stat_of aws.dynamodb.requests)
	awk -v name="$1" -v n="$lines" -v r=$((req1 - req0)) -v c=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" \
		-v ms=$((t1 - t0)) 'BEGIN { printf "%-34s %8.3f requests/txn %8.1f us CPU/txn %8.0f txn/s\n",
			name, r / n, c * 1e6 / hz / n, n * 1000 / ms }' | tee -a "$tmp/results"
	kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	daemon_pid=""
}

echo "== runs"
run "fleet off (BatchWriteItem)" false txpipe-bench-off
run "fleet on (conditional PutItem)" true txpipe-bench-on
# The same ids again into the table that has them: every put fails its condition and is read back.
run "fleet on, every id stored before" true txpipe-bench-on
echo "== ratios, fleet on / fleet off"
awk 'NR == 1 { r0 = $(NF-6); c0 = $(NF-4); t0 = $(NF-1) }
     NR == 2 { printf "requests per transaction: %.1fx; daemon CPU per transaction: %.2fx; throughput: %.2fx\n",
                $(NF-6) / r0, $(NF-4) / c0, $(NF-1) / t0 }
     NR == 3 { printf "a duplicate or replay (read back): %.1fx the requests, %.2fx the CPU of fleet off\n",
                $(NF-6) / r0, $(NF-4) / c0 }' "$tmp/results"
