/* error.h: the kinds of outcome of an AWS call, so the retry policy is one decision in one place. */
#ifndef TXPIPE_AWS_ERROR_H
#define TXPIPE_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum txp_aws_kind {
	TXP_AWS_OK = 0,
	/* Throttling, 5xx, 429, timeouts, connection failures: retry with backoff. */
	TXP_AWS_RETRYABLE,
	/* Expired or unknown credentials: refresh them, then retry once. */
	TXP_AWS_CREDENTIALS,
	/* Validation, access denied, missing resource, other 4xx, local misuse:
	 * retrying the same request cannot succeed. */
	TXP_AWS_FATAL,
};

/*
 * Classifies the outcome of one AWS call.  Pure: no I/O, no state.
 *
 * http_status: the response status, or 0 when no response arrived.
 * error_code: the AWS error code as found in the response, or NULL/"" when
 *   there is none: the x-amzn-ErrorType header ("ThrottlingException:http://..."),
 *   the JSON "__type" field ("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
 *   or the XML <Code> element of query-protocol services (SNS, SQS: "Throttling").
 *   Any of these spellings is accepted; see txp_aws_error_code.
 * curl_code: the CURLcode of the transfer (0 for CURLE_OK).  A transport
 *   failure decides the kind whatever the status.
 *
 * Order of decision: transport error; 2xx is OK; a known credentials code;
 * a known throttling or transient code; 429, 408 and 5xx (except 501, 505)
 * are retryable; everything else is fatal.
 */
enum txp_aws_kind txp_aws_classify(long http_status, const char *error_code, int curl_code);

/*
 * Extracts the short error code from any of the spellings above: the part
 * after the last '#', cut at the first ':', with surrounding blanks removed.
 * Writes it NUL-terminated into out and returns its length, or -EINVAL when
 * raw is NULL, -ENOSPC when it does not fit in outlen bytes (out then holds
 * an empty string when outlen > 0).
 */
int txp_aws_error_code(const char *raw, char *out, size_t outlen);

/*
 * Whether a failed call was throttled (429, or a throttling code in any of
 * the spellings above) as opposed to failing otherwise; for statistics
 * only, the retry decision is txp_aws_classify()'s.  Pure.
 */
bool txp_aws_is_throttling(long http_status, const char *error_code);

/*
 * Fills a caller's error buffer (`err`, `errlen` bytes; nothing when NULL or
 * 0) with a formatted reason, truncated to fit: how every function of the
 * AWS layer that takes err/errlen reports why it failed.
 */
void txp_aws_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "ok", "retryable", "credentials", "fatal": a static string for logs. */
const char *txp_aws_kind_name(enum txp_aws_kind kind);

#endif
