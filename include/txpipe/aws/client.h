/* client.h: signed calls to DynamoDB, SNS and SQS over the loop's HTTP client. */
#ifndef TXPIPE_AWS_CLIENT_H
#define TXPIPE_AWS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/aws/credentials.h"
#include "txpipe/aws/error.h"

enum txp_aws_service { TXP_AWS_DYNAMODB, TXP_AWS_SNS, TXP_AWS_SQS, TXP_AWS_SERVICE_COUNT };

/* The outcome of one call, valid only during the callback. */
struct txp_aws_result {
	enum txp_aws_kind kind; /* OK, RETRYABLE, CREDENTIALS, FATAL (error.h) */
	long http_status;       /* 0 when no response */
	char code[64];          /* AWS error code ("ResourceNotFoundException"), or a
	                           * transport code ("timeout", "connection_refused") */
	char message[256];      /* human text, no secrets */
	const char *body;       /* response body (NUL-terminated), NULL if none */
	size_t body_len;
	uint64_t latency_us;
	/* The response's Date header as sent (IMF-fixdate), "" when none: the
	 * server's clock, which txpipectl doctor compares with ours. */
	char date[40];
};

typedef void (*txp_aws_cb)(void *arg, const struct txp_aws_result *r);

struct txp_aws_client;

/*
 * What the client needs to know, and nothing else: txp_aws_settings_from_config()
 * (settings.h) fills it from the [aws], [dynamodb], [sns] and [sqs] sections.
 * Strings are borrowed for the duration of txp_aws_client_create() only.
 */
struct txp_aws_settings {
	const char *region;                          /* signing region, part of default host names */
	const char *endpoint[TXP_AWS_SERVICE_COUNT]; /* per service: NULL or "": the default */
	const char *ca_file;                         /* NULL or "": the system's */
	long max_connections;                        /* per host */
	long connect_timeout_ms;
	/* Per request, and how long a call waits for first credentials. */
	uint64_t request_timeout_ms;
	/* The credential chain (credentials.h): profile, file, IMDS. */
	struct txp_creds_options creds;
};

/*
 * Creates the client: endpoints (default https://<service>.<region>.amazonaws.com;
 * an override keeps the signing region and service), the credential chain
 * (environment, shared file, IMDSv2), the HTTP client with its limits.
 * Returns 0 or a negative errno with the reason in err.
 */
int txp_aws_client_create(struct txp_aws_client **out, uv_loop_t *loop, const struct txp_aws_settings *settings,
                          char *err, size_t errlen);

/*
 * Calls made while the credential chain has nothing yet (IMDS still
 * fetching) wait, at most this many of them; a waiting call that gets no
 * credentials within [aws] request_timeout_ms, or finds the queue full,
 * completes with kind RETRYABLE and code "no_credentials".
 */
#define TXP_AWS_MAX_WAITING 4096

/*
 * One signed call.  DynamoDB and SQS speak JSON 1.0 (`op` is the target
 * operation: "BatchWriteItem", "SendMessageBatch"; body is the JSON
 * request); SNS speaks the query protocol (`op` is the Action, body the
 * form-encoded parameters without Action and Version, which are added).
 * The body is copied (txp_aws_call_take does not).  The callback runs
 * exactly once, later, on the loop (also on cancellation at close, with
 * kind FATAL and code "cancelled").
 * A CREDENTIALS error is retried once internally after a credential
 * refresh before it is reported.  Returns 0, or a negative errno when the
 * call could not be started (the callback then does not run).
 */
int txp_aws_call(struct txp_aws_client *c, enum txp_aws_service svc, const char *op, const char *body, size_t body_len,
                 txp_aws_cb cb, void *arg);

/*
 * txp_aws_call() without the copy: takes `body`, malloc'd and
 * NUL-terminated at body_len (txp_sbuf_finish's result), and frees it in
 * every case, also when the call cannot be started.  For the large bodies
 * (a batch of records, a fleet feed item) that the caller would only free
 * after the call.
 */
int txp_aws_call_take(struct txp_aws_client *c, enum txp_aws_service svc, const char *op, char *body, size_t body_len,
                      txp_aws_cb cb, void *arg);

/* Per-service counters for stats: requests by outcome, latency. */
struct txp_aws_stats {
	uint64_t requests[TXP_AWS_SERVICE_COUNT];
	uint64_t ok[TXP_AWS_SERVICE_COUNT];
	uint64_t retryable[TXP_AWS_SERVICE_COUNT];
	uint64_t throttled[TXP_AWS_SERVICE_COUNT];
	uint64_t fatal[TXP_AWS_SERVICE_COUNT];
	uint64_t latency_us_sum[TXP_AWS_SERVICE_COUNT];
	int64_t credentials_expire_ms;  /* 0 when they do not expire */
	const char *credentials_source; /* "environment", "imds", ... */
};
void txp_aws_client_stats(const struct txp_aws_client *c, struct txp_aws_stats *s);

/* "dynamodb", "sns", "sqs": the signing name and the endpoint prefix. */
const char *txp_aws_service_name(enum txp_aws_service svc);

/* Cancels what is in flight (callbacks run), closes every handle; calls
 * `done` once everything is closed and freed.  NULL is safe. */
void txp_aws_client_close(struct txp_aws_client *c, void (*done)(void *arg), void *arg);

/* ---- Pure helpers, used by the client and exposed for callers and tests ---- */

/* Where one service's requests go, and what they are signed for. */
struct txp_aws_endpoint {
	char url[512];    /* the URL requests are POSTed to, e.g. "https://sns.eu-west-1.amazonaws.com/" */
	char host[300];   /* the Host header sent and signed: host, plus ":port" when the URL names one */
	char path[256];   /* the URL's path as sent ("/" at least), what the signature covers */
	char region[32];  /* signing region: always [aws] region, also with an override */
	char service[16]; /* signing name: "dynamodb", "sns", "sqs" */
};

/*
 * Resolves svc's endpoint: `override` (the section's endpoint key) when not
 * NULL or "", else https://<service>.<region>.amazonaws.com/ (".com.cn" for
 * the cn- regions).  An override must pass txp_http_url_allowed() (https,
 * or http to loopback only) and may carry a path but no query or fragment;
 * an empty path becomes "/".  Returns 0, or -EINVAL/-EPERM with the reason
 * in err.
 */
int txp_aws_endpoint_resolve(enum txp_aws_service svc, const char *region, const char *override,
                             struct txp_aws_endpoint *out, char *err, size_t errlen);

/*
 * Finds the error code and message of a failed response, whichever protocol
 * spoke: the x-amzn-ErrorType header (`error_type`, may be NULL or ""), else
 * the JSON body's "__type" and "message"/"Message", else the XML body's first
 * <Code> and <Message> (query protocol).  The code is shortened with
 * txp_aws_error_code() ("ValidationException"); the message is unescaped,
 * control characters become spaces, and it is truncated to fit.  Both are
 * always NUL-terminated (empty when absent).  Returns 0 when a code was
 * found, -ENOENT otherwise.
 */
int txp_aws_parse_error(const char *error_type, const char *body, size_t body_len, char *code, size_t codelen,
                        char *message, size_t msglen);

#endif
