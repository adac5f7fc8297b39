#!/usr/bin/env bash
# demo.sh BUILDDIR: the README's run command after the build, end to end on this machine: starts
# local AWS-compatible services (dynalite for DynamoDB, fauxqs for SNS and SQS) on free loopback
# ports, provisions the table, topic and dead-letter queue with `txpipectl provision`, runs
# txpiped against them, submits the sample transactions, and shows the decisions, the records
# stored in DynamoDB and the alerts that reached a queue subscribed to the SNS topic (read back
# with the AWS SDK for JavaScript, independently of txpipe).
set -eu

build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d /tmp/txpipe-demo.XXXXXX)
daemon_pid=""
# shellcheck source=lib/services.sh
. "$here/lib/services.sh"

cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	txp_svc_stop_all
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== starting dynalite (DynamoDB) and fauxqs (SNS, SQS) on loopback"
txp_svc_start_all "$work" >/dev/null
txp_svc_aws_env
table=txpipe-demo-transactions
topic_arn="arn:aws:sns:us-east-1:000000000000:txpipe-demo-alerts"
queue_url="$SQS_ENDPOINT/000000000000/txpipe-demo-dlq"

"$build/txpipectl" genkey "$work/card-token.key" >/dev/null
"$build/txpipectl" genkey "$work/pseudonym.key" >/dev/null
cat >"$work/txpiped.ini" <<INI
[daemon]
socket = $work/txpiped.sock

[compliance]
card_token_key_file = $work/card-token.key
pseudonym_key_file = $work/pseudonym.key
usd_rates = USD:1000000,EUR:1080000

[aws]
region = us-east-1
imds = false

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $table

[sns]
endpoint = $SNS_ENDPOINT
topic_arn = $topic_arn

[sqs]
endpoint = $SQS_ENDPOINT
queue_url = $queue_url

[journal]
dir = $work/journal
INI

echo "== txpipectl provision"
"$build/txpipectl" --config "$work/txpiped.ini" provision
# A queue subscribed to the alert topic stands in for the alert subscribers.
alerts_queue=$(txp_js sqs-create-subscribed-queue.mjs "$topic_arn" txpipe-demo-alert-tap --url)

"$build/txpiped" --check-config --config "$work/txpiped.ini"
"$build/txpiped" --config "$work/txpiped.ini" 2>"$work/txpiped.log" &
daemon_pid=$!
i=0
while [ ! -S "$work/txpiped.sock" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || { cat "$work/txpiped.log"; exit 1; }
	sleep 0.05
done

echo
echo "== decisions for tests/data/sample-transactions.ndjson"
"$build/txpipectl" --config "$work/txpiped.ini" submit --file "$here/data/sample-transactions.ndjson" || true

# Records are batched: wait until every one with an id is stored.
expected=$(grep -c '"transaction_id"' "$here/data/sample-transactions.ndjson")
for _ in $(seq 100); do
	stored=$("$build/txpipectl" --config "$work/txpiped.ini" stats --format json | txp_js json-get.mjs delivery.stored)
	[ "$stored" -ge "$expected" ] && break
	sleep 0.1
done

echo
echo "== records stored in DynamoDB (read back with the AWS SDK), two of $stored shown"
txp_js ddb-scan.mjs "$table" --sort-by transaction_id >"$work/items.json"
txp_node -e 'const items = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	for (const id of ["demo-0001", "demo-0005"]) console.log(JSON.stringify(items.find((i) => i.transaction_id === id), null, 2));' \
	"$work/items.json"

echo
echo "== alerts published to SNS, as a subscribed SQS queue received them"
txp_js sqs-receive.mjs "$alerts_queue" --wait 5 --sns >"$work/alerts.json"
txp_node -e 'for (const m of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) {
		const a = JSON.parse(m.Sns.Message);
		console.log(`${a.alert_type} alert, severity ${a.severity}: ${a.transaction_id} ${a.status} (${a.reasons.join(", ")})`);
	}' "$work/alerts.json"

echo
echo "== txpipectl stats"
"$build/txpipectl" --config "$work/txpiped.ini" stats
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
echo
echo "== daemon log"
cat "$work/txpiped.log"
