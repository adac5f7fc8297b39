/* credentials_chain.c: the SDKs' default provider chain: environment, shared file, then IMDSv2. */
#include "txp_build_config.h"

#include "credentials_provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "txpipe/log.h"

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
		txp_creds__closed(&ch->base);
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
	txp_creds__notify(data, status);
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
		txp_aws_set_err(errbuf, errlen, "out of memory");
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
		txp_aws_set_err(errbuf, errlen,
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
