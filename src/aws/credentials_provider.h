/* credentials_provider.h: what credential providers share inside src/aws (not for other modules). */
#ifndef TXPIPE_AWS_CREDENTIALS_PROVIDER_H
#define TXPIPE_AWS_CREDENTIALS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/aws/credentials.h"
#include "txpipe/aws/error.h"

/*
 * Every provider (environment, shared file, IMDSv2, the chain) embeds
 * struct txp_creds_provider first and answers this vtable; credentials.c
 * dispatches the public txp_creds_*() calls through it.
 */
struct creds_vtable {
	const char *name;
	const struct txp_aws_creds *(*current)(struct txp_creds_provider *p);
	const char *(*source)(struct txp_creds_provider *p);
	/* The service rejected the credentials: fetch or re-read them now. */
	void (*invalidate)(struct txp_creds_provider *p);
	/* Releases the provider's resources and eventually calls
	 * txp_creds__closed(), which runs the user's callback and frees. */
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

/* Tells the listener (txp_creds_on_change) about a fetch, unless closing. */
void txp_creds__notify(struct txp_creds_provider *p, int status);
/* Ends a close: runs the close callback, then the vtable's destroy. */
void txp_creds__closed(struct txp_creds_provider *p);

/* Wipes a secret string, then frees it; NULL is fine. */
void txp_creds__str_free_wiped(char *s);
/* Wall-clock Unix milliseconds: expirations are wall-clock times. */
int64_t txp_creds__now_ms(void);
/* Not NULL and not expired at `now`. */
bool txp_creds__valid(const struct txp_aws_creds *c, int64_t now);
/* The last four characters of the key id, for logs. */
const char *txp_creds__key_suffix(const struct txp_aws_creds *c);
/* `in` with its zero fields replaced by the defaults (credentials.h). */
void txp_creds__policy_defaults(const struct txp_creds_refresh_policy *in, struct txp_creds_refresh_policy *out);

/*
 * The base of providers whose credentials change only when they are read
 * again (environment, shared file): one set of credentials, no loop handles,
 * closed at once.  The vtable functions below serve both.
 */
struct txp_creds__static {
	struct txp_creds_provider base;
	struct txp_aws_creds *creds;
	const char *source;
	/* file provider only: where to read again on invalidate */
	char *path;
	char *profile;
};

const struct txp_aws_creds *txp_creds__static_current(struct txp_creds_provider *p);
const char *txp_creds__static_source(struct txp_creds_provider *p);
void txp_creds__static_close(struct txp_creds_provider *p);
void txp_creds__static_destroy(struct txp_creds_provider *p);

#endif
