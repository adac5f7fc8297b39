// ddb-scan.mjs: prints every item of a DynamoDB table as a JSON array (consistent, paginated scan).
//
// usage: ddb-scan.mjs TABLE [--raw] [--sort-by ATTR]
//   --raw          print DynamoDB JSON ({"S": ...}) instead of plain values
//   --sort-by A    sort items by attribute A (string compare of the plain value); default: scan order
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { args, dynamodb, printJson, rawItem, run, unmarshallItem, unmarshallPlain } from './lib/common.mjs';

const usage = 'ddb-scan.mjs TABLE [--raw] [--sort-by ATTR]';
const { values, positionals } = args(usage, { raw: { type: 'boolean' }, 'sort-by': { type: 'string' } }, 1);

run(async () => {
	const client = dynamodb();
	const items = [];
	let ExclusiveStartKey;
	do {
		const out = await client.send(new ScanCommand({
			TableName: positionals[0], ConsistentRead: true, ExclusiveStartKey,
		}));
		items.push(...(out.Items || []));
		ExclusiveStartKey = out.LastEvaluatedKey;
	} while (ExclusiveStartKey);
	const sortBy = values['sort-by'];
	if (sortBy) {
		const key = (it) => (it[sortBy] === undefined ? '' : String(unmarshallPlain(it[sortBy])));
		items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
	}
	printJson(items.map((it) => (values.raw ? rawItem(it) : unmarshallItem(it))));
});
