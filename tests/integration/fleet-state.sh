#!/usr/bin/env bash
# fleet-state.sh: three txpiped instances (own sockets and journals) sharing screening state through
# one fleet table on dynalite.  One scenario (a customer's velocity burst and then a large amount, a
# card tested at several merchants, repeated amounts, structuring under the AML threshold, ordinary
# traffic), sent round-robin across the three, gets exactly the decisions one instance gives for the
# same file alone: in fast mode with consecutive transactions of a key 0.35 s apart (txpiped(8)
# bounds the lag at half of sync_interval_ms plus four round trips: 100 ms here, which leaves 62 ms a
# round trip for a loaded CI machine), and in fresh mode with no pauses at all.  Negative control: with [fleet]
# enabled = false the same spread traffic gets other decisions.  Then DynamoDB stops mid-load:
# decisions go on, those made while stale carry fleet_state_stale, everything acknowledged is
# stored, and after the restart the shared state catches up (a burst split across hosts is seen).
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped) only when Node cannot be set up.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TXP_TESTS_DIR=${TXP_TESTS_DIR:-$top_srcdir/tests}
export TXP_TESTS_DIR
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"

TXPIPED=$top_builddir/txpiped
TXPIPECTL=$top_builddir/txpipectl
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-fleet.XXXXXX")
records=txpipe-it-fleet-records
declare -A pids=()

stop_all() {
	local n
	for n in "${!pids[@]}"; do
		kill -CONT "${pids[$n]}" 2>/dev/null # the restart check stops one
		kill -TERM "${pids[$n]}" 2>/dev/null
		wait "${pids[$n]}" 2>/dev/null
		unset "pids[$n]"
	done
}
txp_cleanup() { stop_all; }

if ! txp_svc_node; then
	rm -rf "$workdir"
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh)"
	exit 77
fi
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "work directory: $workdir"
export TXP_DYNALITE_PATH=$workdir/dynalite-data
txp_svc_aws_env
txp_svc_start_dynalite "$workdir/logs" || exit 1
ok "dynalite started (on disk)"
"$TXPIPECTL" genkey "$workdir/card.key" >/dev/null && "$TXPIPECTL" genkey "$workdir/pseud.key" >/dev/null
check "key files created" 0 "$?"
txp_js ddb-create-table.mjs "$records" --key transaction_id >/dev/null
check "records table created" 0 "$?"

# config NAME FLEET_ENABLED FLEET_TABLE MODE: one instance's configuration.  Every host has the same
# pseudonym key: the fleet's state is kept under the keyed pseudonyms.
config() {
	cat >"$workdir/$1.ini" <<EOC
[daemon]
socket = $workdir/$1.sock
shutdown_timeout_ms = 5s

[pipeline]
workers = ${TXP_FLEET_WORKERS:-1}

[journal]
dir = $workdir/$1.journal

[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
usd_rates = USD:1000000,EUR:1080000

[aws]
region = us-east-1
imds = false

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $records
flush_delay_ms = 20ms

[retry]
max_attempts = 20
base_delay_ms = 50ms
max_delay_ms = 1s
budget_percent = 0

[fleet]
enabled = $2
instance_id = $1
table = $3
sync_interval_ms = 200ms
stale_after_ms = 1s
mode = $4
# dynalite has no TransactWriteItems (fleet-records.sh runs transactions at DynamoDB Local).
record_writes = put
EOC
}

# start NAME: starts an instance and waits for its socket.
start() {
	local i
	rm -f "$workdir/$1.sock"
	"$TXPIPED" --config "$workdir/$1.ini" 2>>"$workdir/$1.log" &
	pids[$1]=$!
	for ((i = 0; i < 200; i++)); do
		[[ -S $workdir/$1.sock ]] && return 0
		kill -0 "${pids[$1]}" 2>/dev/null || break
		sleep 0.05
	done
	not_ok "txpiped $1 starts" "$(tail -n 20 "$workdir/$1.log")"
	return 1
}

stop() {
	kill -TERM "${pids[$1]}" 2>/dev/null
	wait "${pids[$1]}" 2>/dev/null
	unset "pids[$1]"
}

# fstat NAME PATH: one stats value of instance NAME.
fstat() {
	"$TXPIPECTL" --socket "$workdir/$1.sock" stats --format json 2>/dev/null | jget "$2"
}

# The scenario, in the order it is sent; PREFIX keeps each run's keys apart.  Five customers
# interleaved with three hosts: each key's consecutive transactions go to different hosts.  No
# merchant, customer or card is shared between the five series, so spread's pause is each key's gap.
scenario() {
	local p=$1 i
	tx() { # ID CUSTOMER MERCHANT AMOUNT [CARD]
		printf '{"transaction_id":"%s-%s","amount":"%s","currency":"USD","merchant_id":"%s-%s","customer_id":"%s-%s","merchant_country":"US","customer_country":"US","customer_kyc_status":"verified"%s}\n' \
			"$p" "$1" "$4" "$p" "$3" "$p" "$2" "${5:+,\"card_number\":\"$5\"}"
	}
	for i in 1 2 3 4 5 6; do
		tx "vel$i" burst m-shop "2$i.0$i"                        # velocity burst of one customer
		tx "ct$i" tester "m-ct$i" "1.0$i" 4000056655665556       # one card, several merchants
		tx "rep$i" repeater "m-rep$i" 12.34                       # the same amount again and again
		if ((i <= 3)); then tx "aml$i" smurf m-aml 4000.00; fi    # just under the threshold, summed
		tx "ord$i" "ordinary$i" m-ord "3$i.00"                    # ordinary traffic
	done
	tx vel7 burst m-shop 900.00                                    # large against the burst's average
}

# decisions FILE: "id status score reasons" per reply, sorted by id.
decisions() {
	txp_node -e '
		const lines = require("node:fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
		const out = [];
		for (const l of lines) {
			let r; try { r = JSON.parse(l); } catch { continue; }
			if (!r.transaction_id) continue;
			out.push([r.transaction_id.replace(/^[^-]*-/, ""), r.status, r.risk_score,
				(r.reasons || []).map((x) => (typeof x === "string" ? x : x.code)).sort().join(",")].join(" "));
		}
		console.log(out.sort().join("\n"));' "$1"
}

# single PREFIX: the scenario through one instance alone, no fleet; decisions in $workdir/single-PREFIX.
single() {
	config single false unused fast
	rm -rf "$workdir/single.journal"
	start single || return 1
	scenario "$1" >"$workdir/scenario-$1.ndjson"
	"$TXPIPECTL" --socket "$workdir/single.sock" submit --file "$workdir/scenario-$1.ndjson" \
		>"$workdir/single-$1.out" 2>&1
	stop single
	decisions "$workdir/single-$1.out" >"$workdir/single-$1.dec"
}

# spread PREFIX PAUSE: the scenario round-robin over a, b and c.  A line is sent once PAUSE seconds
# have passed since the reply to the last line with one of its keys (customer, merchant, card) came
# back, and at once otherwise: consecutive transactions of a key are decided more than PAUSE apart,
# and not much more.  The smallest gap between them is written to $workdir/spread-PREFIX.gap (ms).
spread() {
	local p=$1 pause_us n=0 line k keys wait now sent min=-1 host=(a b c)
	local -A last=()
	pause_us=$(awk -v s="$2" 'BEGIN { printf "%d", s * 1000000 }')
	: >"$workdir/spread-$p.out"
	scenario "$p" >"$workdir/scenario-$p.ndjson"
	while IFS= read -r line; do
		keys=$(grep -o '"\(customer_id\|merchant_id\|card_number\)":"[^"]*"' <<<"$line")
		now=${EPOCHREALTIME/./}
		wait=0
		for k in $keys; do
			[[ -n ${last[$k]:-} ]] && ((last[$k] + pause_us - now > wait)) && wait=$((last[$k] + pause_us - now))
		done
		((wait == 0)) || sleep "$((wait / 1000000)).$(printf '%06d' $((wait % 1000000)))"
		sent=${EPOCHREALTIME/./}
		for k in $keys; do
			[[ -n ${last[$k]:-} ]] && ((min < 0 || sent - last[$k] < min)) && min=$((sent - last[$k]))
		done
		"$TXPIPECTL" --socket "$workdir/${host[n % 3]}.sock" submit "$line" >>"$workdir/spread-$p.out" 2>&1
		now=${EPOCHREALTIME/./}
		for k in $keys; do last[$k]=$now; done
		n=$((n + 1))
	done <"$workdir/scenario-$p.ndjson"
	echo $((min / 1000)) >"$workdir/spread-$p.gap"
	decisions "$workdir/spread-$p.out" >"$workdir/spread-$p.dec"
}

# fleet ENABLED TABLE MODE: (re)starts a, b and c with fresh journals.
fleet() {
	local n
	[[ $1 == false ]] || txp_js ddb-create-table.mjs "$2" --key pk >/dev/null || not_ok "fleet table $2 created"
	for n in a b c; do
		config "$n" "$1" "$2" "$3"
		rm -rf "$workdir/$n.journal"
		start "$n" || return 1
	done
	# Every host has seen the others (their heartbeats) before traffic starts.
	if [[ $1 == true ]]; then
		for n in a b c; do
			local i
			for ((i = 0; i < 100; i++)); do
				[[ $(fstat "$n" fleet.hosts_seen) == 2 ]] && break
				sleep 0.1
			done
		done
	fi
}

# compare NAME PREFIX: spread decisions equal the single-instance ones.  On a difference, each
# host's fleet figures go with it (sync_lag_ms and the counters say whether reads were slow).
compare() {
	local d n why
	d=$(diff "$workdir/single-$2.dec" "$workdir/spread-$2.dec")
	if [[ -z $d && -s $workdir/single-$2.dec ]]; then ok "$1"; return; fi
	why=$(tr '\n' '|' <<<"$d")
	for n in a b c; do
		why+=" $n: $(fstat "$n" fleet)"
	done
	not_ok "$1" "$why"
}

# --- single instance, the reference -----------------------------------------------------------
single f1 || exit 1
check "the reference run decided all 28 transactions" 28 "$(wc -l <"$workdir/single-f1.dec")"
for r in velocity_customer_count_short card_testing_card repeat_amount aml_structuring high_amount_relative; do
	check "the reference run has $r" 1 "$(grep -q "$r" "$workdir/single-f1.dec" && echo 1)"
done

# --- negative control: three hosts, no fleet ------------------------------------------------------
single n1 || exit 1
fleet false unused fast || exit 1
spread n1 0.35
stop_all
if diff -q "$workdir/single-n1.dec" "$workdir/spread-n1.dec" >/dev/null; then
	not_ok "without [fleet] the spread traffic gets other decisions (the test can fail)"
else
	ok "without [fleet] the spread traffic gets other decisions (the test can fail)"
fi
check "without [fleet] the split burst is missed" "" \
	"$(grep '^vel5 ' "$workdir/spread-n1.dec" | grep -o velocity_customer_count_short)"

# --- fast mode: consecutive transactions of a key 0.35 s apart (the bound: 100 ms + 4 round trips) ---
fleet true txpipe-it-fleet-fast fast || exit 1
spread f1 0.35
compare "fast mode, spread over three hosts, each key's transactions 0.35 s apart: every decision equals the single instance's" f1
gap=$(cat "$workdir/spread-f1.gap")
if ((gap >= 350 && gap < 600)); then ok "the closest transactions of a key were ${gap} ms apart (0.35 s to 0.6 s)"; else
	not_ok "the closest transactions of a key were 0.35 s to 0.6 s apart" "gap=${gap} ms"
fi
# Each host applies every transaction the other two decided (28 round-robin: a decided 10, b and c 9);
# the last ones within the bound after the last reply, so ask for up to 3 s.
declare -A own=([a]=10 [b]=9 [c]=9)
for n in a b c; do
	for ((i = 0; i < 30; i++)); do
		applied=$(fstat "$n" fleet.events_applied)
		((applied >= 28 - own[$n])) && break
		sleep 0.1
	done
	check "host $n applied the others' events" $((28 - own[$n])) "$applied"
done
check "no decision was stale" 0 "$(grep -c fleet_state_stale "$workdir/spread-f1.out")"
# A burst larger than one feed item (512 events) and one request's share (64 KB) within a tick: the
# other hosts apply every event of it.
b0=$(fstat b fleet.events_applied)
c0=$(fstat c fleet.events_applied)
awk 'BEGIN { for (i = 0; i < 1500; i++) printf "{\"transaction_id\":\"big-%d\",\"amount\":\"12.00\",\"currency\":\"USD\",\"merchant_id\":\"m-big\",\"customer_id\":\"big-c%d\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"customer_kyc_status\":\"verified\"}\n", i, i }' \
	>"$workdir/big.ndjson"
"$TXPIPECTL" --socket "$workdir/a.sock" submit --file "$workdir/big.ndjson" >"$workdir/big.out" 2>&1
for ((i = 0; i < 100; i++)); do
	(($(fstat b fleet.events_applied) >= b0 + 1500 && $(fstat c fleet.events_applied) >= c0 + 1500)) && break
	sleep 0.1
done
check "a burst of 1,500 on a: b and c applied all of it" "1500 1500" \
	"$(($(fstat b fleet.events_applied) - b0)) $(($(fstat c fleet.events_applied) - c0))"
# For the record, not a check: with no pause (each key's transactions tens of ms apart, inside the
# bound) fast mode may decide otherwise, which is what the pause above is for.
single f0 || exit 1
spread f0 0
echo "# fast mode with no pause: $(diff "$workdir/single-f0.dec" "$workdir/spread-f0.dec" | grep -c '^>') of 28 decisions differ from the single instance's (allowed)"

# --- a host restarts before the others read its last events: they read them after the restart -------
# b is stopped (SIGSTOP: it reads nothing), a decides four of a burst and publishes them, restarts
# (a new run of seqs), and only then b goes on: the fifth, on b, is the fifth it counts only if b read
# a's run before the restart.
submit_burst() { # HOST I
	"$TXPIPECTL" --socket "$workdir/$1.sock" submit \
		"{\"transaction_id\":\"rs-$2\",\"amount\":\"2$2.00\",\"currency\":\"USD\",\"merchant_id\":\"m-rs\",\"customer_id\":\"rs-burst\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"customer_kyc_status\":\"verified\"}"
}
: >"$workdir/restart.out"
# Everything a decided so far is published first (the last of spread f0 may still be queued), so
# `before` is exact.
for ((i = 0; i < 100; i++)); do
	[[ $(fstat a fleet.events_queued) == 0 ]] && break
	sleep 0.1
done
before=$(fstat a fleet.events_published)
kill -STOP "${pids[b]}"
for i in 1 2 3 4; do submit_burst a "$i" >>"$workdir/restart.out" 2>&1; done
for ((i = 0; i < 100; i++)); do
	(($(fstat a fleet.events_published) >= before + 4)) && break
	sleep 0.1
done
check "a published the four before its restart" $((before + 4)) "$(fstat a fleet.events_published)"
stop a
start a || exit 1
for ((i = 0; i < 100; i++)); do
	[[ $(fstat a fleet.hosts_seen) == 2 ]] && break # its first read (b's heartbeat is recent enough)
	sleep 0.1
done
sleep 0.5 # a's first members write (after its first read) names its new run
kill -CONT "${pids[b]}"
sleep 1
submit_burst b 5 >>"$workdir/restart.out" 2>&1
check "the fifth, on b after a restarted, has velocity_customer_count_short" 1 \
	"$(grep '"transaction_id":"rs-5"' "$workdir/restart.out" | grep -c velocity_customer_count_short)"
check "a wrote its run before the restart into its members attribute" 1 "$(grep -c fleet_previous_run "$workdir/a.log")"
stop_all

# --- fresh mode: no pauses at all ---------------------------------------------------------------
if [[ ${TXP_FLEET_SKIP_FRESH:-0} != 1 ]]; then
	single r1 || exit 1
	fleet true txpipe-it-fleet-fresh fresh || exit 1
	spread r1 0
	compare "fresh mode, spread over three hosts with no pauses: every decision equals the single instance's" r1
	held=$(fstat a fleet.held_total)
	if ((held > 0)); then ok "fresh mode held transactions for a read ($held on a)"; else
		not_ok "fresh mode held transactions for a read" "held_total=$held"
	fi
	# DynamoDB down: fresh mode neither holds a transaction nor its reply for good.
	txp_svc_stop dynalite
	: >"$workdir/fresh-down.out"
	for i in 1 2 3; do
		timeout 10 "$TXPIPECTL" --socket "$workdir/a.sock" submit \
			"{\"transaction_id\":\"fd-$i\",\"amount\":\"7.00\",\"currency\":\"USD\",\"merchant_id\":\"m-fd\",\"customer_id\":\"fd-c$i\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"customer_kyc_status\":\"verified\"}" \
			>>"$workdir/fresh-down.out" 2>&1
	done
	check "fresh mode answers while DynamoDB is down" 3 "$(grep -c '"status":"approved"' "$workdir/fresh-down.out")"
	check "and those answers carry fleet_state_stale" 3 "$(grep -c fleet_state_stale "$workdir/fresh-down.out")"
	txp_svc_restart_dynalite "$workdir/logs" || exit 1
	stop_all
fi

# --- DynamoDB stops mid-load and comes back ---------------------------------------------------------
fleet true txpipe-it-fleet-outage fast || exit 1
ids=()
load() { # PREFIX COUNT: ordinary transactions round-robin, recording the acknowledged ids
	local i host=(a b c) out
	for ((i = 0; i < $2; i++)); do
		out=$("$TXPIPECTL" --socket "$workdir/${host[i % 3]}.sock" submit \
			"{\"transaction_id\":\"$1-$i\",\"amount\":\"5$i.00\",\"currency\":\"USD\",\"merchant_id\":\"m-o\",\"customer_id\":\"$1-c$i\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"customer_kyc_status\":\"verified\"}" 2>&1)
		echo "$out" >>"$workdir/outage.out"
		grep -q '"status":"approved"\|"status":"review"\|"status":"declined"' <<<"$out" && ids+=("$1-$i")
	done
}
: >"$workdir/outage.out"
load o1 9
txp_svc_stop dynalite
ok "dynalite stopped during the load"
sleep 1.5 # over stale_after_ms (1 s) plus a tick
load o2 9
check "every transaction was decided while DynamoDB was down" 18 "${#ids[@]}"
stale=$(grep '"transaction_id":"o2-' "$workdir/outage.out" | grep -c fleet_state_stale)
check "the decisions made while stale carry fleet_state_stale" 9 "$stale"
check "none made before the outage does" 0 "$(grep '"transaction_id":"o1-' "$workdir/outage.out" | grep -c fleet_state_stale)"
sd=$(fstat a fleet.stale_decisions)
check "stats count the stale decisions (host a)" 3 "$sd"
txp_svc_restart_dynalite "$workdir/logs" || exit 1
ok "dynalite restarted"
for n in a b c; do
	for ((i = 0; i < 100; i++)); do
		[[ $(fstat "$n" fleet.stale) == false ]] && break
		sleep 0.1
	done
	check "host $n is fresh again" false "$(fstat "$n" fleet.stale)"
done
# The burst split across the hosts after the restart is detected again.
: >"$workdir/after.out"
for i in 1 2 3 4 5; do
	host=(a b c)
	"$TXPIPECTL" --socket "$workdir/${host[i % 3]}.sock" submit \
		"{\"transaction_id\":\"after-$i\",\"amount\":\"1$i.00\",\"currency\":\"USD\",\"merchant_id\":\"m-after\",\"customer_id\":\"after-burst\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"customer_kyc_status\":\"verified\"}" \
		>>"$workdir/after.out" 2>&1
	sleep 1
done
check "after the restart the fifth of a split burst has velocity_customer_count_short" 1 \
	"$(grep '"transaction_id":"after-5"' "$workdir/after.out" | grep -c velocity_customer_count_short)"
check "and no decision after the restart is stale" 0 "$(grep -c fleet_state_stale "$workdir/after.out")"
# Everything acknowledged during the outage is stored (delivery retried it).
for n in a b c; do
	for ((i = 0; i < 300; i++)); do
		[[ $(fstat "$n" journal.undelivered) == 0 ]] && break
		sleep 0.1
	done
done
missing=0
for id in "${ids[@]}"; do
	txp_js ddb-get.mjs "$records" "$id" --key transaction_id >/dev/null 2>&1 || missing=$((missing + 1))
done
check "every acknowledged transaction is stored" 0 "$missing"
stop_all
