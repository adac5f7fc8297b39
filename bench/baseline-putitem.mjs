// baseline-putitem.mjs: the performance baseline txpiped is compared against: what the reference
// Lambda does, one DynamoDB PutItem per transaction through the AWS SDK for JavaScript v3.
//
// usage: node bench/baseline-putitem.mjs [--table T] [--key ATTR] [--generate N] [--concurrency C]
//                                        [--create-table]
//   Transactions are NDJSON on stdin (one JSON object per line), or --generate N synthetic ones.
//   --table T        table name (default txp-baseline)
//   --key ATTR       the table's string hash key; its value is the transaction's transaction_id
//                    (default transaction_id)
//   --concurrency C  PutItems in flight at once (default 1: a Lambda invocation awaiting each
//                    PutItem in turn).  C > 1 models C concurrent invocations.
//   --create-table   create the table (on demand, hash key ATTR) first if it does not exist
// Prints one JSON object: counts, wall time, items_per_s and PutItem latency percentiles.  Exits 1
// when any PutItem failed (after the SDK's own retries), 64 on bad usage.
//
// Each item is the transaction as received plus received_at (ISO time), written with the
// DynamoDB document client (plain JSON -> AttributeValues), as a Lambda would.  A card number
// field (card_number, pan) is dropped: even a benchmark never stores a PAN.
//
// Environment: DYNAMODB_ENDPOINT (e.g. from tests/lib/services.sh; unset means real AWS),
// AWS_REGION, and credentials as the SDK reads them.  The SDK is loaded from tests/node_modules
// (run tests/setup-node.sh once, and run this with the node it prints, >= 22.13); set
// TXP_TESTS_DIR to use another tests/ directory.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const testsDir = process.env.TXP_TESTS_DIR || fileURLToPath(new URL('../tests/', import.meta.url));
const require = createRequire(join(testsDir, 'package.json'));
const { DynamoDBClient, CreateTableCommand, DescribeTableCommand } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, PutCommand } = require('@aws-sdk/lib-dynamodb');

function die(msg, code = 1) {
	process.stderr.write(`baseline-putitem: ${msg}\n`);
	process.exit(code);
}

let opt;
try {
	({ values: opt } = parseArgs({
		options: {
			table: { type: 'string', default: 'txp-baseline' },
			key: { type: 'string', default: 'transaction_id' },
			generate: { type: 'string' },
			concurrency: { type: 'string', default: '1' },
			'create-table': { type: 'boolean', default: false },
		},
	}));
} catch (e) {
	die(e.message, 64);
}
const concurrency = Number(opt.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) die('--concurrency must be 1..1024', 64);

// Deterministic synthetic transactions (no card numbers); amounts are integer minor units.
function generate(n) {
	const run = Date.now().toString(36);
	const currencies = ['EUR', 'USD', 'GBP', 'JPY'];
	const countries = ['DE', 'FR', 'US', 'GB', 'JP', 'NL'];
	const channels = ['online', 'pos', 'mobile'];
	let seed = 0x2545f491;
	const rnd = (m) => {
		seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
		return seed % m;
	};
	const out = [];
	for (let i = 0; i < n; i++) {
		out.push({
			transaction_id: `bench-${run}-${i}`,
			amount: 100 + rnd(500000),
			currency: currencies[rnd(currencies.length)],
			merchant_id: `m-${rnd(5000)}`,
			customer_id: `c-${rnd(100000)}`,
			merchant_country: countries[rnd(countries.length)],
			customer_country: countries[rnd(countries.length)],
			merchant_category: String(5000 + rnd(1000)),
			channel: channels[rnd(channels.length)],
			timestamp: new Date(1767225600000 + i * 1000).toISOString(),
			ip_address: `198.51.100.${rnd(254) + 1}`,
			device_id: `dev-${rnd(20000)}`,
		});
	}
	return out;
}

function readStdin() {
	const txns = [];
	const lines = readFileSync(0, 'utf8').split('\n');
	lines.forEach((line, i) => {
		if (line.trim() === '') return;
		let v;
		try {
			v = JSON.parse(line);
		} catch (e) {
			die(`stdin line ${i + 1}: not JSON: ${e.message}`);
		}
		if (v === null || typeof v !== 'object' || Array.isArray(v)) die(`stdin line ${i + 1}: not an object`);
		if (typeof v.transaction_id !== 'string' || v.transaction_id === '') {
			die(`stdin line ${i + 1}: transaction_id missing`);
		}
		txns.push(v);
	});
	return txns;
}

async function ensureTable(client) {
	try {
		await client.send(new CreateTableCommand({
			TableName: opt.table,
			AttributeDefinitions: [{ AttributeName: opt.key, AttributeType: 'S' }],
			KeySchema: [{ AttributeName: opt.key, KeyType: 'HASH' }],
			BillingMode: 'PAY_PER_REQUEST',
		}));
	} catch (e) {
		if (e.name !== 'ResourceInUseException') throw e;
	}
	for (let i = 0; i < 600; i++) {
		const { Table } = await client.send(new DescribeTableCommand({ TableName: opt.table }));
		if (Table.TableStatus === 'ACTIVE') return;
		await new Promise((r) => setTimeout(r, 100));
	}
	die(`table ${opt.table} did not become ACTIVE`);
}

function percentile(sorted, p) {
	if (sorted.length === 0) return null;
	const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
	return Number(sorted[Math.max(0, i)].toFixed(3));
}

async function main() {
	let txns;
	if (opt.generate !== undefined) {
		const n = Number(opt.generate);
		if (!Number.isInteger(n) || n < 1) die('--generate must be a positive integer', 64);
		txns = generate(n);
	} else {
		txns = readStdin();
	}
	const config = { region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1' };
	if (process.env.DYNAMODB_ENDPOINT) config.endpoint = process.env.DYNAMODB_ENDPOINT;
	const client = new DynamoDBClient(config);
	const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
	if (opt['create-table']) await ensureTable(client);

	const latencies = [];
	let next = 0;
	let errors = 0;
	let firstError = null;
	async function worker() {
		while (next < txns.length) {
			const txn = txns[next++];
			const { card_number: _c, pan: _p, ...rest } = txn;
			const item = { ...rest, [opt.key]: txn.transaction_id, received_at: new Date().toISOString() };
			const t0 = process.hrtime.bigint();
			try {
				await doc.send(new PutCommand({ TableName: opt.table, Item: item }));
				latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
			} catch (e) {
				errors++;
				if (!firstError) firstError = `${e.name}: ${e.message}`;
			}
		}
	}
	const start = process.hrtime.bigint();
	await Promise.all(Array.from({ length: Math.min(concurrency, txns.length) }, worker));
	const seconds = Number(process.hrtime.bigint() - start) / 1e9;
	latencies.sort((a, b) => a - b);
	const ok = txns.length - errors;
	const result = {
		tool: 'baseline-putitem',
		table: opt.table,
		transactions: txns.length,
		written: ok,
		errors,
		concurrency,
		seconds: Number(seconds.toFixed(3)),
		items_per_s: Number((ok / seconds).toFixed(1)),
		// The writer's own CPU (user + system) over the whole run, per
		// stored item: what the client side costs, whatever the service.
		cpu_us_per_item: Number(((process.cpuUsage().user + process.cpuUsage().system) / Math.max(ok, 1)).toFixed(1)),
		latency_ms: {
			p50: percentile(latencies, 50), p90: percentile(latencies, 90),
			p99: percentile(latencies, 99), max: percentile(latencies, 100),
		},
	};
	if (firstError) result.first_error = firstError;
	process.stdout.write(`${JSON.stringify(result)}\n`);
	client.destroy();
	if (errors > 0) process.exit(1);
}

main().catch((e) => die(`${e.name || 'Error'}: ${e.message || e}`));
