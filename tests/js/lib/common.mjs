// common.mjs: shared set-up for the tests/js tools: SDK v3 clients from the environment, JSON output,
// argument parsing and uniform error exits.
//
// Endpoints come from DYNAMODB_ENDPOINT, SQS_ENDPOINT and SNS_ENDPOINT (as exported by
// tests/lib/services.sh); region from AWS_REGION (default us-east-1); credentials from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, with dummies when unset (the emulators accept any).
// The SDK is imported from tests/node_modules, the package next to this file.
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';

// Exit codes shared by the tools.
export const EXIT_USAGE = 64;
export const EXIT_ERROR = 1;
export const EXIT_NOT_FOUND = 2;

function clientConfig(endpointVar) {
	const endpoint = process.env[endpointVar];
	if (!endpoint) fail(`${endpointVar} is not set (source tests/lib/services.sh and start the emulators)`);
	return {
		endpoint,
		region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
		credentials: {
			accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'AKIDTXPIPETEST',
			secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'txpipe-test-secret',
		},
		maxAttempts: 3,
	};
}

export const dynamodb = () => new DynamoDBClient(clientConfig('DYNAMODB_ENDPOINT'));
export const sqs = () => new SQSClient(clientConfig('SQS_ENDPOINT'));
export const sns = () => new SNSClient(clientConfig('SNS_ENDPOINT'));

export function fail(message, code = EXIT_ERROR) {
	process.stderr.write(`${process.argv[1].replace(/.*\//, '')}: ${message}\n`);
	process.exit(code);
}

// args(usage, options, nPositionals): parses argv or exits with the usage line.
export function args(usage, options, minPositionals, maxPositionals = minPositionals) {
	let parsed;
	try {
		parsed = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean' }, ...options } });
	} catch (e) {
		fail(`${e.message}\nusage: ${usage}`, EXIT_USAGE);
	}
	if (parsed.values.help) {
		process.stdout.write(`usage: ${usage}\n`);
		process.exit(0);
	}
	const n = parsed.positionals.length;
	if (n < minPositionals || n > maxPositionals) fail(`usage: ${usage}`, EXIT_USAGE);
	return parsed;
}

export function intOption(values, name, dflt, min, max) {
	if (values[name] === undefined) return dflt;
	const v = Number(values[name]);
	if (!Number.isInteger(v) || v < min || v > max) fail(`--${name} must be an integer in [${min}, ${max}]`, EXIT_USAGE);
	return v;
}

export function printJson(value) {
	process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

// run(main): runs an async main, turning SDK and other errors into a message and exit status 1.
export function run(main) {
	main().catch((e) => {
		const status = e?.$metadata?.httpStatusCode;
		fail(`${e?.name || 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e?.message || e}`);
	});
}

// DynamoDB numbers become JSON numbers only when that loses nothing (money in minor units must
// read back exactly); otherwise they stay strings.
function plainNumber(s) {
	const n = Number(s);
	return Number.isFinite(n) && String(n) === s ? n : s;
}

// unmarshallPlain(item): AttributeValue map -> plain JSON value.  Sets become sorted arrays
// (JSON has no set), binary becomes base64.
export function unmarshallPlain(av) {
	if (av === null || typeof av !== 'object') return av;
	if ('S' in av) return av.S;
	if ('N' in av) return plainNumber(av.N);
	if ('BOOL' in av) return av.BOOL;
	if ('NULL' in av) return null;
	if ('L' in av) return av.L.map(unmarshallPlain);
	if ('M' in av) return unmarshallItem(av.M);
	if ('SS' in av) return [...av.SS].sort();
	if ('NS' in av) return [...av.NS].map(plainNumber).sort((a, b) => Number(a) - Number(b));
	if ('B' in av) return Buffer.from(av.B).toString('base64');
	if ('BS' in av) return av.BS.map((b) => Buffer.from(b).toString('base64')).sort();
	throw new Error(`unknown attribute value ${JSON.stringify(Object.keys(av))}`);
}

export function unmarshallItem(item) {
	const out = {};
	for (const k of Object.keys(item).sort()) out[k] = unmarshallPlain(item[k]);
	return out;
}

// rawItem(item): the AttributeValue map as DynamoDB JSON, binary values as base64 strings.
export function rawItem(item) {
	return JSON.parse(JSON.stringify(item, (k, v) =>
		(v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)));
}
