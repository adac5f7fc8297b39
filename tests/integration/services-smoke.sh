#!/usr/bin/env bash
# services-smoke.sh: proves the integration harness: starts dynalite and fauxqs, writes with the raw
# wire formats txpiped will use (curl, as libcurl will), reads back with the AWS SDK, stops both.
#
# Exit status 0 when every check passed, 1 otherwise.  Logs stay in the printed work directory on
# failure (or always with TXP_KEEP_WORKDIR=1).
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/services.sh
. "$top_srcdir/tests/lib/services.sh"
# shellcheck source=SCRIPTDIR/../lib/itest.sh
. "$top_srcdir/tests/lib/itest.sh"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-smoke.XXXXXX")

trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A SigV4-shaped Authorization header: dynalite insists on its presence and shape (Credential,
# SignedHeaders, Signature, plus X-Amz-Date) but never verifies the signature.
AMZ_DATE=$(date -u +%Y%m%dT%H%M%SZ)
AUTH="Authorization: AWS4-HMAC-SHA256 Credential=AKIDTXPIPETEST/${AMZ_DATE%%T*}/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"

# ddb OP JSON: prints "STATUS BODY".
ddb() {
	curl -sS -X POST "$DYNAMODB_ENDPOINT/" -H 'Content-Type: application/x-amz-json-1.0' \
		-H "X-Amz-Target: DynamoDB_20120810.$1" -H "X-Amz-Date: $AMZ_DATE" -H "$AUTH" \
		--data-binary "$2" -w '\n%{http_code}' | { body=$(cat); echo "${body##*$'\n'} ${body%$'\n'*}"; }
}
# sqsj OP JSON: SQS JSON protocol; prints "STATUS BODY".
sqsj() {
	curl -sS -X POST "$SQS_ENDPOINT/" -H 'Content-Type: application/x-amz-json-1.0' \
		-H "X-Amz-Target: AmazonSQS.$1" --data-binary "$2" -w '\n%{http_code}' |
		{ body=$(cat); echo "${body##*$'\n'} ${body%$'\n'*}"; }
}
# snsq FIELD=VALUE...: SNS query protocol (form-encoded); prints "STATUS BODY".
snsq() {
	local -a form=()
	local kv
	for kv in "$@"; do form+=(--data-urlencode "$kv"); done
	curl -sS -X POST "$SNS_ENDPOINT/" -H 'Content-Type: application/x-www-form-urlencoded' \
		"${form[@]}" --data-urlencode 'Version=2010-03-31' -w '\n%{http_code}' |
		{ body=$(cat); echo "${body##*$'\n'} ${body%$'\n'*}"; }
}

echo "work directory: $workdir"
txp_svc_start_all "$workdir/logs" || exit 1
ok "emulators started"

# --- DynamoDB (dynalite) -----------------------------------------------------------------------
r=$(curl -sS -X POST "$DYNAMODB_ENDPOINT/" -H 'Content-Type: application/x-amz-json-1.0' \
	-H 'X-Amz-Target: DynamoDB_20120810.ListTables' -d '{}' -w ' %{http_code}')
check "dynalite rejects a request without Authorization" \
	'{"__type":"com.amazon.coral.service#MissingAuthenticationTokenException","message":"Request is missing Authentication Token"} 400' "$r"

r=$(ddb CreateTable '{"TableName":"txp-smoke","AttributeDefinitions":[{"AttributeName":"transaction_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"transaction_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}')
check "CreateTable answers 200" 200 "${r%% *}"
status=""
for ((i = 0; i < 100; i++)); do
	r=$(ddb DescribeTable '{"TableName":"txp-smoke"}')
	status=$(echo "${r#* }" | jget Table.TableStatus)
	[[ $status == ACTIVE ]] && break
	sleep 0.1
done
check "table becomes ACTIVE" ACTIVE "$status"

r=$(ddb UpdateContinuousBackups '{"TableName":"txp-smoke","PointInTimeRecoverySpecification":{"PointInTimeRecoveryEnabled":true}}')
check "dynalite has no UpdateContinuousBackups" \
	'400 {"__type":"com.amazon.coral.service#UnknownOperationException"}' "$r"

r=$(ddb BatchWriteItem '{"RequestItems":{"txp-smoke":[{"PutRequest":{"Item":{"transaction_id":{"S":"tx-1"},"amount":{"N":"12345"},"currency":{"S":"EUR"},"reasons":{"L":[{"S":"velocity_customer_1h"}]}}}},{"PutRequest":{"Item":{"transaction_id":{"S":"tx-2"},"amount":{"N":"9007199254740993"},"currency":{"S":"JPY"}}}}]}}')
check "BatchWriteItem leaves nothing unprocessed" '200 {"UnprocessedItems":{}}' "$r"
r=$(ddb PutItem '{"TableName":"txp-smoke","Item":{"transaction_id":{"S":"tx-3"},"status":{"S":"approved"}}}')
check "PutItem answers 200 {}" '200 {}' "$r"

r=$(txp_js ddb-get.mjs txp-smoke tx-1 --key transaction_id)
check "SDK reads back the batch-written item" \
	'{"amount":12345,"currency":"EUR","reasons":["velocity_customer_1h"],"transaction_id":"tx-1"}' \
	"$(echo "$r" | jget '')"
r=$(txp_js ddb-get.mjs txp-smoke tx-2 --key transaction_id | jget amount)
check "an amount beyond 2^53 reads back exactly" 9007199254740993 "$r"
r=$(txp_js ddb-scan.mjs txp-smoke | jget length)
check "scan sees three items" 3 "$r"

# --- SQS (fauxqs, JSON protocol) ----------------------------------------------------------------
r=$(sqsj CreateQueue '{"QueueName":"txp-smoke-q","Attributes":{"MessageRetentionPeriod":"1209600"}}')
check "CreateQueue answers 200" 200 "${r%% *}"
qurl=$(echo "${r#* }" | jget QueueUrl)
r=$(sqsj GetQueueUrl '{"QueueName":"txp-smoke-q"}')
check "GetQueueUrl returns the same URL" "$qurl" "$(echo "${r#* }" | jget QueueUrl)"
r=$(sqsj SendMessageBatch "{\"QueueUrl\":\"$qurl\",\"Entries\":[{\"Id\":\"0\",\"MessageBody\":\"{\\\"transaction_id\\\":\\\"tx-1\\\"}\",\"MessageAttributes\":{\"status\":{\"DataType\":\"String\",\"StringValue\":\"review\"}}},{\"Id\":\"1\",\"MessageBody\":\"second\"}]}")
check "SendMessageBatch: two successful, none failed" "200 2 0" \
	"${r%% *} $(echo "${r#* }" | jget Successful.length) $(echo "${r#* }" | jget Failed.length)"
msgs=$(txp_js sqs-receive.mjs "$qurl" --max 2 --wait 5 --delete)
check "SDK receives both messages" 2 "$(echo "$msgs" | jget length)"
bodies=$(for i in 0 1; do echo "$msgs" | jget "$i.Body"; done | LC_ALL=C sort | tr '\n' '|')
check "message bodies round-trip" 'second|{"transaction_id":"tx-1"}|' "$bodies"
attr=$(for i in 0 1; do echo "$msgs" | jget "$i.MessageAttributes.status.StringValue" 2>/dev/null; done)
check "message attribute round-trips" review "$attr"
check "queue is empty after --delete" 0 "$(txp_js sqs-receive.mjs "$qurl" | jget length)"

# --- SNS (fauxqs, query protocol) delivered to a subscribed queue ------------------------------
r=$(snsq Action=CreateTopic Name=txp-smoke-decisions 'Attributes.entry.1.key=KmsMasterKeyId' \
	'Attributes.entry.1.value=alias/aws/sns')
check "CreateTopic answers 200" 200 "${r%% *}"
topic=$(echo "${r#* }" | sed -n 's:.*<TopicArn>\(.*\)</TopicArn>.*:\1:p')
check "CreateTopic returns the topic ARN" "arn:aws:sns:us-east-1:000000000000:txp-smoke-decisions" "$topic"
tap=$(txp_js sqs-create-subscribed-queue.mjs "$topic" txp-smoke-tap --url)
r=$(snsq Action=Publish "TopicArn=$topic" 'Message={"transaction_id":"tx-1","status":"declined"}' \
	'MessageAttributes.entry.1.Name=status' 'MessageAttributes.entry.1.Value.DataType=String' \
	'MessageAttributes.entry.1.Value.StringValue=declined' \
	'MessageAttributes.entry.2.Name=risk_score' 'MessageAttributes.entry.2.Value.DataType=Number' \
	'MessageAttributes.entry.2.Value.StringValue=87')
check "Publish answers 200 with a MessageId" "200 1" \
	"${r%% *} $(echo "${r#* }" | grep -c '<MessageId>[0-9a-f-]*</MessageId>')"
msgs=$(txp_js sqs-receive.mjs "$tap" --max 1 --wait 5 --delete --sns)
check "published message reaches the subscribed queue" 1 "$(echo "$msgs" | jget length)"
check "envelope carries the message" '{"transaction_id":"tx-1","status":"declined"}' \
	"$(echo "$msgs" | jget 0.Sns.Message)"
check "envelope carries the String attribute" '{"Type":"String","Value":"declined"}' \
	"$(echo "$msgs" | jget 0.Sns.MessageAttributes.status)"
check "envelope carries the Number attribute" '{"Type":"Number","Value":"87"}' \
	"$(echo "$msgs" | jget 0.Sns.MessageAttributes.risk_score)"

# --- stop, and prove nothing is left ------------------------------------------------------------
declare -A pgids=()
for name in "${!TXP_SVC_PGID[@]}"; do pgids[$name]=${TXP_SVC_PGID[$name]}; done
txp_svc_stop_all
left=""
for name in "${!pgids[@]}"; do
	if kill -0 -- "-${pgids[$name]}" 2>/dev/null; then left+="$name "; fi
done
# Also look for any process still naming this run's work directory (reads /proc; kills nothing).
for cmdline in /proc/[0-9]*/cmdline; do
	if { tr '\0' ' ' <"$cmdline"; } 2>/dev/null | grep -qF -- "--port-file $workdir/"; then
		left+="${cmdline#/proc/} "
	fi
done
check "no emulator process is left after stop" "" "$left"
