/* ops.c: synchronous AWS calls for txpipectl's operator commands (get, dlq, doctor, deprovision). */
#include "txpipe/aws/ops.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct txp_aws_session {
	uv_loop_t loop;
	struct txp_aws_client *client;
};

struct pending {
	bool done;
	struct txp_aws_reply *reply;
};

static void on_result(void *arg, const struct txp_aws_result *r)
{
	struct pending *p = arg;
	struct txp_aws_reply *rep = p->reply;

	rep->kind = r->kind;
	rep->http_status = r->http_status;
	snprintf(rep->code, sizeof(rep->code), "%s", r->code);
	snprintf(rep->message, sizeof(rep->message), "%s", r->message);
	snprintf(rep->date, sizeof(rep->date), "%s", r->date);
	if (r->body != NULL && (rep->body = malloc(r->body_len + 1)) != NULL) {
		memcpy(rep->body, r->body, r->body_len);
		rep->body[r->body_len] = '\0';
		rep->body_len = r->body_len;
	}
	p->done = true;
}

int txp_aws_session_open(struct txp_aws_session **out, const struct txp_aws_settings *settings, char *err,
                         size_t errlen)
{
	struct txp_aws_session *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = uv_loop_init(&s->loop);
	if (rc < 0) {
		snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
		goto err_after_alloc;
	}
	rc = txp_aws_client_create(&s->client, &s->loop, settings, err, errlen);
	if (rc < 0)
		goto err_after_loop;
	*out = s;
	return 0;
err_after_loop:
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
err_after_alloc:
	free(s);
	return rc;
}

int txp_aws_session_call(struct txp_aws_session *s, enum txp_aws_service svc, const char *op, const char *body,
                         struct txp_aws_reply *reply)
{
	struct pending p = { .reply = reply };
	int rc;

	memset(reply, 0, sizeof(*reply));
	rc = txp_aws_call(s->client, svc, op, body, body != NULL ? strlen(body) : 0, on_result, &p);
	if (rc < 0)
		return rc;
	/* The client keeps timers of its own (credential refresh), so the loop
	 * would not run dry: turn it until this call's callback has run. */
	while (!p.done)
		uv_run(&s->loop, UV_RUN_ONCE);
	return 0;
}

void txp_aws_session_stats(const struct txp_aws_session *s, struct txp_aws_stats *stats)
{
	txp_aws_client_stats(s->client, stats);
}

void txp_aws_session_close(struct txp_aws_session *s)
{
	if (s == NULL)
		return;
	txp_aws_client_close(s->client, NULL, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
	free(s);
}

int txp_aws_call_sync(const struct txp_aws_settings *settings, enum txp_aws_service svc, const char *op,
                      const char *body, json_t **response, char *err, size_t errlen)
{
	struct txp_aws_session *s;
	struct txp_aws_reply r;
	int rc;

	*response = NULL;
	rc = txp_aws_session_open(&s, settings, err, errlen);
	if (rc < 0)
		return rc;
	rc = txp_aws_session_call(s, svc, op, body, &r);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot start the call: %s", op, strerror(-rc));
	} else if (r.kind == TXP_AWS_OK) {
		*response = r.body != NULL && r.body_len > 0 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	} else {
		rc = r.kind == TXP_AWS_RETRYABLE ? -EAGAIN : -EIO;
		snprintf(err, errlen, "%s: %s", r.code, r.message);
	}
	free(r.body);
	txp_aws_session_close(s);
	return rc;
}
