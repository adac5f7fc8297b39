/* sqs.c: SQS request bodies and response reading (JSON 1.0 protocol, pure). */
#include "txpipe/aws/sqs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "txpipe/sbuf.h"

char *txp_sqs_batch_body(const char *queue_url, const struct txp_sqs_entry *e, size_t n, size_t *len)
{
	struct txp_sbuf b = { 0 };

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
	json_array_foreach (list, i, ent) {
		const char *id = json_string_value(json_object_get(ent, "Id"));
		const char *code = json_string_value(json_object_get(ent, "Code"));
		const char *msg = json_string_value(json_object_get(ent, "Message"));
		struct txp_batch_failure f;

		if (id == NULL || !txp_batch_entry_index(id, strlen(id), 'm', &f.index))
			continue;
		f.sender_fault = json_is_true(json_object_get(ent, "SenderFault"));
		snprintf(f.code, sizeof(f.code), "%s", code != NULL ? code : "");
		snprintf(f.message, sizeof(f.message), "%s", msg != NULL ? msg : "");
		if (n < max)
			out[n++] = f;
	}
	json_decref(root);
	return (int)n;
}
