/* client.c: signed DynamoDB, SNS and SQS calls over the loop's HTTP client, with the credential chain. */
#include "txpipe/aws/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "txpipe/aws/credentials.h"
#include "txpipe/aws/http.h"
#include "txpipe/aws/sigv4.h"
#include "txpipe/aws/sns.h"
#include "txpipe/aws/xml.h"
#include "txpipe/log.h"
#include "txpipe/queue.h"

/* The API versions and targets of the JSON 1.0 protocol (DynamoDB API
 * reference "Making HTTP requests"; SQS developer guide "JSON protocol");
 * SNS speaks the query protocol (sns.h). */
#define DYNAMODB_TARGET_PREFIX "DynamoDB_20120810."
#define SQS_TARGET_PREFIX "AmazonSQS."
#define JSON_CONTENT_TYPE "application/x-amz-json-1.0"
#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define OP_MAX 64

static const char *const service_names[TXP_AWS_SERVICE_COUNT] = { "dynamodb", "sns", "sqs" };

struct call_list {
	struct txp_queue q;
	size_t n;
};

/* One txp_aws_call, from acceptance to its callback. */
struct call {
	struct txp_aws_client *c;
	struct txp_queue link;
	struct call_list *list; /* waiting, inflight or deferred; NULL when in none */
	enum txp_aws_service svc;
	char op[OP_MAX + 1];
	char *body; /* what is sent: for SNS the whole form, Action and Version included */
	size_t body_len;
	txp_aws_cb cb;
	void *arg;
	uint64_t http_id;
	uint64_t deadline_ms; /* while waiting: uv_now() past which it gives up */
	uint64_t sent_ns;
	bool refreshed;        /* the one retry after a credentials error is spent */
	bool awaiting_refresh; /* waiting for rotated credentials, not for the first ones */
	/* The outcome to report later: a deferred failure, or the credentials
	 * error to report when no new credentials come.  body is always NULL. */
	struct txp_aws_result saved;
};

struct txp_aws_client {
	uv_loop_t *loop;
	struct txp_http *http;
	struct txp_creds_provider *creds;
	struct txp_aws_endpoint ep[TXP_AWS_SERVICE_COUNT];
	/* One cache per service: a cache holds one (date, region, service) key. */
	struct txp_sigv4_key_cache keys[TXP_AWS_SERVICE_COUNT];
	struct call_list waiting, inflight, deferred;
	uv_timer_t wait_timer;  /* the first waiting call's deadline */
	uv_timer_t defer_timer; /* runs deferred callbacks on the next loop iteration */
	uint64_t wait_timeout_ms;
	uint64_t creds_gen; /* bumped on every successful credentials fetch */
	struct txp_aws_stats stats;
	bool closing;
	int open_handles;
	void (*done)(void *arg);
	void *done_arg;
};

const char *txp_aws_service_name(enum txp_aws_service svc)
{
	return (unsigned)svc < TXP_AWS_SERVICE_COUNT ? service_names[svc] : "unknown";
}

/* ---- pure helpers ---------------------------------------------------------------------------- */

static bool region_valid(const char *region)
{
	size_t n = region != NULL ? strlen(region) : 0;

	if (n == 0 || n >= sizeof(((struct txp_aws_endpoint *)0)->region))
		return false;
	/* It becomes part of a host name. */
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)region[i]) || isdigit((unsigned char)region[i]) || region[i] == '-'))
			return false;
	return true;
}

int txp_aws_endpoint_resolve(enum txp_aws_service svc, const char *region, const char *override,
                             struct txp_aws_endpoint *out, char *err, size_t errlen)
{
	CURLU *u = NULL;
	char *host = NULL, *port = NULL, *path = NULL, *url = NULL, *part = NULL;
	int rc, n;

	if ((unsigned)svc >= TXP_AWS_SERVICE_COUNT || out == NULL) {
		txp_aws_set_err(err, errlen, "bad arguments");
		return -EINVAL;
	}
	if (!region_valid(region)) {
		txp_aws_set_err(err, errlen, "region \"%s\" is not a region name (lowercase letters, digits, '-')",
		                region != NULL ? region : "");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->region, sizeof(out->region), "%s", region);
	snprintf(out->service, sizeof(out->service), "%s", service_names[svc]);
	if (override == NULL || override[0] == '\0') {
		/* The China partition has its own domain (AWS General Reference, "Service endpoints"). */
		const char *domain = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
		snprintf(out->host, sizeof(out->host), "%s.%s.%s", service_names[svc], region, domain);
		snprintf(out->url, sizeof(out->url), "https://%s/", out->host);
		snprintf(out->path, sizeof(out->path), "/");
		return 0;
	}
	rc = txp_http_url_allowed(override, false, err, errlen);
	if (rc != 0)
		return rc;
	rc = -EINVAL;
	u = curl_url();
	if (u == NULL) {
		txp_aws_set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (curl_url_set(u, CURLUPART_URL, override, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		txp_aws_set_err(err, errlen, "unparsable endpoint URL %s", override);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		txp_aws_set_err(err, errlen, "endpoint URL %s has a query or fragment", override);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || path[0] == '\0') {
		curl_free(path);
		path = NULL;
		if (curl_url_set(u, CURLUPART_PATH, "/", 0) != CURLUE_OK) {
			txp_aws_set_err(err, errlen, "cannot set the path of %s", override);
			goto out;
		}
	}
	/* curl sends the port in Host only when the URL names one; sign what is sent. */
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		n = snprintf(out->host, sizeof(out->host), "%s:%s", host, port);
	else
		n = snprintf(out->host, sizeof(out->host), "%s", host);
	if (n < 0 || (size_t)n >= sizeof(out->host)) {
		txp_aws_set_err(err, errlen, "endpoint host too long in %s", override);
		goto out;
	}
	if (snprintf(out->path, sizeof(out->path), "%s", path != NULL ? path : "/") >= (int)sizeof(out->path) ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK ||
	    snprintf(out->url, sizeof(out->url), "%s", url) >= (int)sizeof(out->url)) {
		txp_aws_set_err(err, errlen, "endpoint URL too long: %s", override);
		goto out;
	}
	rc = 0;
out:
	curl_free(part);
	curl_free(url);
	curl_free(path);
	curl_free(port);
	curl_free(host);
	curl_url_cleanup(u);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Copies a message for humans: control characters become spaces. */
static void copy_message(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n;

	if (outlen == 0)
		return;
	n = len < outlen - 1 ? len : outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	out[n] = '\0';
}

/* The short code of raw, truncated to fit rather than dropped. */
static void copy_code(const char *raw, char *code, size_t codelen)
{
	char tmp[256];

	if (codelen == 0)
		return;
	if (txp_aws_error_code(raw, tmp, sizeof(tmp)) < 0)
		tmp[0] = '\0';
	snprintf(code, codelen, "%s", tmp);
}

int txp_aws_parse_error(const char *error_type, const char *body, size_t body_len, char *code, size_t codelen,
                        char *message, size_t msglen)
{
	size_t i = 0;

	if (codelen > 0)
		code[0] = '\0';
	if (msglen > 0)
		message[0] = '\0';
	if (error_type != NULL && error_type[0] != '\0')
		copy_code(error_type, code, codelen);
	if (body == NULL)
		body_len = 0;
	while (i < body_len && isspace((unsigned char)body[i]))
		i++;
	if (i < body_len && body[i] == '{') {
		json_t *j = json_loadb(body + i, body_len - i, 0, NULL);
		const char *t = json_string_value(json_object_get(j, "__type"));
		const char *m = json_string_value(json_object_get(j, "message"));
		if (m == NULL)
			m = json_string_value(json_object_get(j, "Message"));
		if ((codelen == 0 || code[0] == '\0') && t != NULL)
			copy_code(t, code, codelen);
		if (m != NULL)
			copy_message(m, strlen(m), message, msglen);
		json_decref(j);
	} else if (i < body_len && body[i] == '<') {
		const char *inner, *scope = body + i;
		size_t inner_len, scope_len = body_len - i;
		char tmp[1024];

		/* Query protocol: <ErrorResponse><Error><Type/><Code/><Message/></Error>. */
		if (txp_aws_xml_find(scope, scope_len, "Error", &inner, &inner_len) != NULL) {
			scope = inner;
			scope_len = inner_len;
		}
		if ((codelen == 0 || code[0] == '\0') &&
		    txp_aws_xml_find(scope, scope_len, "Code", &inner, &inner_len) != NULL) {
			txp_aws_xml_unescape(inner, inner_len, tmp, sizeof(tmp));
			copy_code(tmp, code, codelen);
		}
		if (txp_aws_xml_find(scope, scope_len, "Message", &inner, &inner_len) != NULL) {
			size_t n = txp_aws_xml_unescape(inner, inner_len, tmp, sizeof(tmp));
			copy_message(tmp, n, message, msglen);
		}
	}
	return codelen > 0 && code[0] != '\0' ? 0 : -ENOENT;
}

/* ---- the client -------------------------------------------------------------------------------- */

static void list_init(struct call_list *l)
{
	txp_queue_init(&l->q);
	l->n = 0;
}

/* The first call of `l`, or NULL. */
static struct call *list_head(const struct call_list *l)
{
	struct txp_queue *q = txp_queue_first(&l->q);

	return q != NULL ? txp_queue_data(q, struct call, link) : NULL;
}

static void list_push(struct call_list *l, struct call *k)
{
	k->list = l;
	txp_queue_insert_tail(&l->q, &k->link);
	l->n++;
}

static void list_remove(struct call *k)
{
	if (k->list == NULL)
		return;
	txp_queue_remove(&k->link);
	k->list->n--;
	k->list = NULL;
}

/* Moves everything from `from` into a fresh list, so callbacks may add to `from` meanwhile. */
static void list_take(struct call_list *from, struct call_list *to)
{
	struct txp_queue *q;

	list_init(to);
	txp_queue_move(&from->q, &to->q);
	to->n = from->n;
	from->n = 0;
	txp_queue_foreach (q, &to->q)
		txp_queue_data(q, struct call, link)->list = to;
}

static void call_free(struct call *k)
{
	free(k->body);
	free(k);
}

/* Reports the outcome and frees the call.  The call must be in no list. */
static void call_finish(struct call *k, const struct txp_aws_result *r)
{
	struct txp_aws_stats *s = &k->c->stats;

	switch (r->kind) {
	case TXP_AWS_OK:
		s->ok[k->svc]++;
		break;
	case TXP_AWS_RETRYABLE:
		s->retryable[k->svc]++;
		if (txp_aws_is_throttling(r->http_status, r->code))
			s->throttled[k->svc]++;
		break;
	default:
		s->fatal[k->svc]++;
		break;
	}
	s->latency_us_sum[k->svc] += r->latency_us;
	if (r->kind != TXP_AWS_OK)
		txp_log_debug("aws_call_failed", "service=%s op=%s kind=%s status=%ld code=%s", service_names[k->svc],
		              k->op, txp_aws_kind_name(r->kind), r->http_status, r->code);
	k->cb(k->arg, r);
	call_free(k);
}

static void result_set(struct txp_aws_result *r, enum txp_aws_kind kind, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void result_set(struct txp_aws_result *r, enum txp_aws_kind kind, const char *code, const char *fmt, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	snprintf(r->code, sizeof(r->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static void on_http(const struct txp_http_resp *resp, void *data);
static void on_wait_timer(uv_timer_t *t);
static void on_defer_timer(uv_timer_t *t);

/* Reports k->saved from the loop, not from the caller's stack. */
static void call_defer(struct call *k)
{
	struct txp_aws_client *c = k->c;

	list_remove(k);
	list_push(&c->deferred, k);
	uv_timer_start(&c->defer_timer, on_defer_timer, 0, 0);
}

/* Signs k with the current credentials and hands it to the HTTP client.
 * Returns 0, or a negative errno with the reason in err (k is then in no list). */
static int call_send(struct call *k, char *err, size_t errlen)
{
	struct txp_aws_client *c = k->c;
	const struct txp_aws_endpoint *ep = &c->ep[k->svc];
	const struct txp_aws_creds *cr = txp_creds_current(c->creds);
	struct txp_sigv4_signed *sig = NULL;
	struct txp_sigv4_header sh[3];
	struct txp_http_header hh[3 + TXP_SIGV4_MAX_ADD_HEADERS];
	char target[sizeof(DYNAMODB_TARGET_PREFIX) + OP_MAX];
	size_t n = 0;
	int rc;

	if (cr == NULL) {
		txp_aws_set_err(err, errlen, "no credentials");
		return -ENOKEY;
	}
	sh[n++] = (struct txp_sigv4_header){ "host", ep->host };
	if (k->svc == TXP_AWS_SNS) {
		sh[n++] = (struct txp_sigv4_header){ "content-type", FORM_CONTENT_TYPE };
	} else {
		snprintf(target, sizeof(target), "%s%s",
		         k->svc == TXP_AWS_DYNAMODB ? DYNAMODB_TARGET_PREFIX : SQS_TARGET_PREFIX, k->op);
		sh[n++] = (struct txp_sigv4_header){ "content-type", JSON_CONTENT_TYPE };
		sh[n++] = (struct txp_sigv4_header){ "x-amz-target", target };
	}
	struct txp_sigv4_request req = {
		.method = "POST",
		.path = ep->path,
		.headers = sh,
		.n_headers = n,
		.payload = k->body,
		.payload_len = k->body_len,
	};
	struct txp_sigv4_credentials sc = { cr->access_key_id, cr->secret_access_key, cr->session_token };
	struct txp_sigv4_params sp = {
		.creds = &sc,
		.region = ep->region,
		.service = ep->service,
		.now = time(NULL),
		.flags = TXP_SIGV4_DEFAULT_FLAGS,
		.cache = &c->keys[k->svc],
	};
	rc = txp_sigv4_sign(&req, &sp, &sig, err, errlen);
	if (rc != 0)
		return rc;
	/* Host is sent explicitly so the header on the wire is the one signed. */
	hh[0] = (struct txp_http_header){ "Host", ep->host };
	for (size_t i = 1; i < n; i++)
		hh[i] = (struct txp_http_header){ i == 1 ? "Content-Type" : "X-Amz-Target", sh[i].value };
	for (size_t i = 0; i < sig->n_add_headers; i++)
		hh[n + i] = (struct txp_http_header){ sig->add_headers[i].name, sig->add_headers[i].value };
	struct txp_http_req hr = {
		.method = "POST",
		.url = ep->url,
		.headers = hh,
		.n_headers = n + sig->n_add_headers,
		.body = k->body,
		.body_len = k->body_len,
		.borrow_body = true, /* k outlives the transfer (on_http frees it) */
	};
	rc = txp_http_request(c->http, &hr, on_http, k, &k->http_id, err, errlen);
	txp_sigv4_signed_free(sig);
	if (rc != 0)
		return rc;
	k->sent_ns = uv_hrtime();
	list_push(&c->inflight, k);
	return 0;
}

/* Sends k from a loop callback: a failure to start is reported through the callback. */
static void call_send_or_finish(struct call *k)
{
	char err[256];
	struct txp_aws_result r;

	if (call_send(k, err, sizeof(err)) == 0)
		return;
	result_set(&r, TXP_AWS_FATAL, "request_failed", "%s", err);
	call_finish(k, &r);
}

static void wait_arm(struct txp_aws_client *c)
{
	uint64_t now = uv_now(c->loop);
	struct call *h = list_head(&c->waiting);

	if (h == NULL) {
		uv_timer_stop(&c->wait_timer);
		return;
	}
	/* Deadlines grow along the list (each is enqueue time plus one timeout). */
	uv_timer_start(&c->wait_timer, on_wait_timer, h->deadline_ms > now ? h->deadline_ms - now : 0, 0);
}

static void call_wait(struct call *k)
{
	struct txp_aws_client *c = k->c;

	k->deadline_ms = uv_now(c->loop) + c->wait_timeout_ms;
	list_push(&c->waiting, k);
	if (c->waiting.n == 1)
		wait_arm(c);
}

static void on_wait_timer(uv_timer_t *t)
{
	struct txp_aws_client *c = t->data;
	uint64_t now = uv_now(c->loop);
	struct call *k;
	struct txp_aws_result r;

	while ((k = list_head(&c->waiting)) != NULL && k->deadline_ms <= now) {
		list_remove(k);
		if (k->awaiting_refresh) {
			call_finish(k, &k->saved);
		} else {
			result_set(&r, TXP_AWS_RETRYABLE, "no_credentials",
			           "no AWS credentials within %llu ms (source: %s)",
			           (unsigned long long)c->wait_timeout_ms, txp_creds_source(c->creds));
			call_finish(k, &r);
		}
	}
	wait_arm(c);
}

static void on_defer_timer(uv_timer_t *t)
{
	struct txp_aws_client *c = t->data;
	struct call_list l;
	struct call *k;

	list_take(&c->deferred, &l);
	while ((k = list_head(&l)) != NULL) {
		list_remove(k);
		call_finish(k, &k->saved);
	}
}

/* The chain fetched credentials (status 0) or failed to (negative errno). */
static void on_creds_change(struct txp_creds_provider *p, int status, void *data)
{
	struct txp_aws_client *c = data;
	struct call_list l;
	struct call *k;

	if (status == 0)
		c->creds_gen++;
	if (c->closing || txp_creds_current(p) == NULL)
		return; /* still nothing to sign with: the waiting calls keep waiting */
	list_take(&c->waiting, &l);
	while ((k = list_head(&l)) != NULL) {
		list_remove(k);
		/* A refresh that failed while the old credentials are still
		 * served would only repeat the rejected request. */
		if (k->awaiting_refresh && status != 0)
			call_finish(k, &k->saved);
		else
			call_send_or_finish(k);
	}
	wait_arm(c);
}

/* A CREDENTIALS error: refresh, then send once more (error.h's contract). */
static void call_retry_credentials(struct call *k, const struct txp_aws_result *r)
{
	struct txp_aws_client *c = k->c;
	uint64_t gen = c->creds_gen;

	k->refreshed = true;
	txp_log_warn("aws_credentials_rejected", "service=%s op=%s code=%s source=%s", service_names[k->svc], k->op,
	             r->code, txp_creds_source(c->creds));
	txp_creds_invalidate(c->creds);
	if (c->creds_gen != gen && txp_creds_current(c->creds) != NULL) {
		/* Re-read synchronously (the shared file). */
		call_send_or_finish(k);
		return;
	}
	if (strcmp(txp_creds_source(c->creds), "environment") == 0) {
		/* Read once at start: nothing newer can come. */
		call_finish(k, r);
		return;
	}
	k->saved = *r;
	k->saved.body = NULL;
	k->saved.body_len = 0;
	k->awaiting_refresh = true;
	call_wait(k);
}

static const char *transport_code(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return "timeout";
	case -ECONNREFUSED:
		return "connection_refused";
	case -EMSGSIZE:
		return "response_too_large";
	case -EPROTO:
		return "tls_error";
	default:
		return "transport_error";
	}
}

static void on_http(const struct txp_http_resp *resp, void *data)
{
	struct call *k = data;
	struct txp_aws_client *c = k->c;
	struct txp_aws_result r;

	list_remove(k);
	memset(&r, 0, sizeof(r));
	r.latency_us = (uv_hrtime() - k->sent_ns) / 1000;
	if (resp->err == -ECANCELED) {
		result_set(&r, TXP_AWS_FATAL, "cancelled", "cancelled: the client is closing");
	} else if (resp->err != 0) {
		const char *code = transport_code(resp->err);
		enum txp_aws_kind kind;
		if (resp->curl_code != 0)
			kind = txp_aws_classify(0, NULL, resp->curl_code);
		else
			kind = resp->err == -EMSGSIZE ? TXP_AWS_FATAL : TXP_AWS_RETRYABLE;
		result_set(&r, kind, code, "%s", resp->errmsg != NULL ? resp->errmsg : code);
	} else {
		r.http_status = resp->status;
		snprintf(r.date, sizeof(r.date), "%s", resp->date != NULL ? resp->date : "");
		r.body = (const char *)resp->body;
		r.body_len = resp->body_len;
		if (resp->status < 200 || resp->status >= 300) {
			if (txp_aws_parse_error(resp->amzn_error_type, r.body, r.body_len, r.code, sizeof(r.code),
			                        r.message, sizeof(r.message)) != 0)
				snprintf(r.code, sizeof(r.code), "http_%ld", resp->status);
			r.kind = txp_aws_classify(resp->status, r.code, 0);
		} else {
			r.kind = TXP_AWS_OK;
		}
	}
	if (r.kind == TXP_AWS_CREDENTIALS && !k->refreshed && !c->closing) {
		call_retry_credentials(k, &r);
		return;
	}
	call_finish(k, &r);
}

static bool op_valid(const char *op)
{
	size_t n = op != NULL ? strlen(op) : 0;

	if (n == 0 || n > OP_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)op[i]))
			return false;
	return true;
}

/* txp_aws_call() and txp_aws_call_take(): `own` is the body to keep
 * (malloc'd, NUL-terminated, taken), or NULL to copy `body`. */
static int call_start(struct txp_aws_client *c, enum txp_aws_service svc, const char *op, const char *body,
                      size_t body_len, char *own, txp_aws_cb cb, void *arg)
{
	struct call *k;
	char err[256];
	int rc;

	if (c == NULL || (unsigned)svc >= TXP_AWS_SERVICE_COUNT || !op_valid(op) || cb == NULL ||
	    (body == NULL && body_len > 0)) {
		free(own);
		return -EINVAL;
	}
	if (c->closing) {
		free(own);
		return -ECANCELED;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		free(own);
		return -ENOMEM;
	}
	k->c = c;
	k->svc = svc;
	snprintf(k->op, sizeof(k->op), "%s", op);
	k->cb = cb;
	k->arg = arg;
	if (svc == TXP_AWS_SNS) {
		k->body = txp_sns_query_body(op, body, body_len, &k->body_len);
		free(own);
	} else if (own != NULL) {
		k->body = own;
		k->body_len = body_len;
	} else {
		k->body = malloc(body_len + 1);
		if (k->body != NULL) {
			if (body_len > 0)
				memcpy(k->body, body, body_len);
			k->body[body_len] = '\0';
			k->body_len = body_len;
		}
	}
	if (k->body == NULL) {
		free(k);
		return -ENOMEM;
	}
	if (txp_creds_current(c->creds) != NULL) {
		rc = call_send(k, err, sizeof(err));
		if (rc != 0) {
			txp_log_warn("aws_call_not_started", "service=%s op=%s reason=\"%s\"", service_names[svc], op,
			             err);
			call_free(k);
			return rc;
		}
	} else if (c->waiting.n >= TXP_AWS_MAX_WAITING) {
		result_set(&k->saved, TXP_AWS_RETRYABLE, "no_credentials",
		           "no AWS credentials yet, and %d calls already wait for them", TXP_AWS_MAX_WAITING);
		call_defer(k);
	} else {
		call_wait(k);
	}
	c->stats.requests[svc]++;
	return 0;
}

int txp_aws_call(struct txp_aws_client *c, enum txp_aws_service svc, const char *op, const char *body, size_t body_len,
                 txp_aws_cb cb, void *arg)
{
	return call_start(c, svc, op, body, body_len, NULL, cb, arg);
}

int txp_aws_call_take(struct txp_aws_client *c, enum txp_aws_service svc, const char *op, char *body, size_t body_len,
                      txp_aws_cb cb, void *arg)
{
	/* A NULL body has nothing to take: it is the empty one, copied. */
	return call_start(c, svc, op, body, body_len, body, cb, arg);
}

int txp_aws_client_create(struct txp_aws_client **out, uv_loop_t *loop, const struct txp_aws_settings *st, char *err,
                          size_t errlen)
{
	struct txp_aws_client *c;
	char why[512];
	int rc;

	if (out == NULL || loop == NULL || st == NULL) {
		txp_aws_set_err(err, errlen, "bad arguments");
		return -EINVAL;
	}
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		txp_aws_set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->loop = loop;
	list_init(&c->waiting);
	list_init(&c->inflight);
	list_init(&c->deferred);
	c->wait_timeout_ms = st->request_timeout_ms;
	for (int s = 0; s < TXP_AWS_SERVICE_COUNT; s++) {
		rc = txp_aws_endpoint_resolve((enum txp_aws_service)s, st->region, st->endpoint[s], &c->ep[s], why,
		                              sizeof(why));
		if (rc != 0) {
			txp_aws_set_err(err, errlen, "[%s] endpoint: %s", service_names[s], why);
			goto err_after_alloc;
		}
		txp_sigv4_key_cache_init(&c->keys[s]);
	}
	struct txp_http_options ho = {
		.max_host_connections = st->max_connections,
		.connect_timeout_ms = st->connect_timeout_ms,
		.timeout_ms = (long)st->request_timeout_ms,
		.ca_file = st->ca_file != NULL && st->ca_file[0] != '\0' ? st->ca_file : NULL,
	};
	rc = txp_http_create(loop, &ho, &c->http, why, sizeof(why));
	if (rc != 0) {
		txp_aws_set_err(err, errlen, "HTTP client: %s", why);
		goto err_after_alloc;
	}
	rc = txp_creds_chain_create(loop, c->http, &st->creds, &c->creds, why, sizeof(why));
	if (rc != 0) {
		txp_aws_set_err(err, errlen, "AWS credentials: %s", why);
		goto err_after_http;
	}
	txp_creds_on_change(c->creds, on_creds_change, c);
	uv_timer_init(loop, &c->wait_timer);
	uv_timer_init(loop, &c->defer_timer);
	c->wait_timer.data = c;
	c->defer_timer.data = c;
	c->open_handles = 2;
	*out = c;
	return 0;

err_after_http:
	/* The HTTP client frees itself from the loop; nothing in it points at c. */
	txp_http_close(c->http, NULL, NULL);
err_after_alloc:
	free(c);
	return rc;
}

void txp_aws_client_stats(const struct txp_aws_client *c, struct txp_aws_stats *s)
{
	const struct txp_aws_creds *cr;

	if (s == NULL)
		return;
	memset(s, 0, sizeof(*s));
	s->credentials_source = "none";
	if (c == NULL)
		return;
	*s = c->stats;
	s->credentials_source = "none";
	if (c->creds != NULL) {
		cr = txp_creds_current(c->creds);
		s->credentials_expire_ms = cr != NULL ? cr->expiration_ms : 0;
		s->credentials_source = txp_creds_source(c->creds);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct txp_aws_client *c = h->data;
	void (*done)(void *) = c->done;
	void *arg = c->done_arg;

	if (--c->open_handles > 0)
		return;
	for (int s = 0; s < TXP_AWS_SERVICE_COUNT; s++)
		txp_sigv4_key_cache_clear(&c->keys[s]);
	free(c);
	if (done != NULL)
		done(arg);
}

static void on_http_closed(struct txp_http *http, void *data)
{
	struct txp_aws_client *c = data;

	(void)http;
	c->http = NULL;
	uv_close((uv_handle_t *)&c->wait_timer, on_handle_closed);
	uv_close((uv_handle_t *)&c->defer_timer, on_handle_closed);
}

static void on_creds_closed(struct txp_creds_provider *p, void *data)
{
	struct txp_aws_client *c = data;

	(void)p;
	c->creds = NULL;
	/* Cancels what is in flight: on_http reports each as "cancelled". */
	txp_http_close(c->http, on_http_closed, c);
}

void txp_aws_client_close(struct txp_aws_client *c, void (*done)(void *arg), void *arg)
{
	struct call_list l;
	struct call *k;
	struct txp_aws_result r;

	if (c == NULL) {
		if (done != NULL)
			done(arg);
		return;
	}
	if (c->closing)
		return;
	c->closing = true;
	c->done = done;
	c->done_arg = arg;
	uv_timer_stop(&c->wait_timer);
	uv_timer_stop(&c->defer_timer);
	list_take(&c->waiting, &l);
	while ((k = list_head(&l)) != NULL) {
		list_remove(k);
		result_set(&r, TXP_AWS_FATAL, "cancelled", "cancelled: the client is closing");
		call_finish(k, &r);
	}
	list_take(&c->deferred, &l);
	while ((k = list_head(&l)) != NULL) {
		list_remove(k);
		call_finish(k, &k->saved);
	}
	txp_creds_on_change(c->creds, NULL, NULL);
	/* The provider before the HTTP client it uses (credentials.h). */
	txp_creds_close(c->creds, on_creds_closed, c);
}
