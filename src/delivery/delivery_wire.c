/* delivery_wire.c: the AWS request bodies of delivery and the parsing of their responses (pure). */
#include "txpipe/delivery_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "txpipe/item.h"
#include "txpipe/sbuf.h"

char *txp_ddb_batch_body(const char *table, const char *const *items, const uint32_t *lens, size_t n,
                         size_t *len)
{
	struct txp_sbuf b = {0};

	txp_sbuf_str(&b, "{\"RequestItems\":{");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ":[");
	for (size_t i = 0; i < n; i++) {
		txp_sbuf_str(&b, i > 0 ? ",{\"PutRequest\":{\"Item\":" : "{\"PutRequest\":{\"Item\":");
		txp_sbuf_raw(&b, items[i], lens[i]);
		txp_sbuf_str(&b, "}}");
	}
	txp_sbuf_str(&b, "]}}");
	return txp_sbuf_finish(&b, len);
}

int txp_ddb_unprocessed(const char *body, size_t body_len, const char *table,
                        void (*found)(void *arg, const char *id), void *arg)
{
	json_t *root = body != NULL ? json_loadb(body, body_len, 0, NULL) : NULL;
	json_t *un, *list, *req;
	size_t i;
	int n = 0;

	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	/* An absent UnprocessedItems is as good as an empty one. */
	un = json_object_get(root, "UnprocessedItems");
	list = json_is_object(un) ? json_object_get(un, table) : NULL;
	json_array_foreach(list, i, req) {
		json_t *id = json_object_get(
			json_object_get(json_object_get(json_object_get(req, "PutRequest"), "Item"), "transaction_id"),
			"S");
		if (json_is_string(id)) {
			found(arg, json_string_value(id));
			n++;
		}
	}
	json_decref(root);
	return n;
}

char *txp_sns_batch_body(const char *topic_arn, const struct txp_sns_entry *e, size_t n, size_t *len)
{
	struct txp_sbuf b = {0};
	char pre[64];

	/* Query protocol: PublishBatchRequestEntries.member.N (1-based), each
	 * with MessageAttributes.entry.M.{Name,Value.DataType,Value.StringValue}
	 * (SNS API Reference, PublishBatch; as verified against fauxqs in
	 * tests/integration/EMULATORS.md). */
	txp_sbuf_str(&b, "TopicArn=");
	txp_sbuf_urlenc(&b, topic_arn);
	for (size_t i = 0; i < n; i++) {
		int pl = snprintf(pre, sizeof(pre), "&PublishBatchRequestEntries.member.%zu.", i + 1);
		txp_sbuf_raw(&b, pre, (size_t)pl);
		txp_sbuf_str(&b, "Id=e");
		txp_sbuf_uint(&b, i);
		txp_sbuf_raw(&b, pre, (size_t)pl);
		txp_sbuf_str(&b, "Message=");
		txp_sbuf_urlencn(&b, e[i].message, e[i].len);
		const char *names[2] = {"alert_type", "severity"};
		const char *values[2] = {e[i].alert_type, e[i].severity};
		for (unsigned a = 0; a < 2; a++) {
			char attr[48];
			int al = snprintf(attr, sizeof(attr), "MessageAttributes.entry.%u.", a + 1);
			txp_sbuf_raw(&b, pre, (size_t)pl);
			txp_sbuf_raw(&b, attr, (size_t)al);
			txp_sbuf_str(&b, "Name=");
			txp_sbuf_str(&b, names[a]);
			txp_sbuf_raw(&b, pre, (size_t)pl);
			txp_sbuf_raw(&b, attr, (size_t)al);
			txp_sbuf_str(&b, "Value.DataType=String");
			txp_sbuf_raw(&b, pre, (size_t)pl);
			txp_sbuf_raw(&b, attr, (size_t)al);
			txp_sbuf_str(&b, "Value.StringValue=");
			txp_sbuf_urlenc(&b, values[a]);
		}
	}
	return txp_sbuf_finish(&b, len);
}

/* Parses an entry id "<prefix><index>" into *index. */
static bool entry_index(const char *id, size_t id_len, char prefix, unsigned *index)
{
	unsigned v = 0;

	if (id_len < 2 || id_len > 4 || id[0] != prefix)
		return false;
	for (size_t i = 1; i < id_len; i++) {
		if (id[i] < '0' || id[i] > '9')
			return false;
		v = v * 10 + (unsigned)(id[i] - '0');
	}
	*index = v;
	return true;
}

/* The text of the first <tag>...</tag> within [p, end), or NULL. */
static const char *xml_text(const char *p, const char *end, const char *tag, size_t *len)
{
	char open[40], close[40];
	const char *s, *e;
	size_t ol, cl;

	ol = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	s = memmem(p, (size_t)(end - p), open, ol);
	if (s == NULL)
		return NULL;
	s += ol;
	e = memmem(s, (size_t)(end - s), close, cl);
	if (e == NULL)
		return NULL;
	*len = (size_t)(e - s);
	return s;
}

static void copy_text(char *dst, size_t cap, const char *s, size_t n)
{
	if (s == NULL)
		n = 0;
	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

int txp_sns_batch_failures(const char *xml, size_t xml_len, struct txp_batch_failure *out, size_t max)
{
	const char *end = xml + xml_len, *failed, *p;
	size_t flen, n = 0;

	if (xml == NULL || memmem(xml, xml_len, "<PublishBatchResult>", 20) == NULL)
		return -EINVAL;
	/* <Failed/> or <Failed></Failed> when nothing failed. */
	failed = xml_text(xml, end, "Failed", &flen);
	if (failed == NULL)
		return 0;
	p = failed;
	end = failed + flen;
	for (;;) {
		size_t mlen, len;
		const char *m = xml_text(p, end, "member", &mlen), *v;
		struct txp_batch_failure f;

		if (m == NULL)
			break;
		p = m + mlen;
		v = xml_text(m, m + mlen, "Id", &len);
		if (v == NULL || !entry_index(v, len, 'e', &f.index))
			continue;
		v = xml_text(m, m + mlen, "Code", &len);
		copy_text(f.code, sizeof(f.code), v, len);
		v = xml_text(m, m + mlen, "Message", &len);
		copy_text(f.message, sizeof(f.message), v, len);
		v = xml_text(m, m + mlen, "SenderFault", &len);
		f.sender_fault = v != NULL && len == 4 && memcmp(v, "true", 4) == 0;
		if (n < max)
			out[n] = f;
		n++;
	}
	return (int)(n < max ? n : max);
}

int txp_sqs_batch_failures(const char *json, size_t json_len, struct txp_batch_failure *out, size_t max)
{
	json_t *root = json != NULL ? json_loadb(json, json_len, 0, NULL) : NULL;
	json_t *list, *ent;
	size_t i, n = 0;

	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	list = json_object_get(root, "Failed");
	json_array_foreach(list, i, ent) {
		const char *id = json_string_value(json_object_get(ent, "Id"));
		const char *code = json_string_value(json_object_get(ent, "Code"));
		const char *msg = json_string_value(json_object_get(ent, "Message"));
		struct txp_batch_failure f;

		if (id == NULL || !entry_index(id, strlen(id), 'm', &f.index))
			continue;
		f.sender_fault = json_is_true(json_object_get(ent, "SenderFault"));
		copy_text(f.code, sizeof(f.code), code, code != NULL ? strlen(code) : 0);
		copy_text(f.message, sizeof(f.message), msg, msg != NULL ? strlen(msg) : 0);
		if (n < max)
			out[n++] = f;
	}
	json_decref(root);
	return (int)n;
}

char *txp_dlq_message(const struct txp_dlq_info *info, size_t *len)
{
	struct txp_sbuf b = {0};
	char when[TXP_ISO8601_MS_SIZE];
	bool alert = strcmp(info->failed, "alert") == 0;

	txp_sbuf_str(&b, "{\"failed\":");
	txp_sbuf_json_str(&b, info->failed);
	txp_sbuf_str(&b, ",\"transaction_id\":");
	txp_sbuf_json_str(&b, info->transaction_id);
	if (alert && info->alert_type != NULL) {
		txp_sbuf_str(&b, ",\"alert_type\":");
		txp_sbuf_json_str(&b, info->alert_type);
	}
	txp_sbuf_str(&b, ",\"error_code\":");
	txp_sbuf_json_str(&b, info->error_code != NULL ? info->error_code : "");
	txp_sbuf_str(&b, ",\"error_message\":");
	txp_sbuf_json_str(&b, info->error_message != NULL ? info->error_message : "");
	txp_sbuf_str(&b, ",\"attempts\":");
	txp_sbuf_uint(&b, info->attempts);
	if (txp_iso8601_ms(info->dead_lettered_ms, when) > 0) {
		txp_sbuf_str(&b, ",\"dead_lettered_at\":");
		txp_sbuf_json_str(&b, when);
	}
	txp_sbuf_str(&b, alert ? ",\"alert\":" : ",\"item\":");
	/* The payload is JSON this process built; embed it as is. */
	if (info->payload != NULL && info->payload_len > 0)
		txp_sbuf_raw(&b, info->payload, info->payload_len);
	else
		txp_sbuf_str(&b, "null");
	txp_sbuf_raw(&b, "}", 1);
	return txp_sbuf_finish(&b, len);
}

char *txp_sqs_batch_body(const char *queue_url, const struct txp_sqs_entry *e, size_t n, size_t *len)
{
	struct txp_sbuf b = {0};

	txp_sbuf_str(&b, "{\"QueueUrl\":");
	txp_sbuf_json_str(&b, queue_url);
	txp_sbuf_str(&b, ",\"Entries\":[");
	for (size_t i = 0; i < n; i++) {
		txp_sbuf_str(&b, i > 0 ? ",{\"Id\":\"m" : "{\"Id\":\"m");
		txp_sbuf_uint(&b, i);
		txp_sbuf_str(&b, "\",\"MessageBody\":");
		txp_sbuf_json_strn(&b, e[i].body, e[i].len);
		txp_sbuf_str(&b, ",\"MessageAttributes\":{\"failed\":{\"DataType\":\"String\",\"StringValue\":");
		txp_sbuf_json_str(&b, e[i].failed);
		txp_sbuf_str(&b, "},\"error_code\":{\"DataType\":\"String\",\"StringValue\":");
		/* SQS rejects an empty attribute value. */
		if (e[i].error_code != NULL && e[i].error_code[0] != '\0')
			txp_sbuf_json_str(&b, e[i].error_code);
		else
			txp_sbuf_str(&b, "\"unknown\"");
		txp_sbuf_str(&b, "}}}");
	}
	txp_sbuf_str(&b, "]}");
	return txp_sbuf_finish(&b, len);
}
