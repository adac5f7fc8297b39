/* ops.c: one-shot AWS calls for txpipectl's operator commands (get, dlq). */
#include "txpipe/aws/ops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *unmarshal_value(const json_t *av)
{
	const char *type;
	json_t *v, *out;
	size_t i;

	if (!json_is_object(av) || json_object_size(av) != 1)
		return NULL;
	json_object_foreach((json_t *)av, type, v) {
		if (strcmp(type, "S") == 0 && json_is_string(v))
			return json_incref(v);
		if (strcmp(type, "N") == 0 && json_is_string(v)) {
			/* DynamoDB numbers are exact decimals: keep the text
			 * unless it is a plain integer that fits. */
			const char *s = json_string_value(v);
			char *end;
			errno = 0;
			long long n = strtoll(s, &end, 10);
			if (errno == 0 && *end == '\0' && end != s)
				return json_integer(n);
			return json_incref(v);
		}
		if (strcmp(type, "BOOL") == 0 && json_is_boolean(v))
			return json_incref(v);
		if (strcmp(type, "NULL") == 0)
			return json_null();
		if (strcmp(type, "L") == 0 && json_is_array(v)) {
			json_t *e;
			out = json_array();
			json_array_foreach(v, i, e) {
				json_t *u = unmarshal_value(e);
				if (u == NULL) {
					json_decref(out);
					return NULL;
				}
				json_array_append_new(out, u);
			}
			return out;
		}
		if (strcmp(type, "M") == 0 && json_is_object(v))
			return txp_ddb_unmarshal(v);
		if ((strcmp(type, "SS") == 0 || strcmp(type, "NS") == 0) && json_is_array(v))
			return json_incref(v);
	}
	return NULL;
}

json_t *txp_ddb_unmarshal(const json_t *item)
{
	const char *k;
	json_t *v, *out = json_object();

	json_object_foreach((json_t *)item, k, v) {
		json_t *u = unmarshal_value(v);
		if (u == NULL) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, k, u);
	}
	return out;
}

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

int txp_aws_call_sync(const struct txp_config *cfg, enum txp_aws_service svc, const char *op, const char *body,
                      json_t **response, char *err, size_t errlen)
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
	rc = txp_aws_client_create(&sc.client, &loop, cfg, err, errlen);
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
