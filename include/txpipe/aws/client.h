/* client.h: signed calls to DynamoDB, SNS and SQS over the loop's HTTP client (CONTRACT: to be implemented). */
#ifndef TXPIPE_AWS_CLIENT_H
#define TXPIPE_AWS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/aws/error.h"
#include "txpipe/config.h"

enum txp_aws_service { TXP_AWS_DYNAMODB, TXP_AWS_SNS, TXP_AWS_SQS, TXP_AWS_SERVICE_COUNT };

/* The outcome of one call, valid only during the callback. */
struct txp_aws_result {
	enum txp_aws_kind kind;   /* OK, RETRYABLE, CREDENTIALS, FATAL (error.h) */
	long http_status;         /* 0 when no response */
	char code[64];            /* AWS error code ("ResourceNotFoundException"), or a
	                           * transport code ("timeout", "connection_refused") */
	char message[256];        /* human text, no secrets */
	const char *body;         /* response body (NUL-terminated), NULL if none */
	size_t body_len;
	uint64_t latency_us;
};

typedef void (*txp_aws_cb)(void *arg, const struct txp_aws_result *r);

struct txp_aws_client;

/*
 * Creates the client from the [aws], [dynamodb], [sns], [sqs] sections:
 * endpoints (default https://<service>.<region>.amazonaws.com; an override
 * keeps the signing region and service), the credential chain
 * (environment, shared file, IMDSv2), the HTTP client with its limits.
 * Returns 0 or a negative errno with the reason in err.
 */
int txp_aws_client_create(struct txp_aws_client **out, uv_loop_t *loop, const struct txp_config *cfg, char *err,
                          size_t errlen);

/*
 * One signed call.  DynamoDB and SQS speak JSON 1.0 (`op` is the target
 * operation: "BatchWriteItem", "SendMessageBatch"; body is the JSON
 * request); SNS speaks the query protocol (`op` is the Action, body the
 * form-encoded parameters without Action and Version, which are added).
 * The body is copied.  The callback runs exactly once, later, on the loop
 * (also on cancellation at close, with kind FATAL and code "cancelled").
 * A CREDENTIALS error is retried once internally after a credential
 * refresh before it is reported.  Returns 0, or a negative errno when the
 * call could not be started (the callback then does not run).
 */
int txp_aws_call(struct txp_aws_client *c, enum txp_aws_service svc, const char *op, const char *body,
                 size_t body_len, txp_aws_cb cb, void *arg);

/* Per-service counters for stats: requests by outcome, latency. */
struct txp_aws_stats {
	uint64_t requests[TXP_AWS_SERVICE_COUNT];
	uint64_t ok[TXP_AWS_SERVICE_COUNT];
	uint64_t retryable[TXP_AWS_SERVICE_COUNT];
	uint64_t throttled[TXP_AWS_SERVICE_COUNT];
	uint64_t fatal[TXP_AWS_SERVICE_COUNT];
	uint64_t latency_us_sum[TXP_AWS_SERVICE_COUNT];
	int64_t credentials_expire_ms; /* 0 when they do not expire */
	const char *credentials_source; /* "environment", "imds", ... */
};
void txp_aws_client_stats(const struct txp_aws_client *c, struct txp_aws_stats *s);

const char *txp_aws_service_name(enum txp_aws_service svc);

/* Cancels what is in flight (callbacks run), closes every handle; calls
 * `done` once everything is closed and freed.  NULL is safe. */
void txp_aws_client_close(struct txp_aws_client *c, void (*done)(void *arg), void *arg);

#endif
