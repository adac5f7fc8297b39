# itest.sh: what every integration script shares: the ok / not_ok / check results, the exit report,
# and the running daemon's stats.
# Sourced after tests/lib/services.sh.  The caller sets workdir (removed at exit when every check
# passed, unless TXP_KEEP_WORKDIR=1) and, to use stat, TXPIPECTL; it may define txp_cleanup, which
# finish runs first (to stop its daemon), and must `trap finish EXIT`.
# shellcheck shell=bash
# shellcheck disable=SC2154 # workdir and TXPIPECTL come from the caller

passed=0
failed=0
daemon_pid=""

ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
not_ok() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; [[ -z ${2:-} ]] || printf '     %s\n' "$2"; }
# check NAME EXPECTED ACTUAL
check() {
	if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "expected [$2], got [$3]"; fi
}
# check_absent NAME NEEDLE FILE...: NEEDLE appears in none of the files.
check_absent() {
	local name=$1 needle=$2
	shift 2
	if grep -qF -- "$needle" "$@"; then not_ok "$name" "[$needle] found in $*"; else ok "$name"; fi
}
# check_line NAME FILE LINE: FILE holds LINE exactly.
check_line() {
	if grep -qxF -- "$3" "$2"; then ok "$1"; else not_ok "$1" "no line [$3] in: $(tr '\n' '|' <"$2")"; fi
}

# The exit trap: cleans up, reports, and exits 0 only when every check passed and the script did
# not stop on an error of its own.
finish() {
	local rc=$?
	if declare -F txp_cleanup >/dev/null; then txp_cleanup; fi
	txp_svc_stop_all
	if ((rc != 0 && failed == 0)); then failed=$((failed + 1)); fi
	if ((failed == 0)) && [[ ${TXP_KEEP_WORKDIR:-0} != 1 ]]; then
		rm -rf "$workdir"
	else
		echo "work directory kept: $workdir"
	fi
	echo "$passed passed, $failed failed"
	((failed == 0)) && exit 0
	exit 1
}

jget() { txp_js json-get.mjs "$1"; }

# stop_daemon: SIGTERM to $daemon_pid and wait; sets daemon_rc (empty when none was running).
stop_daemon() {
	daemon_rc=""
	if [[ -n $daemon_pid ]]; then
		kill -TERM "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_rc=$?
		daemon_pid=""
	fi
}

# stat PATH: one value of the daemon's stats (e.g. delivery.stored).
stat() {
	"$TXPIPECTL" --socket "$workdir/txpiped.sock" stats --format json 2>/dev/null | jget "$1"
}

# wait_stat PATH VALUE [SECONDS]: polls until the stat equals VALUE (30 s by default); prints the
# last value seen.
wait_stat() {
	local v="" i
	for ((i = 0; i < ${3:-30} * 10; i++)); do
		v=$(stat "$1")
		[[ $v == "$2" ]] && break
		sleep 0.1
	done
	echo "$v"
}
