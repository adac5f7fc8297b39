#!/bin/sh
# check-iam.sh: the IAM policies in conf/ are valid, have no wildcard, and allow exactly what src/ calls.
#
# The operations the code calls are read from the sources, not listed here:
# every C file under src/ that talks to the AWS client (it names TXP_AWS_ or
# txp_aws_call) is scanned for string literals that are DynamoDB, SNS or SQS
# operation names, and for `TXP_AWS_<SERVICE>, "Operation"` pairs.  Calls
# made by src/aws/provision.c and deprovision.c (txpipectl provision and deprovision) belong in
# conf/iam-policy-provision.json; calls made by src/tools/*.c (get, dlq, doctor:
# operator commands, run with an operator's credentials) belong in
# conf/iam-policy-operator.json; calls made anywhere else (the daemon) belong
# in conf/iam-policy.json.  Each policy must allow exactly its set: a missing
# action fails (the call would be denied), and so does an extra one (least
# privilege).  Batch operations are authorised by their single-message
# action: SNS PublishBatch by sns:Publish (SNS Developer Guide, "Amazon SNS
# message batching"), SQS SendMessageBatch, DeleteMessageBatch and
# ChangeMessageVisibilityBatch by SendMessage, DeleteMessage and
# ChangeMessageVisibility (SQS Developer Guide, "Amazon SQS batch actions");
# DynamoDB TransactWriteItems by the actions inside it (only Puts here: PutItem).
# DynamoDB's BatchWriteItem and BatchGetItem are actions of their own.

set -u

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
checker="$top_builddir/tests/docs/iam_check"
daemon_policy="$top_srcdir/conf/iam-policy.json"
provision_policy="$top_srcdir/conf/iam-policy-provision.json"
operator_policy="$top_srcdir/conf/iam-policy-operator.json"
# TXP_IAM_SRC points the scan at another tree (e.g. a branch not yet merged) instead of $top_srcdir/src.
src="${TXP_IAM_SRC:-$top_srcdir/src}"

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0

ok() { passes=$((passes + 1)); echo "ok: $1"; }
not_ok() { failures=$((failures + 1)); echo "FAIL: $1"; }

if [ ! -x "$checker" ]; then
	echo "check-iam.sh: $checker is not built" >&2
	exit 99
fi

# ---- the operation names of the three APIs (their API references' lists of actions) ----------------
cat >"$tmp/catalogue" <<'EOF'
dynamodb BatchExecuteStatement BatchGetItem BatchWriteItem CreateBackup CreateGlobalTable CreateTable
dynamodb DeleteBackup DeleteItem DeleteResourcePolicy DeleteTable DescribeBackup DescribeContinuousBackups
dynamodb DescribeContributorInsights DescribeEndpoints DescribeExport DescribeGlobalTable
dynamodb DescribeGlobalTableSettings DescribeImport DescribeKinesisStreamingDestination DescribeLimits
dynamodb DescribeTable DescribeTableReplicaAutoScaling DescribeTimeToLive DisableKinesisStreamingDestination
dynamodb EnableKinesisStreamingDestination ExecuteStatement ExecuteTransaction ExportTableToPointInTime
dynamodb GetItem GetResourcePolicy ImportTable ListBackups ListContributorInsights ListExports
dynamodb ListGlobalTables ListImports ListTables ListTagsOfResource PutItem PutResourcePolicy Query
dynamodb RestoreTableFromBackup RestoreTableToPointInTime Scan TagResource TransactGetItems
dynamodb TransactWriteItems UntagResource UpdateContinuousBackups UpdateContributorInsights
dynamodb UpdateGlobalTable UpdateGlobalTableSettings UpdateItem UpdateKinesisStreamingDestination
dynamodb UpdateTable UpdateTableReplicaAutoScaling UpdateTimeToLive
sns AddPermission CheckIfPhoneNumberIsOptedOut ConfirmSubscription CreatePlatformApplication
sns CreatePlatformEndpoint CreateSMSSandboxPhoneNumber CreateTopic DeleteEndpoint DeletePlatformApplication
sns DeleteSMSSandboxPhoneNumber DeleteTopic GetDataProtectionPolicy GetEndpointAttributes
sns GetPlatformApplicationAttributes GetSMSAttributes GetSMSSandboxAccountStatus GetSubscriptionAttributes
sns GetTopicAttributes ListEndpointsByPlatformApplication ListOriginationNumbers ListPhoneNumbersOptedOut
sns ListPlatformApplications ListSMSSandboxPhoneNumbers ListSubscriptions ListSubscriptionsByTopic
sns ListTagsForResource ListTopics OptInPhoneNumber Publish PublishBatch PutDataProtectionPolicy
sns RemovePermission SetEndpointAttributes SetPlatformApplicationAttributes SetSMSAttributes
sns SetSubscriptionAttributes SetTopicAttributes Subscribe TagResource Unsubscribe UntagResource
sns VerifySMSSandboxPhoneNumber
sqs AddPermission CancelMessageMoveTask ChangeMessageVisibility ChangeMessageVisibilityBatch CreateQueue
sqs DeleteMessage DeleteMessageBatch DeleteQueue GetQueueAttributes GetQueueUrl ListDeadLetterSourceQueues
sqs ListMessageMoveTasks ListQueues ListQueueTags PurgeQueue ReceiveMessage RemovePermission SendMessage
sqs SendMessageBatch SetQueueAttributes StartMessageMoveTask TagQueue UntagQueue
EOF
# "service Operation", one per line.
awk '{ for (i = 2; i <= NF; i++) print $1, $i }' "$tmp/catalogue" >"$tmp/ops"

# The IAM action that authorises an operation.
iam_action() {
	case "$1:$2" in
	sns:PublishBatch) echo "sns:Publish" ;;
	sqs:SendMessageBatch) echo "sqs:SendMessage" ;;
	sqs:DeleteMessageBatch) echo "sqs:DeleteMessage" ;;
	sqs:ChangeMessageVisibilityBatch) echo "sqs:ChangeMessageVisibility" ;;
	# The daemon's transactions hold Puts only, and a Put in a transaction is authorised as
	# PutItem (DynamoDB Developer Guide, "Using IAM with DynamoDB transactions").
	dynamodb:TransactWriteItems) echo "dynamodb:PutItem" ;;
	*) echo "$1:$2" ;;
	esac
}

# ---- the calls the sources make --------------------------------------------------------------------
# Writes "service Operation" lines for one C file.
calls_in() {
	# Joined into one line, so a call split over lines still matches.
	tr '\n\t' '  ' <"$1" >"$tmp/joined"
	# TXP_AWS_SQS, "GetQueueUrl": the service is known from the enum.
	grep -o -E 'TXP_AWS_(DYNAMODB|SNS|SQS)[[:space:]]*,[[:space:]]*"[A-Za-z]+"' "$tmp/joined" |
		sed -E 's/TXP_AWS_([A-Z]+)[[:space:]]*,[[:space:]]*"([A-Za-z]+)"/\1 \2/' |
		awk '{ print tolower($1), $2 }'
	# Any literal that is an operation name (tables such as send.c's op_of[]).
	grep -o -E '"[A-Z][A-Za-z]+"' "$tmp/joined" | tr -d '"' | sort -u | while read -r lit; do
		svcs=$(awk -v op="$lit" '$2 == op { print $1 }' "$tmp/ops")
		case $(echo "$svcs" | grep -c .) in
		0) ;;
		1) echo "$svcs $lit" ;;
		*)
			# TagResource and friends exist in two services: only the
			# TXP_AWS_<SERVICE> pair above can say which.
			if ! grep -q -E "TXP_AWS_[A-Z]+[[:space:]]*,[[:space:]]*\"$lit\"" "$tmp/joined"; then
				echo "AMBIGUOUS $lit"
			fi
			;;
		esac
	done
}

if [ ! -f "$src/aws/provision.c" ]; then
	echo "check-iam.sh: $src/aws/provision.c not found" >&2
	exit 99
fi
: >"$tmp/daemon.calls"
: >"$tmp/provision.calls"
: >"$tmp/operator.calls"
for f in $(find "$src" -name '*.c' | LC_ALL=C sort); do
	grep -q -E 'TXP_AWS_|txp_aws_call' "$f" || continue
	case "$f" in
	*/aws/provision.c | */aws/deprovision.c) out="$tmp/provision.calls" ;;
	*/tools/*.c) out="$tmp/operator.calls" ;;
	*) out="$tmp/daemon.calls" ;;
	esac
	calls_in "$f" | sed "s|\$| ${f#"$src"/}|" >>"$out"
done

for which in daemon provision operator; do
	if grep -q '^AMBIGUOUS' "$tmp/$which.calls"; then
		not_ok "$which: literal naming an operation of two services without TXP_AWS_<SERVICE>: $(grep '^AMBIGUOUS' \
			"$tmp/$which.calls" | awk '{ print $2 " (" $3 ")" }' | tr '\n' ' ')"
	fi
	grep -v '^AMBIGUOUS' "$tmp/$which.calls" | while read -r svc op file; do
		echo "$(iam_action "$svc" "$op") $file"
	done | LC_ALL=C sort -u >"$tmp/$which.expected.where"
	cut -d' ' -f1 "$tmp/$which.expected.where" | LC_ALL=C sort -u >"$tmp/$which.expected"
done
# A scan that finds nothing is a broken scan, not a clean tree.
if [ -s "$tmp/provision.expected" ]; then
	ok "provision.c and deprovision.c call $(wc -l <"$tmp/provision.expected" | tr -d ' ') IAM actions"
else
	not_ok "no AWS call found in $src/aws/provision.c or deprovision.c: the scan is broken"
fi

# ---- the policies ------------------------------------------------------------------------------------
check_policy() { # name file
	if "$checker" "$2" >"$tmp/$1.actions.raw" 2>"$tmp/$1.err"; then
		ok "$1 policy is valid JSON, Allow only, named actions and ARNs without wildcards"
	else
		not_ok "$1 policy: $(cat "$tmp/$1.err")"
		return
	fi
	# "action resource" lines: an action may be granted on two tables, not twice on one.
	LC_ALL=C sort "$tmp/$1.actions.raw" | uniq -d >"$tmp/$1.dups"
	if [ -s "$tmp/$1.dups" ]; then
		not_ok "$1 policy allows an action twice on one resource: $(tr '\n' ' ' <"$tmp/$1.dups")"
	fi
	cut -d' ' -f1 "$tmp/$1.actions.raw" | LC_ALL=C sort -u >"$tmp/$1.actions"
	missing=$(LC_ALL=C comm -23 "$tmp/$1.expected" "$tmp/$1.actions")
	extra=$(LC_ALL=C comm -13 "$tmp/$1.expected" "$tmp/$1.actions")
	if [ -n "$missing" ]; then
		for a in $missing; do
			not_ok "$2 lacks $a, called by $(grep "^$a " "$tmp/$1.expected.where" | cut -d' ' -f2 | tr '\n' ' ')"
		done
	fi
	if [ -n "$extra" ]; then
		for a in $extra; do
			not_ok "$2 allows $a, which no source in its scope calls"
		done
	fi
	if [ -z "$missing" ] && [ -z "$extra" ]; then
		ok "$1 policy allows exactly: $(tr '\n' ' ' <"$tmp/$1.actions")"
	fi
}
check_policy daemon "$daemon_policy"
check_policy provision "$provision_policy"
check_policy operator "$operator_policy"

# ---- the checker rejects what it must ------------------------------------------------------------------
# Each of these breaks one rule; the checker must refuse every one.
v='"Version":"2012-10-17"'
good_stmt='"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":"arn:aws:sqs:REGION:ACCOUNT:q"'
allow='"Effect":"Allow"'
bad() { # label json
	printf '%s\n' "$2" >"$tmp/bad.json"
	if "$checker" "$tmp/bad.json" >/dev/null 2>&1; then
		not_ok "checker accepted a policy with $1"
	else
		ok "checker refuses a policy with $1"
	fi
}
printf '{%s,"Statement":[{%s}]}\n' "$v" "$good_stmt" >"$tmp/good.json"
if "$checker" "$tmp/good.json" >/dev/null 2>&1; then
	ok "checker accepts a minimal valid policy"
else
	not_ok "checker refuses a minimal valid policy"
fi
bad "broken JSON" "{$v,\"Statement\":[{$good_stmt}]"
bad "a duplicate key" "{$v,$v,\"Statement\":[{$good_stmt}]}"
bad "the old Version" "{\"Version\":\"2008-10-17\",\"Statement\":[{$good_stmt}]}"
bad "no statement" "{$v,\"Statement\":[]}"
bad "a service wildcard" "{$v,\"Statement\":[{$allow,\"Action\":\"dynamodb:*\",
	\"Resource\":\"arn:aws:dynamodb:REGION:ACCOUNT:table/t\"}]}"
bad "an action prefix wildcard" "{$v,\"Statement\":[{$allow,\"Action\":[\"sqs:Send*\"],
	\"Resource\":\"arn:aws:sqs:REGION:ACCOUNT:q\"}]}"
bad "Resource *" "{$v,\"Statement\":[{$allow,\"Action\":\"sqs:SendMessage\",\"Resource\":\"*\"}]}"
bad "a resource wildcard" "{$v,\"Statement\":[{$allow,\"Action\":\"sqs:SendMessage\",
	\"Resource\":\"arn:aws:sqs:REGION:ACCOUNT:*\"}]}"
bad "a real account number" "{$v,\"Statement\":[{$allow,\"Action\":\"sqs:SendMessage\",
	\"Resource\":\"arn:aws:sqs:us-east-1:123456789012:q\"}]}"
bad "another service" "{$v,\"Statement\":[{$allow,\"Action\":\"s3:GetObject\",
	\"Resource\":\"arn:aws:s3:REGION:ACCOUNT:b\"}]}"
bad "NotAction" "{$v,\"Statement\":[{$good_stmt,\"NotAction\":\"sqs:DeleteQueue\"}]}"
bad "a Principal" "{$v,\"Statement\":[{$good_stmt,\"Principal\":\"*\"}]}"
bad "Effect Deny" "{$v,\"Statement\":[{\"Effect\":\"Deny\",\"Action\":[\"sqs:SendMessage\"],
	\"Resource\":\"arn:aws:sqs:REGION:ACCOUNT:q\"}]}"
bad "a repeated Sid" "{$v,\"Statement\":[{\"Sid\":\"A\",$good_stmt},{\"Sid\":\"A\",$good_stmt}]}"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
