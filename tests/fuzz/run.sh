#!/usr/bin/env bash
# run.sh: `make fuzz`: runs each libFuzzer harness in turn for FUZZ_SECONDS over its seed corpus and
# reports executions per second and coverage; any crash, leak, sanitizer report, timeout or broken
# invariant fails the run.
#
# Usage: run.sh SRCDIR BUILDDIR NAME...   (FUZZ_SECONDS, default 60: seconds per harness;
# FUZZ_ARGS: more libFuzzer options, e.g. "-seed=1"; SIGV4_SUITE: the AWS SigV4 test suite, whose
# requests seed fuzz_sigv4.)  Grown corpora, logs and crash inputs go to
# BUILDDIR/tests/fuzz/out/<name>/; the source tree is only read.
set -uo pipefail

srcdir=$1
builddir=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
out=$builddir/tests/fuzz/out
summary=$out/summary.txt
failed=()

# libFuzzer reads -max_total_time=0 as "no limit": never pass it.
case $seconds in
'' | *[!0-9]* | 0) echo "run.sh: FUZZ_SECONDS must be a whole number of seconds, at least 1" >&2; exit 2 ;;
esac
mkdir -p "$out"
printf '%-16s %8s %10s %8s %8s %7s %7s  %s\n' harness seconds execs exec/s cov ft corpus result >"$summary"

# The dictionary of tokens that helps the fuzzer past a format's keywords.
dict_for() {
	case $1 in
	jsonline | validate) echo transaction.dict ;;
	control | ddb_unprocessed | sqs_failures | imds) echo aws-json.dict ;;
	sns_failures) echo aws-xml.dict ;;
	aws_error) echo aws-error.dict ;;
	config | credfile) echo ini.dict ;;
	sigv4) echo sigv4.dict ;;
	*) echo "" ;;
	esac
}

for name in "$@"; do
	bin=$builddir/tests/fuzz/fuzz_$name
	work=$out/$name
	log=$work/fuzz.log
	mkdir -p "$work/corpus" "$work/artifacts"
	rm -f "$work"/artifacts/*
	dict=$(dict_for "$name")
	opts=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/artifacts/")
	# Generous per-input and memory limits: the CPU may be shared (CI), and
	# a slow but finishing input is not a finding worth failing CI for.
	opts+=(-timeout=60 -rss_limit_mb=4096 -max_len=16384)
	[ -n "$dict" ] && opts+=(-dict="$srcdir/tests/fuzz/dict/$dict")
	# shellcheck disable=SC2206
	opts+=(${FUZZ_ARGS:-})
	# The published AWS SigV4 test suite's requests seed the signer, read
	# in place (configure --with-sigv4-suite), never copied into the tree.
	if [ "$name" = sigv4 ] && [ -n "${SIGV4_SUITE:-}" ] && [ -d "$SIGV4_SUITE" ]; then
		for req in "$SIGV4_SUITE"/*/request.txt; do
			[ -f "$req" ] && cp "$req" "$work/corpus/suite-$(basename "$(dirname "$req")").txt"
		done
	fi
	echo "== fuzz_$name for ${seconds}s"
	# New inputs go to the first directory; the seeds are only read.
	"$bin" "${opts[@]}" "$work/corpus" "$srcdir/tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	# libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/..b ... exec/s: E".
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	if [ "$rc" -eq 0 ] && [ -n "$execs" ] && [ "${execs:-0}" -gt 0 ]; then
		result=ok
	else
		result="FAILED (exit $rc)"
		failed+=("$name")
		echo "fuzz_$name failed; the end of $log:"
		tail -60 "$log"
		for a in "$work"/artifacts/*; do
			[ -f "$a" ] && echo "reproduce: $bin $a"
		done
	fi
	printf '%-16s %8s %10s %8s %8s %7s %7s  %s\n' "$name" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
		"${ft:-?}" "${corp:-?}" "$result" >>"$summary"
done
cat "$summary"
if [ "${#failed[@]}" -gt 0 ]; then
	echo "make fuzz: findings in: ${failed[*]} (inputs in $out/<name>/artifacts/; add each to" \
		"tests/fuzz/corpus/<name>/ once fixed)" >&2
	exit 1
fi
