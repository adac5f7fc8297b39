#!/usr/bin/env bash
# crash.sh: kill -9 under load, several rounds: every transaction a producer saw acknowledged
# (approved, review, declined, rejected) ends up in DynamoDB once, none missing; what a crash left
# undelivered is delivered from the journal at the next start.
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped) only when Node cannot be set up.
# Knobs: CRASH_ROUNDS (default 5), CRASH_CLIENTS (4), CRASH_LINES per client per round (25000).
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TXP_TESTS_DIR=${TXP_TESTS_DIR:-$top_srcdir/tests}
export TXP_TESTS_DIR
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-crash.XXXXXX")
# shellcheck source=SCRIPTDIR/durable-lib.sh
. "$top_srcdir/tests/integration/durable-lib.sh"

rounds=${CRASH_ROUNDS:-5}
clients=${CRASH_CLIENTS:-4}
# Enough that no build, however fast, ends a round within the 60 ms the kill may wait: the
# kill must land in the middle of the load (checked below).
lines=${CRASH_LINES:-25000}

if ! txp_svc_node; then
	rm -rf "$workdir"
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh)"
	exit 77
fi
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "work directory: $workdir"
txp_svc_start_all "$workdir/logs" || exit 1
ok "emulators started"
provision

for ((r = 1; r <= rounds; r++)); do
	start_daemon || exit 1
	# In the last round DynamoDB stands still (dynalite stopped with SIGSTOP) until after the
	# kill, so that crash surely leaves acknowledged records undelivered in the journal, however
	# fast the build and the emulator are; the earlier rounds crash with delivery running.  (Not
	# more rounds: a journal full of undelivered records makes the next start answer overloaded
	# until delivery has caught up.)
	frozen=$((r == rounds))
	((frozen)) && kill -STOP -- "-${TXP_SVC_PGID[dynalite]}"
	pids=()
	for ((c = 1; c <= clients; c++)); do
		producer "r$r-c$c" "$lines" &
		pids+=($!)
	done
	# A random moment within the load: as soon as this round's first reply is back (the start may
	# be replaying the last crash's backlog), 0 to 60 ms later.  The check reads only this
	# round's reply files and stops at the first match, so it keeps up with a fast build.
	for ((i = 0; i < 3000; i++)); do
		cat "$workdir"/replies/"r$r"-c* 2>/dev/null | grep -q transaction_id && break
		sleep 0.01
	done
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", rand() * 0.06 }')"
	crash_daemon
	((frozen)) && kill -CONT -- "-${TXP_SVC_PGID[dynalite]}"
	wait "${pids[@]}" 2>/dev/null
	echo "     round $r: $(acked_ids | grep -c "^r$r-") acknowledged before kill -9"
done

# The last start delivers what the crashes left, then a clean stop.
start_daemon || exit 1
check "the journal has nothing left to deliver" 0 "$(wait_stat journal.undelivered 0 60)"
check "delivery has nothing pending" 0 "$(wait_stat delivery.pending 0 30)"
check "nothing was dead-lettered" 0 "$(stat delivery.dead_lettered)"
stop_daemon
check "txpiped exits 0" 0 "$daemon_rc"

check "every round acknowledged some transactions" "$rounds" \
	"$(for ((r = 1; r <= rounds; r++)); do (($(acked_ids | grep -c "^r$r-") > 0)) && echo y; done | grep -c y)"
check "some round was killed in the middle of its load" 1 \
	"$(for ((r = 1; r <= rounds; r++)); do (($(acked_ids | grep -c "^r$r-") < clients * lines)) && echo y; done | grep -c y | awk '{ print ($1 > 0) }')"
check "some crash left records to redeliver" 1 \
	"$(grep -E 'event=journal_replayed .* undelivered=[1-9]' "$workdir/txpiped.log" | head -n 1 | wc -l)"
check "the replay rebuilt velocity state" 1 \
	"$(grep -E 'event=journal_replayed .* velocity_rebuilt=[1-9]' "$workdir/txpiped.log" | head -n 1 | wc -l)"
check "nothing was reported lost" 0 "$(grep -c 'event=delivery_lost' "$workdir/txpiped.log")"
check_all_stored "after $rounds crashes"
