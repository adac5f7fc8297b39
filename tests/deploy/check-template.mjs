// check-template.mjs: deploy/txpipe.yaml checked offline against the CloudFormation resource specification and conf/.
//
// Usage: node check-template.mjs TEMPLATE IAM_POLICY TXPIPED_INI NODE_MODULES
// Prints one "ok:" or "FAIL:" line per check and exits 1 when any failed (2 when it cannot run).
//
// The specification is the one @aws-cdk/cfnspec ships (spec/specification.json, pinned in
// tests/package.json); the YAML parser is `yaml`.  Both are loaded from NODE_MODULES so this file
// may live in a read-only source tree.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import path from 'node:path';

const [templatePath, policyPath, iniPath, nodeModules] = process.argv.slice(2);
if (!nodeModules) {
	console.error('usage: check-template.mjs TEMPLATE IAM_POLICY TXPIPED_INI NODE_MODULES');
	process.exit(2);
}
const require = createRequire(path.join(path.resolve(nodeModules), 'noop.js'));
const YAML = require('yaml');
const spec = JSON.parse(readFileSync(path.join(nodeModules, '@aws-cdk/cfnspec/spec/specification.json'), 'utf8'));

let failures = 0;
let passes = 0;
const ok = (msg) => {
	passes++;
	console.log(`ok: ${msg}`);
};
const fail = (msg) => {
	failures++;
	console.log(`FAIL: ${msg}`);
};
const check = (cond, okMsg, failMsg) => (cond ? ok(okMsg) : fail(failMsg ?? okMsg));

// ---- parsing: YAML with CloudFormation's short-form tags ---------------------------------------------
// The short forms (!Ref, !GetAtt, !Sub, ...) become the long forms ({"Ref": ...}, {"Fn::GetAtt": ...}),
// as CloudFormation reads them.  An unknown tag is an error.
const SHORT = {
	'!Ref': 'Ref', '!Condition': 'Condition', '!Base64': 'Fn::Base64', '!Cidr': 'Fn::Cidr',
	'!FindInMap': 'Fn::FindInMap', '!GetAtt': 'Fn::GetAtt', '!GetAZs': 'Fn::GetAZs',
	'!ImportValue': 'Fn::ImportValue', '!Join': 'Fn::Join', '!Select': 'Fn::Select', '!Split': 'Fn::Split',
	'!Sub': 'Fn::Sub', '!Transform': 'Fn::Transform', '!And': 'Fn::And', '!Equals': 'Fn::Equals',
	'!If': 'Fn::If', '!Not': 'Fn::Not', '!Or': 'Fn::Or',
};
const unknownTags = [];
function plain(node) {
	let v;
	if (YAML.isMap(node)) {
		v = {};
		for (const pair of node.items) v[String(YAML.isScalar(pair.key) ? pair.key.value : pair.key)] = plain(pair.value);
	} else if (YAML.isSeq(node)) {
		v = node.items.map(plain);
	} else if (YAML.isScalar(node)) {
		v = node.value;
	} else if (node === null || node === undefined) {
		v = null;
	} else {
		unknownTags.push(`unsupported YAML node ${node.constructor?.name}`);
		v = null;
	}
	const tag = node?.tag;
	if (tag && tag.startsWith('!') && !tag.startsWith('!!')) {
		const fn = SHORT[tag];
		if (!fn) {
			unknownTags.push(tag);
			return v;
		}
		// !GetAtt Res.Attr is the scalar form of [Res, Attr].
		if (fn === 'Fn::GetAtt' && typeof v === 'string') {
			const dot = v.indexOf('.');
			v = dot < 0 ? [v] : [v.slice(0, dot), v.slice(dot + 1)];
		}
		return { [fn]: v };
	}
	return v;
}

let t;
{
	const doc = YAML.parseDocument(readFileSync(templatePath, 'utf8'), { uniqueKeys: true, prettyErrors: true });
	if (doc.errors.length) {
		fail(`${templatePath} does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
		console.log(`${passes} passed, ${failures} failed`);
		process.exit(1);
	}
	t = plain(doc.contents);
	check(unknownTags.length === 0, `${templatePath} parses as YAML with CloudFormation's short-form tags only`,
	      `${templatePath}: unknown tags ${unknownTags.join(', ')}`);
}

const TOP = ['AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Mappings', 'Conditions',
	     'Transform', 'Resources', 'Outputs', 'Rules'];
const extraTop = Object.keys(t).filter((k) => !TOP.includes(k));
check(extraTop.length === 0 && t.AWSTemplateFormatVersion === '2010-09-09' && t.Resources,
      'top-level sections are CloudFormation\'s, format 2010-09-09, with Resources',
      `top level: unknown sections [${extraTop}] or format/Resources missing`);
if (!t.Resources) process.exit(1);
const R = t.Resources;
const P = t.Parameters ?? {};
const ofType = (type) => Object.keys(R).filter((n) => R[n].Type === type);

// ---- resource types and properties against the specification ------------------------------------------
const isIntrinsic = (v) => v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 &&
	(Object.keys(v)[0] === 'Ref' || Object.keys(v)[0].startsWith('Fn::'));

function checkPrimitive(prim, v, where, errs) {
	if (isIntrinsic(v)) return;
	const ok = {
		String: () => typeof v === 'string' || typeof v === 'number',
		Integer: () => Number.isInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)),
		Long: () => Number.isInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)),
		Double: () => typeof v === 'number' || (typeof v === 'string' && !Number.isNaN(Number(v))),
		Boolean: () => typeof v === 'boolean' || v === 'true' || v === 'false',
		Timestamp: () => typeof v === 'string',
		Json: () => typeof v === 'object' && v !== null,
	}[prim];
	if (ok && !ok()) errs.push(`${where}: ${JSON.stringify(v)} is not a ${prim}`);
}

// One property value against its specification; errs collects what is wrong.
function checkValue(resType, pspec, v, where, errs) {
	if (isIntrinsic(v)) return;
	if (pspec.PrimitiveType) return checkPrimitive(pspec.PrimitiveType, v, where, errs);
	const item = (iv, iwhere) => {
		if (pspec.PrimitiveItemType) checkPrimitive(pspec.PrimitiveItemType, iv, iwhere, errs);
		else checkObject(resType, pspec.ItemType, iv, iwhere, errs);
	};
	if (pspec.Type === 'List') {
		if (!Array.isArray(v)) return errs.push(`${where}: not a list`);
		v.forEach((iv, i) => item(iv, `${where}[${i}]`));
	} else if (pspec.Type === 'Map') {
		if (typeof v !== 'object' || Array.isArray(v)) return errs.push(`${where}: not a map`);
		for (const [k, iv] of Object.entries(v)) item(iv, `${where}.${k}`);
	} else {
		checkObject(resType, pspec.Type, v, where, errs);
	}
}

function checkObject(resType, typeName, v, where, errs) {
	if (isIntrinsic(v)) return;
	const ts = spec.PropertyTypes[`${resType}.${typeName}`] ?? spec.PropertyTypes[typeName];
	if (!ts) return errs.push(`${where}: property type ${typeName} not in the specification`);
	if (typeof v !== 'object' || v === null || Array.isArray(v)) return errs.push(`${where}: not an object`);
	checkProperties(resType, ts.Properties ?? {}, v, where, errs);
}

function checkProperties(resType, props, v, where, errs) {
	for (const [k, pv] of Object.entries(v)) {
		if (!props[k]) errs.push(`${where}: no property ${k} in the specification`);
		else checkValue(resType, props[k], pv, `${where}.${k}`, errs);
	}
	for (const [k, ps] of Object.entries(props))
		if (ps.Required && !(k in v)) errs.push(`${where}: required property ${k} missing`);
}

const RES_KEYS = ['Type', 'Properties', 'DependsOn', 'DeletionPolicy', 'UpdateReplacePolicy', 'Condition',
		  'Metadata', 'CreationPolicy', 'UpdatePolicy'];
for (const [name, r] of Object.entries(R)) {
	const rs = spec.ResourceTypes[r.Type];
	if (!rs) {
		fail(`resource ${name}: type ${r.Type} is not in the CloudFormation resource specification`);
		continue;
	}
	const errs = [];
	for (const k of Object.keys(r)) if (!RES_KEYS.includes(k)) errs.push(`${name}: unknown resource attribute ${k}`);
	for (const k of ['DeletionPolicy', 'UpdateReplacePolicy'])
		if (k in r && !['Delete', 'Retain', 'Snapshot'].includes(r[k])) errs.push(`${name}: ${k} ${r[k]}`);
	for (const d of [].concat(r.DependsOn ?? []))
		if (!(d in R)) errs.push(`${name}: DependsOn ${d}, which is no resource`);
	checkProperties(r.Type, rs.Properties ?? {}, r.Properties ?? {}, name, errs);
	check(errs.length === 0, `${name}: ${r.Type} and its properties are in the specification`, errs.join('; '));
}

// ---- every Ref, GetAtt and ${} resolves -------------------------------------------------------------------
const PSEUDO = ['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region',
		'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix'];
const used = new Set();
const refErrs = [];
let refCount = 0;
function resolveRef(target, where) {
	refCount++;
	used.add(target);
	if (!(target in P) && !(target in R) && !PSEUDO.includes(target)) refErrs.push(`${where}: Ref ${target} resolves to nothing`);
}
function resolveGetAtt(res, attr, where) {
	refCount++;
	used.add(res);
	if (!(res in R)) return refErrs.push(`${where}: GetAtt ${res}.${attr}: no resource ${res}`);
	const attrs = spec.ResourceTypes[R[res].Type]?.Attributes ?? {};
	if (!(attr in attrs)) refErrs.push(`${where}: GetAtt ${res}.${attr}: ${R[res].Type} has no attribute ${attr}`);
}
function walkRefs(v, where, subVars = {}) {
	if (Array.isArray(v)) return v.forEach((x, i) => walkRefs(x, `${where}[${i}]`, subVars));
	if (!v || typeof v !== 'object') return;
	if ('Ref' in v && Object.keys(v).length === 1) {
		if (typeof v.Ref !== 'string') return refErrs.push(`${where}: Ref of a non-string`);
		return resolveRef(v.Ref, where);
	}
	if ('Fn::GetAtt' in v) {
		const a = v['Fn::GetAtt'];
		if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || typeof a[1] !== 'string')
			return refErrs.push(`${where}: malformed GetAtt ${JSON.stringify(a)}`);
		return resolveGetAtt(a[0], a[1], where);
	}
	if ('Fn::Sub' in v) {
		const s = v['Fn::Sub'];
		const [str, vars] = Array.isArray(s) ? s : [s, {}];
		if (typeof str !== 'string') return refErrs.push(`${where}: Sub of a non-string`);
		walkRefs(vars, `${where}.Sub-vars`);
		// ${!Literal} is a literal "${Literal}".
		for (const m of str.matchAll(/\$\{([^}]*)\}/g)) {
			const name = m[1].trim();
			if (name.startsWith('!')) continue;
			if (name in (vars ?? {})) continue;
			const dot = name.indexOf('.');
			if (dot > 0 && !name.startsWith('AWS::')) resolveGetAtt(name.slice(0, dot), name.slice(dot + 1), `${where} \${${name}}`);
			else resolveRef(name, `${where} \${${name}}`);
		}
		return;
	}
	for (const [k, x] of Object.entries(v)) walkRefs(x, `${where}.${k}`);
}
walkRefs(R, 'Resources');
walkRefs(t.Outputs ?? {}, 'Outputs');
walkRefs(t.Conditions ?? {}, 'Conditions');
check(refErrs.length === 0 && refCount > 0, `all ${refCount} Ref, GetAtt and \${} references resolve`, refErrs.join('; '));
const unused = Object.keys(P).filter((p) => !used.has(p));
check(unused.length === 0, 'every parameter is used', `parameters never used: ${unused.join(', ')}`);

// ---- IAM: the daemon's policy is conf/iam-policy.json, nothing has a wildcard but Session Manager --------
const filePolicy = JSON.parse(readFileSync(policyPath, 'utf8'));
const allTables = ofType('AWS::DynamoDB::Table');
// The decisions' table is keyed by transaction_id, the fleet's (txpipectl provision with [fleet]
// enabled) by pk alone.
const keyOf = (n) => JSON.stringify(R[n].Properties?.KeySchema);
const tables = allTables.filter((n) => keyOf(n) === JSON.stringify([{ AttributeName: 'transaction_id', KeyType: 'HASH' }]));
const fleetTables = allTables.filter((n) => keyOf(n) === JSON.stringify([{ AttributeName: 'pk', KeyType: 'HASH' }]));
const topics = ofType('AWS::SNS::Topic');
const queues = ofType('AWS::SQS::Queue');
check(tables.length === 1 && fleetTables.length <= 1 && allTables.length === tables.length + fleetTables.length &&
      topics.length === 1 && queues.length === 1, 'one table (and at most one fleet table), one topic, one queue',
      `expected one table, at most one fleet table, one topic and one queue, found ${allTables.length} tables ` +
      `(${fleetTables.length} keyed by pk), ${topics.length} topics, ${queues.length} queues`);
// The placeholders of docs/iam.md, "Filling in the placeholders", and what stands for them in a template.
const PLACEHOLDER = {
	'arn:aws:dynamodb:REGION:ACCOUNT:table/txpipe-transactions': { 'Fn::GetAtt': [tables[0], 'Arn'] },
	'arn:aws:dynamodb:REGION:ACCOUNT:table/txpipe-fleet': { 'Fn::GetAtt': [fleetTables[0], 'Arn'] },
	'arn:aws:sns:REGION:ACCOUNT:txpipe-alerts': { Ref: topics[0] },
	'arn:aws:sqs:REGION:ACCOUNT:txpipe-dlq': { 'Fn::GetAtt': [queues[0], 'Arn'] },
};
const substErrs = [];
const substitute = (res) => {
	if (Array.isArray(res)) return res.map(substitute);
	if (!(res in PLACEHOLDER)) substErrs.push(`${policyPath}: resource ${res} has no counterpart in the template`);
	return PLACEHOLDER[res];
};
const expectedDaemon = {
	Version: filePolicy.Version,
	Statement: filePolicy.Statement.map((s) => ({ ...s, Resource: substitute(s.Resource) })),
};

const roles = ofType('AWS::IAM::Role');
const policiesOf = (role) => R[role].Properties?.Policies ?? [];
const daemonPolicies = roles.flatMap((role) => policiesOf(role).filter((p) => p.PolicyName === 'txpiped'));
check(roles.length === 1 && daemonPolicies.length === 1, 'one role, with one policy named txpiped',
      `expected one role with one txpiped policy, found ${roles.length} roles, ${daemonPolicies.length} policies`);
if (daemonPolicies.length === 1) {
	const got = daemonPolicies[0].PolicyDocument;
	if (substErrs.length) fail(substErrs.join('; '));
	else if (isDeepStrictEqual(got, expectedDaemon)) ok(`the txpiped policy equals ${path.basename(policyPath)} with the stack's table, topic and queue`);
	else fail(`the txpiped policy differs from ${policyPath}:\n  template: ${JSON.stringify(got)}\n  expected: ${JSON.stringify(expectedDaemon)}`);
}

// Session Manager's actions have no resource-level permissions: its one statement is pinned here.
const SESSION_MANAGER = {
	Sid: 'SessionManager', Effect: 'Allow',
	Action: ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel',
		 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'],
	Resource: '*',
};
const allStatements = [];
for (const role of roles) {
	for (const p of policiesOf(role)) for (const s of [].concat(p.PolicyDocument?.Statement ?? [])) allStatements.push([`${role}/${p.PolicyName}`, s]);
	const managed = R[role].Properties?.ManagedPolicyArns ?? [];
	check(managed.length === 0, `${role}: no managed policies`, `${role}: managed policies ${JSON.stringify(managed)} (broader than needed)`);
}
for (const n of ofType('AWS::IAM::Policy').concat(ofType('AWS::IAM::ManagedPolicy')))
	for (const s of [].concat(R[n].Properties?.PolicyDocument?.Statement ?? [])) allStatements.push([n, s]);
const iamErrs = [];
const strings = (v) => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.flatMap(strings) :
	v && typeof v === 'object' ? Object.values(v).flatMap(strings) : []);
for (const [where, s] of allStatements) {
	if (s.Sid === SESSION_MANAGER.Sid) {
		if (!isDeepStrictEqual(s, SESSION_MANAGER)) iamErrs.push(`${where}: the SessionManager statement is not the pinned one`);
		continue;
	}
	if (s.Effect !== 'Allow' || 'NotAction' in s || 'NotResource' in s || 'Principal' in s)
		iamErrs.push(`${where} ${s.Sid ?? ''}: only Allow with Action and Resource`);
	for (const x of strings(s.Action).concat(strings(s.Resource)))
		if (x.includes('*')) iamErrs.push(`${where} ${s.Sid ?? ''}: wildcard in ${x}`);
}
check(iamErrs.length === 0 && allStatements.length > 0,
      `no wildcard in ${allStatements.length} IAM statements but the pinned SessionManager one`, iamErrs.join('; '));

// ---- network: HTTPS-only security groups, no way out of the VPC ---------------------------------------------
const sgErrs = [];
const https = (rule) => (rule.IpProtocol === 'tcp' || rule.IpProtocol === '6' || rule.IpProtocol === 6) &&
	Number(rule.FromPort) === 443 && Number(rule.ToPort) === 443;
const sgs = ofType('AWS::EC2::SecurityGroup');
const lts = ofType('AWS::EC2::LaunchTemplate');
const instanceSgs = new Set();
for (const lt of lts)
	for (const g of R[lt].Properties?.LaunchTemplateData?.SecurityGroupIds ?? [])
		if (g?.['Fn::GetAtt']) instanceSgs.add(g['Fn::GetAtt'][0]);
		else if (g?.Ref) instanceSgs.add(g.Ref);
		else sgErrs.push(`${lt}: security group ${JSON.stringify(g)} not from this template`);
for (const sg of sgs) {
	const p = R[sg].Properties ?? {};
	// Without an egress rule a new group allows all traffic out.
	if (!Array.isArray(p.SecurityGroupEgress) || p.SecurityGroupEgress.length === 0)
		sgErrs.push(`${sg}: no egress rule, so the default allow-all egress stays`);
	for (const e of p.SecurityGroupEgress ?? []) if (!https(e)) sgErrs.push(`${sg}: egress ${JSON.stringify(e)} is not TCP 443`);
	for (const i of p.SecurityGroupIngress ?? []) {
		if (instanceSgs.has(sg)) sgErrs.push(`${sg}: the instances' group has an ingress rule ${JSON.stringify(i)}`);
		else if (!https(i) || !i.SourceSecurityGroupId) sgErrs.push(`${sg}: ingress ${JSON.stringify(i)} is not TCP 443 from a group`);
	}
}
for (const e of ofType('AWS::EC2::SecurityGroupEgress')) if (!https(R[e].Properties)) sgErrs.push(`${e}: egress not TCP 443`);
for (const i of ofType('AWS::EC2::SecurityGroupIngress')) {
	const g = R[i].Properties?.GroupId;
	const gname = g?.['Fn::GetAtt']?.[0] ?? g?.Ref;
	if (instanceSgs.has(gname) || !https(R[i].Properties)) sgErrs.push(`${i}: ingress to the instances or not TCP 443`);
}
check(sgs.length > 0 && instanceSgs.size > 0 && sgErrs.length === 0,
      `${sgs.length} security groups: TCP 443 out only, nothing in to the instances`, sgErrs.join('; ') || 'no security group');

const netErrs = [];
for (const type of ['AWS::EC2::InternetGateway', 'AWS::EC2::VPCGatewayAttachment', 'AWS::EC2::NatGateway',
		    'AWS::EC2::EgressOnlyInternetGateway', 'AWS::EC2::Route', 'AWS::EC2::VPNGateway', 'AWS::EC2::EIP',
		    'AWS::EC2::TransitGatewayAttachment', 'AWS::EC2::VPCPeeringConnection'])
	for (const n of ofType(type)) netErrs.push(`${n}: ${type} is a way out of the VPC`);
const subnets = ofType('AWS::EC2::Subnet');
const assoc = ofType('AWS::EC2::SubnetRouteTableAssociation').map((n) => R[n].Properties);
const azIndex = new Set();
for (const s of subnets) {
	const p = R[s].Properties ?? {};
	if (p.MapPublicIpOnLaunch === true || p.MapPublicIpOnLaunch === 'true') netErrs.push(`${s}: public addresses on launch`);
	const az = p.AvailabilityZone?.['Fn::Select'];
	if (az && az[1]?.['Fn::GetAZs'] !== undefined) azIndex.add(Number(az[0]));
	if (!assoc.some((a) => a.SubnetId?.Ref === s)) netErrs.push(`${s}: no route table of this template`);
}
for (const lt of lts)
	for (const ni of R[lt].Properties?.LaunchTemplateData?.NetworkInterfaces ?? [])
		if (ni.AssociatePublicIpAddress === true || ni.AssociatePublicIpAddress === 'true') netErrs.push(`${lt}: public address`);
check(netErrs.length === 0 && subnets.length === 3 && azIndex.size === 3,
      'three subnets in three availability zones, private, with no route out of the VPC',
      netErrs.join('; ') || `subnets ${subnets.length}, distinct zones ${azIndex.size}`);

const endpoints = ofType('AWS::EC2::VPCEndpoint').map((n) => R[n].Properties ?? {});
const service = (p) => (p.ServiceName?.['Fn::Sub'] ?? '').replace('com.amazonaws.${AWS::Region}.', '');
const routeTables = new Set(assoc.map((a) => a.RouteTableId?.Ref));
for (const svc of ['dynamodb', 's3']) {
	const e = endpoints.find((p) => p.VpcEndpointType === 'Gateway' && service(p) === svc);
	const on = new Set((e?.RouteTableIds ?? []).map((x) => x?.Ref));
	check(e && [...routeTables].every((rt) => on.has(rt)), `gateway endpoint for ${svc} on every subnet's route table`);
}
for (const svc of ['sns', 'sqs', 'logs', 'sts', 'secretsmanager', 'ssm', 'ssmmessages', 'ec2messages']) {
	const e = endpoints.find((p) => p.VpcEndpointType === 'Interface' && service(p) === svc);
	check(e && e.PrivateDnsEnabled === true && (e.SubnetIds ?? []).length === 3,
	      `interface endpoint for ${svc}, private DNS, in the three subnets`);
}
const vpcs = ofType('AWS::EC2::VPC').map((n) => R[n].Properties ?? {});
check(vpcs.length === 1 && vpcs[0].EnableDnsSupport === true && vpcs[0].EnableDnsHostnames === true,
      'one VPC with DNS support and host names (private DNS of the endpoints)');

// ---- what the reference's stack has: the data resources' settings ------------------------------------------
const tp = R[tables[0]]?.Properties ?? {};
check(tp.BillingMode === 'PAY_PER_REQUEST' && tp.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled === true &&
      tp.SSESpecification?.SSEEnabled === true && tp.TimeToLiveSpecification?.AttributeName === 'expires_at' &&
      tp.TimeToLiveSpecification?.Enabled === true && isDeepStrictEqual(tp.KeySchema, [{ AttributeName: 'transaction_id', KeyType: 'HASH' }]),
      'table: on demand, PITR, SSE, TTL on expires_at, keyed by transaction_id');
const fp = R[fleetTables[0]]?.Properties ?? {};
check(fleetTables.length === 1 && fp.BillingMode === 'PAY_PER_REQUEST' && fp.SSESpecification?.SSEEnabled === true &&
      fp.TimeToLiveSpecification?.AttributeName === 'expires' && fp.TimeToLiveSpecification?.Enabled === true,
      'fleet table: on demand, SSE, TTL on expires, keyed by pk');
check(R[topics[0]]?.Properties?.KmsMasterKeyId === 'alias/aws/sns', 'topic encrypted with alias/aws/sns');
check(ofType('AWS::SNS::Subscription').some((n) => R[n].Properties.Protocol === 'email' &&
	R[n].Properties.TopicArn?.Ref === topics[0] && R[n].Properties.Endpoint?.Ref in P), 'email subscription to the topic from a parameter');
const qp = R[queues[0]]?.Properties ?? {};
check(Number(qp.MessageRetentionPeriod) === 1209600 && qp.SqsManagedSseEnabled === true, 'queue: 14 days, SSE-SQS');
const groups = ofType('AWS::Logs::LogGroup');
check(groups.length === 1 && Number(R[groups[0]].Properties.RetentionInDays) === 30, 'log group kept 30 days');
const ltd = R[lts[0]]?.Properties?.LaunchTemplateData ?? {};
check(ltd.MetadataOptions?.HttpTokens === 'required' && Number(ltd.MetadataOptions?.HttpPutResponseHopLimit) === 1,
      'instances: IMDSv2 only, one hop');
const asgs = ofType('AWS::AutoScaling::AutoScalingGroup');
const asg = R[asgs[0]]?.Properties ?? {};
check(asgs.length === 1 && (asg.VPCZoneIdentifier ?? []).length === 3 &&
      subnets.every((s) => asg.VPCZoneIdentifier.some((z) => z?.Ref === s)) && asg.DesiredCapacity?.Ref in P &&
      asg.LaunchTemplate?.LaunchTemplateId?.Ref === lts[0], 'Auto Scaling group over the three subnets, size from a parameter');
const outs = Object.values(t.Outputs ?? {}).map((o) => o.Value?.Ref);
check([tables[0], topics[0], queues[0], asgs[0]].every((n) => outs.includes(n)), 'outputs name the table, topic, queue and group');

// ---- the user data: the configuration it writes is txpiped's -----------------------------------------------
const ud = ltd.UserData?.['Fn::Base64']?.['Fn::Sub'];
if (typeof ud !== 'string') {
	fail('the launch template has no Fn::Base64 of a Fn::Sub user data');
} else {
	const ini = ud.match(/cat >\/etc\/txpipe\/txpiped\.ini <<'EOC'\n([\s\S]*?)\nEOC\n/);
	if (!ini) {
		fail('the user data does not write /etc/txpipe/txpiped.ini');
	} else {
		// Each key it sets exists in that section of conf/txpiped.ini (every key is listed there).
		const known = {};
		let sec = '';
		for (const line of readFileSync(iniPath, 'utf8').split('\n')) {
			const h = line.match(/^\[(\w+)\]/);
			if (h) sec = h[1];
			const kv = line.match(/^(\w+) =/);
			if (kv) (known[sec] ??= new Set()).add(kv[1]);
		}
		const got = {};
		const iniErrs = [];
		sec = '';
		for (const line of ini[1].split('\n')) {
			if (/^\s*([;#].*)?$/.test(line)) continue;
			const h = line.match(/^\[(\w+)\]$/);
			if (h) {
				sec = h[1];
				continue;
			}
			const kv = line.match(/^(\w+) = (.*)$/);
			if (!kv) iniErrs.push(`line "${line}" is no key = value`);
			else if (!known[sec]?.has(kv[1])) iniErrs.push(`[${sec}] ${kv[1]} is not a txpiped.ini key`);
			else got[`${sec}.${kv[1]}`] = kv[2];
		}
		check(iniErrs.length === 0, 'every key the user data writes is a txpiped.ini key', iniErrs.join('; '));
		const want = {
			'aws.region': '${AWS::Region}', 'dynamodb.table': `\${${tables[0]}}`, 'sns.topic_arn': `\${${topics[0]}}`,
			'sqs.queue_url': `\${${queues[0]}}`, 'journal.ack': 'journaled', 'journal.dir': '/var/lib/txpipe/journal',
			'fleet.enabled': 'true', 'fleet.table': `\${${fleetTables[0]}}`,
		};
		const wrong = Object.entries(want).filter(([k, v]) => got[k] !== v).map(([k, v]) => `${k} = ${got[k]} (want ${v})`);
		check(wrong.length === 0, 'the configuration names the stack\'s region, table, topic and queue, ack = journaled, and its fleet table',
		      wrong.join('; '));
	}
	const agent = ud.match(/<<'EOA'\n([\s\S]*?)\nEOA\n/);
	let agentOk = false;
	try {
		const cfg = JSON.parse(agent[1]);
		const files = cfg.logs.logs_collected.files.collect_list;
		agentOk = files.length === 1 && files[0].log_group_name === `\${${groups[0]}}` &&
			ud.includes(`>>${files[0].file_path}'`);
	} catch {
		agentOk = false;
	}
	check(agentOk, 'the CloudWatch agent collects the file the journal export unit writes, into the stack\'s group');
	check(/^dpkg -i /m.test(ud) && !/^\s*(apt-get|apt) /m.test(ud),
	      'the user data installs with dpkg from S3, never from a Debian mirror (none is reachable)');
}

console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
