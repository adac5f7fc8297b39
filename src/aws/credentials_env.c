/* credentials_env.c: the credentials provider that reads AWS_ACCESS_KEY_ID and friends once, at start. */
#include "txp_build_config.h"

#include "credentials_provider.h"

#include <errno.h>
#include <stdlib.h>

static void env_invalidate(struct txp_creds_provider *p)
{
	/* Environment variables were read once; there is nothing newer. */
}

static const struct creds_vtable env_vtable = {
	.name = "environment",
	.current = txp_creds__static_current,
	.source = txp_creds__static_source,
	.invalidate = env_invalidate,
	.close = txp_creds__static_close,
	.destroy = txp_creds__static_destroy,
};

int txp_creds_env_create(txp_getenv_fn getenv_fn, struct txp_creds_provider **out, char *errbuf, size_t errlen)
{
	struct txp_creds__static *s;
	const char *id, *secret;

	if (getenv_fn == NULL)
		getenv_fn = getenv;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
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
			txp_aws_set_err(errbuf, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	*out = &s->base;
	return 0;
}
