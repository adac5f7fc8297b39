#!/usr/bin/env bash
# fleet-bench.sh BUILDDIR: what [fleet] costs one host, and the DynamoDB requests it makes per transaction.
#
# In one run on one machine, against one dynalite (started here on a free loopback port):
#   off   txpiped with [aws] on (records to dynalite, ack = journaled) and [fleet] off;
#   fast  the same with [fleet] on, mode fast, sync_interval_ms 400ms (the default: a 100 ms tick), and a second txpiped
#         (`reader`, fleet on, no traffic of its own) reading and applying the first one's feed.
# Each: txpbench at full speed (BENCH_COUNT, closed loop), then paced at half of the `off` peak for
# BENCH_DURATION seconds (open loop): throughput, p99, and the daemon's CPU seconds per 100,000
# transactions (utime + stime from /proc).  dynalite is far slower than DynamoDB, so record delivery
# is let to queue ([dynamodb] max_pending above the run) rather than limit the rate: the figures are
# the daemon's own cost, not dynalite's.  Then the fleet's figures: requests and items per
# transaction, written and read, from both daemons' stats.
# Run under the machine's benchmark lock: flock /work/wt/bench.lock bench/fleet-bench.sh build/opt
set -u

build=$(cd "${1:?usage: fleet-bench.sh BUILDDIR}" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
count=${BENCH_COUNT:-200000}
duration=${BENCH_DURATION:-10}
customers=${BENCH_CUSTOMERS:-1000000}
mix=${BENCH_MIX:-good=90,risky=8,invalid=2}
# shellcheck source=../tests/lib/services.sh
. "$top_srcdir/tests/lib/services.sh"

tmp=$(mktemp -d /tmp/txpipe-fleet-bench.XXXXXX)
declare -A pids=()
cleanup() {
	local n
	for n in "${!pids[@]}"; do kill "${pids[$n]}" 2>/dev/null && wait "${pids[$n]}" 2>/dev/null; done
	txp_svc_stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

txp_svc_aws_env
txp_svc_start_dynalite "$tmp" >/dev/null || { echo "fleet-bench: dynalite did not start" >&2; exit 1; }
txp_js ddb-create-table.mjs bench-records --key transaction_id >/dev/null
txp_js ddb-create-table.mjs bench-fleet --key pk >/dev/null
"$build/txpipectl" genkey "$tmp/card.key" >/dev/null
"$build/txpipectl" genkey "$tmp/pseud.key" >/dev/null

# start NAME FLEET: one daemon.
start() {
	cat >"$tmp/$1.ini" <<EOF
[daemon]
socket = $tmp/$1.sock
[log]
level = warning
[journal]
dir = $tmp/$1.journal
ack = journaled
[compliance]
card_token_key_file = $tmp/card.key
pseudonym_key_file = $tmp/pseud.key
usd_rates = USD:1000000,EUR:1080000,GBP:1270000,JPY:6700,CHF:1130000,CAD:730000,AUD:660000
[aws]
region = us-east-1
imds = false
[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = bench-records
max_pending = 100000000
[fleet]
enabled = $2
instance_id = $1
table = bench-fleet
sync_interval_ms = 400ms
# dynalite has no TransactWriteItems.
record_writes = put
EOF
	"$build/txpiped" --config "$tmp/$1.ini" 2>"$tmp/$1.log" &
	pids[$1]=$!
	for ((i = 0; i < 100; i++)); do [[ -S $tmp/$1.sock ]] && return 0; sleep 0.1; done
	echo "fleet-bench: txpiped $1 did not start" >&2
	cat "$tmp/$1.log" >&2
	exit 1
}
stop() { kill "${pids[$1]}" && wait "${pids[$1]}"; unset "pids[$1]"; }
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
num() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | head -n 1; }
p99() { sed -n 's/.*"latency_us":{[^}]*"p99":\([0-9]*\).*/\1/p' "$1" | head -n 1; }
stat() { "$build/txpipectl" --socket "$tmp/$1.sock" stats --format json | txp_js json-get.mjs "$2"; }

# run NAME: full speed then paced at $rate (when set) against daemon NAME.
run() {
	local c0 c1
	c0=$(cpu_s "${pids[$1]}")
	"$build/bench/txpbench" --socket "$tmp/$1.sock" --count "$count" --warmup 1 --customers "$customers" \
		--mix "$mix" --seed 1 --run-id "$1-peak" --json-file "$tmp/$1-peak.json" >/dev/null
	c1=$(cpu_s "${pids[$1]}")
	echo "$1: full speed $(num "$tmp/$1-peak.json" throughput_rps)/s, p99 $(p99 "$tmp/$1-peak.json") us," \
		"CPU $(awk -v a="$c0" -v b="$c1" -v n="$count" 'BEGIN { printf "%.2f", (b - a) * 100000 / n }') s per 100k"
	[[ -n ${rate:-} ]] || rate=$(awk -v p="$(num "$tmp/$1-peak.json" throughput_rps)" 'BEGIN { print int(p / 2) }')
	c0=$(cpu_s "${pids[$1]}")
	"$build/bench/txpbench" --socket "$tmp/$1.sock" --rate "$rate" --duration "$duration" --warmup 1 \
		--customers "$customers" --mix "$mix" --seed 2 --run-id "$1-paced" --json-file "$tmp/$1-paced.json" >/dev/null
	c1=$(cpu_s "${pids[$1]}")
	echo "$1: paced $rate/s: $(num "$tmp/$1-paced.json" throughput_rps)/s, p99 $(p99 "$tmp/$1-paced.json") us," \
		"CPU $(awk -v a="$c0" -v b="$c1" -v n="$(num "$tmp/$1-paced.json" sent)" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 100000 / n; else print "?" }') s per 100k"
}

echo "== $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
echo "== $count transactions full speed, then ${duration}s paced at half the fleet-off peak; $customers customers, mix $mix"
start off false
run off
stop off
start fast true
run fast
stop fast
echo "fast p99 / off p99 (paced): $(awk -v a="$(p99 "$tmp/fast-paced.json")" -v b="$(p99 "$tmp/off-paced.json")" 'BEGIN { printf "%.2f", a / b }')"
echo "fast peak / off peak: $(awk -v a="$(num "$tmp/fast-peak.json" throughput_rps)" -v b="$(num "$tmp/off-peak.json" throughput_rps)" 'BEGIN { printf "%.2f", a / b }')"

# The requests, at a modest rate over many customers (mostly one payment each), with a second host
# reading the feed: per tick one item written and read per host, whatever the rate below ~34,000/s.
mrate=${BENCH_MIX_RATE:-2000}
start fast true
start reader true
sleep 1
"$build/bench/txpbench" --socket "$tmp/fast.sock" --rate "$mrate" --duration "$duration" \
	--customers "$customers" --mix good=100,risky=0,invalid=0 --seed 3 --run-id mix >/dev/null
sleep 1
echo
echo "== fleet requests at $mrate/s for ${duration}s (host 'fast' writing, host 'reader' reading it)"
decided=$(stat fast fleet.events_published)
queued=$(stat fast fleet.events_queued)
for k in feed_write_requests feed_write_items members_writes members_reads; do
	echo "fast.$k $(stat fast "fleet.$k")"
done
for k in feed_read_requests feed_read_items members_reads members_writes events_applied events_late; do
	echo "reader.$k $(stat reader "fleet.$k")"
done
echo "events published $decided (queued $queued), uptime $(stat fast uptime_s) s"
stop reader
stop fast
