#!/bin/sh
# demo.sh BUILDDIR: the README's run command after the build: starts txpiped
# with a throw-away configuration, submits the sample transactions and shows
# the decisions and the daemon's statistics.
set -eu

build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/txpipe-demo.XXXXXX)
daemon_pid=""

cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$build/txpipectl" genkey "$work/card-token.key" >/dev/null
"$build/txpipectl" genkey "$work/pseudonym.key" >/dev/null
cat >"$work/txpiped.ini" <<INI
[daemon]
socket = $work/txpiped.sock

# The demo only screens: nothing is stored in DynamoDB or sent to SNS/SQS.
[aws]
enabled = false

# Decided transactions are journaled here before they are answered.
[journal]
dir = $work/journal

[compliance]
card_token_key_file = $work/card-token.key
pseudonym_key_file = $work/pseudonym.key
usd_rates = USD:1000000,EUR:1080000
INI

"$build/txpiped" --check-config --config "$work/txpiped.ini"
"$build/txpiped" --config "$work/txpiped.ini" 2>"$work/txpiped.log" &
daemon_pid=$!
i=0
while [ ! -S "$work/txpiped.sock" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || { cat "$work/txpiped.log"; exit 1; }
	sleep 0.05
done

echo "== decisions for tests/data/sample-transactions.ndjson"
"$build/txpipectl" --config "$work/txpiped.ini" submit --file "$here/data/sample-transactions.ndjson" || true
echo
echo "== txpipectl stats"
"$build/txpipectl" --config "$work/txpiped.ini" stats
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
echo
echo "== daemon log"
cat "$work/txpiped.log"
