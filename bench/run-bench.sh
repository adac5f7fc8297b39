#!/bin/sh
# run-bench.sh: txpiped as a payments team runs it (default config, delivery on over HTTPS) against
# the same daemon with delivery off and against txpecho, the do-nothing baseline, in one invocation.
#
# Usage: run-bench.sh TXPIPED TXPBENCH
# `make bench` runs it with the binaries of the build tree.  The runs, in order:
#   1. txpiped, delivery on: every decision stored through BatchWriteItem and every alert published
#      through PublishBatch, over HTTPS with certificate verification, to bench/sink.sh (nginx
#      answering as DynamoDB, SNS and SQS do when a batch succeeds, with a test CA in [aws] ca_file).
#      Full speed: decided/s (replies), stored/s (until the daemon has stored every record) and the
#      daemon's CPU per transaction; then paced at half the decided peak: latency.
#   2. the same daemon with [aws] enabled = false: full speed (CPU per transaction), then paced at
#      half its own peak.
#   3. txpecho at full speed and at run 1's paced rate: what this machine gives any daemon.
# Everything else is txpiped's default configuration: only the socket, the journal directory, the
# keys, the endpoints and resource names are set.
#
# Knobs, from the environment:
#   BENCH_CONNECTIONS  client connections (default 4)
#   BENCH_PIPELINE     lines in flight per connection (default 128)
#   BENCH_COUNT        measured transactions of each full-speed run (default 300000)
#   BENCH_DURATION     seconds of each paced run (default 10)
#   BENCH_WARMUP       warm-up seconds before each run (default 1)
#   BENCH_WORKERS      set [pipeline] workers (default: not set, the daemon's default)
#   BENCH_PROFILE      txpbench --profile (default: txpbench's default)
#   BENCH_MIX          txpbench --mix (default: the profile's)
#   BENCH_SEED         generation seed (default 1)
#   BENCH_ACK          [journal] ack (default: not set, the daemon's default, journaled)
#   BENCH_AWS          false skips run 1 (no nginx/openssl needed) (default true)
#   BENCH_FLEET        transaction or put: after run 1, the same with [fleet] enabled and that
#                      record_writes (the fleet's own shared-state calls go to the sink as well), and
#                      its stored rate and p99 against run 1's (default: not run)
#   BENCH_PAIRS        how many times runs 1 and 2 (with BENCH_FLEET: runs 1 and fleet) are made,
#                      alternated (default 3); the summary prints each pair's figures and ratios and
#                      their medians: one pair moves with whatever else the machine did in its seconds
#   TXP_CFLAGS         the build's compiler flags, printed with the figures
set -eu

if [ $# -ne 2 ]; then
	echo "usage: run-bench.sh TXPIPED TXPBENCH" >&2
	exit 64
fi
txpiped=$1
txpbench=$2
bindir=$(dirname "$txpiped")
here=$(cd "$(dirname "$0")" && pwd)
connections=${BENCH_CONNECTIONS:-4}
pipeline=${BENCH_PIPELINE:-128}
count=${BENCH_COUNT:-300000}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-1}
seed=${BENCH_SEED:-1}
aws=${BENCH_AWS:-true}

for f in "$txpiped" "$txpbench" "$bindir/txpipectl"; do
	if [ ! -x "$f" ]; then
		echo "run-bench.sh: $f is not an executable; run 'make bench' from the build tree" >&2
		exit 66
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txpbench.XXXXXX")
daemon_pid=
sink_started=

# stop_daemon: SIGTERM makes txpiped drain and exit; its status is kept.
daemon_status=0
stop_daemon() {
	if [ -n "$daemon_pid" ]; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		daemon_status=0
		wait "$daemon_pid" || daemon_status=$?
		daemon_pid=
	fi
}
cleanup() {
	stop_daemon
	[ -n "$sink_started" ] && sh "$here/sink.sh" stop "$tmp/sink"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$bindir/txpipectl" genkey "$tmp/card-token.key" >/dev/null
"$bindir/txpipectl" genkey "$tmp/pseudonym.key" >/dev/null

if [ "$aws" = true ]; then
	sh "$here/sink.sh" start "$tmp/sink"
	sink_started=1
	# shellcheck disable=SC1091
	. "$tmp/sink/endpoints"
fi

# write_config NAME AWS: the daemon's configuration for one run.
write_config() {
	cat >"$tmp/$1.ini" <<EOF
; Written by run-bench.sh: the defaults, plus where things are.
[daemon]
socket = $tmp/$1.sock
[log]
level = warning
[journal]
dir = $tmp/$1-journal
${BENCH_ACK:+ack = $BENCH_ACK}
[pipeline]
${BENCH_WORKERS:+workers = $BENCH_WORKERS}
[compliance]
card_token_key_file = $tmp/card-token.key
pseudonym_key_file = $tmp/pseudonym.key
[aws]
enabled = $2
region = us-east-1
imds = false
EOF
	if [ "$2" = true ]; then
		cat >>"$tmp/$1.ini" <<EOF
ca_file = $tmp/sink/ca.pem
[dynamodb]
endpoint = $DYNAMODB_URL
table = txpipe-bench
[sns]
endpoint = $SNS_URL
topic_arn = arn:aws:sns:us-east-1:000000000000:txpipe-bench-alerts
[sqs]
endpoint = $SQS_URL
queue_url = $SQS_URL/000000000000/txpipe-bench-dlq
EOF
	fi
	case $1 in
	fleet*)
		cat >>"$tmp/$1.ini" <<EOF
[fleet]
enabled = true
instance_id = bench-1
table = txpipe-bench-fleet
record_writes = $BENCH_FLEET
EOF
		;;
	esac
}

# start_daemon NAME: starts txpiped with NAME.ini and waits until it answers on its socket (the
# socket is claimed before the state tables are made and the journal replayed, so its file alone
# does not say the daemon is serving; the CPU and time measured start after this).
start_daemon() {
	AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE AWS_SECRET_ACCESS_KEY=bench/secret/not/a/real/key \
		"$txpiped" --config "$tmp/$1.ini" 2>"$tmp/$1.log" &
	daemon_pid=$!
	tries=0
	while [ ! -S "$tmp/$1.sock" ]; do
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			wait "$daemon_pid" || daemon_status=$?
			daemon_pid=
			echo "run-bench.sh: txpiped exited with status $daemon_status before listening:" >&2
			cat "$tmp/$1.log" >&2
			exit 1
		fi
		tries=$((tries + 1))
		if [ "$tries" -gt 100 ]; then
			echo "run-bench.sh: txpiped did not create $tmp/$1.sock within 10 s" >&2
			cat "$tmp/$1.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	if ! "$bindir/txpipectl" --socket "$tmp/$1.sock" stats >/dev/null; then
		echo "run-bench.sh: txpiped does not answer on $tmp/$1.sock" >&2
		cat "$tmp/$1.log" >&2
		exit 1
	fi
}

# cpu_ticks PID: user + system clock ticks of a process (proc(5), stat fields 14 and 15).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ns() { date +%s%N; }
# unsettled SOCK: records the daemon has not finished with (journal undelivered, queued, in flight).
unsettled() {
	"$bindir/txpipectl" --socket "$1" stats --format json 2>/dev/null | tr -d ' \n' |
		sed -n 's/.*"undelivered":\([0-9]*\).*"pending":\([0-9]*\).*"inflight_calls":\([0-9]*\).*/\1 \2 \3/p' |
		awk '{ print $1 + $2 + $3 }'
}
stat_num() { # stat_num SOCK KEY: the first number named KEY in the daemon's JSON stats
	"$bindir/txpipectl" --socket "$1" stats --format json 2>/dev/null | tr -d ' \n' |
		sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" | head -n 1
}
json_num() { # json_num FILE OBJECT KEY: a number from txpbench's JSON summary
	[ -s "$1" ] || return 0
	if [ -n "$2" ]; then
		sed -n "s/.*\"$2\":{[^}]*\"$3\":\([0-9.]*\).*/\1/p" "$1"
	else
		sed -n "s/.*\"$3\":\([0-9.]*\).*/\1/p" "$1"
	fi
}
# median COLUMN FILE: the median of one column of numbers (the mean of the middle two of an even count).
median() {
	cut -d ' ' -f "$1" "$2" | grep -v n/a | sort -n |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
p99_of() { json_num "$tmp/$1-paced.json" latency_us p99; } # p99_of RUN: its paced run's p99 (us)
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# minus A B: A - B with one decimal, n/a when either is missing.
minus() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a != "" && b != "") printf "%.1f", a - b; else print "n/a" }'; }

status=0
client_opts="--connections $connections --pipeline $pipeline --warmup $warmup --seed $seed"
client_opts="$client_opts${BENCH_PROFILE:+ --profile $BENCH_PROFILE}${BENCH_MIX:+ --mix $BENCH_MIX}"
# shellcheck disable=SC2086
full_speed() { "$txpbench" --socket "$1" $client_opts --count "$count" --json-file "$2" || status=$?; }
# shellcheck disable=SC2086
paced() { "$txpbench" --socket "$1" $client_opts --rate "$2" --duration "$duration" --json-file "$3" || status=$?; }

# measure NAME AWS: full speed, settle, CPU, paced at half the peak.  Sets peak_NAME, rate_NAME,
# stored_rate_NAME and cpu_us_NAME.
hz=$(getconf CLK_TCK)
measure() {
	write_config "$1" "$2"
	start_daemon "$1"
	sock=$tmp/$1.sock
	echo "== $1: full speed, $count transactions after ${warmup}s warm-up (closed loop)"
	c0=$(cpu_ticks "$daemon_pid")
	t0=$(now_ns)
	full_speed "$sock" "$tmp/$1-peak.json"
	t_replied=$(now_ns)
	if [ "$2" = true ]; then
		# Stored means every record's BatchWriteItem was answered.
		tries=0
		while [ "$(unsettled "$sock")" != 0 ] && [ "$tries" -lt 3000 ]; do
			tries=$((tries + 1))
			sleep 0.01
		done
	fi
	t1=$(now_ns)
	c1=$(cpu_ticks "$daemon_pid")
	peak=$(json_num "$tmp/$1-peak.json" "" throughput_rps)
	# The full-speed run's lines include the warm-up's.
	lines=$(stat_num "$sock" lines)
	cpu_us=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="${lines:-1}" 'BEGIN { printf "%.1f", c * 1e6 / hz / n }')
	echo "daemon CPU: $cpu_us us per transaction ($((c1 - c0)) ticks at $hz/s over $lines lines, until settled)"
	if [ "$2" = true ]; then
		stored=$(stat_num "$sock" stored)
		stored_rate=$(awk -v n="${lines:-0}" -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1e9 / t }')
		echo "stored: $stored records; every line decided and settled (stored, or not stored as rejected) at $stored_rate/s, counted from the first line sent to the last BatchWriteItem answered (replies ended $(((t1 - t_replied) / 1000000)) ms before)"
		eval "stored_rate_$1=\$stored_rate"
	fi
	rate=$(awk -v p="${peak:-0}" 'BEGIN { print int(p / 2) }')
	if [ "$rate" -gt 0 ]; then
		echo
		echo "== $1: paced at $rate/s (half its peak) for ${duration}s after ${warmup}s warm-up (open loop)"
		paced "$sock" "$rate" "$tmp/$1-paced.json"
	else
		echo "run-bench.sh: no peak throughput measured for $1" >&2
		status=1
	fi
	stop_daemon
	if [ "$daemon_status" -ne 0 ]; then
		echo "run-bench.sh: txpiped ($1) exited with status $daemon_status" >&2
		status=1
	fi
	if grep -v 'delivery_disabled' "$tmp/$1.log" | grep -q .; then
		echo "== $1: txpiped log (warnings and errors, last 10 lines)"
		grep -v 'delivery_disabled' "$tmp/$1.log" | tail -n 10
	fi
	echo
	eval "peak_$1=\$peak rate_$1=\$rate cpu_us_$1=\$cpu_us"
}

model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "== machine"
echo "cpus:    $(nproc 2>/dev/null || echo '?')"
echo "cpu:     ${model:-unknown}"
echo "memory:  $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:  $(uname -sr)"
echo "load:    $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?') (1, 5, 15 min, before the runs)"
# What the kernel work costs here: on a VM whose page tables or interrupts go through the hypervisor a
# fault or a wake-up costs many times more, and that moves every figure below (bench/README).
txpprobe=$(dirname "$txpbench")/txpprobe
[ -x "$txpprobe" ] && echo "costs:   $("$txpprobe") (bench/txpprobe, medians of 5 rounds)"
echo "cflags:  ${TXP_CFLAGS:-unknown}"
case "${TXP_CFLAGS:-}" in
*-fsanitize*) echo "note:    sanitizer build: the figures are far below a release build's" ;;
esac
echo "client:  txpbench${BENCH_PROFILE:+ --profile $BENCH_PROFILE}${BENCH_MIX:+ --mix $BENCH_MIX} (each run prints its profile and population on its load line)"
echo "daemon:  txpiped, default configuration${BENCH_WORKERS:+ but workers = $BENCH_WORKERS}${BENCH_ACK:+ but ack = $BENCH_ACK}; client: txpbench, $connections connections, pipeline $pipeline, on the same machine"
[ "$aws" = true ] && echo "aws:     bench/sink.sh: nginx $(nginx -v 2>&1 | sed 's|.*/||') on $DYNAMODB_URL (DynamoDB), $SNS_URL (SNS), $SQS_URL (SQS); TLS verified against a test CA"
echo

# Runs are made in alternated pairs (delivery on and off, or with BENCH_FLEET delivery on and
# fleet): one pair's ratio moves with whatever else the machine did in those seconds, the median
# of several much less.  Pair 1's runs have the plain names, pair k's end in _k.
pairs=${BENCH_PAIRS:-3}
case $pairs in
'' | *[!0-9]* | 0)
	echo "run-bench.sh: BENCH_PAIRS must be a positive number" >&2
	exit 64
	;;
esac
suffix() { if [ "$1" -gt 1 ]; then echo "_$1"; fi; }
pair=1
while [ "$pair" -le "$pairs" ]; do
	if [ "$aws" = true ]; then
		measure "delivery_on$(suffix $pair)" true
		[ -n "${BENCH_FLEET:-}" ] && measure "fleet$(suffix $pair)" true
	fi
	[ -z "${BENCH_FLEET:-}" ] || [ "$aws" != true ] && measure "delivery_off$(suffix $pair)" false
	pair=$((pair + 1))
done
[ -n "${BENCH_FLEET:-}" ] && [ "$aws" = true ] && measure delivery_off false

# The baseline, same invocation, same client settings: txpecho answers
# every line from one libuv loop and does nothing else, so its figures are
# what this machine gives any daemon (scheduling, wake-ups, the socket).
main=delivery_off
[ "$aws" = true ] && main=delivery_on
eval "rate=\${rate_$main:-0}"
txpecho=$(dirname "$txpbench")/txpecho
esock=$tmp/txpecho.sock
if [ -x "$txpecho" ] && [ "$rate" -gt 0 ]; then
	"$txpecho" "$esock" &
	daemon_pid=$!
	tries=0
	while [ ! -S "$esock" ] && [ "$tries" -lt 100 ]; do
		tries=$((tries + 1))
		sleep 0.1
	done
	echo "== baseline: txpecho (one libuv loop, a fixed reply per line, no work), full speed"
	full_speed "$esock" "$tmp/echo-peak.json"
	echo "== baseline: txpecho paced at $rate/s, as txpiped ($main) was"
	paced "$esock" "$rate" "$tmp/echo-paced.json"
	stop_daemon
	echo
fi

echo "== summary (one invocation, one machine; read the ratios, the absolute figures move with the load)"
e_peak=$(json_num "$tmp/echo-peak.json" "" throughput_rps)
if [ -z "${BENCH_FLEET:-}" ]; then
	pair=1
	while [ "$pair" -le "$pairs" ]; do
		on=delivery_on$(suffix $pair) off=delivery_off$(suffix $pair)
		eval "d_on=\${peak_$on:-} s_on=\${stored_rate_$on:-} c_on=\${cpu_us_$on:-} d_off=\$peak_$off c_off=\$cpu_us_$off"
		p_on=$(p99_of "$on") p_off=$(p99_of "$off")
		if [ "$pairs" -gt 1 ]; then echo "pair $pair:"; fi
		if [ "$aws" = true ]; then
			printf 'delivery on   decided %s/s, stored %s/s, CPU %s us per transaction, p99 at half its peak %s us\n' \
				"$d_on" "$s_on" "$c_on" "$p_on"
		fi
		printf 'delivery off  decided %s/s, CPU %s us per transaction, p99 at half its peak %s us\n' "$d_off" "$c_off" "$p_off"
		if [ "$aws" = true ]; then
			printf 'CPU per transaction, delivery on over TLS / off: %s; delivery'"'"'s own: %s us per transaction\n' \
				"$(ratio "$c_on" "$c_off")" "$(minus "$c_on" "$c_off")"
		fi
		echo "${s_on:-n/a} $(ratio "$c_on" "$c_off") ${p_on:-n/a} ${d_on:-n/a} $d_off ${c_on:-n/a} $c_off $p_off $(minus "$c_on" "$c_off")" >>"$tmp/plain"
		pair=$((pair + 1))
	done
	if [ "$pairs" -gt 1 ]; then
		if [ "$aws" = true ]; then
			printf 'median of %s pairs: delivery on decided %s/s, stored %s/s, CPU %s us per transaction, p99 at half its peak %s us\n' \
				"$pairs" "$(median 4 "$tmp/plain")" "$(median 1 "$tmp/plain")" "$(median 6 "$tmp/plain")" "$(median 3 "$tmp/plain")"
		fi
		printf 'median of %s pairs: delivery off decided %s/s, CPU %s us per transaction, p99 at half its peak %s us\n' \
			"$pairs" "$(median 5 "$tmp/plain")" "$(median 7 "$tmp/plain")" "$(median 8 "$tmp/plain")"
		if [ "$aws" = true ]; then
			printf 'median of %s pairs: CPU per transaction, delivery on over TLS / off: %s; delivery'"'"'s own: %s us per transaction\n' \
				"$pairs" "$(median 2 "$tmp/plain")" "$(median 9 "$tmp/plain")"
		fi
	fi
else
	printf 'delivery on   decided %s/s, stored %s/s, CPU %s us per transaction\n' "$peak_delivery_on" \
		"$stored_rate_delivery_on" "$cpu_us_delivery_on"
	printf 'delivery off  decided %s/s, CPU %s us per transaction\n' "$peak_delivery_off" "$cpu_us_delivery_off"
	printf 'CPU per transaction, delivery on over TLS / off: %s\n' "$(ratio "$cpu_us_delivery_on" "$cpu_us_delivery_off")"
fi
if [ -n "${peak_fleet:-}" ]; then
	printf 'fleet         (record_writes = %s) decided %s/s, stored %s/s, CPU %s us per transaction\n' "$BENCH_FLEET" \
		"$peak_fleet" "$stored_rate_fleet" "$cpu_us_fleet"
	pair=1
	while [ "$pair" -le "$pairs" ]; do
		on=delivery_on$(suffix $pair) fl=fleet$(suffix $pair)
		eval "s_on=\$stored_rate_$on s_fl=\$stored_rate_$fl c_on=\$cpu_us_$on c_fl=\$cpu_us_$fl"
		p_on=$(p99_of "$on") p_fl=$(p99_of "$fl")
		printf 'fleet / delivery on, pair %s: stored %s (%s/s, %s/s), CPU per transaction %s, p99 at half its peak %s (%s us, %s us)\n' \
			"$pair" "$(ratio "$s_fl" "$s_on")" "$s_fl" "$s_on" "$(ratio "$c_fl" "$c_on")" "$(ratio "$p_fl" "$p_on")" "$p_fl" "$p_on"
		echo "$(ratio "$s_fl" "$s_on") $(ratio "$c_fl" "$c_on") $(ratio "$p_fl" "$p_on")" >>"$tmp/pairs"
		pair=$((pair + 1))
	done
	if [ "$pairs" -gt 1 ]; then
		printf 'fleet / delivery on, median of %s pairs: stored %s, CPU per transaction %s, p99 at half its peak %s\n' "$pairs" \
			"$(median 1 "$tmp/pairs")" "$(median 2 "$tmp/pairs")" "$(median 3 "$tmp/pairs")"
	fi
fi
printf 'baseline      txpecho %s/s\n' "$e_peak"
runs=
pair=1
while [ "$pair" -le "$pairs" ]; do
	runs="$runs delivery_on$(suffix $pair) fleet$(suffix $pair) delivery_off$(suffix $pair)"
	pair=$((pair + 1))
done
for run in $runs; do
	[ -s "$tmp/$run-paced.json" ] || continue
	eval "r=\$rate_$run"
	printf '%-13s at %s/s (half its peak):' "$run" "$r"
	for p in p50 p99 p99.9; do
		printf ' %s %s us' "$p" "$(json_num "$tmp/$run-paced.json" latency_us "$p")"
	done
	echo
done
if [ -s "$tmp/echo-paced.json" ]; then
	printf '%-13s at %s/s:' "txpecho" "$rate"
	for p in p50 p99 p99.9; do
		printf ' %s %s us' "$p" "$(json_num "$tmp/echo-paced.json" latency_us "$p")"
	done
	echo
fi
exit "$status"
