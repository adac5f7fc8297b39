#!/bin/sh
# run-bench.sh: start a txpiped on a temporary socket; run txpbench at full speed, then at half the peak;
# then the same two runs against txpecho, the do-nothing baseline, and the ratios.
#
# Usage: run-bench.sh TXPIPED TXPBENCH
# `make bench` runs it with the binaries of the build tree.  Knobs, from the
# environment:
#   BENCH_CONNECTIONS  client connections (default 4)
#   BENCH_PIPELINE     lines in flight per connection (default 128)
#   BENCH_COUNT        measured transactions of the full-speed run (default 200000)
#   BENCH_DURATION     seconds of the paced run (default 10)
#   BENCH_WARMUP       warm-up seconds before each run (default 1)
#   BENCH_WORKERS      txpiped [pipeline] workers (default 1)
#   BENCH_MIX          transaction mix (default good=90,risky=8,invalid=2)
#   BENCH_SEED         generation seed (default 1)
#   BENCH_ACK          txpiped [journal] ack: journaled, stored or decided (default journaled)
#   BENCH_AWS          txpiped [aws] enabled (default false: no delivery, the journal on a temp dir)
#   TXP_CFLAGS         the build's compiler flags, printed with the figures
set -eu

if [ $# -ne 2 ]; then
	echo "usage: run-bench.sh TXPIPED TXPBENCH" >&2
	exit 64
fi
txpiped=$1
txpbench=$2
connections=${BENCH_CONNECTIONS:-4}
pipeline=${BENCH_PIPELINE:-128}
count=${BENCH_COUNT:-200000}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-1}
workers=${BENCH_WORKERS:-1}
mix=${BENCH_MIX:-good=90,risky=8,invalid=2}
seed=${BENCH_SEED:-1}
ack=${BENCH_ACK:-journaled}
aws=${BENCH_AWS:-false}

for f in "$txpiped" "$txpbench"; do
	if [ ! -x "$f" ]; then
		echo "run-bench.sh: $f is not an executable; run 'make bench' from the build tree" >&2
		exit 66
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txpbench.XXXXXX")
daemon_pid=

# stop_daemon: SIGTERM makes txpiped drain and exit; its status is kept.
daemon_status=
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
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sock=$tmp/txpiped.sock
"$(dirname "$txpiped")/txpipectl" genkey "$tmp/card-token.key" >/dev/null
"$(dirname "$txpiped")/txpipectl" genkey "$tmp/pseudonym.key" >/dev/null
# The screening pipeline is measured here, so delivery to AWS is off
# (bench/README says how the AWS path is measured); rates cover the
# generator's currencies so amounts are scored, not sent to review for a
# missing rate.
cat >"$tmp/txpiped.ini" <<EOF
; Written by run-bench.sh for one benchmark run.
[daemon]
socket = $sock

[pipeline]
workers = $workers

[aws]
enabled = $aws

[journal]
dir = $tmp/journal
ack = $ack

[log]
level = warning

[compliance]
card_token_key_file = $tmp/card-token.key
pseudonym_key_file = $tmp/pseudonym.key
usd_rates = USD:1000000,EUR:1080000,GBP:1270000,JPY:6700,CHF:1130000,CAD:730000,AUD:660000
EOF

"$txpiped" --config "$tmp/txpiped.ini" 2>"$tmp/txpiped.log" &
daemon_pid=$!

# The socket appears once txpiped listens; give it ten seconds.
tries=0
while [ ! -S "$sock" ]; do
	if ! kill -0 "$daemon_pid" 2>/dev/null; then
		daemon_status=0
		wait "$daemon_pid" || daemon_status=$?
		daemon_pid=
		echo "run-bench.sh: txpiped exited with status $daemon_status before listening:" >&2
		cat "$tmp/txpiped.log" >&2
		exit 1
	fi
	tries=$((tries + 1))
	if [ "$tries" -gt 100 ]; then
		echo "run-bench.sh: txpiped did not create $sock within 10 s" >&2
		cat "$tmp/txpiped.log" >&2
		exit 1
	fi
	sleep 0.1
done

model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "== machine"
echo "cpus:    $(nproc 2>/dev/null || echo '?')"
echo "cpu:     ${model:-unknown}"
echo "kernel:  $(uname -sr)"
echo "load:    $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?') (1, 5, 15 min, before the runs)"
echo "cflags:  ${TXP_CFLAGS:-unknown}"
case "${TXP_CFLAGS:-}" in
*-fsanitize*) echo "note:    sanitizer build: the figures are far below a release build's" ;;
esac
echo "daemon:  txpiped, $workers worker(s), [aws] enabled = $aws, [journal] ack = $ack in $tmp/journal; client: txpbench, $connections connections, pipeline $pipeline"
echo

status=0
# full_speed SOCKET JSON and paced SOCKET RATE JSON: one txpbench run each,
# with the settings above; a failed run fails the benchmark.
full_speed() {
	"$txpbench" --socket "$1" --connections "$connections" --pipeline "$pipeline" --count "$count" \
		--warmup "$warmup" --mix "$mix" --seed "$seed" --json-file "$2" || status=$?
	echo
}
paced() {
	"$txpbench" --socket "$1" --connections "$connections" --pipeline "$pipeline" --rate "$2" \
		--duration "$duration" --warmup "$warmup" --mix "$mix" --seed "$seed" --json-file "$3" || status=$?
	echo
}

echo "== full speed: $count transactions after ${warmup}s warm-up (closed loop)"
full_speed "$sock" "$tmp/peak.json"

peak=$(sed -n 's/.*"throughput_rps":\([0-9.]*\).*/\1/p' "$tmp/peak.json" 2>/dev/null || true)
rate=$(awk -v p="${peak:-0}" 'BEGIN { print int(p / 2) }')
if [ "$rate" -gt 0 ]; then
	echo "== paced at $rate/s (half the peak) for ${duration}s after ${warmup}s warm-up (open loop)"
	paced "$sock" "$rate" "$tmp/paced.json"
else
	echo "run-bench.sh: no peak throughput measured; skipping the paced run" >&2
	status=1
fi

stop_daemon
if [ "$daemon_status" -ne 0 ]; then
	echo "run-bench.sh: txpiped exited with status $daemon_status" >&2
	status=1
fi
if [ -s "$tmp/txpiped.log" ]; then
	echo "== txpiped log (warnings and errors, last 20 lines)"
	tail -n 20 "$tmp/txpiped.log"
	echo
fi

# The baseline, same invocation, same client settings: txpecho answers
# every line from one libuv loop and does nothing else, so its figures are
# what this machine gives any daemon (scheduling, wake-ups, the socket).
json_num() { # json_num FILE OBJECT KEY: a number from txpbench's JSON summary
	[ -s "$1" ] || return 0
	if [ -n "$2" ]; then
		sed -n "s/.*\"$2\":{[^}]*\"$3\":\([0-9.]*\).*/\1/p" "$1"
	else
		sed -n "s/.*\"$3\":\([0-9.]*\).*/\1/p" "$1"
	fi
}
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
txpecho=$(dirname "$txpbench")/txpecho
esock=$tmp/txpecho.sock
if [ -x "$txpecho" ] && [ "${rate:-0}" -gt 0 ]; then
	"$txpecho" "$esock" &
	daemon_pid=$!
	tries=0
	while [ ! -S "$esock" ] && [ "$tries" -lt 100 ]; do
		tries=$((tries + 1))
		sleep 0.1
	done
	echo "== baseline: txpecho (one libuv loop, a fixed reply per line, no work), full speed"
	full_speed "$esock" "$tmp/echo-peak.json"
	echo "== baseline: txpecho paced at $rate/s, as txpiped was"
	paced "$esock" "$rate" "$tmp/echo-paced.json"
	stop_daemon
	t_peak=$(json_num "$tmp/peak.json" "" throughput_rps)
	e_peak=$(json_num "$tmp/echo-peak.json" "" throughput_rps)
	echo "== summary (txpiped against the txpecho baseline of this run)"
	printf 'peak        txpiped %s/s, baseline %s/s: ratio %s\n' "$t_peak" "$e_peak" "$(ratio "$t_peak" "$e_peak")"
	for p in p50 p99 p99.9; do
		t=$(json_num "$tmp/paced.json" latency_us "$p")
		e=$(json_num "$tmp/echo-paced.json" latency_us "$p")
		printf '%-11s txpiped %s us, baseline %s us at %s/s: ratio %s\n' "$p" "$t" "$e" "$rate" "$(ratio "$t" "$e")"
	done
fi
exit "$status"
