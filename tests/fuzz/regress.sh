#!/usr/bin/env bash
# regress.sh: runs every file of tests/fuzz/corpus/<name>/ once through its harness tests/fuzz/fuzz_<name>
# (make check): the seeds, and every input that once crashed a parser, stay fixed.
#
# Works with both builds of the harnesses: the replay main() of an ordinary build, and libFuzzer's
# (given files, not directories, libFuzzer runs each once and exits).  Exit status 0 when every
# harness ran its whole corpus, 1 otherwise.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-.}
corpora=$top_srcdir/tests/fuzz/corpus
failed=0
ran=0

for dir in "$corpora"/*/; do
	name=$(basename "$dir")
	bin=$top_builddir/tests/fuzz/fuzz_$name
	if [ ! -x "$bin" ]; then
		echo "FAIL: corpus $name has no harness $bin"
		failed=1
		continue
	fi
	files=("$dir"*)
	if [ ! -f "${files[0]}" ]; then
		echo "FAIL: corpus $name is empty"
		failed=1
		continue
	fi
	if "$bin" "${files[@]}" >"$top_builddir/tests/fuzz/regress-$name.log" 2>&1; then
		echo "ok: $name (${#files[@]} inputs)"
		ran=$((ran + 1))
	else
		echo "FAIL: $name: a corpus input crashed or broke an invariant:"
		tail -40 "$top_builddir/tests/fuzz/regress-$name.log"
		failed=1
	fi
done
# Every harness needs a corpus, or its regressions would go unchecked.
for bin in "$top_builddir"/tests/fuzz/fuzz_*; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	name=${bin##*/fuzz_}
	[ -d "$corpora/$name" ] || { echo "FAIL: harness $name has no corpus in $corpora"; failed=1; }
done
[ "$ran" -gt 0 ] || { echo "FAIL: no harness ran"; failed=1; }
exit "$failed"
