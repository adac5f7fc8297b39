#!/usr/bin/env bash
# diskfull.sh: the journal on a 3 MiB tmpfs, DynamoDB up, one client sending far more lines than fit:
# every line is answered (a decision or overloaded), nothing hangs, the journal frees its own space
# as delivery catches up and accepts new lines again by itself, SIGTERM exits 0, every acknowledged
# transaction is in DynamoDB, and a restart on the same disk does not store everything again.
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped, said loudly) when a tmpfs cannot
# be mounted (it needs root: CI runs as root) or Node cannot be set up.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TXP_TESTS_DIR=${TXP_TESTS_DIR:-$top_srcdir/tests}
export TXP_TESTS_DIR
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-diskfull.XXXXXX")
# shellcheck source=SCRIPTDIR/durable-lib.sh
. "$top_srcdir/tests/integration/durable-lib.sh"

LINES=9000
mkdir -p "$workdir/journal"
if [[ $(id -u) != 0 ]] || ! mount -t tmpfs -o size=3m txpipe-diskfull "$workdir/journal" 2>"$workdir/mount.err"; then
	echo "SKIP: diskfull.sh needs root to mount a 3 MiB tmpfs for the journal: $(cat "$workdir/mount.err" 2>/dev/null)" >&2
	echo "SKIP: diskfull.sh needs root to mount a 3 MiB tmpfs for the journal"
	rm -rf "$workdir"
	exit 77
fi
if ! txp_svc_node; then
	umount "$workdir/journal"
	rm -rf "$workdir"
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh)"
	exit 77
fi
# The durable-lib cleanup (kill -9 of a daemon left running), then the tmpfs goes.
durable_cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	umount "$workdir/journal" 2>/dev/null
}
txp_cleanup() { durable_cleanup; }
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "work directory: $workdir"
txp_svc_start_all "$workdir/logs" || exit 1
ok "emulators started"
provision

# 1 MiB segments (the smallest), a 256 KiB headroom; the rest as shipped (velocity_rebuild keeps
# delivered segments: that is what fills the disk while DynamoDB is healthy).
journal_ini='segment_bytes = 1M
reserve_bytes = 256k'
write_config "$journal_ini"
start_daemon || exit 1

# One client, all lines pipelined; it must get every reply, within a bound.
mkdir -p "$workdir/replies"
gen_lines full "$LINES" | timeout 180 "$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - \
	>"$workdir/replies/full" 2>"$workdir/replies/full.err"
rc=$? # 1: some replies were errors (overloaded); 124: timed out waiting
check "the client got all its replies (no hang)" 1 "$((rc == 0 || rc == 1))"
replies=$(grep -c transaction_id "$workdir/replies/full")
check "every line was answered" "$LINES" "$replies"
decided=$(grep -cE '"status":"(approved|review|declined)"' "$workdir/replies/full")
overloaded=$(grep -c '"code":"overloaded"' "$workdir/replies/full")
check "each reply is a decision or overloaded" "$LINES" "$((decided + overloaded))"
echo "     $decided decided, $overloaded overloaded"
check "the disk ran low (the journal said so)" 1 "$(grep -cm1 'event=journal_space_low\|event=journal_refusing' "$workdir/txpiped.log")"
check "no reply is held" 0 "$(wait_stat ack.held_replies 0 10)"

# Delivery catches up, the journal frees its space and accepts again on its own.
check "delivery catches up: nothing left to deliver" 0 "$(wait_stat journal.undelivered 0 120)"
check "the journal accepts again by itself within 30 s" false "$(wait_stat journal.full false 30)"
producer after 200
check "new lines are decided again" 200 "$(grep -cE '"status":"(approved|review|declined)"' "$workdir/replies/after")"
check "txpiped logged that it accepts again" 1 "$(grep -cm1 'event=journal_accepting\|event=journal_space_ok' "$workdir/txpiped.log")"
check "delivery has nothing pending" 0 "$(wait_stat delivery.pending 0 60)"

stop_daemon
check "SIGTERM: txpiped exits 0" 0 "$daemon_rc"
check "nothing was reported lost" 0 "$(grep -c 'event=delivery_lost\|event=journal_records_lost' "$workdir/txpiped.log")"
check_all_stored "after the full disk"

# A restart on the same disk: what was delivered stays delivered.
start_daemon || exit 1
check "a restart redelivers nothing" 0 "$(stat ack.replayed_undelivered)"
check "and accepts new lines" false "$(wait_stat journal.full false 10)"
stop_daemon
check "txpiped exits 0 again" 0 "$daemon_rc"
