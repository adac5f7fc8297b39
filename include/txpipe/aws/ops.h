/* ops.h: synchronous AWS calls for txpipectl's operator commands (get, dlq, doctor, deprovision). */
#ifndef TXPIPE_AWS_OPS_H
#define TXPIPE_AWS_OPS_H

#include <stddef.h>

#include <jansson.h>

#include "txpipe/aws/client.h"

/*
 * Runs one call to completion on a private loop with a client built from
 * `settings` (txp_aws_settings_from_config() fills them).  On success
 * returns 0 and *response (parsed JSON body, caller decrefs; NULL for an
 * empty body); on failure a negative errno with the AWS code and message
 * in err.
 */
int txp_aws_call_sync(const struct txp_aws_settings *settings, enum txp_aws_service svc, const char *op,
                      const char *body, json_t **response, char *err, size_t errlen);

/*
 * A client on a private loop for a sequence of synchronous calls, so the
 * credential chain is resolved once: txp_aws_session_open() creates it,
 * txp_aws_session_call() runs one call to completion, txp_aws_session_close()
 * frees it (NULL is safe).
 */
struct txp_aws_session;

/* The whole outcome of one synchronous call. */
struct txp_aws_reply {
	enum txp_aws_kind kind; /* TXP_AWS_OK on success (error.h) */
	long http_status;       /* 0: no HTTP response (transport failure) */
	char code[64];          /* AWS or transport error code, "" on success */
	char message[256];
	char date[40]; /* the response's Date header, "" when none */
	char *body;    /* the response body, NUL-terminated, or NULL; owned by the caller (free()) */
	size_t body_len;
};

/* Returns 0 and *out, or a negative errno with the reason in err. */
int txp_aws_session_open(struct txp_aws_session **out, const struct txp_aws_settings *settings, char *err,
                         size_t errlen);

/* Runs one call (txp_aws_call()'s op and body conventions) and fills *reply,
 * whose body the caller frees.  Returns 0 when the call ran (whatever its
 * outcome: see reply->kind), or a negative errno when it could not start. */
int txp_aws_session_call(struct txp_aws_session *s, enum txp_aws_service svc, const char *op, const char *body,
                         struct txp_aws_reply *reply);

/* The client's counters: credential source and expiry after the first call. */
void txp_aws_session_stats(const struct txp_aws_session *s, struct txp_aws_stats *stats);

void txp_aws_session_close(struct txp_aws_session *s);

#endif
