/* delivery_wire.h: the AWS request bodies of delivery and the parsing of their responses (pure). */
#ifndef TXPIPE_DELIVERY_WIRE_H
#define TXPIPE_DELIVERY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- request bodies (all return a malloc'd buffer the caller frees and
 * its length in *len, or NULL when out of memory) ------------------------ */

/* DynamoDB BatchWriteItem (JSON 1.0): one PutRequest per item; `items`
 * are AttributeValue maps as built by txp_item_build(). */
char *txp_ddb_batch_body(const char *table, const char *const *items, const uint32_t *lens, size_t n,
                         size_t *len);

/*
 * Reads a BatchWriteItem response and calls `found(arg, id)` with the
 * transaction_id of every put left in UnprocessedItems for `table`.
 * Returns how many there were, or -EINVAL when the body is not such a
 * response.
 */
int txp_ddb_unprocessed(const char *body, size_t body_len, const char *table,
                        void (*found)(void *arg, const char *id), void *arg);

/* One PublishBatch entry: message attributes alert_type and severity
 * (String) let subscribers filter without parsing the message. */
struct txp_sns_entry {
	const char *message;
	size_t len;
	const char *alert_type;
	const char *severity;
};

/* SNS PublishBatch (query protocol), without Action and Version, which
 * the client adds.  Entry i gets the Id "e<i>". */
char *txp_sns_batch_body(const char *topic_arn, const struct txp_sns_entry *e, size_t n, size_t *len);

/* An entry a batch call reported as failed. */
struct txp_batch_failure {
	unsigned index;     /* position in the request */
	bool sender_fault;  /* true: the entry itself is bad, retrying cannot help */
	char code[64];
	char message[256];
};

/*
 * Reads the failed entries of a PublishBatch (XML) or SendMessageBatch
 * (JSON) response into `out` (at most `max`).  Returns how many failed,
 * or -EINVAL when the body is not such a response.  Ids not of the form
 * the builders above use are ignored.
 */
int txp_sns_batch_failures(const char *xml, size_t xml_len, struct txp_batch_failure *out, size_t max);
int txp_sqs_batch_failures(const char *json, size_t json_len, struct txp_batch_failure *out, size_t max);

/* What went to the dead-letter queue and why. */
struct txp_dlq_info {
	const char *failed;         /* "store" or "alert" */
	const char *transaction_id;
	const char *alert_type;     /* for "alert": "fraud" / "compliance"; else NULL */
	const char *error_code;
	const char *error_message;
	unsigned attempts;
	int64_t dead_lettered_ms;   /* Unix ms */
	const char *payload;        /* the item or the alert message: JSON text */
	size_t payload_len;
};

/*
 * The DLQ message body: {"failed":..,"transaction_id":..,"error_code":..,
 * "error_message":..,"attempts":N,"dead_lettered_at":..,"item"|"alert":{..}}
 * with the payload embedded as JSON (it holds no card number and no raw
 * personal data, as built by txp_item_build()).
 */
char *txp_dlq_message(const struct txp_dlq_info *info, size_t *len);

/* One SendMessageBatch entry: the DLQ body, with message attributes
 * failed and error_code (String). */
struct txp_sqs_entry {
	const char *body;
	size_t len;
	const char *failed;
	const char *error_code;
};

/* SQS SendMessageBatch (JSON 1.0).  Entry i gets the Id "m<i>". */
char *txp_sqs_batch_body(const char *queue_url, const struct txp_sqs_entry *e, size_t n, size_t *len);

#endif
