/* error.c: classify the outcome of an AWS call as ok, retryable, credentials or fatal. */
#include "txpipe/aws/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Expired or unrecognized credentials.  A fresh set of credentials (the
 * provider chain refreshes them) makes the same request succeed, so the
 * caller refreshes and retries once.  ExpiredToken and InvalidClientTokenId
 * come from query-protocol services (SNS, SQS, STS), ExpiredTokenException
 * and UnrecognizedClientException from JSON services such as DynamoDB.
 * RequestExpired is deliberately absent: it means the signing time was too
 * far off (clock skew or a request queued too long), which re-signing on
 * retry fixes without new credentials.
 */
static const char *const credentials_codes[] = {
	"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
	"InvalidToken", "TokenRefreshRequired",
};

/*
 * Throttling and transient service errors, retried with backoff whatever
 * their HTTP status (DynamoDB reports ProvisionedThroughputExceededException
 * and ThrottlingException with status 400).  The two lists together are the
 * set of throttling and transient codes the AWS SDKs' "standard" retry mode
 * documents, plus the KMS throttling code SNS and SQS pass through for
 * encrypted topics and queues, and the internal-error spellings of the
 * services txpipe calls.  The split only feeds the "throttled" statistic
 * (txp_aws_is_throttling); both lists are retryable alike.
 */
static const char *const throttling_codes[] = {
	"Throttling",
	"ThrottlingException",
	"ThrottledException",
	"RequestThrottledException",
	"TooManyRequestsException",
	"ProvisionedThroughputExceededException",
	"RequestLimitExceeded",
	"BandwidthLimitExceeded",
	"LimitExceededException",
	"RequestThrottled",
	"SlowDown",
	"EC2ThrottledException",
	"KMSThrottlingException",
};

static const char *const transient_codes[] = {
	"TransactionInProgressException",
	"PriorRequestNotComplete",
	"RequestTimeout",
	"RequestTimeoutException",
	"RequestExpired",
	"InternalFailure",
	"InternalError",
	"InternalServerError",
	"ServiceUnavailable",
};

static bool code_in(const char *code, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(list[i]) == len && memcmp(list[i], code, len) == 0)
			return true;
	}
	return false;
}

/* Finds the short code inside raw without copying: after the last '#', up to
 * the first ':', without surrounding blanks. */
static void short_code(const char *raw, const char **start, size_t *len)
{
	const char *s = raw, *hash = strrchr(raw, '#'), *e;

	if (hash != NULL)
		s = hash + 1;
	while (*s == ' ' || *s == '\t')
		s++;
	e = strchr(s, ':');
	if (e == NULL)
		e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	*start = s;
	*len = (size_t)(e - s);
}

int txp_aws_error_code(const char *raw, char *out, size_t outlen)
{
	const char *s;
	size_t len;

	if (raw == NULL || (out == NULL && outlen > 0))
		return -EINVAL;
	short_code(raw, &s, &len);
	if (len + 1 > outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -ENOSPC;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return (int)len;
}

/* Transport failures worth another attempt: the request may never have
 * reached AWS, or the answer was lost.  Everything else (bad URL, TLS
 * verification failure, out of memory, misuse) will fail the same way again. */
static bool curl_retryable(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_AGAIN:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

enum txp_aws_kind txp_aws_classify(long http_status, const char *error_code, int curl_code)
{
	const char *code = NULL;
	size_t len = 0;

	if (curl_code != CURLE_OK)
		return curl_retryable(curl_code) ? TXP_AWS_RETRYABLE : TXP_AWS_FATAL;
	if (http_status >= 200 && http_status < 300)
		return TXP_AWS_OK;
	if (error_code != NULL)
		short_code(error_code, &code, &len);
	if (len > 0) {
		if (code_in(code, len, credentials_codes, COUNT(credentials_codes)))
			return TXP_AWS_CREDENTIALS;
		if (code_in(code, len, throttling_codes, COUNT(throttling_codes)) ||
		    code_in(code, len, transient_codes, COUNT(transient_codes)))
			return TXP_AWS_RETRYABLE;
	}
	/* 501 Not Implemented and 505 HTTP Version Not Supported will not change on retry. */
	if (http_status == 429 || http_status == 408 ||
	    (http_status >= 500 && http_status < 600 && http_status != 501 && http_status != 505))
		return TXP_AWS_RETRYABLE;
	/* Validation, access denied, missing resources, other 4xx, unexpected
	 * 1xx/3xx, and a status of 0 without a transport error (nothing we
	 * understand arrived): retrying the same request cannot help. */
	return TXP_AWS_FATAL;
}

bool txp_aws_is_throttling(long http_status, const char *error_code)
{
	const char *code;
	size_t len;

	if (http_status == 429)
		return true;
	if (error_code == NULL)
		return false;
	short_code(error_code, &code, &len);
	/* Any "Throttl..." spelling, also one no list names yet. */
	if (len >= 7 && memmem(code, len, "Throttl", 7) != NULL)
		return true;
	return code_in(code, len, throttling_codes, COUNT(throttling_codes));
}

const char *txp_aws_kind_name(enum txp_aws_kind kind)
{
	switch (kind) {
	case TXP_AWS_OK:
		return "ok";
	case TXP_AWS_RETRYABLE:
		return "retryable";
	case TXP_AWS_CREDENTIALS:
		return "credentials";
	case TXP_AWS_FATAL:
		return "fatal";
	}
	return "unknown";
}

void txp_aws_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
