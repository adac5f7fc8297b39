/* stages.c: the daemon's stage functions: validation, then fraud and compliance per shard. */
#include "txpipe/stages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/log.h"
#include "txpipe/validate.h"

struct shard {
	struct txp_stages *st;
	unsigned index;
};

struct txp_stages {
	struct txp_validator *validator;
	struct shard *shards;
	void **shard_ctx;
	unsigned nshards;
};

static void stage_validate(void *ctx, struct txp_txn *t)
{
	struct txp_stages *st = ctx;

	(void)txp_validate(st->validator, t);
}

static void stage_fraud(void *ctx, struct txp_txn *t)
{
	(void)ctx;
	if (t->status == TXP_STATUS_REJECTED || t->status == TXP_STATUS_ERROR)
		return;
	t->scored = true;
}

static void stage_comply(void *ctx, struct txp_txn *t)
{
	(void)ctx;
	/* The reply is built here, on the worker, so the loop thread only
	 * copies bytes. */
	if (txp_txn_build_reply(t) < 0)
		txp_log_err("reply_build_failed", "reason=out_of_memory");
}

int txp_stages_create(struct txp_stages **out, const struct txp_config *cfg, char *err, size_t errlen)
{
	struct txp_stages *st = calloc(1, sizeof(*st));
	unsigned char key[TXP_CARD_KEY_BYTES];

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (txp_validate_global_init() < 0) {
		free(st);
		snprintf(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	randombytes_buf(key, sizeof(key));
	st->validator = txp_validator_new(cfg, key);
	sodium_memzero(key, sizeof(key));
	if (st->validator == NULL) {
		free(st);
		snprintf(err, errlen, "out of memory for the validator");
		return -ENOMEM;
	}
	*out = st;
	return 0;
}

void txp_stages_fns(struct txp_stages *st, unsigned workers, struct txp_stage_fns *fns)
{
	unsigned n = workers > 0 ? workers : 1;

	st->nshards = n;
	st->shards = calloc(n, sizeof(*st->shards));
	st->shard_ctx = calloc(n, sizeof(*st->shard_ctx));
	for (unsigned i = 0; i < n && st->shards != NULL && st->shard_ctx != NULL; i++) {
		st->shards[i].st = st;
		st->shards[i].index = i;
		st->shard_ctx[i] = &st->shards[i];
	}
	memset(fns, 0, sizeof(*fns));
	fns->validate = stage_validate;
	fns->fraud = stage_fraud;
	fns->comply = stage_comply;
	fns->validate_ctx = st;
	fns->shard_ctx = st->shard_ctx;
}

int txp_stages_reload(struct txp_stages *st, const struct txp_config *cfg, char *err, size_t errlen)
{
	(void)st;
	(void)cfg;
	(void)err;
	(void)errlen;
	return 0;
}

void txp_stages_decided(struct txp_stages *st, struct txp_txn *t)
{
	(void)st;
	txp_txn_free(t);
}

void txp_stages_destroy(struct txp_stages *st)
{
	if (st == NULL)
		return;
	txp_validator_free(st->validator);
	free(st->shards);
	free(st->shard_ctx);
	free(st);
}
