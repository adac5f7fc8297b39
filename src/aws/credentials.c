/* credentials.c: AWS credentials, the provider vtable's dispatch, and what the providers share. */
#include "txp_build_config.h"

#include "credentials_provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

/* One file per provider: credentials_env.c, credentials_profile.c,
 * credentials_imds.c, and the chain that orders them, credentials_chain.c. */

#define DEFAULT_BEFORE_MIN_MS (5u * 60 * 1000)
#define DEFAULT_BEFORE_MAX_MS (15u * 60 * 1000)
#define DEFAULT_RETRY_MIN_MS 1000u
#define DEFAULT_RETRY_MAX_MS (5u * 60 * 1000)

void txp_creds__notify(struct txp_creds_provider *p, int status)
{
	if (p->on_change != NULL && !p->closing)
		p->on_change(p, status, p->on_change_data);
}

void txp_creds__closed(struct txp_creds_provider *p)
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

void txp_creds__str_free_wiped(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

struct txp_aws_creds *txp_aws_creds_create(const char *id, const char *secret, const char *token, int64_t expiration_ms)
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
	txp_creds__str_free_wiped(c->access_key_id);
	txp_creds__str_free_wiped(c->secret_access_key);
	txp_creds__str_free_wiped(c->session_token);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* The last four characters of the key id: enough to tell keys apart in
 * logs, too little to matter (the id is not secret, the secret never is
 * logged). */
const char *txp_creds__key_suffix(const struct txp_aws_creds *c)
{
	size_t n = strlen(c->access_key_id);

	return n > 4 ? c->access_key_id + n - 4 : "";
}

int64_t txp_creds__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool txp_creds__valid(const struct txp_aws_creds *c, int64_t now)
{
	return c != NULL && (c->expiration_ms == 0 || c->expiration_ms > now);
}

/* --- pure helpers --------------------------------------------------------- */

void txp_creds__policy_defaults(const struct txp_creds_refresh_policy *in, struct txp_creds_refresh_policy *out)
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

uint64_t txp_creds_refresh_delay_ms(const struct txp_creds_refresh_policy *pin, int64_t now, int64_t expiration_ms,
                                    uint32_t rnd)
{
	struct txp_creds_refresh_policy p;
	uint64_t before, delay;
	int64_t at, remaining;

	txp_creds__policy_defaults(pin, &p);
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

	txp_creds__policy_defaults(pin, &p);
	if (shift > 30)
		shift = 30;
	d = p.retry_min_ms << shift;
	if (d > p.retry_max_ms || d >> shift != p.retry_min_ms)
		d = p.retry_max_ms;
	return d / 2 + rnd % (d - d / 2 + 1);
}

/* --- the base of the environment and shared-file providers ---------------- */

const struct txp_aws_creds *txp_creds__static_current(struct txp_creds_provider *p)
{
	struct txp_creds__static *s = (struct txp_creds__static *)p;

	return s->creds;
}

const char *txp_creds__static_source(struct txp_creds_provider *p)
{
	struct txp_creds__static *s = (struct txp_creds__static *)p;

	return s->creds != NULL ? s->source : "none";
}

void txp_creds__static_close(struct txp_creds_provider *p)
{
	txp_creds__closed(p);
}

void txp_creds__static_destroy(struct txp_creds_provider *p)
{
	struct txp_creds__static *s = (struct txp_creds__static *)p;

	txp_aws_creds_free(s->creds);
	free(s->path);
	free(s->profile);
	free(s);
}
