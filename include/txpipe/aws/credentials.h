/* credentials.h: AWS credentials and their providers: environment, shared file, EC2 IMDSv2, chain. */
#ifndef TXPIPE_AWS_CREDENTIALS_H
#define TXPIPE_AWS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/aws/http.h"

/* One set of credentials.  Every string is owned by the struct and wiped
 * when it is freed. */
struct txp_aws_creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;   /* NULL for long-term keys */
	int64_t expiration_ms; /* Unix time in milliseconds; 0: does not expire */
};

/* Copies the strings into a new struct.  `token` may be NULL or "".  Returns
 * NULL when id or secret is NULL or empty, or out of memory.  Free with
 * txp_aws_creds_free(). */
struct txp_aws_creds *txp_aws_creds_create(const char *id, const char *secret, const char *token,
                                           int64_t expiration_ms);
/* Wipes and frees; NULL is fine. */
void txp_aws_creds_free(struct txp_aws_creds *c);

/* Same signature as getenv(3), so production passes getenv and tests a table. */
typedef char *(*txp_getenv_fn)(const char *name);

/* When to refresh credentials that expire, and how to back off after failures. */
struct txp_creds_refresh_policy {
	uint64_t before_min_ms; /* refresh this long before expiry at the latest; 0: 5 min */
	uint64_t before_max_ms; /* and this long before at the earliest (jitter); 0: 15 min */
	uint64_t retry_min_ms;  /* first retry after a failure; 0: 1 s */
	uint64_t retry_max_ms;  /* backoff cap; 0: 5 min */
};

struct txp_creds_options {
	txp_getenv_fn getenv_fn;      /* NULL: getenv */
	const char *profile;          /* NULL or "": $AWS_PROFILE, else "default" */
	const char *credentials_file; /* NULL: $AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials */
	bool disable_imds;            /* also disabled by AWS_EC2_METADATA_DISABLED=true */
	const char *imds_endpoint;    /* NULL: $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254 */
	long imds_timeout_ms;         /* per metadata request, connect and total; 0: 1000 */
	struct txp_creds_refresh_policy refresh;
};

/*
 * A credentials provider.  Every provider, the chain included, answers the
 * same calls below; all of them run on the loop thread.
 */
struct txp_creds_provider;

/* status 0: a fetch succeeded and txp_creds_current() serves its result (the
 * first credentials, rotated ones, or the same again); negative errno: a
 * fetch failed, and txp_creds_current() still serves the previous credentials
 * while they are valid (NULL otherwise).  Errors: -ECONNREFUSED, -ETIMEDOUT,
 * -EIO (transport), -EACCES (token refused), -ENOENT (no role attached),
 * -EPROTO (unexpected status or document), -ECANCELED (HTTP client closed). */
typedef void (*txp_creds_cb)(struct txp_creds_provider *p, int status, void *data);
typedef void (*txp_creds_close_cb)(struct txp_creds_provider *p, void *data);

/* Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN once,
 * now.  Returns 0 (whether or not they were set) or -ENOMEM. */
int txp_creds_env_create(txp_getenv_fn getenv_fn, struct txp_creds_provider **out, char *errbuf, size_t errlen);

/* Reads the profile from the shared credentials file now (and again on
 * txp_creds_invalidate).  A missing file or profile means no credentials and
 * returns 0; an unreadable or malformed file, one that is not a regular file
 * (a FIFO is refused without waiting for a writer) or larger than 1 MiB, or
 * a profile with a key id but no secret, returns -EINVAL (-ENOMEM) with
 * errbuf naming the file and line. */
int txp_creds_file_create(const struct txp_creds_options *opts, struct txp_creds_provider **out, char *errbuf,
                          size_t errlen);

/* Starts fetching from the EC2 instance metadata service (IMDSv2) through
 * `http`, which must outlive the provider.  Returns 0 or a negative errno
 * (-EPERM: the endpoint fails the URL policy). */
int txp_creds_imds_create(uv_loop_t *loop, struct txp_http *http, const struct txp_creds_options *opts,
                          struct txp_creds_provider **out, char *errbuf, size_t errlen);

/*
 * The SDKs' default chain: environment, then the shared credentials file,
 * then IMDSv2.  A later provider is created only when the earlier ones have
 * no credentials, so IMDS is never contacted when keys are configured.
 * Returns 0, or -ENOENT when nothing can supply credentials (IMDS disabled),
 * or another negative errno from a provider; errbuf says why.
 */
int txp_creds_chain_create(uv_loop_t *loop, struct txp_http *http, const struct txp_creds_options *opts,
                           struct txp_creds_provider **out, char *errbuf, size_t errlen);

/*
 * The credentials to sign with now, or NULL when there are none (yet).  The
 * pointer stays valid until control returns to the loop: sign with it right
 * away and do not keep it.
 */
const struct txp_aws_creds *txp_creds_current(struct txp_creds_provider *p);

/* Which provider serves txp_creds_current(): "environment",
 * "shared-credentials-file", "imds", or "none". */
const char *txp_creds_source(struct txp_creds_provider *p);

/* Registers the one listener (NULL to remove).  It runs from the loop. */
void txp_creds_on_change(struct txp_creds_provider *p, txp_creds_cb cb, void *data);

/* The service said the credentials expired (ExpiredToken): refresh now.
 * The old credentials are served until new ones arrive. */
void txp_creds_invalidate(struct txp_creds_provider *p);

/*
 * Stops refreshing, cancels a metadata request in flight and frees the
 * provider once its handles are closed; close_cb (may be NULL) runs first.
 * Providers without loop handles (environment, file, and a chain of only
 * those) call close_cb before this returns.  Close a provider before the HTTP
 * client it uses.  Closing NULL does nothing.
 */
void txp_creds_close(struct txp_creds_provider *p, txp_creds_close_cb close_cb, void *data);

/* Pure helpers, exposed for tests. */

/* Parses an IMDS security-credentials document (JSON: Code, AccessKeyId,
 * SecretAccessKey, Token, Expiration) into new credentials in *out (free
 * with txp_aws_creds_free()).  Returns 0, -EPROTO with the reason in `why`
 * (never a secret) when the document is not usable, or -ENOMEM. */
int txp_creds_imds_parse_creds(const char *body, size_t body_len, struct txp_aws_creds **out, char *why, size_t whylen);

/* Copies the first line of an IMDS role list into role[cap] when it is a
 * valid IAM role name.  Returns 0, -ENOENT for an empty list, or -EPROTO
 * (a character outside IAM's [\w+=,.@-], or longer than cap - 1). */
int txp_creds_imds_parse_role(const char *body, size_t body_len, char *role, size_t cap);

/* Milliseconds from now until credentials expiring at expiration_ms should
 * be refreshed: before_min..before_max ahead of expiry (picked by rnd), or
 * half the remaining life when that moment has passed, but never sooner than
 * retry_min.  Zero fields in `p` take their defaults. */
uint64_t txp_creds_refresh_delay_ms(const struct txp_creds_refresh_policy *p, int64_t now_ms, int64_t expiration_ms,
                                    uint32_t rnd);

/* Backoff after `failures` (>= 1) consecutive failures: retry_min doubled per
 * failure up to retry_max, with "equal jitter" (half fixed, half random). */
uint64_t txp_creds_retry_delay_ms(const struct txp_creds_refresh_policy *p, unsigned failures, uint32_t rnd);

#endif
