#!/usr/bin/env bash
# delivery.sh: the real txpiped against dynalite and fauxqs: decided transactions land in the table
# (minor units, pseudonyms, no card number), alerts reach a queue subscribed to the topic, a
# resubmission overwrites the record, and failures reach the dead-letter queue: at once when the
# table is missing (fatal), after [retry] max_attempts with backoff when DynamoDB is down
# (retryable), and are held in memory when SQS is down too.
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped) only when Node cannot be set up.
# Needs no write access to the source tree: node and node_modules come from TXP_TESTS_DIR (default
# $top_srcdir/tests, prepared by tests/setup-node.sh), everything else goes to a temporary directory.
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
PAN=4111111111111111
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-delivery.XXXXXX")

txp_cleanup() { stop_daemon; }

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

"$TXPIPECTL" genkey "$workdir/card.key" >/dev/null && "$TXPIPECTL" genkey "$workdir/pseud.key" >/dev/null
check "key files created" 0 "$?"

table=txpipe-it-transactions
topic_arn=arn:aws:sns:us-east-1:000000000000:txpipe-it-alerts
# The client posts to the [sqs] endpoint whatever host the queue URL names (EMULATORS.md).
queue_url="http://sqs.us-east-1.localhost:${SQS_ENDPOINT##*:}/000000000000/txpipe-it-dlq"
down_port=$(txp_svc_free_port)

# write_config NAME [SED-EXPRESSIONS...]: the base configuration, edited.
write_config() {
	local name=$1
	shift
	local -a edits=()
	local e
	for e in "$@"; do edits+=(-e "$e"); done
	cat >"$workdir/$name.ini.in" <<EOC
[daemon]
socket = $workdir/txpiped.sock
shutdown_timeout_ms = 5s

[log]
level = debug

[journal]
dir = $workdir/journal

[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
usd_rates = USD:1000000,EUR:1080000

[aws]
region = us-east-1
imds = false

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $table
flush_delay_ms = 20ms

[sns]
endpoint = $SNS_ENDPOINT
topic_arn = $topic_arn

[sqs]
endpoint = $SQS_ENDPOINT
queue_url = $queue_url

[retry]
max_attempts = 3
base_delay_ms = 50ms
max_delay_ms = 400ms
budget_percent = 20
EOC
	if ((${#edits[@]} > 0)); then
		sed "${edits[@]}" "$workdir/$name.ini.in" >"$workdir/$name.ini"
	else
		cp "$workdir/$name.ini.in" "$workdir/$name.ini"
	fi
}

# start_daemon CONFIG: starts txpiped, logging to CONFIG's name .log, and waits for its socket.
start_daemon() {
	local cfg=$1 i
	rm -f "$workdir/txpiped.sock"
	"$TXPIPED" --config "$workdir/$cfg.ini" 2>"$workdir/$cfg.log" &
	daemon_pid=$!
	for ((i = 0; i < 200; i++)); do
		[[ -S $workdir/txpiped.sock ]] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	not_ok "txpiped ($cfg) starts" "$(tail -n 20 "$workdir/$cfg.log")"
	return 1
}

submit() {
	"$TXPIPECTL" --socket "$workdir/txpiped.sock" submit --file - >>"$workdir/replies.out" 2>&1
}

# txn ID AMOUNT CUSTOMER_COUNTRY: one transaction line with a card number and personal data.
txn() {
	printf '{"transaction_id":"%s","amount":"%s","currency":"USD","merchant_id":"m-it-1","customer_id":"cust-secret-%s","merchant_country":"US","customer_country":"%s","channel":"online","merchant_category":"5999","ip_address":"198.51.100.23","device_id":"device-secret-1","customer_kyc_status":"verified","card_number":"%s"}\n' \
		"$1" "$2" "$1" "$3" "$PAN"
}

# --- provision -----------------------------------------------------------------------------------
# One worker here, so the stored items are built on the compliance thread;
# the `down` daemon below (whose records the DLQ part redrives) runs the
# stages inline (workers = 0).  Both must store every stage's time.
write_config main '$a [pipeline]' '$a workers = 1'
"$TXPIPECTL" --config "$workdir/main.ini" provision >"$workdir/provision.out" 2>&1
check "txpipectl provision exits 0" 0 "$?"
tap=$(txp_js sqs-create-subscribed-queue.mjs "$topic_arn" txpipe-it-tap --url)
check "a queue is subscribed to the alert topic" 1 "$(grep -c 'txpipe-it-tap' <<<"$tap")"

# --- stored records --------------------------------------------------------------------------------
start_daemon main || exit 1
{
	for i in $(seq -w 1 30); do txn "it-$i" "12.34" US; done
	txn it-sanctioned "250.00" IR
	echo '{"transaction_id":"it-rejected","amount":"-5","currency":"USD","merchant_id":"m","customer_id":"c","merchant_country":"US","customer_country":"US"}'
	echo '{"amount":"1.00","currency":"USD"}'
} | submit
check "every record is stored (30 + sanctioned + rejected)" 32 "$(wait_stat delivery.stored 32)"
check "the line without an id is not stored" 1 "$(stat delivery.not_stored)"

txp_js ddb-scan.mjs "$table" --raw >"$workdir/scan.json"
check "the table holds 32 items" 32 "$(jget length <"$workdir/scan.json")"
# The item's short attribute names (txpiped(8) STORED RECORD): st status,
# am amount, cu/ce currency and exponent, cb/c4 card BIN and last four, rv
# rules version, dv daemon version, su stage offsets, rn reasons, mc/cc
# countries; the key, card_token, customer_pseudonym, received_at and
# expires_at keep their names.
txp_js ddb-get.mjs "$table" it-07 --key transaction_id >"$workdir/it-07.json"
check "amount is stored in minor units" 1234 "$(jget am <"$workdir/it-07.json")"
check "currency and exponent" "USD 2" "$(jget cu <"$workdir/it-07.json") $(jget ce <"$workdir/it-07.json")"
check "status" approved "$(jget st <"$workdir/it-07.json")"
check "card: BIN, last four and a top-level token of 32 hex digits" 1 \
	"$(echo "$(jget cb <"$workdir/it-07.json") $(jget c4 <"$workdir/it-07.json") $(jget card_token <"$workdir/it-07.json")" |
		grep -cxE '411111 1111 [0-9a-f]{32}')"
check "the rules version: 12 hex digits" 1 "$(jget rv <"$workdir/it-07.json" | grep -cxE '[0-9a-f]{12}')"
check "txpipectl version shows the same rules version" 1 \
	"$("$TXPIPECTL" --socket "$workdir/txpiped.sock" version | grep -c "rules $(jget rv <"$workdir/it-07.json") ")"
check "customer pseudonym is 32 hex digits" 1 \
	"$(jget customer_pseudonym <"$workdir/it-07.json" | grep -cxE '[0-9a-f]{32}')"
check "received_at is ISO 8601 with ms" 1 \
	"$(jget received_at <"$workdir/it-07.json" | grep -cxE '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z')"
check "daemon version is recorded" "$("$TXPIPED" --version | cut -d' ' -f2)" "$(jget dv <"$workdir/it-07.json")"
check "expires_at is set (retention TTL)" 1 "$(jget expires_at <"$workdir/it-07.json" | grep -cxE '[0-9]{10}')"
check "stage times are recorded (validation, fraud, compliance)" 1 \
	"$(echo "$(jget su.0 <"$workdir/it-07.json") $(jget su.2 <"$workdir/it-07.json")" | grep -cxE '[0-9]+ [0-9]+')"
check_absent "no card number in the table" "$PAN" "$workdir/scan.json"
check_absent "no raw customer id in the table" "cust-secret-" "$workdir/scan.json"
check_absent "no raw device id in the table" "device-secret-" "$workdir/scan.json"
check_absent "no raw IP address in the table" "198.51.100.23" "$workdir/scan.json"
txp_js ddb-get.mjs "$table" it-rejected --key transaction_id >"$workdir/rejected.json"
check "a rejected transaction is stored with its error" "rejected amount_range amount" \
	"$(jget st <"$workdir/rejected.json") $(jget ec <"$workdir/rejected.json") $(jget ef <"$workdir/rejected.json")"
txp_js ddb-get.mjs "$table" it-sanctioned --key transaction_id >"$workdir/sanctioned.json"
check "the sanctioned transaction is declined" declined "$(jget st <"$workdir/sanctioned.json")"
# Reason codes are stored under their short names (txpiped(8) STORED RECORD), read back whole.
check "its reasons name the rule with its points (sanctions_country as sc)" 0 "$(jget rn.sc <"$workdir/sanctioned.json")"
check "txpipectl get --json gives the reason its code" 0 \
	"$("$TXPIPECTL" --config "$workdir/main.ini" get --json it-sanctioned | jget reasons.sanctions_country)"
check "its countries" "US IR" \
	"$(jget mc <"$workdir/sanctioned.json") $(jget cc <"$workdir/sanctioned.json")"
# DynamoDB's own types, as a query or an export reader sees them.
txp_js ddb-get.mjs "$table" it-sanctioned --key transaction_id --raw >"$workdir/sanctioned-raw.json"
check "reasons are a map of code to a number" '{"N":"0"}' \
	"$(jget rn.M.sc <"$workdir/sanctioned-raw.json")"
check "stage offsets are a list of numbers" 1 \
	"$(jget su.L.0 <"$workdir/sanctioned-raw.json" | grep -cxE '\{"N":"[0-9]+"\}')"
check "the compliance flags are not stored twice (the reasons hold them)" "" \
	"$(grep -o '"compliance_flags"' "$workdir/sanctioned-raw.json")"

# --- alerts ------------------------------------------------------------------------------------------
check "the compliance alert is published" 1 "$(wait_stat delivery.alerts_published 1)"
txp_js sqs-receive.mjs "$tap" --max 1 --wait 10 --delete --sns >"$workdir/alerts.json"
check "the subscribed queue receives it" 1 "$(jget length <"$workdir/alerts.json")"
jget 0.Sns.Message <"$workdir/alerts.json" >"$workdir/alert.json"
check "alert names the transaction" it-sanctioned "$(jget transaction_id <"$workdir/alert.json")"
check "alert type and status" "compliance declined" \
	"$(jget alert_type <"$workdir/alert.json") $(jget status <"$workdir/alert.json")"
check "alert amount in minor units" "25000 USD" \
	"$(jget amount <"$workdir/alert.json") $(jget currency <"$workdir/alert.json")"
check "alert_type message attribute" '{"Type":"String","Value":"compliance"}' \
	"$(jget 0.Sns.MessageAttributes.alert_type <"$workdir/alerts.json")"
check "severity message attribute matches the message" \
	"$(jget severity <"$workdir/alert.json")" "$(jget 0.Sns.MessageAttributes.severity.Value <"$workdir/alerts.json")"
check_absent "no card number in the alert" "$PAN" "$workdir/alerts.json"
check_absent "no raw customer id in the alert" "cust-secret-" "$workdir/alerts.json"

# --- resubmission: a recently decided id gets its first decision again, nothing is re-stored --------
: >"$workdir/replies.out"
txn it-07 "12.34" US | submit
head -n 1 "$workdir/replies.out" >"$workdir/duplicate.json"
check "the resubmission is answered as a duplicate" "true approved" \
	"$(jget duplicate <"$workdir/duplicate.json") $(jget status <"$workdir/duplicate.json")"
check "duplicates are counted" 1 "$(wait_stat ack.duplicates 1)"
# The same id with another amount is no resubmission: refused, not stored.
: >"$workdir/replies.out"
txn it-07 "99.99" US | submit
head -n 1 "$workdir/replies.out" >"$workdir/conflict.json"
check "the same id with other content is a duplicate_id_conflict" "rejected duplicate_id_conflict" \
	"$(jget status <"$workdir/conflict.json") $(jget error.code <"$workdir/conflict.json")"
check "the conflict is counted with the duplicates" 2 "$(wait_stat ack.duplicates 2)"
check "the duplicate is not stored again" 32 "$(stat delivery.stored)"
check "the record keeps the first amount" 1234 \
	"$(txp_js ddb-get.mjs "$table" it-07 --key transaction_id | jget am)"
check "still 32 items" 32 "$(txp_js ddb-scan.mjs "$table" | jget length)"

# --- card-like ids: two Luhn-valid numeric ids are two transactions, each stored under its token ------
: >"$workdir/replies.out"
{
	echo '{"transaction_id":"2024120600000008","amount":"3.50","currency":"USD","merchant_id":"m-it-1","customer_id":"c-small","merchant_country":"DE","customer_country":"DE"}'
	echo '{"transaction_id":"2024120600000016","amount":"9500.00","currency":"USD","merchant_id":"m-it-9","customer_id":"c-big","merchant_country":"IR","customer_country":"KP","customer_kyc_status":"failed"}'
} | submit
check "both are stored" 34 "$(wait_stat delivery.stored 34)"
txp_js ddb-scan.mjs "$table" --raw >"$workdir/scan-tok.json"
check "under two distinct tok_ keys" 2 \
	"$(grep -oE '"tok_[a-z2-7]{26}"' "$workdir/scan-tok.json" | sort -u | wc -l)"
sed -n 2p "$workdir/replies.out" >"$workdir/tok-2.json"
check "the second is declined, not a duplicate of the first" "declined " \
	"$(jget status <"$workdir/tok-2.json") $(jget duplicate <"$workdir/tok-2.json" 2>/dev/null)"
check "its stored item is declined too" declined \
	"$(txp_js ddb-get.mjs "$table" "$(jget transaction_id <"$workdir/tok-2.json")" --key transaction_id | jget st)"
check_absent "no card-like id in the table" "2024120600000016" "$workdir/scan-tok.json"
check_absent "nor the other" "2024120600000008" "$workdir/scan-tok.json"
stop_daemon
check "txpiped exits 0 after a clean flush" 0 "$daemon_rc"
check "no delivery error logged" 0 "$(grep -c 'level=err' "$workdir/main.log")"

# --- fatal: the table does not exist -> DLQ at once --------------------------------------------------
write_config missing "s|^table = .*|table = txpipe-it-no-such-table|"
start_daemon missing || exit 1
{ txn fatal-1 "5.00" US; txn fatal-2 "6.00" US; } | submit
check "both are dead-lettered" 2 "$(wait_stat delivery.dead_lettered 2)"
check "without retries" 0 "$(stat delivery.store_retries)"
txp_js sqs-receive.mjs "$queue_url" --max 2 --wait 10 --delete >"$workdir/dlq-fatal.json"
check "the DLQ holds both" 2 "$(jget length <"$workdir/dlq-fatal.json")"
jget 0.Body <"$workdir/dlq-fatal.json" >"$workdir/dlq-fatal-0.json"
check "DLQ message says what failed and why" "store ResourceNotFoundException 1" \
	"$(jget failed <"$workdir/dlq-fatal-0.json") $(jget error_code <"$workdir/dlq-fatal-0.json") $(jget attempts <"$workdir/dlq-fatal-0.json")"
check "DLQ message carries the item" 1 \
	"$(jget item.transaction_id.S <"$workdir/dlq-fatal-0.json" | grep -cxE 'fatal-[12]')"
check "DLQ message attribute failed=store" store \
	"$(jget 0.MessageAttributes.failed.StringValue <"$workdir/dlq-fatal.json")"
check_absent "no card number in the DLQ" "$PAN" "$workdir/dlq-fatal.json"
stop_daemon

# --- retryable: DynamoDB is down -> retried with backoff, then DLQ -----------------------------------
write_config down "s|^endpoint = $DYNAMODB_ENDPOINT|endpoint = http://127.0.0.1:$down_port|" '$a [pipeline]' '$a workers = 0'
start_daemon down || exit 1
{ txn retry-1 "5.00" US; txn retry-2 "6.00" US; } | submit
check "both are dead-lettered after retries" 2 "$(wait_stat delivery.dead_lettered 2)"
check "two retries each (max_attempts = 3)" 4 "$(stat delivery.store_retries)"
txp_js sqs-receive.mjs "$queue_url" --max 2 --wait 10 --delete >"$workdir/dlq-down.json"
check "the DLQ holds both" 2 "$(jget length <"$workdir/dlq-down.json")"
jget 0.Body <"$workdir/dlq-down.json" >"$workdir/dlq-down-0.json"
check "DLQ message counts three attempts" "store 3" \
	"$(jget failed <"$workdir/dlq-down-0.json") $(jget attempts <"$workdir/dlq-down-0.json")"
stop_daemon
# The debug log has each attempt's loop time and each scheduled delay: every retry waited its
# delay (never less), and each delay is within the policy's cap: 50 ms, then 100 ms.  Nothing
# answers on the port, so DynamoDB is unreachable after the first attempt and each retry also
# waits for the next probe (txpiped(8), Outages): 250 ms after the first failure, then 500 ms.
timing=$(awk '
	/event=delivery_attempt / && /what=store/ {
		match($0, /transaction_id="[^"]*"/); id = substr($0, RSTART, RLENGTH)
		match($0, /attempt=[0-9]+/); a = substr($0, RSTART + 8, RLENGTH - 8)
		match($0, /t_ms=[0-9]+/); at[id, a] = substr($0, RSTART + 5, RLENGTH - 5); n[id]++
	}
	/event=delivery_retry / && /what=store/ {
		match($0, /transaction_id="[^"]*"/); id = substr($0, RSTART, RLENGTH)
		match($0, /attempt=[0-9]+/); a = substr($0, RSTART + 8, RLENGTH - 8)
		match($0, /delay_ms=[0-9]+/); delay[id, a] = substr($0, RSTART + 9, RLENGTH - 9)
	}
	END {
		bad = 0; ids = 0
		for (id in n) {
			ids++
			if (n[id] != 3) { print "attempts " id " " n[id]; bad++ }
			for (a = 1; a <= 2; a++) {
				cap = 50 * 2 ^ (a - 1); d = delay[id, a] + 0; gap = at[id, a + 1] - at[id, a]
				if (delay[id, a] == "" || d > cap) { print "delay " id " " a " " d " cap " cap; bad++ }
				probe = 250 * 2 ^ (a - 1); wait = d > probe ? d : probe
				if (gap < d || gap > wait + 500) { print "gap " id " " a " " gap " delay " d; bad++ }
			}
		}
		print ids " ids, " bad " bad"
	}' "$workdir/down.log")
check "retry timing follows the policy" "2 ids, 0 bad" "$(tail -n 1 <<<"$timing")"
if [[ $(tail -n 1 <<<"$timing") != "2 ids, 0 bad" ]]; then
	while IFS= read -r line; do printf '     %s\n' "$line"; done <<<"$timing"
fi

# --- redrive: dead-lettered while DynamoDB was down, stored once it is back --------------------------
start_daemon down || exit 1
{ txn redrive-1 "7.00" US; txn redrive-2 "8.00" US; } | submit
check "dead-lettered while DynamoDB is down" 2 "$(wait_stat delivery.dead_lettered 2)"
stop_daemon
write_config back
start_daemon back || exit 1
"$TXPIPECTL" --config "$workdir/back.ini" dlq list >"$workdir/dlq-list.out" 2>&1
check "txpipectl dlq list shows both" 2 "$(grep -cE 'redrive-[12] +store +[A-Za-z_]+ after 3 attempt' "$workdir/dlq-list.out")"
"$TXPIPECTL" --config "$workdir/back.ini" dlq redrive >"$workdir/dlq-redrive.out" 2>&1
check "txpipectl dlq redrive exits 0" 0 "$?"
check "it redrives both" "2 redriven, 0 left in the queue after failures" "$(tail -n 1 "$workdir/dlq-redrive.out")"
check "both are stored after the redrive" 2 "$(wait_stat delivery.stored 2)"
check "txpipectl get --json reads a redriven record" redrive-1 \
	"$("$TXPIPECTL" --config "$workdir/back.ini" get --json redrive-1 | jget transaction_id)"
"$TXPIPECTL" --config "$workdir/back.ini" get redrive-1 >"$workdir/get.out" 2>&1
check "txpipectl get prints one readable line per attribute" 1 \
	"$(grep -cxE 'transaction_id +redrive-1' "$workdir/get.out")"
check "txpipectl get shows the amount in major units and the rules version" 2 \
	"$(grep -cE '^(amount +[0-9]+\.[0-9]{2} USD|rules_version +[0-9a-f]{12})$' "$workdir/get.out")"
check "txpipectl get --json shows the documented names, every stage's time among them" "approved compliance fraud validation" \
	"$("$TXPIPECTL" --config "$workdir/back.ini" get --json redrive-1 | jget status) $("$TXPIPECTL" --config "$workdir/back.ini" get --json redrive-1 | jget stage_us | grep -oE '"(validation|fraud|compliance)": *[0-9]+' | cut -d'"' -f2 | sort | tr '\n' ' ' | sed 's/ $//')"
# A record of the layout before short names reads as it was.
txp_js ddb-put-item.mjs "$table" '{"transaction_id":"old-layout-1","status":"approved","merchant_country":"DE"}'
"$TXPIPECTL" --config "$workdir/back.ini" get old-layout-1 >"$workdir/get-old.out" 2>&1
check "txpipectl get reads a record of the earlier layout" 2 \
	"$(grep -cxE '(status +approved|merchant_country +DE)' "$workdir/get-old.out")"
check "txpipectl get exits 1 for an unknown id" 1 \
	"$("$TXPIPECTL" --config "$workdir/back.ini" get no-such-id >/dev/null 2>&1; echo $?)"
txp_js sqs-receive.mjs "$queue_url" --max 10 --wait 1 >"$workdir/dlq-after.json"
check "the DLQ is empty after the redrive" 0 "$(jget length <"$workdir/dlq-after.json")"
check_absent "no card number in dlq list or redrive output" "$PAN" "$workdir/dlq-list.out" "$workdir/dlq-redrive.out"
stop_daemon

# --- SQS down too: held in memory, logged, counted, never dropped silently ---------------------------
write_config held "s|^endpoint = $DYNAMODB_ENDPOINT|endpoint = http://127.0.0.1:$down_port|" \
	"s|^endpoint = $SQS_ENDPOINT|endpoint = http://127.0.0.1:$down_port|" "s|^shutdown_timeout_ms = .*|shutdown_timeout_ms = 1s|"
start_daemon held || exit 1
{ txn held-1 "5.00" US; txn held-2 "6.00" US; } | submit
check "both are held for the DLQ" 2 "$(wait_stat delivery.held_for_dlq 2)"
check "DLQ failures are counted" 1 "$(stat delivery.dlq_failures | grep -cE '^[1-9][0-9]*$')"
check "the held messages are logged at err" 1 "$(grep -c 'level=err event=dlq_unavailable' "$workdir/held.log" | grep -cE '^[1-9]')"
stop_daemon
check "each undelivered transaction is named at shutdown, kept in the journal" 2 \
	"$(grep -cE 'level=warning event=delivery_kept transaction_id="held-[12]" what=store_dlq' "$workdir/held.log")"
check "nothing journaled is reported lost" 0 "$(grep -c 'event=delivery_lost' "$workdir/held.log")"

# --- the next start delivers what the journal kept -------------------------------------------------
start_daemon back || exit 1
check "the journal's undelivered records are stored at the next start" 2 "$(wait_stat delivery.stored 2)"
check "the journal has nothing left to deliver" 0 "$(wait_stat journal.undelivered 0)"
check "both are in the table" "held-1 held-2" \
	"$(txp_js ddb-get.mjs "$table" held-1 --key transaction_id | jget transaction_id) $(txp_js ddb-get.mjs "$table" held-2 --key transaction_id | jget transaction_id)"
stop_daemon
