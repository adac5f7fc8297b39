// ddb-get.mjs: prints one DynamoDB item (consistent read) as JSON; prints null and exits 2 when absent.
//
// usage: ddb-get.mjs TABLE ID [--key ATTR] [--number] [--raw]
//   --key ATTR   name of the string hash key (default: id)
//   --number     the key is a number (N) rather than a string (S)
//   --raw        print DynamoDB JSON ({"S": ...}) instead of plain values
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EXIT_NOT_FOUND, args, dynamodb, printJson, rawItem, run, unmarshallItem } from './lib/common.mjs';

const usage = 'ddb-get.mjs TABLE ID [--key ATTR] [--number] [--raw]';
const { values, positionals } = args(usage, {
	key: { type: 'string', default: 'id' }, number: { type: 'boolean' }, raw: { type: 'boolean' },
}, 2);

run(async () => {
	const [table, id] = positionals;
	const out = await dynamodb().send(new GetItemCommand({
		TableName: table,
		Key: { [values.key]: values.number ? { N: id } : { S: id } },
		ConsistentRead: true,
	}));
	if (!out.Item) {
		printJson(null);
		process.exit(EXIT_NOT_FOUND);
	}
	printJson(values.raw ? rawItem(out.Item) : unmarshallItem(out.Item));
});
