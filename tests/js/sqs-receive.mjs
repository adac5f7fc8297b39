// sqs-receive.mjs: receives messages from an SQS queue and prints them as a JSON array, each with
// MessageId, Body, Attributes (system) and MessageAttributes; with --sns also the parsed SNS envelope.
//
// usage: sqs-receive.mjs QUEUE_URL [--max N] [--wait S] [--delete] [--sns]
//   --max N    stop after N messages (default: until a receive comes back empty)
//   --wait S   overall deadline in seconds for getting --max messages; each receive long-polls
//              for the time left (at most 20 s).  Without --max, the first receive waits up to S.
//              Default 0: take what is there now.
//   --delete   delete the received messages (otherwise they reappear after the visibility timeout)
//   --sns      parse each Body as an SNS notification envelope into "Sns" (null when it is not one)
// Fewer than --max messages is not an error: the array has what arrived; tests compare lengths.
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { args, fail, intOption, printJson, run, sqs } from './lib/common.mjs';

const usage = 'sqs-receive.mjs QUEUE_URL [--max N] [--wait S] [--delete] [--sns]';
const { values, positionals } = args(usage, {
	max: { type: 'string' }, wait: { type: 'string' }, delete: { type: 'boolean' }, sns: { type: 'boolean' },
}, 1);
const max = intOption(values, 'max', undefined, 1, 1000000);
const waitS = intOption(values, 'wait', 0, 0, 3600);

function envelope(body) {
	try {
		const v = JSON.parse(body);
		return v && typeof v === 'object' && v.Type === 'Notification' ? v : null;
	} catch {
		return null;
	}
}

run(async () => {
	const QueueUrl = positionals[0];
	const client = sqs();
	const deadline = Date.now() + waitS * 1000;
	const got = [];
	for (;;) {
		const want = max === undefined ? 10 : Math.min(10, max - got.length);
		if (want <= 0) break;
		const left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
		const out = await client.send(new ReceiveMessageCommand({
			QueueUrl,
			MaxNumberOfMessages: want,
			WaitTimeSeconds: Math.min(20, left),
			VisibilityTimeout: 60,
			MessageAttributeNames: ['All'],
			MessageSystemAttributeNames: ['All'],
		}));
		const msgs = out.Messages || [];
		if (msgs.length > 0 && values.delete) {
			const del = await client.send(new DeleteMessageBatchCommand({
				QueueUrl,
				Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
			}));
			if (del.Failed && del.Failed.length > 0) fail(`delete failed: ${JSON.stringify(del.Failed)}`);
		}
		for (const m of msgs) {
			const rec = {
				MessageId: m.MessageId,
				Body: m.Body,
				MD5OfBody: m.MD5OfBody,
				Attributes: m.Attributes || {},
				MessageAttributes: m.MessageAttributes || {},
			};
			if (values.sns) rec.Sns = envelope(m.Body);
			got.push(rec);
		}
		if (msgs.length === 0 && (max === undefined || Date.now() >= deadline)) break;
	}
	printJson(got);
});
