/* sns.c: SNS request bodies and response reading (query protocol, XML answers; pure). */
#include "txpipe/aws/sns.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "txpipe/aws/query.h"
#include "txpipe/aws/xml.h"
#include "txpipe/sbuf.h"

char *txp_sns_query_body(const char *action, const char *params, size_t params_len, size_t *out_len)
{
	struct txp_sbuf b = { 0 };

	if (action == NULL || (params == NULL && params_len > 0))
		return NULL;
	txp_aws_query_add(&b, "Action", action);
	txp_aws_query_add(&b, "Version", TXP_SNS_API_VERSION);
	if (params_len > 0) {
		txp_sbuf_raw(&b, "&", 1);
		txp_sbuf_raw(&b, params, params_len);
	}
	return txp_sbuf_finish(&b, out_len);
}

char *txp_sns_batch_body(const char *topic_arn, const struct txp_sns_entry *e, size_t n, size_t *len)
{
	static const char *const names[2] = { "alert_type", "severity" };
	struct txp_sbuf b = { 0 };
	char id[24], member[128];

	/* Query protocol: PublishBatchRequestEntries.member.N (1-based), each
	 * with MessageAttributes.entry.M.{Name,Value.DataType,Value.StringValue}
	 * (SNS API Reference, PublishBatch; as verified against fauxqs in
	 * tests/integration/EMULATORS.md). */
	txp_aws_query_add(&b, "TopicArn", topic_arn);
	for (size_t i = 0; i < n; i++) {
		const char *values[2] = { e[i].alert_type, e[i].severity };

		snprintf(id, sizeof(id), "e%zu", i);
		snprintf(member, sizeof(member), "PublishBatchRequestEntries.member.%zu.Message", i + 1);
		txp_aws_query_addf(&b, id, "PublishBatchRequestEntries.member.%zu.Id", i + 1);
		txp_aws_query_addn(&b, member, e[i].message, e[i].len);
		for (unsigned a = 0; a < 2; a++) {
			snprintf(member, sizeof(member),
			         "PublishBatchRequestEntries.member.%zu.MessageAttributes.entry.%u.", i + 1, a + 1);
			txp_aws_query_addf(&b, names[a], "%sName", member);
			txp_aws_query_addf(&b, "String", "%sValue.DataType", member);
			txp_aws_query_addf(&b, values[a], "%sValue.StringValue", member);
		}
	}
	return txp_sbuf_finish(&b, len);
}

int txp_sns_batch_failures(const char *xml, size_t xml_len, struct txp_batch_failure *out, size_t max)
{
	const char *failed, *p, *m;
	size_t flen, mlen, n = 0;

	if (xml == NULL || memmem(xml, xml_len, "<PublishBatchResult>", 20) == NULL)
		return -EINVAL;
	/* <Failed/> or <Failed></Failed> when nothing failed. */
	if (txp_aws_xml_find(xml, xml_len, "Failed", &failed, &flen) == NULL)
		return 0;
	p = failed;
	while ((p = txp_aws_xml_find(p, flen - (size_t)(p - failed), "member", &m, &mlen)) != NULL) {
		struct txp_batch_failure f;
		char id[8], fault[8];
		int il = txp_aws_xml_text(m, mlen, "Id", id, sizeof(id));

		if (il < 0 || !txp_batch_entry_index(id, (size_t)il, 'e', &f.index))
			continue;
		txp_aws_xml_text(m, mlen, "Code", f.code, sizeof(f.code));
		txp_aws_xml_text(m, mlen, "Message", f.message, sizeof(f.message));
		f.sender_fault = txp_aws_xml_text(m, mlen, "SenderFault", fault, sizeof(fault)) == 4 &&
		                 strcmp(fault, "true") == 0;
		if (n < max)
			out[n] = f;
		n++;
	}
	return (int)(n < max ? n : max);
}
