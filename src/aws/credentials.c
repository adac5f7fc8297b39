/* credentials.c: AWS credential providers (environment, shared file, EC2 IMDSv2), a vtable and a chain. */
#include "txp_build_config.h"

#include "txpipe/aws/credentials.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ini.h>
#include <jansson.h>
#include <sodium.h>

#include "txpipe/log.h"

#define DEFAULT_BEFORE_MIN_MS (5u * 60 * 1000)
#define DEFAULT_BEFORE_MAX_MS (15u * 60 * 1000)
#define DEFAULT_RETRY_MIN_MS 1000u
#define DEFAULT_RETRY_MAX_MS (5u * 60 * 1000)
#define DEFAULT_IMDS_ENDPOINT "http://169.254.169.254"
#define DEFAULT_IMDS_TIMEOUT_MS 1000

/* IMDSv2 session tokens: the TTL we ask for (the maximum, 6 hours, per the
 * EC2 user guide "Use IMDSv2"), and how long before it ends we stop reusing
 * one. */
#define IMDS_TOKEN_TTL_S 21600
#define IMDS_TOKEN_MARGIN_MS (60 * 1000)
#define IMDS_ROLE_MAX 128

/* --- the provider vtable -------------------------------------------------- */

struct creds_vtable {
	const char *name;
	const struct txp_aws_creds *(*current)(struct txp_creds_provider *p);
	const char *(*source)(struct txp_creds_provider *p);
	void (*invalidate)(struct txp_creds_provider *p);
	/* Releases the provider's resources and eventually calls
	 * provider_closed(), which runs the user's callback and frees. */
	void (*close)(struct txp_creds_provider *p);
	void (*destroy)(struct txp_creds_provider *p); /* frees the outer struct */
};

struct txp_creds_provider {
	const struct creds_vtable *vt;
	txp_creds_cb on_change;
	void *on_change_data;
	txp_creds_close_cb close_cb;
	void *close_data;
	bool closing;
};

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static void provider_notify(struct txp_creds_provider *p, int status)
{
	if (p->on_change != NULL && !p->closing)
		p->on_change(p, status, p->on_change_data);
}

static void provider_closed(struct txp_creds_provider *p)
{
	if (p->close_cb != NULL)
		p->close_cb(p, p->close_data);
	p->vt->destroy(p);
}

const struct txp_aws_creds *txp_creds_current(struct txp_creds_provider *p)
{
	return p->vt->current(p);
}

const char *txp_creds_source(struct txp_creds_provider *p)
{
	return p->vt->source(p);
}

void txp_creds_on_change(struct txp_creds_provider *p, txp_creds_cb cb, void *data)
{
	p->on_change = cb;
	p->on_change_data = data;
}

void txp_creds_invalidate(struct txp_creds_provider *p)
{
	if (!p->closing)
		p->vt->invalidate(p);
}

void txp_creds_close(struct txp_creds_provider *p, txp_creds_close_cb close_cb, void *data)
{
	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->close_cb = close_cb;
	p->close_data = data;
	p->vt->close(p);
}

/* --- credentials ---------------------------------------------------------- */

static void str_free_wiped(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

struct txp_aws_creds *txp_aws_creds_create(const char *id, const char *secret, const char *token,
					   int64_t expiration_ms)
{
	struct txp_aws_creds *c;

	if (id == NULL || id[0] == '\0' || secret == NULL || secret[0] == '\0')
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->access_key_id = strdup(id);
	c->secret_access_key = strdup(secret);
	if (token != NULL && token[0] != '\0')
		c->session_token = strdup(token);
	c->expiration_ms = expiration_ms;
	if (c->access_key_id == NULL || c->secret_access_key == NULL ||
	    (token != NULL && token[0] != '\0' && c->session_token == NULL)) {
		txp_aws_creds_free(c);
		return NULL;
	}
	return c;
}

void txp_aws_creds_free(struct txp_aws_creds *c)
{
	if (c == NULL)
		return;
	str_free_wiped(c->access_key_id);
	str_free_wiped(c->secret_access_key);
	str_free_wiped(c->session_token);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* The last four characters of the key id: enough to tell keys apart in
 * logs, too little to matter (the id is not secret, the secret never is
 * logged). */
static const char *key_suffix(const struct txp_aws_creds *c)
{
	size_t n = strlen(c->access_key_id);

	return n > 4 ? c->access_key_id + n - 4 : "";
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool creds_valid(const struct txp_aws_creds *c, int64_t now)
{
	return c != NULL && (c->expiration_ms == 0 || c->expiration_ms > now);
}

/* --- pure helpers --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * "days_from_civil", http://howardhinnant.github.io/date_algorithms.html). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	int64_t yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool take_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

static bool take_char(const char **s, const char *allowed)
{
	if (**s == '\0' || strchr(allowed, **s) == NULL)
		return false;
	(*s)++;
	return true;
}

int txp_creds_parse_rfc3339(const char *s, int64_t *out_ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, ms = 0, scale = 100;
	int64_t secs;
	bool leap;

	if (s == NULL)
		return -EINVAL;
	/* RFC 3339 section 5.6: date-time = full-date "T" full-time. */
	if (!take_digits(&s, 4, &y) || !take_char(&s, "-") || !take_digits(&s, 2, &mo) ||
	    !take_char(&s, "-") || !take_digits(&s, 2, &d) || !take_char(&s, "Tt ") ||
	    !take_digits(&s, 2, &h) || !take_char(&s, ":") || !take_digits(&s, 2, &mi) ||
	    !take_char(&s, ":") || !take_digits(&s, 2, &sec))
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			ms += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (take_char(&s, "Zz")) {
		sign = 0;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		s++;
		if (!take_digits(&s, 2, &oh) || !take_char(&s, ":") || !take_digits(&s, 2, &om) || oh > 23 ||
		    om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
	    mi > 59 || sec > 60)
		return -EINVAL;
	secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	*out_ms = secs * 1000 + ms;
	return 0;
}

static void policy_defaults(const struct txp_creds_refresh_policy *in, struct txp_creds_refresh_policy *out)
{
	out->before_min_ms = in->before_min_ms != 0 ? in->before_min_ms : DEFAULT_BEFORE_MIN_MS;
	out->before_max_ms = in->before_max_ms != 0 ? in->before_max_ms : DEFAULT_BEFORE_MAX_MS;
	if (out->before_max_ms < out->before_min_ms)
		out->before_max_ms = out->before_min_ms;
	out->retry_min_ms = in->retry_min_ms != 0 ? in->retry_min_ms : DEFAULT_RETRY_MIN_MS;
	out->retry_max_ms = in->retry_max_ms != 0 ? in->retry_max_ms : DEFAULT_RETRY_MAX_MS;
	if (out->retry_max_ms < out->retry_min_ms)
		out->retry_max_ms = out->retry_min_ms;
}

uint64_t txp_creds_refresh_delay_ms(const struct txp_creds_refresh_policy *pin, int64_t now,
				    int64_t expiration_ms, uint32_t rnd)
{
	struct txp_creds_refresh_policy p;
	uint64_t before, delay;
	int64_t at, remaining;

	policy_defaults(pin, &p);
	/* Jitter spreads the refreshes of many daemons started together. */
	before = p.before_min_ms + rnd % (p.before_max_ms - p.before_min_ms + 1);
	at = expiration_ms - (int64_t)before;
	if (at > now) {
		delay = (uint64_t)(at - now);
	} else {
		/* Already inside the window (short-lived credentials, or the
		 * service has not rotated yet): halve the remaining life. */
		remaining = expiration_ms - now;
		delay = remaining > 0 ? (uint64_t)remaining / 2 : 0;
	}
	return delay < p.retry_min_ms ? p.retry_min_ms : delay;
}

uint64_t txp_creds_retry_delay_ms(const struct txp_creds_refresh_policy *pin, unsigned failures, uint32_t rnd)
{
	struct txp_creds_refresh_policy p;
	uint64_t d;
	unsigned shift = failures > 1 ? failures - 1 : 0;

	policy_defaults(pin, &p);
	if (shift > 30)
		shift = 30;
	d = p.retry_min_ms << shift;
	if (d > p.retry_max_ms || d >> shift != p.retry_min_ms)
		d = p.retry_max_ms;
	return d / 2 + rnd % (d - d / 2 + 1);
}

/* --- environment ---------------------------------------------------------- */

struct static_provider {
	struct txp_creds_provider base;
	struct txp_aws_creds *creds;
	const char *source;
	/* file provider only: where to read again on invalidate */
	char *path;
	char *profile;
};

static const struct txp_aws_creds *static_current(struct txp_creds_provider *p)
{
	struct static_provider *s = (struct static_provider *)p;

	return s->creds;
}

static const char *static_source(struct txp_creds_provider *p)
{
	struct static_provider *s = (struct static_provider *)p;

	return s->creds != NULL ? s->source : "none";
}

static void static_invalidate(struct txp_creds_provider *p)
{
	/* Environment variables were read once; there is nothing newer. */
}

static void static_close(struct txp_creds_provider *p)
{
	provider_closed(p);
}

static void static_destroy(struct txp_creds_provider *p)
{
	struct static_provider *s = (struct static_provider *)p;

	txp_aws_creds_free(s->creds);
	free(s->path);
	free(s->profile);
	free(s);
}

static const struct creds_vtable env_vtable = {
	.name = "environment",
	.current = static_current,
	.source = static_source,
	.invalidate = static_invalidate,
	.close = static_close,
	.destroy = static_destroy,
};

int txp_creds_env_create(txp_getenv_fn getenv_fn, struct txp_creds_provider **out, char *errbuf,
			 size_t errlen)
{
	struct static_provider *s;
	const char *id, *secret;

	if (getenv_fn == NULL)
		getenv_fn = getenv;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	s->base.vt = &env_vtable;
	s->source = "environment";
	id = getenv_fn("AWS_ACCESS_KEY_ID");
	secret = getenv_fn("AWS_SECRET_ACCESS_KEY");
	if (id != NULL && id[0] != '\0' && secret != NULL && secret[0] != '\0') {
		s->creds = txp_aws_creds_create(id, secret, getenv_fn("AWS_SESSION_TOKEN"), 0);
		if (s->creds == NULL) {
			free(s);
			set_err(errbuf, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	*out = &s->base;
	return 0;
}

/* --- shared credentials file ---------------------------------------------- */

struct ini_state {
	const char *profile;
	bool found;
	char *id, *secret, *token;
	bool oom;
};

static int set_value(char **dst, const char *value, struct ini_state *st)
{
	str_free_wiped(*dst);
	*dst = strdup(value);
	if (*dst == NULL)
		st->oom = true;
	return *dst != NULL;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;

	if (strcmp(section, st->profile) != 0)
		return 1;
	st->found = true;
	/* Key names are case-insensitive in the AWS CLI's reader. */
	if (strcasecmp(name, "aws_access_key_id") == 0)
		return set_value(&st->id, value, st);
	if (strcasecmp(name, "aws_secret_access_key") == 0)
		return set_value(&st->secret, value, st);
	if (strcasecmp(name, "aws_session_token") == 0)
		return set_value(&st->token, value, st);
	return 1;
}

/* Reads `profile` from `path` into *out (NULL when the file or profile is
 * absent).  Returns 0 or a negative errno with errbuf filled. */
static int read_profile(const char *path, const char *profile, struct txp_aws_creds **out, char *errbuf,
			size_t errlen)
{
	struct ini_state st = { .profile = profile };
	FILE *f;
	int line, rc = 0;

	*out = NULL;
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		rc = -errno;
		set_err(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	line = ini_parse_file(f, on_ini, &st);
	fclose(f);
	if (st.oom) {
		set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
	} else if (line != 0) {
		set_err(errbuf, errlen, "%s:%d: malformed line", path, line);
		rc = -EINVAL;
	} else if (st.found && (st.id != NULL || st.secret != NULL) && (st.id == NULL || st.secret == NULL)) {
		set_err(errbuf, errlen, "%s: profile [%s] has %s but not %s", path, profile,
			st.id != NULL ? "aws_access_key_id" : "aws_secret_access_key",
			st.id != NULL ? "aws_secret_access_key" : "aws_access_key_id");
		rc = -EINVAL;
	} else if (st.id != NULL && st.secret != NULL) {
		*out = txp_aws_creds_create(st.id, st.secret, st.token, 0);
		if (*out == NULL) {
			set_err(errbuf, errlen, "%s: profile [%s] has empty keys", path, profile);
			rc = -EINVAL;
		}
	}
	str_free_wiped(st.id);
	str_free_wiped(st.secret);
	str_free_wiped(st.token);
	return rc;
}

static void file_invalidate(struct txp_creds_provider *p)
{
	struct static_provider *s = (struct static_provider *)p;
	struct txp_aws_creds *c;
	char err[512];

	/* The file may have been rewritten (aws sso login, a rotation job). */
	if (read_profile(s->path, s->profile, &c, err, sizeof(err)) != 0) {
		txp_log_warn("aws_credentials_file_error", "reason=\"%s\"", err);
		return;
	}
	if (c == NULL)
		return;
	txp_aws_creds_free(s->creds);
	s->creds = c;
	provider_notify(p, 0);
}

static const struct creds_vtable file_vtable = {
	.name = "shared-credentials-file",
	.current = static_current,
	.source = static_source,
	.invalidate = file_invalidate,
	.close = static_close,
	.destroy = static_destroy,
};

int txp_creds_file_create(const struct txp_creds_options *opts, struct txp_creds_provider **out, char *errbuf,
			  size_t errlen)
{
	txp_getenv_fn env = opts->getenv_fn != NULL ? opts->getenv_fn : getenv;
	struct static_provider *s;
	const char *v, *home;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	s->base.vt = &file_vtable;
	s->source = "shared-credentials-file";
	if (opts->credentials_file != NULL && opts->credentials_file[0] != '\0') {
		s->path = strdup(opts->credentials_file);
	} else if ((v = env("AWS_SHARED_CREDENTIALS_FILE")) != NULL && v[0] != '\0') {
		s->path = strdup(v);
	} else if ((home = env("HOME")) != NULL && home[0] != '\0') {
		if (asprintf(&s->path, "%s/.aws/credentials", home) < 0)
			s->path = NULL;
	} else {
		/* No home directory: no default file to read. */
		s->path = strdup("");
	}
	if (opts->profile != NULL && opts->profile[0] != '\0')
		s->profile = strdup(opts->profile);
	else if ((v = env("AWS_PROFILE")) != NULL && v[0] != '\0')
		s->profile = strdup(v);
	else
		s->profile = strdup("default");
	if (s->path == NULL || s->profile == NULL) {
		set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	if (s->path[0] != '\0') {
		rc = read_profile(s->path, s->profile, &s->creds, errbuf, errlen);
		if (rc != 0)
			goto err_after_alloc;
	}
	*out = &s->base;
	return 0;

err_after_alloc:
	static_destroy(&s->base);
	return rc;
}

/* --- EC2 instance metadata service, IMDSv2 -------------------------------- */

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
		m->step = m->token != NULL && now_ms() < m->token_expiry_ms ? IMDS_ROLE : IMDS_TOKEN;
		imds_send(m);
	}
}

static void imds_schedule(struct imds_provider *m, uint64_t delay_ms)
{
	uv_timer_start(&m->timer, on_imds_timer, delay_ms, 0);
}

static void imds_drop_token(struct imds_provider *m)
{
	str_free_wiped(m->token);
	m->token = NULL;
}

/* Ends a refresh that failed: keep serving credentials that are still valid,
 * drop expired ones, back off and tell the listener. */
static void imds_fail(struct imds_provider *m, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
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
	if (m->creds != NULL && !creds_valid(m->creds, now_ms())) {
		txp_aws_creds_free(m->creds);
		m->creds = NULL;
	}
	kept = m->creds != NULL;
	if (m->http_gone) {
		txp_log_warn("aws_credentials_refresh_failed", "provider=imds reason=\"%s\" retry=never",
			     reason);
	} else {
		delay = txp_creds_retry_delay_ms(&m->policy, m->failures, randombytes_random());
		txp_log_warn("aws_credentials_refresh_failed",
			     "provider=imds reason=\"%s\" failures=%u retry_in_ms=%llu serving=%s", reason,
			     m->failures, (unsigned long long)delay, kept ? "previous" : "none");
		imds_schedule(m, delay);
	}
	provider_notify(&m->base, err);
}

static void imds_install(struct imds_provider *m, struct txp_aws_creds *c)
{
	int64_t now = now_ms();
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
		     m->role, key_suffix(c), changed ? "new" : "same",
		     (long long)((c->expiration_ms - now) / 1000), (unsigned long long)delay);
	imds_schedule(m, delay);
	provider_notify(&m->base, 0);
}

/* Parses the security-credentials document (EC2 user guide, "Retrieve
 * security credentials from instance metadata"). */
int txp_creds_imds_parse_creds(const char *body, size_t body_len, struct txp_aws_creds **out, char *why,
			       size_t whylen)
{
	json_error_t jerr;
	json_t *doc, *code;
	const char *id, *secret, *token, *exp;
	int64_t exp_ms;
	int rc = -EPROTO;

	*out = NULL;
	doc = json_loadb(body, body_len, 0, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		set_err(why, whylen, "credentials document is not a JSON object");
		goto done;
	}
	code = json_object_get(doc, "Code");
	if (code != NULL && (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0)) {
		set_err(why, whylen, "credentials document Code is not Success");
		goto done;
	}
	id = json_string_value(json_object_get(doc, "AccessKeyId"));
	secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
	token = json_string_value(json_object_get(doc, "Token"));
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (id == NULL || secret == NULL || token == NULL || exp == NULL || id[0] == '\0' ||
	    secret[0] == '\0') {
		set_err(why, whylen,
			"credentials document lacks AccessKeyId, SecretAccessKey, Token or Expiration");
		goto done;
	}
	if (txp_creds_parse_rfc3339(exp, &exp_ms) != 0) {
		set_err(why, whylen, "credentials Expiration is not an RFC 3339 time");
		goto done;
	}
	*out = txp_aws_creds_create(id, secret, token, exp_ms);
	if (*out == NULL) {
		set_err(why, whylen, "out of memory");
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
			imds_fail(m, r->status == 403 ? -EACCES : -EPROTO, "token request: HTTP %ld",
				  r->status);
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
		m->token_expiry_ms = now_ms() + IMDS_TOKEN_TTL_S * 1000LL - IMDS_TOKEN_MARGIN_MS;
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
			imds_fail(m, rc, "role request: %s",
				  rc == -ENOENT ? "no role listed" : "invalid role name");
			return;
		}
		if (m->role[0] != '\0' && strcmp(m->role, role) != 0)
			txp_log_notice("aws_credentials_role_changed", "provider=imds old=%s new=%s", m->role,
				       role);
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
			imds_fail(m, -EPROTO, "credentials request for role %s: HTTP %ld", m->role,
				  r->status);
			return;
		}
		rc = txp_creds_imds_parse_creds((const char *)r->body, r->body_len, &c, why, sizeof(why));
		if (rc != 0) {
			imds_fail(m, rc, "%s", why);
			return;
		}
		if (!creds_valid(c, now_ms())) {
			/* Refreshing at once would loop; back off instead. */
			txp_aws_creds_free(c);
			imds_fail(m, -EPROTO, "credentials from role %s already expired (clock skew?)",
				  m->role);
			return;
		}
		imds_install(m, c);
		return;
	case IMDS_IDLE: return;
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
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", m->endpoint,
			 m->role);
		h = (struct txp_http_header){ "X-aws-ec2-metadata-token", m->token };
		break;
	case IMDS_IDLE: return;
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
	provider_closed(h->data);
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
		set_err(errbuf, errlen, "sodium_init failed");
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
		set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	m->base.vt = &imds_vtable;
	m->loop = loop;
	m->http = http;
	m->timeout_ms = opts->imds_timeout_ms > 0 ? opts->imds_timeout_ms : DEFAULT_IMDS_TIMEOUT_MS;
	policy_defaults(&opts->refresh, &m->policy);
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	m->endpoint = strndup(ep, n);
	if (m->endpoint == NULL) {
		set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	rc = uv_timer_init(loop, &m->timer);
	if (rc != 0) {
		set_err(errbuf, errlen, "uv_timer_init: %s", uv_strerror(rc));
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

/* --- the chain ------------------------------------------------------------ */

#define CHAIN_MAX 3

struct chain_provider {
	struct txp_creds_provider base;
	struct txp_creds_provider *links[CHAIN_MAX];
	size_t n;
	size_t open;
};

static const struct txp_aws_creds *chain_current(struct txp_creds_provider *p)
{
	struct chain_provider *ch = (struct chain_provider *)p;
	const struct txp_aws_creds *c;

	for (size_t i = 0; i < ch->n; i++)
		if ((c = txp_creds_current(ch->links[i])) != NULL)
			return c;
	return NULL;
}

static const char *chain_source(struct txp_creds_provider *p)
{
	struct chain_provider *ch = (struct chain_provider *)p;

	for (size_t i = 0; i < ch->n; i++)
		if (txp_creds_current(ch->links[i]) != NULL)
			return txp_creds_source(ch->links[i]);
	return "none";
}

static void chain_invalidate(struct txp_creds_provider *p)
{
	struct chain_provider *ch = (struct chain_provider *)p;

	for (size_t i = 0; i < ch->n; i++)
		txp_creds_invalidate(ch->links[i]);
}

static void chain_link_closed(struct txp_creds_provider *link, void *data)
{
	struct chain_provider *ch = data;

	if (--ch->open == 0)
		provider_closed(&ch->base);
}

static void chain_close(struct txp_creds_provider *p)
{
	struct chain_provider *ch = (struct chain_provider *)p;

	ch->open = ch->n + 1; /* +1 so a link closing synchronously cannot end the chain early */
	for (size_t i = 0; i < ch->n; i++)
		txp_creds_close(ch->links[i], chain_link_closed, ch);
	chain_link_closed(NULL, ch);
}

static void chain_destroy(struct txp_creds_provider *p)
{
	free(p);
}

static const struct creds_vtable chain_vtable = {
	.name = "chain",
	.current = chain_current,
	.source = chain_source,
	.invalidate = chain_invalidate,
	.close = chain_close,
	.destroy = chain_destroy,
};

static void chain_on_link_change(struct txp_creds_provider *link, int status, void *data)
{
	provider_notify(data, status);
}

static int chain_add(struct chain_provider *ch, struct txp_creds_provider *link)
{
	ch->links[ch->n++] = link;
	txp_creds_on_change(link, chain_on_link_change, ch);
	return txp_creds_current(link) != NULL;
}

int txp_creds_chain_create(uv_loop_t *loop, struct txp_http *http, const struct txp_creds_options *opts,
			   struct txp_creds_provider **out, char *errbuf, size_t errlen)
{
	txp_getenv_fn env = opts->getenv_fn != NULL ? opts->getenv_fn : getenv;
	struct chain_provider *ch;
	struct txp_creds_provider *link;
	const char *off;
	int rc;

	ch = calloc(1, sizeof(*ch));
	if (ch == NULL) {
		set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	ch->base.vt = &chain_vtable;
	rc = txp_creds_env_create(env, &link, errbuf, errlen);
	if (rc != 0)
		goto err_after_alloc;
	if (chain_add(ch, link))
		goto done;
	rc = txp_creds_file_create(opts, &link, errbuf, errlen);
	if (rc != 0)
		goto err_after_links;
	if (chain_add(ch, link))
		goto done;
	off = env("AWS_EC2_METADATA_DISABLED");
	if (opts->disable_imds || (off != NULL && strcasecmp(off, "true") == 0)) {
		set_err(errbuf, errlen,
			"no AWS credentials: none in the environment or the shared credentials file, "
			"and instance metadata is disabled");
		rc = -ENOENT;
		goto err_after_links;
	}
	rc = txp_creds_imds_create(loop, http, opts, &link, errbuf, errlen);
	if (rc != 0)
		goto err_after_links;
	chain_add(ch, link);
done:
	txp_log_info("aws_credentials_source", "source=%s",
		     txp_creds_current(link) != NULL ? txp_creds_source(link) : "imds (fetching)");
	*out = &ch->base;
	return 0;

err_after_links:
	/* Only environment and file providers exist here; they close at once. */
	for (size_t i = 0; i < ch->n; i++)
		txp_creds_close(ch->links[i], NULL, NULL);
err_after_alloc:
	free(ch);
	return rc;
}
