#!/usr/bin/env bash
# provision.sh: `txpipectl provision` against dynalite and fauxqs: creates the table, topic, subscription
# and dead-letter queue (and the fleet table with [fleet] enabled), reports them as existing on a second run, and the SDK sees their settings.
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

TXPIPECTL=$top_builddir/txpipectl
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-provision.XXXXXX")

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
# fauxqs names queues http://sqs.<region>.localhost:<port>/<account>/<name>; the client posts to
# the [sqs] endpoint whatever host the URL names (EMULATORS.md).
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

# --- first run: everything is created ------------------------------------------------------------
"$TXPIPECTL" --config "$workdir/txpiped.ini" provision >"$workdir/run1.out" 2>"$workdir/run1.err"
check "first run exits 0" 0 "$?"
sed 's/^/     | /' "$workdir/run1.out"
check_line "table created" "$workdir/run1.out" "table $table: created (PAY_PER_REQUEST, SSE on, PITR off)"
check_line "dynalite's missing PITR is a warning" "$workdir/run1.out" \
	"warning: table $table: point-in-time recovery is not available at this endpoint (UnknownOperationException)"
check_line "dynalite's missing TTL is a warning" "$workdir/run1.out" \
	"warning: table $table: TTL on expires_at is not available at this endpoint (UnknownOperationException); records will not expire"
check_line "topic created" "$workdir/run1.out" "topic txpipe-it-alerts: created (KMS alias/aws/sns)"
check_line "email subscription created" "$workdir/run1.out" "subscription alerts@example.com: created"
check_line "queue created" "$workdir/run1.out" "queue txpipe-it-dlq: created (retention 14 days, SSE on)"
check "first run writes nothing to stderr" "" "$(cat "$workdir/run1.err")"

# --- second run: everything exists --------------------------------------------------------------
"$TXPIPECTL" --config "$workdir/txpiped.ini" provision >"$workdir/run2.out" 2>"$workdir/run2.err"
check "second run exits 0" 0 "$?"
check_line "table exists" "$workdir/run2.out" "table $table: exists"
check_line "topic exists" "$workdir/run2.out" "topic txpipe-it-alerts: exists"
check_line "subscription exists" "$workdir/run2.out" "subscription alerts@example.com: exists"
check_line "queue exists" "$workdir/run2.out" "queue txpipe-it-dlq: exists"
check "second run creates nothing" 0 "$(grep -c ': created' "$workdir/run2.out")"

# --- what the SDK sees ----------------------------------------------------------------------------
desc=$(txp_js ddb-describe-table.mjs "$table")
check "table is ACTIVE" ACTIVE "$(echo "$desc" | jget TableStatus)"
check "partition key is transaction_id" '[{"AttributeName":"transaction_id","KeyType":"HASH"}]' \
	"$(echo "$desc" | jget KeySchema)"
check "transaction_id is a string" '[{"AttributeName":"transaction_id","AttributeType":"S"}]' \
	"$(echo "$desc" | jget AttributeDefinitions)"
check "billing is on demand" PAY_PER_REQUEST "$(echo "$desc" | jget BillingModeSummary.BillingMode)"

q=$(txp_js sqs-queue-attributes.mjs txpipe-it-dlq)
check "queue URL is the configured one" "$queue_url" "$(echo "$q" | jget QueueUrl)"
check "queue keeps messages 14 days" 1209600 "$(echo "$q" | jget Attributes.MessageRetentionPeriod)"
check "queue has SQS-managed SSE" true "$(echo "$q" | jget Attributes.SqsManagedSseEnabled)"

t=$(txp_js sns-topic-attributes.mjs "$topic_arn")
check "topic is KMS-encrypted" alias/aws/sns "$(echo "$t" | jget Attributes.KmsMasterKeyId)"
check "one email subscription" '[{"Protocol":"email","Endpoint":"alerts@example.com"}]' \
	"$(echo "$t" | txp_node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
		const j=JSON.parse(s);console.log(JSON.stringify(j.Subscriptions.map(({Protocol,Endpoint})=>({Protocol,Endpoint}))));})')"

# --- [fleet] enabled: the fleet table too (key pk, TTL on expires) ---------------------------------
printf '\n[fleet]\nenabled = true\ntable = txpipe-it-fleet\ninstance_id = it-1\n' | cat "$workdir/txpiped.ini" - \
	>"$workdir/fleet.ini"
"$TXPIPECTL" --config "$workdir/fleet.ini" provision >"$workdir/run-fleet1.out" 2>"$workdir/run-fleet1.err"
check "provision with [fleet] enabled exits 0" 0 "$?"
sed 's/^/     | /' "$workdir/run-fleet1.out"
check_line "the fleet table is created" "$workdir/run-fleet1.out" \
	"fleet table txpipe-it-fleet: created (PAY_PER_REQUEST, SSE on)"
check_line "dynalite's missing TTL is a warning for the fleet table too" "$workdir/run-fleet1.out" \
	"warning: fleet table txpipe-it-fleet: TTL on expires is not available at this endpoint (UnknownOperationException); expired items stay"
check_line "the records table is still there" "$workdir/run-fleet1.out" "table $table: exists"
check "the fleet run writes nothing to stderr" "" "$(cat "$workdir/run-fleet1.err")"
desc=$(txp_js ddb-describe-table.mjs txpipe-it-fleet)
check "the fleet table's key is pk alone" '[{"AttributeName":"pk","KeyType":"HASH"}]' "$(echo "$desc" | jget KeySchema)"
check "pk is a string" '[{"AttributeName":"pk","AttributeType":"S"}]' "$(echo "$desc" | jget AttributeDefinitions)"
check "the fleet table is on demand" PAY_PER_REQUEST "$(echo "$desc" | jget BillingModeSummary.BillingMode)"
"$TXPIPECTL" --config "$workdir/fleet.ini" provision >"$workdir/run-fleet2.out" 2>&1
check "a second fleet run exits 0" 0 "$?"
check_line "the fleet table exists" "$workdir/run-fleet2.out" "fleet table txpipe-it-fleet: exists"
check "the second fleet run creates nothing" 0 "$(grep -c ': created' "$workdir/run-fleet2.out")"
check "without [fleet] enabled there is no fleet table line" 0 "$(grep -c '^fleet table' "$workdir/run2.out")"

# --- investigation indexes: a new table gets both, an existing one gets them by UpdateTable -------
sed -e "s|^table = .*|table = txpipe-it-indexed\ninvestigation_indexes = true|" "$workdir/txpiped.ini" \
	>"$workdir/indexed.ini"
"$TXPIPECTL" --config "$workdir/indexed.ini" provision >"$workdir/run-idx.out" 2>&1
check "provision with investigation_indexes exits 0" 0 "$?"
check_line "the table is created with both indexes" "$workdir/run-idx.out" \
	"table txpipe-it-indexed: created (PAY_PER_REQUEST, SSE on, PITR off, indexes card_token-received_at and customer_pseudonym-received_at)"
desc=$(txp_js ddb-describe-table.mjs txpipe-it-indexed)
check "the card index: card_token, then received_at" \
	'[{"AttributeName":"card_token","KeyType":"HASH"},{"AttributeName":"received_at","KeyType":"RANGE"}]' \
	"$(echo "$desc" | txp_node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
		const j=JSON.parse(s);const i=(j.GlobalSecondaryIndexes||[]).find(x=>x.IndexName==="card_token-received_at");
		console.log(JSON.stringify(i?i.KeySchema:null));})')"
check "the customer index: customer_pseudonym, then received_at" \
	'[{"AttributeName":"customer_pseudonym","KeyType":"HASH"},{"AttributeName":"received_at","KeyType":"RANGE"}]' \
	"$(echo "$desc" | txp_node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
		const j=JSON.parse(s);const i=(j.GlobalSecondaryIndexes||[]).find(x=>x.IndexName==="customer_pseudonym-received_at");
		console.log(JSON.stringify(i?i.KeySchema:null));})')"
sed -e "s|^table = .*|table = $table\ninvestigation_indexes = true|" "$workdir/txpiped.ini" >"$workdir/add-idx.ini"
# dynalite wants a ProvisionedThroughput for an index added by UpdateTable, which AWS refuses on an
# on-demand table (EMULATORS.md): what can be checked here is that the existing table gets the
# UpdateTable request for the first missing index and that its failure is reported, with exit 1.
"$TXPIPECTL" --config "$workdir/add-idx.ini" provision >"$workdir/run-add.out" 2>&1
check "adding an index dynalite refuses exits 1" 1 "$?"
check "the UpdateTable for the card index is sent and its refusal reported" 1 \
	"$(grep -c "index: failed: UpdateTable: ValidationException: .*globalSecondaryIndexUpdates.1.member.create" "$workdir/run-add.out")"

# --- a topic ARN that names another account: created, and the operator is told -------------------
sed -e "s|^topic_arn = .*|topic_arn = arn:aws:sns:us-east-1:111111111111:txpipe-it-other|" \
	-e '/^alert_email/d' "$workdir/txpiped.ini" >"$workdir/other.ini"
"$TXPIPECTL" --config "$workdir/other.ini" provision >"$workdir/run3.out" 2>&1
check "a mismatching topic ARN is still a success" 0 "$?"
check_line "the created ARN is reported" "$workdir/run3.out" \
	"warning: topic txpipe-it-other: created as arn:aws:sns:us-east-1:000000000000:txpipe-it-other, but [sns] topic_arn is arn:aws:sns:us-east-1:111111111111:txpipe-it-other: set topic_arn to the created ARN"

# --- failures and configuration errors ------------------------------------------------------------
port=$(txp_svc_free_port)
sed -e "s|^endpoint = .*|endpoint = http://127.0.0.1:$port|" "$workdir/txpiped.ini" >"$workdir/down.ini"
"$TXPIPECTL" --config "$workdir/down.ini" provision >"$workdir/run4.out" 2>&1
check "unreachable endpoints exit 1" 1 "$?"
check "each resource reports its failure" 3 "$(grep -c ': failed: ' "$workdir/run4.out")"

sed -e "s|^endpoint = $DYNAMODB_ENDPOINT|endpoint = http://dynamodb.example.com|" "$workdir/txpiped.ini" \
	>"$workdir/plain.ini"
"$TXPIPECTL" --config "$workdir/plain.ini" provision >"$workdir/run5.out" 2>&1
check "plain http to a remote endpoint is a configuration error (78)" 78 "$?"
check "the message names the key" 1 "$(grep -c '\[dynamodb\] endpoint' "$workdir/run5.out")"
