#!/usr/bin/env bash
# deprovision.sh: `txpipectl deprovision` against dynalite and fauxqs: lists what provision created,
# refuses without a terminal or --yes, refuses a table holding items without --delete-data, deletes
# the table, the topic's subscriptions, the topic and the queue with it (the SDK sees them gone),
# and a second run finds nothing to delete.
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

TXPIPECTL=$top_builddir/txpipectl
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-deprovision.XXXXXX")

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

table=txpipe-it-transactions
topic_arn=arn:aws:sns:us-east-1:000000000000:txpipe-it-alerts
queue_url="http://sqs.us-east-1.localhost:${SQS_ENDPOINT##*:}/000000000000/txpipe-it-dlq"
cat >"$workdir/txpiped.ini" <<EOC
[aws]
region = us-east-1
imds = false

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $table

[sns]
endpoint = $SNS_ENDPOINT
topic_arn = $topic_arn
alert_email = alerts@example.com

[sqs]
endpoint = $SQS_ENDPOINT
queue_url = $queue_url
EOC
ctl() { "$TXPIPECTL" --config "$workdir/txpiped.ini" "$@"; }

ctl provision >"$workdir/provision.out" 2>&1
check "provision exits 0" 0 "$?"
# A second subscription (an SQS queue, confirmed at once) besides the pending email one.
tap=$(txp_js sqs-create-subscribed-queue.mjs "$topic_arn" txpipe-it-tap --url)
check "a queue is subscribed to the topic" 1 "$(grep -c txpipe-it-tap <<<"$tap")"
txp_js ddb-put-item.mjs "$table" '{"transaction_id":"t-deprov-1","status":"approved"}'
check "an item is stored" 0 "$?"

# --- a table holding items, no --delete-data: refused before anything is asked ---------------------
ctl deprovision </dev/null >"$workdir/run1.out" 2>"$workdir/run1.err"
check "a table holding items is refused first: exits 77 (EX_NOPERM)" 77 "$?"
check_line "the table is listed with its ARN" "$workdir/run1.out" \
	"  table $table (arn:aws:dynamodb:us-east-1:000000000000:table/$table), holding items"
check_line "the topic is listed" "$workdir/run1.out" "  topic $topic_arn"
check_line "the queue is listed" "$workdir/run1.out" "  queue $queue_url"
# fauxqs confirms the email subscription at once, so both have ARNs.
check "both subscriptions are listed" 2 "$(grep -c "^  subscription $topic_arn:" "$workdir/run1.out")"

# --- --yes, but the table holds items --------------------------------------------------------------
ctl deprovision --yes >"$workdir/run2.out" 2>"$workdir/run2.err"
check "a table holding items without --delete-data exits 77 (EX_NOPERM)" 77 "$?"
check_line "the refusal names the table and the flag" "$workdir/run2.err" \
	"txpipectl: deprovision: table $table holds items (stored decisions); give --delete-data to delete them with it. Nothing was deleted."
check "the table is still there" 0 "$(txp_js ddb-describe-table.mjs "$table" >/dev/null 2>&1; echo $?)"
check "the queue is still there" 0 "$(txp_js sqs-queue-attributes.mjs txpipe-it-dlq >/dev/null 2>&1; echo $?)"
check "the topic is still there" 0 "$(txp_js sns-topic-attributes.mjs "$topic_arn" >/dev/null 2>&1; echo $?)"

# --- --yes --delete-data: everything goes ------------------------------------------------------------
ctl deprovision --yes --delete-data >"$workdir/run3.out" 2>"$workdir/run3.err"
check "--yes --delete-data exits 0" 0 "$?"
sed 's/^/     | /' "$workdir/run3.out"
check "the subscriptions are deleted" 2 "$(grep -c "^subscription $topic_arn:.*: deleted$" "$workdir/run3.out")"
check_line "the topic is deleted" "$workdir/run3.out" "topic txpipe-it-alerts: deleted"
check_line "the queue is deleted" "$workdir/run3.out" "queue txpipe-it-dlq: deleted"
check_line "the table is deleted" "$workdir/run3.out" "table $table: deleted"
check "nothing on stderr" "" "$(cat "$workdir/run3.err")"
check "the SDK finds no table" 2 "$(txp_js ddb-describe-table.mjs "$table" >/dev/null 2>&1; echo $?)"
check "the SDK finds no queue" 2 "$(txp_js sqs-queue-attributes.mjs txpipe-it-dlq >/dev/null 2>&1; echo $?)"
check "the SDK finds no topic" 2 "$(txp_js sns-topic-attributes.mjs "$topic_arn" >/dev/null 2>&1; echo $?)"
check "the other queue (not ours) is left alone" 0 \
	"$(txp_js sqs-queue-attributes.mjs txpipe-it-tap >/dev/null 2>&1; echo $?)"

# --- again: nothing to delete ------------------------------------------------------------------------
ctl deprovision --yes >"$workdir/run4.out" 2>&1
check "a second run exits 0" 0 "$?"
check_line "the table is reported missing" "$workdir/run4.out" "table $table: not found, skipped"
check_line "the topic is reported missing" "$workdir/run4.out" "topic txpipe-it-alerts: not found, skipped"
check_line "the queue is reported missing" "$workdir/run4.out" "queue txpipe-it-dlq: not found, skipped"
check_line "nothing to delete" "$workdir/run4.out" "nothing to delete"

# --- an empty table needs no --delete-data -------------------------------------------------------------
ctl provision >/dev/null 2>&1
ctl deprovision </dev/null >/dev/null 2>"$workdir/run5.err"
check "without a terminal and without --yes exits 64 (EX_USAGE)" 64 "$?"
check_line "and says to give --yes" "$workdir/run5.err" \
	"txpipectl: deprovision: not asking on a non-terminal input; give --yes to delete without asking. Nothing was deleted."
check "the empty table is still there" 0 "$(txp_js ddb-describe-table.mjs "$table" >/dev/null 2>&1; echo $?)"
ctl deprovision --yes >"$workdir/run5.out" 2>&1
check "an empty table is deleted with --yes alone" 0 "$?"
check_line "the empty table was listed as empty" "$workdir/run5.out" \
	"  table $table (arn:aws:dynamodb:us-east-1:000000000000:table/$table), empty"

# --- an unreachable endpoint: nothing deleted, 69 ------------------------------------------------------
ctl provision >/dev/null 2>&1
port=$(txp_svc_free_port)
sed -e "s|^endpoint = $SQS_ENDPOINT|endpoint = http://127.0.0.1:$port|" "$workdir/txpiped.ini" >"$workdir/down.ini"
"$TXPIPECTL" --config "$workdir/down.ini" deprovision --yes --delete-data >"$workdir/run6.out" 2>&1
check "a lookup failure exits 69 (EX_UNAVAILABLE)" 69 "$?"
check "and deletes nothing: the table is still there" 0 \
	"$(txp_js ddb-describe-table.mjs "$table" >/dev/null 2>&1; echo $?)"

# --- [fleet] enabled: the fleet table is listed and deleted too, without --delete-data ----------------
printf '\n[fleet]\nenabled = true\ntable = txpipe-it-fleet\ninstance_id = it-1\n' | cat "$workdir/txpiped.ini" - \
	>"$workdir/fleet.ini"
fctl() { "$TXPIPECTL" --config "$workdir/fleet.ini" "$@"; }
fctl provision >/dev/null 2>&1
check "the fleet table is provisioned" 0 "$(txp_js ddb-describe-table.mjs txpipe-it-fleet >/dev/null 2>&1; echo $?)"
# A lease left in it: the fleet table holds no decision, so no --delete-data is asked for.
txp_js ddb-put-item.mjs txpipe-it-fleet '{"pk":"lease|j-deprov","owner":"it-1","expires":1}' >/dev/null
fctl deprovision --yes >"$workdir/run7.out" 2>"$workdir/run7.err"
check "with [fleet] enabled, --yes deletes everything: exit 0" 0 "$?"
sed 's/^/     | /' "$workdir/run7.out"
check_line "the fleet table is listed with its ARN" "$workdir/run7.out" \
	"  fleet table txpipe-it-fleet (arn:aws:dynamodb:us-east-1:000000000000:table/txpipe-it-fleet)"
check_line "the fleet table is deleted" "$workdir/run7.out" "fleet table txpipe-it-fleet: deleted"
check "the SDK finds no fleet table" 2 "$(txp_js ddb-describe-table.mjs txpipe-it-fleet >/dev/null 2>&1; echo $?)"
fctl deprovision --yes >"$workdir/run8.out" 2>&1
check_line "a missing fleet table is reported" "$workdir/run8.out" "fleet table txpipe-it-fleet: not found, skipped"
ctl provision >/dev/null 2>&1

# --- on a terminal: it asks, and only "yes" deletes ------------------------------------------------------
# script(1) gives the command a pseudo-terminal and feeds it our standard input.
if command -v script >/dev/null 2>&1; then
	printf 'no\n' | script -qec "'$TXPIPECTL' --config '$workdir/txpiped.ini' deprovision" /dev/null \
		>"$workdir/tty1.out" 2>&1
	check "on a terminal, an answer other than yes exits 1" 1 "$?"
	check "the question is asked" 1 "$(grep -c 'Type yes to delete:' "$workdir/tty1.out")"
	check "the refusal is reported" 1 "$(grep -c 'cancelled, nothing was deleted' "$workdir/tty1.out")"
	check "and the table is still there" 0 "$(txp_js ddb-describe-table.mjs "$table" >/dev/null 2>&1; echo $?)"
	printf 'yes\n' | script -qec "'$TXPIPECTL' --config '$workdir/txpiped.ini' deprovision" /dev/null \
		>"$workdir/tty2.out" 2>&1
	check "on a terminal, yes deletes: exit 0" 0 "$?"
	check "the table is gone" 2 "$(txp_js ddb-describe-table.mjs "$table" >/dev/null 2>&1; echo $?)"
else
	echo "script(1) not found: the terminal question is not tested"
fi
