/* credentials_imds.c: the credentials provider that fetches an instance role's keys from EC2 IMDSv2. */
#include "txp_build_config.h"

#include "credentials_provider.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/clock.h"
#include "txpipe/log.h"

#define DEFAULT_IMDS_ENDPOINT "http://169.254.169.254"
#define DEFAULT_IMDS_TIMEOUT_MS 1000

/* IMDSv2 session tokens: the TTL we ask for (the maximum, 6 hours, per the
 * EC2 user guide "Use IMDSv2"), and how long before it ends we stop reusing
 * one. */
#define IMDS_TOKEN_TTL_S 21600
#define IMDS_TOKEN_MARGIN_MS (60 * 1000)
#define IMDS_ROLE_MAX 128

enum imds_step { IMDS_IDLE, IMDS_TOKEN, IMDS_ROLE, IMDS_CREDS };

struct imds_provider {
	struct txp_creds_provider base;
	uv_loop_t *loop;
	struct txp_http *http;
	bool http_gone;   /* the client was closed under us */
	uv_timer_t timer; /* next refresh or retry */
	char *endpoint;   /* without a trailing slash */
	long timeout_ms;
	struct txp_creds_refresh_policy policy;
	struct txp_aws_creds *creds;
	char *token; /* the IMDSv2 session token; a secret */
	int64_t token_expiry_ms;
	char role[IMDS_ROLE_MAX + 1];
	enum imds_step step;
	uint64_t req_id;
	bool token_retried; /* this refresh already replaced a rejected token */
	bool role_retried;  /* this refresh already re-read the role after a 404 */
	unsigned failures;  /* consecutive, for the backoff */
};

static void imds_send(struct imds_provider *m);

static const struct txp_aws_creds *imds_current(struct txp_creds_provider *p)
{
	struct imds_provider *m = (struct imds_provider *)p;

	return m->creds;
}

static const char *imds_source(struct txp_creds_provider *p)
{
	struct imds_provider *m = (struct imds_provider *)p;

	return m->creds != NULL ? "imds" : "none";
}

static void on_imds_timer(uv_timer_t *t)
{
	struct imds_provider *m = t->data;

	if (m->step == IMDS_IDLE && !m->http_gone) {
		m->token_retried = m->role_retried = false;
		m->step = m->token != NULL && txp_creds__now_ms() < m->token_expiry_ms ? IMDS_ROLE : IMDS_TOKEN;
		imds_send(m);
	}
}

static void imds_schedule(struct imds_provider *m, uint64_t delay_ms)
{
	uv_timer_start(&m->timer, on_imds_timer, delay_ms, 0);
}

static void imds_drop_token(struct imds_provider *m)
{
	txp_creds__str_free_wiped(m->token);
	m->token = NULL;
}

/* Ends a refresh that failed: keep serving credentials that are still valid,
 * drop expired ones, back off and tell the listener. */
static void imds_fail(struct imds_provider *m, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void imds_fail(struct imds_provider *m, int err, const char *fmt, ...)
{
	char reason[300];
	va_list ap;
	uint64_t delay;
	bool kept;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	m->step = IMDS_IDLE;
	m->failures++;
	if (m->creds != NULL && !txp_creds__valid(m->creds, txp_creds__now_ms())) {
		txp_aws_creds_free(m->creds);
		m->creds = NULL;
	}
	kept = m->creds != NULL;
	if (m->http_gone) {
		txp_log_warn("aws_credentials_refresh_failed", "provider=imds reason=\"%s\" retry=never", reason);
	} else {
		delay = txp_creds_retry_delay_ms(&m->policy, m->failures, randombytes_random());
		txp_log_warn("aws_credentials_refresh_failed",
		             "provider=imds reason=\"%s\" failures=%u retry_in_ms=%llu serving=%s", reason, m->failures,
		             (unsigned long long)delay, kept ? "previous" : "none");
		imds_schedule(m, delay);
	}
	txp_creds__notify(&m->base, err);
}

static void imds_install(struct imds_provider *m, struct txp_aws_creds *c)
{
	int64_t now = txp_creds__now_ms();
	uint64_t delay;
	bool changed = m->creds == NULL || strcmp(m->creds->access_key_id, c->access_key_id) != 0 ||
	               strcmp(m->creds->secret_access_key, c->secret_access_key) != 0;

	txp_aws_creds_free(m->creds);
	m->creds = c;
	m->step = IMDS_IDLE;
	m->failures = 0;
	delay = txp_creds_refresh_delay_ms(&m->policy, now, c->expiration_ms, randombytes_random());
	txp_log_info("aws_credentials_refreshed",
	             "provider=imds role=%s key_suffix=%s keys=%s expires_in_s=%lld "
	             "refresh_in_ms=%llu",
	             m->role, txp_creds__key_suffix(c), changed ? "new" : "same",
	             (long long)((c->expiration_ms - now) / 1000), (unsigned long long)delay);
	imds_schedule(m, delay);
	txp_creds__notify(&m->base, 0);
}

/* Parses the security-credentials document (EC2 user guide, "Retrieve
 * security credentials from instance metadata"). */
int txp_creds_imds_parse_creds(const char *body, size_t body_len, struct txp_aws_creds **out, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *doc, *code;
	const char *id, *secret, *token, *exp;
	int64_t exp_ms;
	int rc = -EPROTO;

	*out = NULL;
	doc = json_loadb(body, body_len, 0, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		txp_aws_set_err(why, whylen, "credentials document is not a JSON object");
		goto done;
	}
	code = json_object_get(doc, "Code");
	if (code != NULL && (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0)) {
		txp_aws_set_err(why, whylen, "credentials document Code is not Success");
		goto done;
	}
	id = json_string_value(json_object_get(doc, "AccessKeyId"));
	secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
	token = json_string_value(json_object_get(doc, "Token"));
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (id == NULL || secret == NULL || token == NULL || exp == NULL || id[0] == '\0' || secret[0] == '\0') {
		txp_aws_set_err(why, whylen,
		                "credentials document lacks AccessKeyId, SecretAccessKey, Token or Expiration");
		goto done;
	}
	if (txp_time_parse_rfc3339(exp, strlen(exp), &exp_ms) != 0) {
		txp_aws_set_err(why, whylen, "credentials Expiration is not an RFC 3339 time");
		goto done;
	}
	*out = txp_aws_creds_create(id, secret, token, exp_ms);
	if (*out == NULL) {
		txp_aws_set_err(why, whylen, "out of memory");
		rc = -ENOMEM;
		goto done;
	}
	rc = 0;
done:
	if (doc != NULL) {
		/* jansson frees without wiping: clear the secrets in its copies
		 * (heap strings it allocated, so writable) before releasing. */
		const char *sv[2] = { json_string_value(json_object_get(doc, "SecretAccessKey")),
			              json_string_value(json_object_get(doc, "Token")) };
		for (size_t i = 0; i < 2; i++)
			if (sv[i] != NULL)
				sodium_memzero((char *)sv[i], strlen(sv[i]));
		json_decref(doc);
	}
	return rc;
}

/* The role list is one name per line; an instance profile holds one role.
 * The name becomes a URL path segment, so only IAM's role-name characters
 * ([\w+=,.@-], IAM API reference, CreateRole) are accepted. */
int txp_creds_imds_parse_role(const char *body, size_t body_len, char *role, size_t cap)
{
	size_t n = 0;

	while (n < body_len && body[n] != '\n' && body[n] != '\r') {
		unsigned char ch = body[n];
		/* ch != 0: strchr() would find the terminator and let a NUL
		 * byte cut the name short. */
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      (ch != '\0' && strchr("_+=,.@-", ch) != NULL)) ||
		    n + 1 >= cap)
			return -EPROTO;
		n++;
	}
	if (n == 0)
		return -ENOENT;
	memcpy(role, body, n);
	role[n] = '\0';
	return 0;
}

static void imds_on_response(const struct txp_http_resp *r, void *data)
{
	struct imds_provider *m = data;
	struct txp_aws_creds *c;
	char why[200], role[IMDS_ROLE_MAX + 1];
	size_t n;
	int rc;

	m->req_id = 0;
	if (m->base.closing)
		return;
	if (r->err == -ECANCELED) {
		/* Only the HTTP client's close cancels our requests behind our
		 * back: it is gone, so stop using it. */
		m->http_gone = true;
		imds_fail(m, r->err, "HTTP client closed");
		return;
	}
	if (r->err != 0) {
		imds_fail(m, r->err, "%s", r->errmsg);
		return;
	}
	if (r->status == 401 && m->step != IMDS_TOKEN && !m->token_retried) {
		/* The session token expired (or IMDS restarted): a new token,
		 * then the same request again, once. */
		m->token_retried = true;
		imds_drop_token(m);
		m->step = IMDS_TOKEN;
		imds_send(m);
		return;
	}
	switch (m->step) {
	case IMDS_TOKEN:
		if (r->status != 200 || r->body_len == 0) {
			imds_fail(m, r->status == 403 ? -EACCES : -EPROTO, "token request: HTTP %ld", r->status);
			return;
		}
		imds_drop_token(m);
		n = r->body_len;
		while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r' || r->body[n - 1] == ' '))
			n--;
		m->token = strndup((const char *)r->body, n);
		if (m->token == NULL) {
			imds_fail(m, -ENOMEM, "out of memory");
			return;
		}
		m->token_expiry_ms = txp_creds__now_ms() + IMDS_TOKEN_TTL_S * 1000LL - IMDS_TOKEN_MARGIN_MS;
		m->step = IMDS_ROLE;
		imds_send(m);
		return;
	case IMDS_ROLE:
		if (r->status == 404) {
			imds_fail(m, -ENOENT, "no IAM role attached to the instance");
			return;
		}
		if (r->status != 200) {
			imds_fail(m, -EPROTO, "role request: HTTP %ld", r->status);
			return;
		}
		rc = txp_creds_imds_parse_role((const char *)r->body, r->body_len, role, sizeof(role));
		if (rc != 0) {
			imds_fail(m, rc, "role request: %s", rc == -ENOENT ? "no role listed" : "invalid role name");
			return;
		}
		if (m->role[0] != '\0' && strcmp(m->role, role) != 0)
			txp_log_notice("aws_credentials_role_changed", "provider=imds old=%s new=%s", m->role, role);
		snprintf(m->role, sizeof(m->role), "%s", role);
		m->step = IMDS_CREDS;
		imds_send(m);
		return;
	case IMDS_CREDS:
		if (r->status == 404 && !m->role_retried) {
			/* The role was swapped between our two requests. */
			m->role_retried = true;
			m->step = IMDS_ROLE;
			imds_send(m);
			return;
		}
		if (r->status != 200) {
			imds_fail(m, -EPROTO, "credentials request for role %s: HTTP %ld", m->role, r->status);
			return;
		}
		rc = txp_creds_imds_parse_creds((const char *)r->body, r->body_len, &c, why, sizeof(why));
		if (rc != 0) {
			imds_fail(m, rc, "%s", why);
			return;
		}
		if (!txp_creds__valid(c, txp_creds__now_ms())) {
			/* Refreshing at once would loop; back off instead. */
			txp_aws_creds_free(c);
			imds_fail(m, -EPROTO, "credentials from role %s already expired (clock skew?)", m->role);
			return;
		}
		imds_install(m, c);
		return;
	case IMDS_IDLE:
		return;
	}
}

static void imds_send(struct imds_provider *m)
{
	char url[512], ttl[16], err[256];
	struct txp_http_header h;
	struct txp_http_req req = {
		.url = url,
		.headers = &h,
		.n_headers = 1,
		.connect_timeout_ms = m->timeout_ms,
		.timeout_ms = m->timeout_ms,
		.allow_imds = true,
	};
	int rc;

	switch (m->step) {
	case IMDS_TOKEN:
		snprintf(ttl, sizeof(ttl), "%d", IMDS_TOKEN_TTL_S);
		req.method = "PUT";
		snprintf(url, sizeof(url), "%s/latest/api/token", m->endpoint);
		h = (struct txp_http_header){ "X-aws-ec2-metadata-token-ttl-seconds", ttl };
		break;
	case IMDS_ROLE:
		req.method = "GET";
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/", m->endpoint);
		h = (struct txp_http_header){ "X-aws-ec2-metadata-token", m->token };
		break;
	case IMDS_CREDS:
		req.method = "GET";
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", m->endpoint, m->role);
		h = (struct txp_http_header){ "X-aws-ec2-metadata-token", m->token };
		break;
	case IMDS_IDLE:
		return;
	}
	rc = txp_http_request(m->http, &req, imds_on_response, m, &m->req_id, err, sizeof(err));
	if (rc != 0) {
		if (rc == -ECANCELED)
			m->http_gone = true;
		imds_fail(m, rc, "%s", err);
	}
}

static void imds_invalidate(struct txp_creds_provider *p)
{
	struct imds_provider *m = (struct imds_provider *)p;

	if (m->step != IMDS_IDLE || m->http_gone)
		return; /* a refresh is already under way */
	uv_timer_stop(&m->timer);
	on_imds_timer(&m->timer);
}

static void imds_timer_closed(uv_handle_t *h)
{
	txp_creds__closed(h->data);
}

static void imds_close(struct txp_creds_provider *p)
{
	struct imds_provider *m = (struct imds_provider *)p;

	/* base.closing is set: the cancelled request's callback returns early. */
	if (m->req_id != 0 && !m->http_gone)
		txp_http_cancel(m->http, m->req_id);
	uv_close((uv_handle_t *)&m->timer, imds_timer_closed);
}

static void imds_destroy(struct txp_creds_provider *p)
{
	struct imds_provider *m = (struct imds_provider *)p;

	txp_aws_creds_free(m->creds);
	imds_drop_token(m);
	free(m->endpoint);
	free(m);
}

static const struct creds_vtable imds_vtable = {
	.name = "imds",
	.current = imds_current,
	.source = imds_source,
	.invalidate = imds_invalidate,
	.close = imds_close,
	.destroy = imds_destroy,
};

int txp_creds_imds_create(uv_loop_t *loop, struct txp_http *http, const struct txp_creds_options *opts,
                          struct txp_creds_provider **out, char *errbuf, size_t errlen)
{
	txp_getenv_fn env = opts->getenv_fn != NULL ? opts->getenv_fn : getenv;
	struct imds_provider *m;
	const char *ep;
	size_t n;
	int rc;

	if (sodium_init() < 0) {
		txp_aws_set_err(errbuf, errlen, "sodium_init failed");
		return -EIO;
	}
	ep = opts->imds_endpoint;
	if (ep == NULL || ep[0] == '\0')
		ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (ep == NULL || ep[0] == '\0')
		ep = DEFAULT_IMDS_ENDPOINT;
	rc = txp_http_url_allowed(ep, true, errbuf, errlen);
	if (rc != 0)
		return rc;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	m->base.vt = &imds_vtable;
	m->loop = loop;
	m->http = http;
	m->timeout_ms = opts->imds_timeout_ms > 0 ? opts->imds_timeout_ms : DEFAULT_IMDS_TIMEOUT_MS;
	txp_creds__policy_defaults(&opts->refresh, &m->policy);
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	m->endpoint = strndup(ep, n);
	if (m->endpoint == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	rc = uv_timer_init(loop, &m->timer);
	if (rc != 0) {
		txp_aws_set_err(errbuf, errlen, "uv_timer_init: %s", uv_strerror(rc));
		goto err_after_alloc;
	}
	m->timer.data = m;
	/* The first fetch starts now; its result arrives from the loop. */
	on_imds_timer(&m->timer);
	*out = &m->base;
	return 0;

err_after_alloc:
	imds_destroy(&m->base);
	return rc;
}
