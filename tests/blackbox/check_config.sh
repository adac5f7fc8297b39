#!/bin/sh
# check_config.sh: `txpiped --check-config` exits 78 for every configuration problem, never hangs, and refuses what the daemon refuses.
#
# Each case writes a configuration (or a key, list or config file that is
# not what it should be), runs the real txpiped with --check-config under a
# timeout (a FIFO must not make it wait for a writer) and checks the exit
# status and that the message names the file, line and key where it should.
set -u

: "${top_builddir:=.}"
txpiped="$top_builddir/txpiped"
[ -x "$txpiped" ] || { echo "FAIL: $txpiped not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txp-checkcfg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
umask 077
printf '%064x\n' 1 >"$tmp/card.key"
printf '%064x\n' 2 >"$tmp/pseud.key"
printf 'c1\n' >"$tmp/deny.txt"
status=0

# base [EXTRA_LINES...]: a configuration that passes, with extra lines appended.
base() {
	printf '[compliance]\ncard_token_key_file = %s\npseudonym_key_file = %s\n' \
		"${CARD_KEY:-$tmp/card.key}" "$tmp/pseud.key"
	for l in "$@"; do printf '%s\n' "$l"; done
}

# expect NAME WANT_STATUS WANT_TEXT CONFIG_PATH: runs the check, compares.
expect() {
	name=$1 want=$2 text=$3 cfg=$4
	timeout 20 "$txpiped" --check-config --config "$cfg" >"$tmp/out" 2>&1
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $name: exit $got, want $want: $(cat "$tmp/out")"
		status=1
	elif [ -n "$text" ] && ! grep -qF -- "$text" "$tmp/out"; then
		echo "FAIL: $name: message lacks \"$text\": $(cat "$tmp/out")"
		status=1
	else
		echo "ok: $name: exit $got: $(head -c 300 "$tmp/out")"
	fi
}

base >"$tmp/good.ini"
expect "a good configuration" 0 "configuration OK" "$tmp/good.ini"

# Key files.
mkfifo "$tmp/fifo.key"
CARD_KEY=$tmp/fifo.key base >"$tmp/c.ini"
expect "a FIFO as key file" 78 \
	"$tmp/c.ini:2: [compliance] card_token_key_file = $tmp/fifo.key: key file $tmp/fifo.key: is a FIFO" \
	"$tmp/c.ini"
ln -s "$tmp/card.key" "$tmp/link.key"
CARD_KEY=$tmp/link.key base >"$tmp/c.ini"
expect "a symbolic link as key file" 78 "$tmp/c.ini:2: [compliance] card_token_key_file = $tmp/link.key: key file" \
	"$tmp/c.ini"
grep -qF "is a symbolic link (name the file itself)" "$tmp/out" || { echo "FAIL: no reason for the link"; status=1; }
CARD_KEY=/proc/self/mem base >"$tmp/c.ini"
expect "/proc/self/mem as key file" 78 "key file /proc/self/mem is 0 bytes" "$tmp/c.ini"
CARD_KEY=$tmp base >"$tmp/c.ini"
expect "a directory as key file" 78 "is a directory" "$tmp/c.ini"

# List files.
base "[fraud]" "deny_customers = $tmp" >"$tmp/c.ini"
expect "a directory as deny list" 78 "$tmp/c.ini:5: [fraud] deny_customers = $tmp: $tmp: is a directory" "$tmp/c.ini"
mkfifo "$tmp/fifo.txt"
base "[fraud]" "deny_customers = $tmp/fifo.txt" >"$tmp/c.ini"
expect "a FIFO as deny list" 78 "is a FIFO" "$tmp/c.ini"
ln -s "$tmp/deny.txt" "$tmp/deny-link.txt"
base "[fraud]" "deny_customers = $tmp/deny-link.txt" >"$tmp/c.ini"
expect "a symbolic link to a deny list is followed" 0 "configuration OK" "$tmp/c.ini"

# The configuration path itself.
expect "a directory as config path" 78 "$tmp: cannot open: is a directory" "$tmp"
mkfifo "$tmp/fifo.ini"
expect "a FIFO as config path" 78 "is a FIFO" "$tmp/fifo.ini"
ln -s "$tmp/good.ini" "$tmp/link.ini"
expect "a symbolic link to the config is followed" 0 "configuration OK" "$tmp/link.ini"

# What the daemon refuses at start.
base "[dynamodb]" "endpoint = http://example.com" >"$tmp/c.ini"
expect "an http endpoint off the host" 78 "$tmp/c.ini:5: [dynamodb] endpoint = http://example.com" "$tmp/c.ini"
base "[metrics]" "listen = 0.0.0.0:9464" >"$tmp/c.ini"
expect "metrics on every address" 78 "$tmp/c.ini:5: [metrics] listen = 0.0.0.0:9464" "$tmp/c.ini"

# Stage values name file, line and key.
base "usd_rates = USD:1000000, 1K" >"$tmp/c.ini"
expect "a bad usd_rates item" 78 "$tmp/c.ini:4: [compliance] usd_rates = USD:1000000, 1K: \"1K\"" "$tmp/c.ini"
base "[fraud]" "review_threshold = 90" >"$tmp/c.ini"
expect "review above decline" 78 "$tmp/c.ini:5: [fraud] review_threshold = 90: above decline_threshold (80)" \
	"$tmp/c.ini"

# Long values: 40 currencies on one line (about 560 bytes).
rates="USD:1000000"
for c in EUR GBP JPY CHF CAD AUD NZD SEK NOK DKK PLN CZK HUF RON BGN ISK TRY ILS ZAR MXN BRL ARS CLP \
	COP PEN INR CNY HKD SGD KRW TWD THB MYR IDR PHP AED SAR QAR KWD; do
	rates="$rates, $c:1234567"
done
base "usd_rates = $rates" >"$tmp/c.ini"
expect "usd_rates with 40 currencies" 0 "configuration OK" "$tmp/c.ini"

exit $status
