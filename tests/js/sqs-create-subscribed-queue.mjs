// sqs-create-subscribed-queue.mjs: creates an SQS queue and subscribes it to an SNS topic, so a test
// can read back what was published.  Prints {QueueUrl, QueueArn, SubscriptionArn} as JSON.
//
// usage: sqs-create-subscribed-queue.mjs TOPIC_ARN NAME [--raw-delivery] [--url]
//   Default RawMessageDelivery is false: each SQS message body is the SNS JSON envelope
//   (Type, MessageId, TopicArn, Message, Timestamp, MessageAttributes {name: {Type, Value}}, ...).
//   --raw-delivery  RawMessageDelivery true: the body is the message itself and the SNS message
//                   attributes arrive as SQS message attributes
//   --url           print only the queue URL, as plain text
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { args, printJson, run, sns, sqs } from './lib/common.mjs';

const usage = 'sqs-create-subscribed-queue.mjs TOPIC_ARN NAME [--raw-delivery] [--url]';
const { values, positionals } = args(usage, { 'raw-delivery': { type: 'boolean' }, url: { type: 'boolean' } }, 2);

run(async () => {
	const [TopicArn, QueueName] = positionals;
	const sqsClient = sqs();
	const { QueueUrl } = await sqsClient.send(new CreateQueueCommand({ QueueName }));
	const { Attributes } = await sqsClient.send(new GetQueueAttributesCommand({
		QueueUrl, AttributeNames: ['QueueArn'],
	}));
	const { SubscriptionArn } = await sns().send(new SubscribeCommand({
		TopicArn,
		Protocol: 'sqs',
		Endpoint: Attributes.QueueArn,
		Attributes: { RawMessageDelivery: values['raw-delivery'] ? 'true' : 'false' },
		ReturnSubscriptionArn: true,
	}));
	if (values.url) {
		process.stdout.write(`${QueueUrl}\n`);
		return;
	}
	printJson({ QueueUrl, QueueArn: Attributes.QueueArn, SubscriptionArn });
});
