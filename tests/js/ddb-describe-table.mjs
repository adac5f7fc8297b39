// ddb-describe-table.mjs: prints a DynamoDB table's description (DescribeTable's Table) as JSON.
//
// usage: ddb-describe-table.mjs TABLE
// Exit status 2 when the table does not exist.
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { args, dynamodb, EXIT_NOT_FOUND, fail, printJson, run } from './lib/common.mjs';

const usage = 'ddb-describe-table.mjs TABLE';
const { positionals } = args(usage, {}, 1);

run(async () => {
	try {
		const { Table } = await dynamodb().send(new DescribeTableCommand({ TableName: positionals[0] }));
		printJson(Table);
	} catch (e) {
		if (e?.name === 'ResourceNotFoundException') fail(`table ${positionals[0]} not found`, EXIT_NOT_FOUND);
		throw e;
	}
});
