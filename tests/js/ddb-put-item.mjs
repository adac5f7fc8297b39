// ddb-put-item.mjs: puts one item, given as plain JSON of string (S) and integer (N) attributes, into a DynamoDB table.
//
// usage: ddb-put-item.mjs TABLE JSON
//   JSON is an object of string and integer values, e.g. '{"transaction_id":"t-1","note":"x","n":3}'.
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { args, dynamodb, fail, run } from './lib/common.mjs';

const usage = 'ddb-put-item.mjs TABLE JSON';
const { positionals } = args(usage, {}, 2);

run(async () => {
	let plain;
	try {
		plain = JSON.parse(positionals[1]);
	} catch (e) {
		fail(`not JSON: ${e.message}`);
	}
	const Item = {};
	for (const [k, v] of Object.entries(plain)) {
		if (typeof v === 'number' && Number.isInteger(v)) Item[k] = { N: String(v) };
		else if (typeof v === 'string') Item[k] = { S: v };
		else fail(`${k}: only string and integer values`);
	}
	await dynamodb().send(new PutItemCommand({ TableName: positionals[0], Item }));
});
