#!/usr/bin/env bash
# check-template.sh: deploy/txpipe.yaml is a valid CloudFormation template that does what the README says, checked offline.
#
# Runs tests/deploy/check-template.mjs (resource types, properties and attributes against the
# CloudFormation resource specification from @aws-cdk/cfnspec; every Ref, GetAtt and ${} resolves;
# the txpiped policy equals conf/iam-policy.json; HTTPS-only security groups; no route out of the
# VPC; the data resources' settings; the configuration the user data writes) on the template; has
# the built txpiped --check-config the configuration the user data writes; then runs the checker on
# broken copies of the template, each of which it must refuse, naming the fault.
#
# Exit status 0 when every check passed, 1 otherwise, 77 (skipped) only when Node cannot be set up.
set -uo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TXP_TESTS_DIR=${TXP_TESTS_DIR:-$top_srcdir/tests}
template=$top_srcdir/deploy/txpipe.yaml
checker=$top_srcdir/tests/deploy/check-template.mjs

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txp-cfn.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
ok() { passes=$((passes + 1)); echo "ok: $1"; }
not_ok() { failures=$((failures + 1)); echo "FAIL: $1"; }

run_checker() { # template
	"$node" "$checker" "$1" "$top_srcdir/conf/iam-policy.json" "$top_srcdir/conf/txpiped.ini" \
		"$TXP_TESTS_DIR/node_modules"
}

echo "== the configuration the user data writes, read by the real txpiped"
# The heredoc from the user data, with values of the shape CloudFormation substitutes (generated
# names, the queue's URL) and two keys as the user data writes them from Secrets Manager (64
# lowercase hex digits and the newline `aws --output text` adds), at paths of this test's own.
txpiped=${top_builddir:-$top_srcdir}/txpiped
if [[ ! -x $txpiped ]]; then
	not_ok "$txpiped is not built"
else
	sed -n "/cat >\/etc\/txpipe\/txpiped.ini <<'EOC'/,/^ *EOC$/p" "$template" | sed -e '1d' -e '$d' \
		-e 's/^            //' \
		-e 's/\${AWS::Region}/eu-west-1/g' -e 's/\${AWS::StackName}/txpipe/g' \
		-e 's/\${TransactionsTable}/txpipe-TransactionsTable-1A2B3C4D5E6F/g' \
		-e 's/\${FleetTable}/txpipe-FleetTable-6F5E4D3C2B1A/g' \
		-e 's/\${AlertTopic}/arn:aws:sns:eu-west-1:111122223333:txpipe-AlertTopic-1A2B3C4D5E6F/g' \
		-e 's|\${DeadLetterQueue}|https://sqs.eu-west-1.amazonaws.com/111122223333/txpipe-DeadLetterQueue-1A2B3C4D5E6F|g' \
		>"$tmp/txpiped.ini"
	printf '\n[compliance]\ncard_token_key_file = %s/card-token.key\npseudonym_key_file = %s/pseudonym.key\n' \
		"$tmp" "$tmp" >>"$tmp/txpiped.ini"
	(umask 077
	 printf '%s\n' 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef >"$tmp/card-token.key"
	 printf '%s\n' fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210 >"$tmp/pseudonym.key")
	if grep -q '\${' "$tmp/txpiped.ini"; then
		not_ok "the configuration has a \${} this test does not fill in: $(grep '\${' "$tmp/txpiped.ini")"
	elif ! grep -q '^ack = journaled$' "$tmp/txpiped.ini"; then
		not_ok "the configuration extracted from the user data lacks ack = journaled"
	elif out=$("$txpiped" --check-config --config "$tmp/txpiped.ini" 2>&1); then
		ok "txpiped --check-config accepts it: $out"
	else
		not_ok "txpiped --check-config refuses it: $out"
	fi
fi

echo "== the user data script"
# Every ${...} in it is CloudFormation's (the template writes shell variables without braces).
sed -n '/^            #!\/bin\/bash$/,/^  InstanceGroup:$/p' "$template" |
	sed -e '$d' -e 's/^            //' -e 's/\${[A-Za-z0-9:]*}/sample/g' >"$tmp/userdata.sh"
if [[ ! -s $tmp/userdata.sh ]]; then
	not_ok "no user data script found in the template"
elif ! out=$(bash -n "$tmp/userdata.sh" 2>&1); then
	not_ok "the user data is not valid bash: $out"
elif command -v shellcheck >/dev/null 2>&1 && ! out=$(shellcheck -s bash "$tmp/userdata.sh" 2>&1); then
	not_ok "shellcheck finds faults in the user data: $out"
else
	ok "the user data is valid bash$(command -v shellcheck >/dev/null 2>&1 && echo ', shellcheck clean')"
fi

# The rest needs Node and the specification: without them, skip (unless the checks above failed).
if ! node=$("$TXP_TESTS_DIR/setup-node.sh" 2>/dev/null) || [[ ! -d $TXP_TESTS_DIR/node_modules/@aws-cdk/cfnspec ]]; then
	echo "SKIP: Node >= 22.13 with tests/node_modules cannot be set up (see tests/setup-node.sh):" \
		"the template was not checked against the specification"
	echo "$passes passed, $failures failed"
	[[ $failures -eq 0 ]] && exit 77
	exit 1
fi

echo "== the template"
if run_checker "$template"; then
	ok "deploy/txpipe.yaml passes every check"
else
	not_ok "deploy/txpipe.yaml fails the checks above"
fi

# broken LABEL EXPECTED SED-SCRIPT: a copy of the template edited by SED-SCRIPT must be refused
# with a FAIL line containing EXPECTED.
broken() {
	local label=$1 expected=$2 script=$3 out
	sed -e "$script" "$template" >"$tmp/broken.yaml"
	if cmp -s "$template" "$tmp/broken.yaml"; then
		not_ok "the edit for '$label' changed nothing: fix this test"
		return
	fi
	out=$(run_checker "$tmp/broken.yaml")
	if [[ $? -ne 0 ]] && grep -q "^FAIL: .*$expected" <<<"$out"; then
		ok "refuses $label ($(grep -m1 "^FAIL: .*$expected" <<<"$out" | cut -c7-100))"
	else
		not_ok "accepted $label, or refused it without saying '$expected':"
		grep '^FAIL' <<<"$out"
	fi
}

echo "== broken copies"
broken "a property the type does not have" "no property EnableDnsHostname" \
	's/EnableDnsHostnames: true/EnableDnsHostname: true/'
broken "a missing required property" "required property GroupDescription missing" \
	'0,/GroupDescription:/{/GroupDescription:/d}'
broken "a resource type that does not exist" "type AWS::SNS::Topik is not in the CloudFormation" \
	's/Type: AWS::SNS::Topic$/Type: AWS::SNS::Topik/'
broken "a property of the wrong shape" "is not a Boolean" \
	's/PointInTimeRecoveryEnabled: true/PointInTimeRecoveryEnabled: always/'
broken "a dangling Ref" "Ref AlertTopix resolves to nothing" \
	's/TopicArn: !Ref AlertTopic/TopicArn: !Ref AlertTopix/'
broken "a GetAtt of an attribute the type lacks" "has no attribute Arnn" \
	's/!GetAtt DeadLetterQueue.Arn$/!GetAtt DeadLetterQueue.Arnn/'
broken "a dangling \${} in the user data" "Ref PackageKeys resolves to nothing" \
	's|/${PackageKey}" "$work|/${PackageKeys}" "$work|'
broken "an egress rule on port 80" "is not TCP 443" \
	'0,/FromPort: 443/s//FromPort: 80/; 0,/ToPort: 443/s//ToPort: 80/'
broken "all protocols out" "is not TCP 443" \
	'0,/IpProtocol: tcp/s//IpProtocol: "-1"/'
broken "a security group without egress rules (default allow-all)" "default allow-all egress" \
	'/^  InstanceSecurityGroup:/,/^  EndpointSecurityGroup:/{/SecurityGroupEgress:/,/Description: HTTPS to/d}'
broken "an inbound rule on the instances" "the instances' group has an ingress rule" \
	'0,/^      SecurityGroupEgress:$/s//      SecurityGroupIngress: [{IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0\/0}]\n&/'
broken "a route to an internet gateway" "is a way out of the VPC" \
	'/^Outputs:/i\  Gateway:\n    Type: AWS::EC2::InternetGateway\n  DefaultRoute:\n    Type: AWS::EC2::Route\n    Properties:\n      RouteTableId: !Ref PrivateRouteTable\n      DestinationCidrBlock: 0.0.0.0/0\n      GatewayId: !Ref Gateway\n'
broken "a public address on launch" "public addresses on launch" \
	'0,/MapPublicIpOnLaunch: false/s//MapPublicIpOnLaunch: true/'
broken "an action beyond conf/iam-policy.json" "the txpiped policy differs" \
	's/- dynamodb:BatchWriteItem/- dynamodb:BatchWriteItem\n                  - dynamodb:PutItem/'
broken "the daemon's policy without its condition" "the txpiped policy differs" \
	'0,/aws:SecureTransport: "true"/s//aws:SecureTransport: "false"/'
broken "a wildcard action" "wildcard in s3:Get\*" \
	's/- s3:GetObject/- s3:Get*/'
broken "a managed policy" "managed policies" \
	's|^      Policies:$|      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]\n&|'
broken "a table without point-in-time recovery" "table: on demand, PITR" \
	's/PointInTimeRecoveryEnabled: true/PointInTimeRecoveryEnabled: false/'
broken "a queue kept 4 days" "queue: 14 days" \
	's/MessageRetentionPeriod: 1209600/MessageRetentionPeriod: 345600/'
broken "logs kept 7 days" "log group kept 30 days" \
	's/RetentionInDays: 30/RetentionInDays: 7/'
broken "a configuration with ack = stored" "journal.ack = stored (want journaled)" \
	's/^            ack = journaled$/            ack = stored/'
broken "a configuration key txpiped does not have" "is not a txpiped.ini key" \
	's/^            format = json$/            format_ = json/'
broken "an unknown YAML tag" "unknown tags !Refs" \
	's/VpcId: !Ref Vpc$/VpcId: !Refs Vpc/'
broken "a duplicate key" "does not parse" \
	's/^      RetentionInDays: 30$/&\n      RetentionInDays: 30/'

echo "$passes passed, $failures failed"
[[ $failures -eq 0 ]]
