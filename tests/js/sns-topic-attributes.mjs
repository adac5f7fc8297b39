// sns-topic-attributes.mjs: prints an SNS topic's attributes and its subscriptions as JSON.
//
// usage: sns-topic-attributes.mjs TOPIC_ARN
// Prints {"Attributes": {...}, "Subscriptions": [{Protocol, Endpoint, SubscriptionArn}, ...]};
// exit status 2 when the topic does not exist.
import { GetTopicAttributesCommand, ListSubscriptionsByTopicCommand } from '@aws-sdk/client-sns';
import { args, EXIT_NOT_FOUND, fail, printJson, run, sns } from './lib/common.mjs';

const usage = 'sns-topic-attributes.mjs TOPIC_ARN';
const { positionals } = args(usage, {}, 1);

run(async () => {
	const client = sns();
	let Attributes;
	try {
		({ Attributes } = await client.send(new GetTopicAttributesCommand({ TopicArn: positionals[0] })));
	} catch (e) {
		if (e?.name === 'NotFound' || e?.name === 'NotFoundException') {
			fail(`topic ${positionals[0]} not found`, EXIT_NOT_FOUND);
		}
		throw e;
	}
	const { Subscriptions } = await client.send(new ListSubscriptionsByTopicCommand({ TopicArn: positionals[0] }));
	printJson({
		Attributes,
		Subscriptions: (Subscriptions || []).map(({ Protocol, Endpoint, SubscriptionArn }) =>
			({ Protocol, Endpoint, SubscriptionArn })),
	});
});
