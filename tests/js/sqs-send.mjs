// sqs-send.mjs: sends one message to an SQS queue found by name.
//
// usage: sqs-send.mjs NAME BODY
import { GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { args, run, sqs } from './lib/common.mjs';

const usage = 'sqs-send.mjs NAME BODY';
const { positionals } = args(usage, {}, 2);

run(async () => {
	const client = sqs();
	const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: positionals[0] }));
	await client.send(new SendMessageCommand({ QueueUrl, MessageBody: positionals[1] }));
});
