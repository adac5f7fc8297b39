/* dlq.c: the dead-letter message delivery sends to SQS for a record or alert it gave up on (pure). */
#include "txpipe/dlq.h"

#include <stdbool.h>
#include <string.h>

#include "txpipe/item.h"
#include "txpipe/sbuf.h"

char *txp_dlq_message(const struct txp_dlq_info *info, size_t *len)
{
	struct txp_sbuf b = { 0 };
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
