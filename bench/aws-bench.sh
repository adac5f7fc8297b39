#!/usr/bin/env bash
# aws-bench.sh BUILDDIR [COUNT]: stored transactions per second, txpiped against the baseline.
#
# Both write the same COUNT generated transactions into the same local DynamoDB (dynalite, started
# here on a free loopback port), in the same run on the same machine:
#   txpiped   the real daemon with delivery on (BatchWriteItem batches, [dynamodb] settings at
#             their defaults), fed by txpipectl; the clock runs from the first line sent until
#             the daemon's stats count every transaction stored;
#   baseline  bench/baseline-putitem.mjs: one PutItem per transaction through the AWS SDK for
#             JavaScript v3, as the reference's Lambda does, writing the very records txpiped
#             stored (read back from its table); once sequentially (one invocation awaiting each
#             PutItem) and once with 32 in flight (32 concurrent invocations).
# dynalite is the slower party for both, so the ratio measures how well each uses it.
set -u

build=$(cd "${1:?usage: aws-bench.sh BUILDDIR [COUNT]}" && pwd)
count=${2:-${BENCH_AWS_COUNT:-20000}}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
# shellcheck source=../tests/lib/services.sh
. "$top_srcdir/tests/lib/services.sh"

tmp=$(mktemp -d /tmp/txpipe-aws-bench.XXXXXX)
daemon_pid=""
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	txp_svc_stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

txp_svc_start_dynalite "$tmp" >/dev/null || { echo "aws-bench: dynalite did not start" >&2; exit 1; }
txp_svc_aws_env

"$build/bench/txpbench" --profile small --dump "$count" --mix good=100,risky=0,invalid=0 --customers 5000 --seed 7 \
	>"$tmp/txns.ndjson"
lines=$(wc -l <"$tmp/txns.ndjson")

now_ms() { date +%s%3N; }

echo "== machine"
echo "cpus: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1); kernel: $(uname -sr)"
echo "load: $(cut -d ' ' -f 1-3 /proc/loadavg) (before the runs)"
echo "transactions: $lines, local DynamoDB: dynalite at $DYNAMODB_ENDPOINT"
echo

"$build/txpipectl" genkey "$tmp/card.key" >/dev/null
"$build/txpipectl" genkey "$tmp/pseud.key" >/dev/null
cat >"$tmp/txpiped.ini" <<EOC
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
table = txpipe-bench
[journal]
dir = $tmp/journal
EOC
"$build/txpipectl" --config "$tmp/txpiped.ini" provision >/dev/null 2>&1
"$build/txpiped" --config "$tmp/txpiped.ini" 2>"$tmp/txpiped.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$tmp/txpiped.sock" ] && break; sleep 0.1; done

stored() {
	"$build/txpipectl" --socket "$tmp/txpiped.sock" stats --format json 2>/dev/null |
		sed -n 's/.*"stored": *\([0-9]*\).*/\1/p' | head -n 1
}
# CPU ticks (user + system) of a process, from /proc/PID/stat fields 14 and 15.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
cpu0=$(cpu_ticks "$daemon_pid")
t0=$(now_ms)
"$build/txpipectl" --quiet --socket "$tmp/txpiped.sock" submit --file "$tmp/txns.ndjson" 2>/dev/null
while [ "$(stored)" != "$lines" ]; do
	[ $(($(now_ms) - t0)) -lt 600000 ] || { echo "aws-bench: txpiped stored $(stored) of $lines in 10 min" >&2; exit 1; }
	sleep 0.05
done
t1=$(now_ms)
cpu1=$(cpu_ticks "$daemon_pid")
txp_cpu=$(awk -v d=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$lines" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
txp_rate=$(awk -v n="$lines" -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1000 / ms }')
echo "txpiped, BatchWriteItem batches: $txp_rate items/s (all $lines stored in $((t1 - t0)) ms), $txp_cpu us CPU per item (screening included)"
kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
daemon_pid=""

# The baseline writes the very items txpiped stored (read back, plain
# JSON): the same size and shape of record, only the way of writing differs.
txp_js ddb-scan.mjs txpipe-bench >"$tmp/items.json" || { echo "aws-bench: scan failed" >&2; exit 1; }
txp_node -e 'for (const i of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
	process.stdout.write(JSON.stringify(i) + "\n");' "$tmp/items.json" >"$tmp/items.ndjson"
for c in 1 32; do
	txp_node "$here/baseline-putitem.mjs" --table "baseline-c$c" --create-table --concurrency "$c" \
		<"$tmp/items.ndjson" >"$tmp/baseline-c$c.json" || { echo "aws-bench: baseline failed" >&2; exit 1; }
	rate=$(sed -n 's/.*"items_per_s":\([0-9.]*\).*/\1/p' "$tmp/baseline-c$c.json")
	cpu=$(sed -n 's/.*"cpu_us_per_item":\([0-9.]*\).*/\1/p' "$tmp/baseline-c$c.json")
	eval "baseline_c$c=$rate"
	eval "baseline_cpu_c$c=$cpu"
	echo "baseline, PutItem per transaction, concurrency $c: $rate items/s, $cpu us CPU per item"
done

echo
awk -v t="$txp_rate" -v a="$baseline_c1" -v b="$baseline_c32" \
	'BEGIN { printf "stored per second, txpiped / baseline: %.1fx (concurrency 1), %.1fx (concurrency 32)\n", t / a, t / b }'
awk -v t="$txp_cpu" -v a="$baseline_cpu_c1" -v b="$baseline_cpu_c32" \
	'BEGIN { printf "writer CPU per stored item, baseline / txpiped: %.1fx (concurrency 1), %.1fx (concurrency 32)\n", a / t, b / t }'
echo "(dynalite, one Node.js thread, is the limit of both rates; the CPU ratio is what carries over to DynamoDB)"
