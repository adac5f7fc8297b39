/* sqs.h: SQS request bodies and response reading (JSON 1.0 protocol, pure). */
#ifndef TXPIPE_AWS_SQS_H
#define TXPIPE_AWS_SQS_H

#include <stddef.h>

#include "txpipe/aws/batch.h"

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

/*
 * Reads the failed entries of a SendMessageBatch response into `out` (at
 * most `max`).  Returns how many it stored, or -EINVAL when the body is not
 * such a response.  Ids not of the form "m<i>" are ignored.
 */
int txp_sqs_batch_failures(const char *json, size_t json_len, struct txp_batch_failure *out, size_t max);

#endif
