// sqs-create-queue.mjs: creates an SQS queue (idempotent for equal attributes) and prints it as JSON.
//
// usage: sqs-create-queue.mjs NAME [--retention S] [--url]
//   --retention S  MessageRetentionPeriod in seconds (60..1209600)
//   --url          print only the queue URL, as plain text
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { args, intOption, printJson, run, sqs } from './lib/common.mjs';

const usage = 'sqs-create-queue.mjs NAME [--retention S] [--url]';
const { values, positionals } = args(usage, { retention: { type: 'string' }, url: { type: 'boolean' } }, 1);
const retention = intOption(values, 'retention', undefined, 60, 1209600);

run(async () => {
	const client = sqs();
	const Attributes = retention === undefined ? undefined : { MessageRetentionPeriod: String(retention) };
	const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: positionals[0], Attributes }));
	if (values.url) {
		process.stdout.write(`${QueueUrl}\n`);
		return;
	}
	const { Attributes: attrs } = await client.send(new GetQueueAttributesCommand({
		QueueUrl, AttributeNames: ['QueueArn'],
	}));
	printJson({ QueueUrl, QueueArn: attrs.QueueArn });
});
