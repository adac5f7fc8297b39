// sns-create-topic.mjs: creates an SNS topic (idempotent for equal attributes) and prints {TopicArn}.
//
// usage: sns-create-topic.mjs NAME [--kms KEY_ID] [--arn]
//   --kms KEY_ID  sets the KmsMasterKeyId attribute (fauxqs stores it; nothing is encrypted)
//   --arn         print only the topic ARN, as plain text
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { args, printJson, run, sns } from './lib/common.mjs';

const usage = 'sns-create-topic.mjs NAME [--kms KEY_ID] [--arn]';
const { values, positionals } = args(usage, { kms: { type: 'string' }, arn: { type: 'boolean' } }, 1);

run(async () => {
	const Attributes = values.kms === undefined ? undefined : { KmsMasterKeyId: values.kms };
	const { TopicArn } = await sns().send(new CreateTopicCommand({ Name: positionals[0], Attributes }));
	if (values.arn) process.stdout.write(`${TopicArn}\n`);
	else printJson({ TopicArn });
});
