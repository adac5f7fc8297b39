#!/bin/sh
# completion.sh: the txpipectl bash completion offers the commands and options txpipectl accepts.
#
# Each case sets the words of a command line as bash would and checks what
# the completion function proposes; then every proposed command and option
# is checked against txpipectl's own usage text, so the two cannot drift.
# Skips (77) without bash.
set -u

: "${top_builddir:=.}"
: "${top_srcdir:=.}"

if ! command -v bash >/dev/null 2>&1; then
	echo "SKIP: bash is not installed"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txp-compl.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/files"
touch "$tmp/files/day.ndjson" "$tmp/files/dawn.ini"

cat >"$tmp/run.bash" <<'EOS'
# complete_words WORD...: the completions for the line WORD... (the last
# word is the one being completed), sorted, one per line.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_txpipectl
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
status=0
expect() {
	want=$1
	shift
	got=$(complete_words "$@")
	if [ "$got" = "$want" ]; then
		echo "ok: [$*] -> $got"
	else
		echo "FAIL: [$*] -> '$got', expected '$want'"
		status=1
	fi
}
source "$1"
cd "$2"
expect "check-config deprovision dlq doctor genkey get help journal provision reload stats submit tail version" txpipectl ""
expect "--delete-data --yes" txpipectl deprovision ""
expect "--yes" txpipectl deprovision --y
expect "deprovision dlq doctor" txpipectl d
expect "list redrive" txpipectl dlq ""
expect "adopt" txpipectl journal ""
expect "--config --timeout-ms" txpipectl journal adopt -
expect "" txpipectl journal adopt --timeout-ms ""
expect "--reason --status" txpipectl tail ""
expect "stats submit" txpipectl s
expect "check-config" txpipectl --socket /x c
expect "--config --help --quiet --socket --version -V -c -h -q -s" txpipectl -
expect "--socket" txpipectl --so
expect "dawn.ini day.ndjson" txpipectl --config ""
expect "day.ndjson" txpipectl -c dawn.ini submit --file day
expect "- dawn.ini day.ndjson" txpipectl submit --file ""
expect "--file" txpipectl submit ""
expect "" txpipectl submit '{"a":1}' ""
expect "--format" txpipectl stats -
expect "json prometheus text" txpipectl stats --format ""
expect "json" txpipectl -q stats --format j
expect "" txpipectl reload ""
expect "dawn.ini day.ndjson" txpipectl genkey ""
expect "" txpipectl genkey day.ndjson ""
exit $status
EOS
bash "$tmp/run.bash" "$top_srcdir/completion/txpipectl" "$tmp/files"
status=$?

# Everything the completion offers must be something txpipectl accepts:
# each command and option gets past the parsers (69: it went on to connect
# to the missing socket; 0: help).
tx=$top_builddir/txpipectl
if [ ! -x "$tx" ]; then
	echo "FAIL: $tx is not built"
	exit 1
fi
accepts() {
	want=$1
	shift
	"$tx" "$@" >/dev/null 2>&1
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL: txpipectl $* exited $rc, expected $want"
		status=1
	fi
}
# An unknown command exits 64 (usage); a known one gets further.
for c in $(sed -n 's/.*local commands="\([^"]*\)".*/\1/p' "$top_srcdir/completion/txpipectl"); do
	[ "$c" = genkey ] && continue # needs its FILE: checked below
	# Commands that need an argument get one, so 64 means unknown.
	case $c in
	get) set -- get some-id ;;
	dlq) set -- dlq list ;;
	journal) set -- journal adopt "$tmp/none-journal" ;;
	*) set -- "$c" ;;
	esac
	"$tx" --socket "$tmp/none.sock" --config "$tmp/none.ini" "$@" </dev/null >/dev/null 2>&1
	if [ $? -eq 64 ]; then
		echo "FAIL: the completion offers the command $c, which txpipectl does not accept"
		status=1
	fi
done
for o in $(sed -n 's/.*local global_opts="\([^"]*\)".*/\1/p' "$top_srcdir/completion/txpipectl"); do
	case $o in
	-s | --socket | -c | --config) accepts 0 "$o" /dev/null help ;;
	*) accepts 0 "$o" help ;;
	esac
done
accepts 69 --socket "$tmp/none.sock" submit --file /dev/null
accepts 69 --socket "$tmp/none.sock" stats --format json
accepts 69 --socket "$tmp/none.sock" stats --format text
accepts 69 --socket "$tmp/none.sock" stats --format prometheus
accepts 0 genkey "$tmp/new.key"
# journal adopt's options get past its parser (78: it went on to read the missing configuration).
accepts 78 journal adopt --config "$tmp/none.ini" --timeout-ms 5 "$tmp/none-journal"
exit $status
