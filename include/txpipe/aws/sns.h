/* sns.h: SNS request bodies and response reading (query protocol, XML answers; pure). */
#ifndef TXPIPE_AWS_SNS_H
#define TXPIPE_AWS_SNS_H

#include <stddef.h>

#include "txpipe/aws/batch.h"

/* The query protocol's API version of SNS (SNS API reference, "Common parameters"). */
#define TXP_SNS_API_VERSION "2010-03-31"

/*
 * The complete SNS body the client sends: "Action=<action>&Version=2010-03-31"
 * followed by "&" and `params` (already form-encoded, see query.h) when
 * params_len > 0.  Returns a malloc'd NUL-terminated string (its length in
 * *out_len when not NULL) the caller frees, or NULL when out of memory or
 * action is NULL.
 */
char *txp_sns_query_body(const char *action, const char *params, size_t params_len, size_t *out_len);

/* One PublishBatch entry: message attributes alert_type and severity
 * (String) let subscribers filter without parsing the message. */
struct txp_sns_entry {
	const char *message;
	size_t len;
	const char *alert_type;
	const char *severity;
};

/* SNS PublishBatch parameters, without Action and Version, which the
 * client adds (txp_sns_query_body).  Entry i gets the Id "e<i>".  Returns a
 * malloc'd buffer the caller frees and its length in *len, or NULL when out
 * of memory. */
char *txp_sns_batch_body(const char *topic_arn, const struct txp_sns_entry *e, size_t n, size_t *len);

/*
 * Reads the failed entries of a PublishBatch response into `out` (at most
 * `max`); Code and Message are unescaped.  Returns how many it stored, or
 * -EINVAL when the body has no <PublishBatchResult>.  Ids not of the form
 * "e<i>" are ignored.
 */
int txp_sns_batch_failures(const char *xml, size_t xml_len, struct txp_batch_failure *out, size_t max);

#endif
