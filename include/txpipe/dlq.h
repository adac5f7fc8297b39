/* dlq.h: the dead-letter message delivery sends to SQS for a record or alert it gave up on (pure). */
#ifndef TXPIPE_DLQ_H
#define TXPIPE_DLQ_H

#include <stddef.h>
#include <stdint.h>

/* What went to the dead-letter queue and why. */
struct txp_dlq_info {
	const char *failed; /* "store" or "alert" */
	const char *transaction_id;
	const char *alert_type; /* for "alert": "fraud" / "compliance"; else NULL */
	const char *error_code;
	const char *error_message;
	unsigned attempts;
	int64_t dead_lettered_ms; /* Unix ms */
	const char *payload;      /* the item or the alert message: JSON text */
	size_t payload_len;
};

/*
 * The DLQ message body: {"failed":..,"transaction_id":..,"error_code":..,
 * "error_message":..,"attempts":N,"dead_lettered_at":..,"item"|"alert":{..}}
 * with the payload embedded as JSON (it holds no card number and no raw
 * personal data, as built by txp_item_build()).
 */
char *txp_dlq_message(const struct txp_dlq_info *info, size_t *len);

#endif
