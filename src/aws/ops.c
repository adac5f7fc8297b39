/* ops.c: one-shot AWS calls for txpipectl's operator commands (get, dlq). */
#include "txpipe/aws/ops.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct sync_call {
	struct txp_aws_client *client;
	int rc;
	json_t *response;
	char *err;
	size_t errlen;
};

static void on_result(void *arg, const struct txp_aws_result *r)
{
	struct sync_call *sc = arg;

	if (r->kind == TXP_AWS_OK) {
		sc->rc = 0;
		sc->response = r->body != NULL && r->body_len > 0 ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	} else {
		sc->rc = r->kind == TXP_AWS_RETRYABLE ? -EAGAIN : -EIO;
		snprintf(sc->err, sc->errlen, "%s: %s", r->code, r->message);
	}
	txp_aws_client_close(sc->client, NULL, NULL);
	sc->client = NULL;
}

int txp_aws_call_sync(const struct txp_aws_settings *settings, enum txp_aws_service svc, const char *op,
		      const char *body, json_t **response, char *err, size_t errlen)
{
	struct sync_call sc = {.rc = -EIO, .err = err, .errlen = errlen};
	uv_loop_t loop;
	int rc;

	*response = NULL;
	rc = uv_loop_init(&loop);
	if (rc < 0) {
		snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
		return rc;
	}
	rc = txp_aws_client_create(&sc.client, &loop, settings, err, errlen);
	if (rc < 0)
		goto out;
	rc = txp_aws_call(sc.client, svc, op, body, strlen(body), on_result, &sc);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot start the call: %s", op, strerror(-rc));
		txp_aws_client_close(sc.client, NULL, NULL);
		sc.client = NULL;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (rc == 0) {
		rc = sc.rc;
		*response = sc.response;
	}
out:
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0 && rc == 0) {
		snprintf(err, errlen, "internal: handles left open");
		rc = -EBUSY;
	}
	return rc;
}
