#!/usr/bin/env bash
# doctor.sh: `txpipectl doctor` against the real txpiped, dynalite and fauxqs: exit 0 when all is
# well, then each failure induced alone (bad config, key mode 0644, socket down, no credentials,
# missing table, topic without KMS, 4-day queue retention, unreachable endpoint, messages in the
# DLQ): exit 1, and the output names the failing check and its fix.
#
# Clock skew is induced with a small Node HTTP server standing in for DynamoDB whose Date header is
# an hour behind (the same as our clock being an hour ahead).  Not induced here, because the
# emulators cannot show them: a table without point-in-time recovery (dynalite has no
# DescribeContinuousBackups, which doctor reports as a warning, checked below) and AccessDenied
# (no IAM).
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
TXPIPED=$top_builddir/txpiped
workdir=$(mktemp -d "${TMPDIR:-/tmp}/txp-doctor.XXXXXX")

if ! txp_svc_node; then
	rm -rf "$workdir"
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh)"
	exit 77
fi
skew_pid=""
txp_cleanup() {
	stop_daemon
	if [[ -n $skew_pid ]]; then kill "$skew_pid" 2>/dev/null; wait "$skew_pid" 2>/dev/null; fi
}
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
queue_url="http://sqs.us-east-1.localhost:${SQS_ENDPOINT##*:}/000000000000/txpipe-it-dlq"
cat >"$workdir/ok.ini" <<EOC
[daemon]
socket = $workdir/txpiped.sock

[journal]
dir = $workdir/journal

[compliance]
card_token_key_file = $workdir/card.key
pseudonym_key_file = $workdir/pseud.key
# dynalite cannot enable TTL (EMULATORS.md): without retention, doctor does not require it.
retention_days = 0

[aws]
region = us-east-1
imds = false
request_timeout_ms = 2s

[dynamodb]
endpoint = $DYNAMODB_ENDPOINT
table = $table

[sns]
endpoint = $SNS_ENDPOINT
topic_arn = $topic_arn

[sqs]
endpoint = $SQS_ENDPOINT
queue_url = $queue_url
EOC
mkdir -p "$workdir/journal"
# variant NAME SED-EXPRESSION...: ok.ini edited, as NAME.ini.
variant() {
	local name=$1
	shift
	local -a e=()
	local x
	for x in "$@"; do e+=(-e "$x"); done
	sed "${e[@]}" "$workdir/ok.ini" >"$workdir/$name.ini"
}
# doctor NAME [ARGS...]: runs doctor with NAME.ini; output in NAME.out, status in $rc.
doctor() {
	local name=$1
	shift
	"$TXPIPECTL" --config "$workdir/$name.ini" "$@" doctor >"$workdir/$name.out" 2>&1
	rc=$?
}
# has NAME FILE PATTERN: FILE has a line matching the extended regex PATTERN.
has() {
	if grep -qE -- "$3" "$2"; then ok "$1"; else not_ok "$1" "no line matching [$3] in:$(sed 's/^/\n     | /' "$2")"; fi
}

"$TXPIPECTL" --config "$workdir/ok.ini" provision >"$workdir/provision.out" 2>&1
check "provision exits 0" 0 "$?"
"$TXPIPED" --config "$workdir/ok.ini" 2>"$workdir/txpiped.log" &
daemon_pid=$!
for ((i = 0; i < 200; i++)); do
	[[ -S $workdir/txpiped.sock ]] && break
	sleep 0.05
done
check "txpiped started" true "$([[ -S $workdir/txpiped.sock ]] && echo true || echo false)"

# --- all is well -------------------------------------------------------------------------------------
doctor ok
check "all well: exit 0" 0 "$rc"
sed 's/^/     | /' "$workdir/ok.out"
has "config ok" "$workdir/ok.out" "^ok +config +$workdir/ok.ini is valid$"
has "card key ok" "$workdir/ok.out" "^ok +card key +$workdir/card.key: regular, mode 0600, readable$"
has "socket ok, with the daemon's version" "$workdir/ok.out" "^ok +socket +$workdir/txpiped.sock answers: txpiped "
has "credentials from the environment" "$workdir/ok.out" "^ok +credentials +from environment, do not expire$"
has "clock compared with the Date header" "$workdir/ok.out" "^ok +clock +[-+][0-9]+ s off the server's Date$"
has "a plain-HTTP test endpoint is a warning" "$workdir/ok.out" "^warn +dynamodb endpoint +http://127.0.0.1:[0-9]+/: plain HTTP \(test endpoint\)$"
has "table ok" "$workdir/ok.out" "^ok +table +$table ACTIVE, on-demand, encrypted at rest"
has "PITR unsupported by dynalite is a warning" "$workdir/ok.out" "^warn +table PITR +the endpoint does not support DescribeContinuousBackups$"
has "topic ok" "$workdir/ok.out" "^ok +topic +$topic_arn exists, KMS-encrypted$"
has "queue ok" "$workdir/ok.out" "^ok +queue +.*: retention 14 days, encrypted$"
has "iam: the read actions proven" "$workdir/ok.out" "^ok +iam +allowed \(proved by reading\): dynamodb:DescribeTable, sns:GetTopicAttributes, sqs:GetQueueAttributes"
has "iam: the writes said not checked" "$workdir/ok.out" "not checked \(no dry run without writing\): dynamodb:BatchWriteItem, sns:Publish, sqs:SendMessage"
has "journal from the daemon's stats" "$workdir/ok.out" "^ok +journal +[0-9]+ undelivered record\(s\), [0-9]+ bytes$"
has "dlq empty" "$workdir/ok.out" "^ok +dlq +empty$"
has "summary" "$workdir/ok.out" "^0 check\(s\) failed, [0-9]+ warning\(s\)$"

# --- each failure alone ----------------------------------------------------------------------------------
variant badconf 's/^request_timeout_ms = 2s$/request_timeout_ms = soon/'
doctor badconf
check "bad config: exit 1" 1 "$rc"
has "bad config: the config check fails naming the key" "$workdir/badconf.out" "^FAIL +config +.*request_timeout_ms"
has "bad config: the fix" "$workdir/badconf.out" "fix: correct the line named above; \`txpipectl check-config\` checks it again$"

chmod 0644 "$workdir/card.key"
doctor ok
check "key mode 0644: exit 1" 1 "$rc"
has "key mode 0644: the key check fails" "$workdir/ok.out" "^FAIL +card key +$workdir/card.key has mode 0644: group or others may read it$"
has "key mode 0644: the fix" "$workdir/ok.out" "fix: chmod 0600 $workdir/card.key"
chmod 0600 "$workdir/card.key"

# A key owned by another user is a warning, not a failure (chown needs root).
if [[ $(id -u) == 0 ]] && id nobody >/dev/null 2>&1; then
	chown nobody "$workdir/card.key"
	doctor ok
	check "key owned by nobody: still exit 0" 0 "$rc"
	has "key owned by nobody: a warning naming the owner" "$workdir/ok.out" \
		"^warn +card key +$workdir/card.key is owned by nobody, not by root, txpipe or the user running this check$"
	chown 0 "$workdir/card.key"
fi

doctor ok --socket "$workdir/none.sock"
check "socket down: exit 1" 1 "$rc"
has "socket down: the socket check fails" "$workdir/ok.out" "^FAIL +socket +cannot connect to $workdir/none.sock: "
has "socket down: the fix" "$workdir/ok.out" "fix: start the daemon"
has "socket down: the journal is read from its directory" "$workdir/ok.out" "^warn +journal +daemon not running: $workdir/journal holds [0-9]+ bytes"

variant nocreds "s|^imds = false$|imds = false\ncredentials_file = $workdir/no-such-file|"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE HOME="$workdir" \
	"$TXPIPECTL" --config "$workdir/nocreds.ini" doctor >"$workdir/nocreds.out" 2>&1
check "no credentials: exit 1" 1 "$?"
has "no credentials: the credentials check fails" "$workdir/nocreds.out" "^FAIL +credentials +AWS credentials: no AWS credentials"
has "no credentials: the fix names IMDS and its hop limit" "$workdir/nocreds.out" "fix: on EC2 attach an instance role \(IMDSv2; in a container set the metadata hop limit to 2\)"

variant notable "s/^table = .*/table = txpipe-it-missing/"
doctor notable
check "missing table: exit 1" 1 "$rc"
has "missing table: the table check fails" "$workdir/notable.out" "^FAIL +table +txpipe-it-missing does not exist$"
has "missing table: the fix" "$workdir/notable.out" "fix: create it: txpipectl provision$"

plain_arn=$(txp_js sns-create-topic.mjs txpipe-it-plain --arn)
variant nokms "s|^topic_arn = .*|topic_arn = $plain_arn|"
doctor nokms
check "topic without KMS: exit 1" 1 "$rc"
has "topic without KMS: the topic check fails" "$workdir/nokms.out" "^FAIL +topic +$plain_arn has no KmsMasterKeyId"
has "topic without KMS: the fix" "$workdir/nokms.out" "fix: aws sns set-topic-attributes .*KmsMasterKeyId --attribute-value alias/aws/sns$"

short_url=$(txp_js sqs-create-queue.mjs txpipe-it-short --retention 345600 --url)
variant short "s|^queue_url = .*|queue_url = $short_url|"
doctor short
check "4-day retention: exit 1" 1 "$rc"
has "4-day retention: the queue check fails" "$workdir/short.out" "^FAIL +queue +retention is 345600 s, not 1209600 \(14 days\)"
has "4-day retention: the fix" "$workdir/short.out" "fix: aws sqs set-queue-attributes --queue-url $short_url --attributes MessageRetentionPeriod=1209600$"

port=$(txp_svc_free_port)
variant down "s|^endpoint = $SQS_ENDPOINT$|endpoint = http://127.0.0.1:$port|"
doctor down
check "unreachable SQS endpoint: exit 1" 1 "$rc"
has "unreachable: the endpoint check fails" "$workdir/down.out" "^FAIL +sqs endpoint +http://127.0.0.1:$port/ unreachable: "
has "unreachable: the fix names DNS, VPC endpoints and security groups" "$workdir/down.out" "fix: check DNS .*VPC.*security groups allow TCP 443"

txp_js sqs-send.mjs txpipe-it-dlq '{"transaction_id":"t-dead-1","failed":"store"}'
check "a message is dead-lettered" 0 "$?"
doctor ok
check "messages in the DLQ: exit 1" 1 "$rc"
has "DLQ: the dlq check fails with the depth" "$workdir/ok.out" "^FAIL +dlq +about 1 dead-lettered message\(s\)"
has "DLQ: the fix" "$workdir/ok.out" "fix: see why with \`txpipectl dlq list\`, fix the cause, then \`txpipectl dlq redrive\`$"
check "DLQ: nothing else fails" 1 "$(grep -c '^FAIL' "$workdir/ok.out")"

# A server whose clock is an hour behind ours: it answers every call as a missing table.
skew_port=$(txp_svc_free_port)
"$TXP_NODE" -e '
require("http").createServer((req, res) => {
	req.resume();
	req.on("end", () => {
		res.setHeader("Date", new Date(Date.now() - 3600e3).toUTCString());
		res.setHeader("Content-Type", "application/x-amz-json-1.0");
		res.statusCode = 400;
		res.end(JSON.stringify({__type: "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
			message: "Requested resource not found"}));
	});
}).listen(Number(process.argv[1]), "127.0.0.1");' "$skew_port" &
skew_pid=$!
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$skew_port/" && break
	sleep 0.05
done
variant skew "s|^endpoint = $DYNAMODB_ENDPOINT$|endpoint = http://127.0.0.1:$skew_port|"
doctor skew
check "clock an hour off: exit 1" 1 "$rc"
has "clock skew: the clock check fails with the offset" "$workdir/skew.out" "^FAIL +clock +\+3[56][0-9]{2} s off the server's Date \(.* GMT\): AWS refuses signatures more than 300 s off$"
has "clock skew: the fix" "$workdir/skew.out" "fix: synchronise the clock \(chronyd, systemd-timesyncd; on EC2 169.254.169.123\)$"

"$TXPIPECTL" --config "$workdir/ok.ini" doctor extra >/dev/null 2>&1
check "doctor takes no arguments: 64" 64 "$?"
