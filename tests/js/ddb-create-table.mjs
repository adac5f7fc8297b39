// ddb-create-table.mjs: creates an on-demand table with one hash key and waits until it is ACTIVE.
//
// usage: ddb-create-table.mjs TABLE [--key ATTR] [--number] [--timeout S]
//   An existing table is not an error (ResourceInUseException is tolerated); prints the
//   DescribeTable "Table" object once ACTIVE.
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { args, dynamodb, fail, intOption, printJson, run } from './lib/common.mjs';

const usage = 'ddb-create-table.mjs TABLE [--key ATTR] [--number] [--timeout S]';
const { values, positionals } = args(usage, {
	key: { type: 'string', default: 'id' }, number: { type: 'boolean' }, timeout: { type: 'string' },
}, 1);
const timeoutS = intOption(values, 'timeout', 30, 1, 600);

run(async () => {
	const client = dynamodb();
	const TableName = positionals[0];
	try {
		await client.send(new CreateTableCommand({
			TableName,
			AttributeDefinitions: [{ AttributeName: values.key, AttributeType: values.number ? 'N' : 'S' }],
			KeySchema: [{ AttributeName: values.key, KeyType: 'HASH' }],
			BillingMode: 'PAY_PER_REQUEST',
		}));
	} catch (e) {
		if (e.name !== 'ResourceInUseException') throw e;
	}
	const deadline = Date.now() + timeoutS * 1000;
	for (;;) {
		const { Table } = await client.send(new DescribeTableCommand({ TableName }));
		if (Table.TableStatus === 'ACTIVE') {
			printJson(Table);
			return;
		}
		if (Date.now() > deadline) fail(`table ${TableName} still ${Table.TableStatus} after ${timeoutS}s`);
		await new Promise((r) => setTimeout(r, 100));
	}
});
