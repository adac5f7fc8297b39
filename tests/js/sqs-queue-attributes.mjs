// sqs-queue-attributes.mjs: prints every attribute of an SQS queue, found by name, as JSON.
//
// usage: sqs-queue-attributes.mjs NAME
// Prints {"QueueUrl": ..., "Attributes": {...}}; exit status 2 when the queue does not exist.
import { GetQueueAttributesCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { args, EXIT_NOT_FOUND, fail, printJson, run, sqs } from './lib/common.mjs';

const usage = 'sqs-queue-attributes.mjs NAME';
const { positionals } = args(usage, {}, 1);

run(async () => {
	const client = sqs();
	let QueueUrl;
	try {
		({ QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: positionals[0] })));
	} catch (e) {
		if (e?.name === 'QueueDoesNotExist' || e?.name === 'AWS.SimpleQueueService.NonExistentQueue') {
			fail(`queue ${positionals[0]} not found`, EXIT_NOT_FOUND);
		}
		throw e;
	}
	const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
	printJson({ QueueUrl, Attributes });
});
