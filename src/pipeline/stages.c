/* stages.c: the daemon's stage functions: validation, then fraud and compliance per shard, with live rule swaps. */
#include "txpipe/stages.h"
#include "txpipe/pipeline.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "txpipe/clock.h"
#include "txpipe/compliance.h"
#include "txpipe/dedup.h"
#include "txpipe/file.h"
#include "txpipe/fraud.h"
#include "txpipe/item.h"
#include "txpipe/keys.h"
#include "txpipe/log.h"
#include "txpipe/pan.h"
#include "txpipe/rulelists.h"
#include "txpipe/validate.h"

/*
 * Reload without locks on the hot path.  A ruleset is everything a reload
 * can change, immutable once published.  SIGHUP builds a new one on the loop
 * thread and publishes it with a release store of `current`; every worker
 * thread, before each transaction, compares the published generation with
 * the one it adopted (an acquire load, almost always equal) and, when they
 * differ, adopts the new rules on its own thread: the fraud and compliance
 * states keep their velocity history across the swap.  A thread then
 * publishes the generation it adopted (`seen`).  An old ruleset is freed by
 * the loop once every thread's `seen` is past it: nobody can still be using
 * its validator, and the fraud and compliance rules are reference-counted
 * by the states that use them.
 */
struct ruleset {
	uint64_t gen;
	struct txp_validator *validator;
	struct txp_fraud_rules *fraud;
	struct txp_compliance_rules *compliance;
	char rules_version[TXP_RULES_VERSION_SIZE];
	int64_t loaded_ms;
	int64_t rates_date;    /* the USD rates' date (struct txp_rates), for stats */
	struct ruleset *older; /* retired, waiting for every thread to move on */
};

/* One worker thread's view: what it adopted and when. */
struct view {
	struct txp_stages *st;
	uint64_t gen;
	_Atomic uint64_t seen;
	struct ruleset *rs;
};

struct shard {
	struct view fraud_view, comply_view;
	struct txp_fraud_state *fraud;
	struct txp_compliance_state *comply;
	struct txp_compliance_rules *comply_rules; /* referenced, for pseudonyms */
};

struct txp_stages {
	_Atomic(struct ruleset *) current;
	struct ruleset *retired;
	uint64_t next_gen;
	/* Keys per table per shard for max_tracked_keys = 0, fixed at start
	 * so a reload never sees a different figure (a changed cgroup limit
	 * would otherwise refuse every reload as a change of table size). */
	uint64_t auto_keys;
	uint8_t pseud_key[TXP_KEY_BYTES];
	uint8_t card_key[TXP_KEY_BYTES];
	/* pseud_key ready for the pseudonyms and fingerprints of every
	 * transaction (txp_compliance_pseudonym_key()). */
	struct txp_blake2b_key pseud_b2;
	unsigned nvalidators, nshards;
	struct view *validators;
	struct shard *shards;
	void **validate_ctx, **fraud_ctx, **comply_ctx;
	char *version;
	struct txp_dedup *dedup; /* recently decided ids, or NULL */
	/* [fleet] enabled: merchants are keyed by their pseudonym (txn.h
	 * merchant_key) and other hosts' events come through (fleet_apply). */
	bool fleet;
	/* enum txp_stages_fleet_stale, set by the loop, read by the
	 * compliance threads: relaxed, a decision may see the change one
	 * transaction late. */
	_Atomic int fleet_stale;
	bool build_items; /* [aws] enabled: stage_finish builds the item */
};

/*
 * The rules version.  What decides a transaction is the configuration of
 * the sections below and the content of the list files they name; a
 * BLAKE2b-96 over a canonical text of those ("section.key=value\n" per row,
 * values as txp_config_format_value() writes them, so "64k" and "65536"
 * hash alike, and "section.key#<length>\n" plus the bytes of each list
 * file) names them.  The key files are left out on purpose: their content
 * is a secret, and a published hash of it would be a way to test guesses;
 * their paths are in.  The table drives it, so a key added to one of these
 * sections is covered without a change here.
 */
static const char *const decision_sections[] = { "validation", "fraud", "compliance" };

static bool is_decision_section(const char *section)
{
	for (size_t i = 0; i < sizeof(decision_sections) / sizeof(decision_sections[0]); i++)
		if (strcmp(section, decision_sections[i]) == 0)
			return true;
	return false;
}

static bool is_key_file(const struct txp_config_key *k)
{
	size_t n = strlen(k->key);

	return k->secret || (n >= 9 && strcmp(k->key + n - 9, "_key_file") == 0);
}

/* Hashes the length and the bytes of the list file at `path`. */
static int hash_file(crypto_generichash_state *h, const struct txp_config_key *k, const char *path, char *err,
                     size_t errlen)
{
	uint8_t buf[16384];
	char head[160];
	struct stat sb;
	ssize_t n;
	int fd = txp_file_open_regular(path, true, 0, &sb, err, errlen);

	if (fd < 0)
		return fd;
	snprintf(head, sizeof(head), "%s.%s#%lld\n", k->section, k->key, (long long)sb.st_size);
	crypto_generichash_update(h, (const uint8_t *)head, strlen(head));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_generichash_update(h, buf, (unsigned long long)n);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

int txp_rules_version(const struct txp_config *cfg, char out[TXP_RULES_VERSION_SIZE], char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	crypto_generichash_state h;
	uint8_t digest[(TXP_RULES_VERSION_SIZE - 1) / 2];
	char value[512];
	int rc = 0;

	out[0] = '\0';
	if (crypto_generichash_init(&h, NULL, 0, sizeof(digest)) != 0) {
		snprintf(err, errlen, "libsodium refused the hash");
		return -EIO;
	}
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL && rc == 0; k++) {
		if (!is_decision_section(k->section))
			continue;
		int n = txp_config_format_value(cfg, k, value, sizeof(value));
		char *v = value;

		/* A long list (usd_rates, say) gets a buffer of its size: a
		 * cut value would hide a change past the cut. */
		if (n >= (int)sizeof(value)) {
			v = malloc((size_t)n + 1);
			if (v == NULL) {
				snprintf(err, errlen, "out of memory");
				rc = -ENOMEM;
				break;
			}
			(void)txp_config_format_value(cfg, k, v, (size_t)n + 1);
		} else if (n < 0) {
			value[0] = '\0';
		}
		crypto_generichash_update(&h, (const uint8_t *)k->section, strlen(k->section));
		crypto_generichash_update(&h, (const uint8_t *)".", 1);
		crypto_generichash_update(&h, (const uint8_t *)k->key, strlen(k->key));
		crypto_generichash_update(&h, (const uint8_t *)"=", 1);
		crypto_generichash_update(&h, (const uint8_t *)v, strlen(v));
		crypto_generichash_update(&h, (const uint8_t *)"\n", 1);
		if (k->type == TXP_CFG_PATH && !is_key_file(k) && v[0] != '\0')
			rc = hash_file(&h, k, v, err, errlen);
		if (v != value)
			free(v);
	}
	if (crypto_generichash_final(&h, digest, sizeof(digest)) != 0 && rc == 0) {
		snprintf(err, errlen, "libsodium refused the hash");
		rc = -EIO;
	}
	if (rc == 0) {
		for (size_t i = 0; i < sizeof(digest); i++) {
			out[2 * i] = hex[digest[i] >> 4];
			out[2 * i + 1] = hex[digest[i] & 15];
		}
		out[TXP_RULES_VERSION_SIZE - 1] = '\0';
	}
	return rc;
}

static void ruleset_free(struct ruleset *rs)
{
	if (rs == NULL)
		return;
	txp_validator_free(rs->validator);
	txp_fraud_rules_unref(rs->fraud);
	txp_compliance_rules_unref(rs->compliance);
	free(rs);
}

int txp_stages_load_rates(const struct txp_compliance_config *c, struct txp_rates *out, char *err, size_t errlen)
{
	struct txp_rates inline_rates;
	char sub[256];
	int rc;

	if (c->usd_rates_file != NULL && c->usd_rates_file[0] != '\0')
		rc = txp_rates_load(c->usd_rates_file, out, sub, sizeof(sub));
	else
		rc = txp_rates_parse_file(txp_rates_builtin, strlen(txp_rates_builtin), "built-in rates", out, sub,
		                          sizeof(sub));
	if (rc < 0) {
		snprintf(err, errlen, "[compliance] usd_rates_file: %s", sub);
		return rc;
	}
	rc = txp_rates_parse(c->usd_rates, &inline_rates, sub, sizeof(sub));
	if (rc < 0) {
		snprintf(err, errlen, "[compliance] usd_rates: %s", sub);
		goto err_after_out;
	}
	rc = txp_rates_merge(out, &inline_rates);
	txp_rates_free(&inline_rates);
	if (rc < 0) {
		snprintf(err, errlen, "[compliance] usd_rates: out of memory");
		goto err_after_out;
	}
	return 0;

err_after_out:
	txp_rates_free(out);
	return rc;
}

int64_t txp_stages_rates_date(const struct txp_stages *st)
{
	const struct ruleset *rs = atomic_load_explicit(&((struct txp_stages *)st)->current, memory_order_relaxed);

	return rs != NULL ? rs->rates_date : 0;
}

/* Logs a warning when the rates are older than rates_max_age_days: every
 * threshold in US dollars is only as right as they are.  Start and reload. */
static void warn_stale_rates(const struct txp_compliance_config *c, int64_t date)
{
	time_t d = (time_t)date;
	struct tm tm;
	char day[16];
	int64_t age;

	if (c->rates_max_age_days == 0 || date == 0)
		return;
	age = ((int64_t)time(NULL) - date) / 86400;
	if (age <= (int64_t)c->rates_max_age_days || gmtime_r(&d, &tm) == NULL)
		return;
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	txp_log(TXP_LOG_WARNING, "usd_rates_stale", "date=%s age_days=%lld max_age_days=%llu file=\"%s\"", day,
	        (long long)age, (unsigned long long)c->rates_max_age_days,
	        c->usd_rates_file != NULL && c->usd_rates_file[0] != '\0' ? c->usd_rates_file : "built-in");
}

/* The number in the file `path` (a cgroup limit), or 0 when it cannot be
 * read or says "max" (no limit). */
static uint64_t read_limit(const char *path)
{
	char buf[64];
	unsigned long long v;
	FILE *f = fopen(path, "re");
	int ok;

	if (f == NULL)
		return 0;
	ok = fgets(buf, sizeof(buf), f) != NULL && sscanf(buf, "%llu", &v) == 1;
	fclose(f);
	return ok ? (uint64_t)v : 0;
}

/* The memory limit of our own cgroup (systemd's MemoryMax=, a container's
 * limit), or 0 when there is none: cgroup v2's memory.max, else v1's
 * memory.limit_in_bytes (huge when unlimited, which the caller's minimum
 * takes care of). */
static uint64_t cgroup_memory_limit(void)
{
	char line[512], path[640];
	uint64_t limit = 0;
	FILE *f;

	/* v2 first; a hybrid host's unified hierarchy may have no memory
	 * controller, so "no limit there" falls through to v1's. */
	if (txp_cgroup_v2_path("memory.max", path, sizeof(path)) == 0 && (limit = read_limit(path)) != 0)
		return limit;
	f = fopen("/proc/self/cgroup", "re");
	if (f == NULL)
		return 0;
	while (limit == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n'), *rest;

		if (nl != NULL)
			*nl = '\0';
		if ((rest = strstr(line, ":memory:")) != NULL) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", rest + 8);
			limit = read_limit(path);
		}
	}
	fclose(f);
	return limit;
}

/* Physical memory or the cgroup limit when lower (stages.h): a daemon
 * confined to less than the host then reviews on a full table rather than
 * being killed for memory. */
uint64_t txp_stages_host_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	uint64_t phys = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
	uint64_t limit = cgroup_memory_limit();

	return limit != 0 && (phys == 0 || limit < phys) ? limit : phys;
}

static int ruleset_build(struct txp_stages *st, const struct txp_config *cfg, struct ruleset **out, char *err,
                         size_t errlen)
{
	struct ruleset *rs = calloc(1, sizeof(*rs));
	struct txp_fraud_config fraud_cfg;
	struct txp_compliance_config comply_cfg;
	struct txp_rates rates;
	int rc;

	if (rs == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = txp_stages_load_rates(&cfg->compliance, &rates, err, errlen);
	if (rc < 0)
		goto err_after_alloc;
	rs->rates_date = rates.date;
	warn_stale_rates(&cfg->compliance, rates.date);
	/* max_tracked_keys = 0: the tables' size from the host, worked out
	 * once at start.  Shallow copies: the rules deep-copy them. */
	fraud_cfg = cfg->fraud;
	comply_cfg = cfg->compliance;
	txp_fraud_config_size(&fraud_cfg, st->auto_keys);
	if (comply_cfg.max_tracked_keys == 0)
		comply_cfg.max_tracked_keys = st->auto_keys;
	rc = txp_fraud_rules_create(&fraud_cfg, &rates, &rs->fraud, err, errlen);
	if (rc < 0)
		goto err_after_rates;
	rc = txp_compliance_rules_create(&comply_cfg, &rates, &rs->compliance, err, errlen);
	if (rc < 0)
		goto err_after_rates;
	rs->validator = txp_validator_new(cfg, st->card_key);
	if (rs->validator == NULL || txp_validator_set_rates(rs->validator, &rates) != 0) {
		snprintf(err, errlen, "out of memory for the validator");
		rc = -ENOMEM;
		goto err_after_rates;
	}
	/* After the rules built: the list files were just read and found
	 * good, so reading them again fails only in a race with an edit. */
	rc = txp_rules_version(cfg, rs->rules_version, err, errlen);
	if (rc < 0)
		goto err_after_rates;
	rs->loaded_ms = txp_wall_ms();
	txp_rates_free(&rates);
	if (cfg->compliance.sanctions_name_lists[0] != '\0')
		/* The operator sees what a list costs at start and each reload. */
		txp_log_info("name_lists_loaded", "entries=%zu bytes=%zu", txp_compliance_name_entries(rs->compliance),
		             txp_compliance_name_bytes(rs->compliance));
	*out = rs;
	return 0;

err_after_rates:
	txp_rates_free(&rates);
err_after_alloc:
	ruleset_free(rs);
	return rc;
}

/* Adopts the published ruleset when it changed.  Worker thread. */
static struct ruleset *view_refresh(struct view *v)
{
	struct ruleset *rs = atomic_load_explicit(&v->st->current, memory_order_acquire);

	if (rs->gen == v->gen)
		return NULL;
	v->rs = rs;
	v->gen = rs->gen;
	return rs;
}

static void view_publish(struct view *v)
{
	/* Release: everything this thread did with the old rules happens
	 * before the loop sees it moved on and frees them. */
	atomic_store_explicit(&v->seen, v->gen, memory_order_release);
}

static bool screened(const struct txp_txn *t)
{
	return t->status != TXP_STATUS_REJECTED && t->status != TXP_STATUS_ERROR && !t->duplicate;
}

static void stage_validate(void *ctx, struct txp_txn *t)
{
	struct view *v = ctx;
	struct txp_stages *st = v->st;

	if (view_refresh(v) != NULL)
		view_publish(v);
	if (t->fleet_apply) {
		/* Another host's event: only its shard is needed here. */
		t->shard = txp_shard_hash(t->customer_key);
		return;
	}
	(void)txp_validate(v->rs->validator, t);
	if (!screened(t))
		return;
	/* The customer's pseudonym keys its velocity history: the journal
	 * may keep it (the raw id is personal data) and the shard follows it,
	 * so a restart puts the rebuilt history where the customer goes. */
	txp_compliance_pseudonym_keyed(&st->pseud_b2, "customer_id", t->customer_id, t->customer_key);
	t->shard = txp_shard_hash(t->customer_key);
	if (st->fleet)
		txp_compliance_pseudonym_keyed(&st->pseud_b2, "merchant_id", t->merchant_id, t->merchant_key);
	/* A transaction_id decided recently gets that decision again,
	 * unscored, or a conflict error when the content differs: see
	 * dedup.h. */
	txp_dedup_fingerprint(&st->pseud_b2, t);
	(void)txp_dedup_check(st->dedup, t);
}

static void stage_fraud(void *ctx, struct txp_txn *t)
{
	struct view *v = ctx;
	struct shard *sh = (struct shard *)((char *)v - offsetof(struct shard, fraud_view));
	struct ruleset *rs = view_refresh(v);
	char err[256];

	if (rs != NULL) {
		/* Windows and table sizes cannot change live (the reload
		 * path refuses that), so this does not fail in practice. */
		if (txp_fraud_set_rules(sh->fraud, rs->fraud, err, sizeof(err)) < 0)
			txp_log_err("fraud_rules_swap_failed", "reason=\"%s\"", err);
		view_publish(v);
	}
	if (t->fleet_apply)
		txp_fraud_apply(sh->fraud, t);
	else if (screened(t))
		txp_fraud_score(sh->fraud, t);
}

static void stage_comply(void *ctx, struct txp_txn *t)
{
	struct view *v = ctx;
	struct shard *sh = (struct shard *)((char *)v - offsetof(struct shard, comply_view));
	struct txp_stages *st = v->st;
	struct ruleset *rs = view_refresh(v);
	char err[256];

	if (rs != NULL) {
		if (txp_compliance_set_rules(sh->comply, rs->compliance, err, sizeof(err)) < 0)
			txp_log_err("compliance_rules_swap_failed", "reason=\"%s\"", err);
		txp_compliance_rules_unref(sh->comply_rules);
		sh->comply_rules = txp_compliance_rules_ref(rs->compliance);
		view_publish(v);
	}
	if (t->fleet_apply) {
		txp_compliance_apply(sh->comply, t);
		return;
	}
	/* The compliance stage decides last, so its rules name the decision
	 * (during a swap the fraud stage may still have scored with the
	 * previous ones: one transaction per shard at most). */
	memcpy(t->rules_version, v->rs->rules_version, sizeof(t->rules_version));
	t->rules_loaded_ms = v->rs->loaded_ms;
	if (screened(t)) {
		int stale = atomic_load_explicit(&st->fleet_stale, memory_order_relaxed);

		txp_compliance_check(sh->comply, t);
		txp_compliance_pseudonymise_txn(sh->comply_rules, &st->pseud_b2, t);
		/* Decided without the fleet's recent traffic (fleet.h). */
		if (stale != TXP_STAGES_FLEET_FRESH) {
			txp_txn_add_reason(t, "fleet_state_stale", 0);
			if (stale == TXP_STAGES_FLEET_STALE_REVIEW)
				txp_txn_escalate(t, TXP_STATUS_REVIEW);
		}
	}
	/* PCI DSS, whatever the outcome or the pan_scan setting (which only
	 * decides whether a masked number is flagged): no card number leaves
	 * in an identifier, and a rejected line's id is echoed in its reply. */
	if (!t->id_tokenised)
		txp_pan_mask(t->transaction_id); /* (a token is no number: validate.c) */
	txp_pan_mask(t->customer_id);
	txp_pan_mask(t->merchant_id);
	txp_pan_mask(t->device_id);
	/* GDPR: the party names were needed for screening only; from here
	 * on only their keyed pseudonyms exist, whatever the outcome. */
	txp_compliance_names_seal(&st->pseud_b2, t);
	if (t->duplicate)
		return; /* it carries the earlier reply, and nothing is stored */
	/* The reply is built here, on the worker, so the loop thread only
	 * copies bytes. */
	if (txp_txn_build_reply(t) < 0)
		txp_log_err("reply_build_failed", "reason=out_of_memory");
	/* Not the stored item: stage_finish builds it once this stage's
	 * time is known. */
}

/* The stored item and alerts, built on the worker that decided (or inline)
 * once every stage's time is in them, so the loop thread, which sends them,
 * only copies bytes, as with the reply.  The journal keeps the decided
 * fields, not the item (record.h): replay builds it from those. */
static void stage_finish(struct txp_txn *t)
{
	if (t->duplicate)
		return; /* answered with the first decision, never stored */
	if (txp_item_build(t, PACKAGE_VERSION) < 0)
		txp_log_err("item_build_failed", "transaction_id=\"%s\" reason=out_of_memory", t->transaction_id);
}

int txp_stages_create(struct txp_stages **out, const struct txp_config *cfg, char *err, size_t errlen)
{
	struct txp_stages *st;
	struct ruleset *rs;
	char sub[512];
	unsigned shards;
	int rc;

	if (txp_validate_global_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = txp_key_load(cfg->compliance.card_token_key_file, st->card_key, sub, sizeof(sub));
	if (rc < 0) {
		snprintf(err, errlen, "[compliance] card_token_key_file: %s", sub);
		goto err_after_alloc;
	}
	rc = txp_key_load(cfg->compliance.pseudonym_key_file, st->pseud_key, sub, sizeof(sub));
	if (rc < 0) {
		snprintf(err, errlen, "[compliance] pseudonym_key_file: %s", sub);
		goto err_after_alloc;
	}
	if (sodium_memcmp(st->card_key, st->pseud_key, TXP_KEY_BYTES) == 0) {
		snprintf(err, errlen,
		         "[compliance] pseudonym_key_file: holds the same key as card_token_key_file; "
		         "they must differ");
		rc = -EINVAL;
		goto err_after_alloc;
	}
	rc = txp_compliance_pseudonym_key(&st->pseud_b2, st->pseud_key, sizeof(st->pseud_key));
	if (rc < 0) {
		snprintf(err, errlen, "[compliance] pseudonym_key_file: not a usable key");
		goto err_after_alloc;
	}
	/* Workers (the shards) cannot change on reload, nor can this. */
	st->fleet = cfg->fleet.enabled;
	st->build_items = cfg->aws.enabled;
	atomic_init(&st->fleet_stale, TXP_STAGES_FLEET_FRESH);
	shards = txp_pipeline_workers(cfg->pipeline.workers);
	st->auto_keys = txp_state_auto_keys(txp_stages_host_memory(), shards > 0 ? shards : 1,
	                                    txp_fraud_bytes_per_key() + txp_compliance_bytes_per_key());
	rc = ruleset_build(st, cfg, &rs, err, errlen);
	if (rc < 0)
		goto err_after_alloc;
	rs->gen = ++st->next_gen;
	atomic_init(&st->current, rs);
	*out = st;
	return 0;

err_after_alloc:
	sodium_memzero(st->card_key, sizeof(st->card_key));
	sodium_memzero(st->pseud_key, sizeof(st->pseud_key));
	txp_blake2b_key_wipe(&st->pseud_b2);
	free(st);
	(void)txp_config_locate(cfg, err, errlen);
	/* Whatever the errno (a missing file, a FIFO, EIO from a special
	 * file), it is the configuration that must change. */
	if (rc != -ENOMEM)
		rc = -EINVAL;
	return rc;
}

static void view_init(struct view *v, struct txp_stages *st)
{
	struct ruleset *rs = atomic_load_explicit(&st->current, memory_order_relaxed);

	v->st = st;
	v->rs = rs;
	v->gen = rs->gen;
	atomic_init(&v->seen, rs->gen);
}

int txp_stages_setup(struct txp_stages *st, unsigned workers, struct txp_stage_fns *fns, char *err, size_t errlen)
{
	unsigned n = workers > 0 ? workers : 1;
	struct ruleset *rs = atomic_load_explicit(&st->current, memory_order_relaxed);
	uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES];
	int rc = 0;

	st->nvalidators = st->nshards = n;
	st->validators = calloc(n, sizeof(*st->validators));
	st->shards = calloc(n, sizeof(*st->shards));
	st->validate_ctx = calloc(n, sizeof(void *));
	st->fraud_ctx = calloc(n, sizeof(void *));
	st->comply_ctx = calloc(n, sizeof(void *));
	if (st->validators == NULL || st->shards == NULL || st->validate_ctx == NULL || st->fraud_ctx == NULL ||
	    st->comply_ctx == NULL) {
		snprintf(err, errlen, "out of memory for %u shards", n);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct shard *sh = &st->shards[i];
		view_init(&st->validators[i], st);
		view_init(&sh->fraud_view, st);
		view_init(&sh->comply_view, st);
		/* Each shard's tables get their own random SipHash key, so
		 * nobody can aim collisions at them. */
		randombytes_buf(hash_key, sizeof(hash_key));
		rc = txp_fraud_state_create(rs->fraud, hash_key, &sh->fraud, err, errlen);
		if (rc == 0)
			rc = txp_compliance_state_create(rs->compliance, hash_key, &sh->comply, err, errlen);
		sh->comply_rules = txp_compliance_rules_ref(rs->compliance);
		st->validate_ctx[i] = &st->validators[i];
		st->fraud_ctx[i] = &sh->fraud_view;
		st->comply_ctx[i] = &sh->comply_view;
	}
	sodium_memzero(hash_key, sizeof(hash_key));
	memset(fns, 0, sizeof(*fns));
	fns->validate = stage_validate;
	fns->fraud = stage_fraud;
	fns->comply = stage_comply;
	fns->finish = st->build_items ? stage_finish : NULL;
	fns->validate_ctx = st->validate_ctx;
	fns->fraud_ctx = st->fraud_ctx;
	fns->comply_ctx = st->comply_ctx;
	return rc;
}

/* Frees retired rulesets that no thread can still be using.  Loop thread. */
static void collect_retired(struct txp_stages *st)
{
	uint64_t min_seen = UINT64_MAX;
	struct ruleset **pp = &st->retired;

	for (unsigned i = 0; i < st->nvalidators; i++) {
		uint64_t s = atomic_load_explicit(&st->validators[i].seen, memory_order_acquire);
		if (s < min_seen)
			min_seen = s;
	}
	for (unsigned i = 0; i < st->nshards; i++) {
		uint64_t a = atomic_load_explicit(&st->shards[i].fraud_view.seen, memory_order_acquire);
		uint64_t b = atomic_load_explicit(&st->shards[i].comply_view.seen, memory_order_acquire);
		if (a < min_seen)
			min_seen = a;
		if (b < min_seen)
			min_seen = b;
	}
	while (*pp != NULL) {
		struct ruleset *rs = *pp;
		if (rs->gen < min_seen) {
			*pp = rs->older;
			ruleset_free(rs);
		} else {
			pp = &rs->older;
		}
	}
}

int txp_stages_reload(struct txp_stages *st, const struct txp_config *cfg, char *err, size_t errlen)
{
	struct ruleset *rs, *old;
	int rc;

	collect_retired(st);
	rc = ruleset_build(st, cfg, &rs, err, errlen);
	if (rc < 0) {
		(void)txp_config_locate(cfg, err, errlen);
		return rc;
	}
	rs->gen = ++st->next_gen;
	old = atomic_load_explicit(&st->current, memory_order_relaxed);
	/* Release: the new ruleset is fully built before any thread can
	 * load the pointer. */
	atomic_store_explicit(&st->current, rs, memory_order_release);
	old->older = st->retired;
	st->retired = old;
	return 0;
}

void txp_stages_rules(const struct txp_stages *st, char version[TXP_RULES_VERSION_SIZE], int64_t *loaded_ms)
{
	/* The loop thread is the only writer of `current`. */
	const struct ruleset *rs = atomic_load_explicit(&((struct txp_stages *)st)->current, memory_order_relaxed);

	memcpy(version, rs->rules_version, TXP_RULES_VERSION_SIZE);
	*loaded_ms = rs->loaded_ms;
}

void txp_stages_set_dedup(struct txp_stages *st, struct txp_dedup *dedup)
{
	st->dedup = dedup;
}

void txp_stages_rebuild(struct txp_stages *st, const struct txp_journal_accepted *rec)
{
	struct txp_txn t;
	struct shard *sh;

	/* Rejected lines were never scored: they carry no customer key. */
	if (rec->customer_key_len == 0 || rec->customer_key_len > TXP_TOKEN_HEX || rec->merchant_id_len > TXP_ID_MAX ||
	    rec->card_token_len > TXP_TOKEN_HEX)
		return;
	memset(&t, 0, sizeof(t));
	t.received_ms = rec->received_ms;
	t.amount = rec->amount;
	memcpy(t.currency, rec->currency, sizeof(t.currency));
	t.amount_usd_known = rec->amount_usd_known;
	t.amount_usd = rec->amount_usd;
	memcpy(t.customer_key, rec->customer_key, rec->customer_key_len + 1);
	memcpy(t.merchant_id, rec->merchant_id, rec->merchant_id_len + 1);
	memcpy(t.card_token, rec->card_token, rec->card_token_len + 1);
	t.has_card = rec->card_token_len > 0;
	if (st->fleet)
		txp_compliance_pseudonym_keyed(&st->pseud_b2, "merchant_id", t.merchant_id, t.merchant_key);
	sh = &st->shards[txp_shard_hash(t.customer_key) % st->nshards];
	txp_fraud_record(sh->fraud, &t);
	txp_compliance_record(sh->comply, &t);
}

void txp_stages_fleet_stale(struct txp_stages *st, enum txp_stages_fleet_stale state)
{
	atomic_store_explicit(&st->fleet_stale, (int)state, memory_order_relaxed);
}

uint64_t txp_stages_fleet_late(const struct txp_stages *st)
{
	uint64_t n = 0;

	for (unsigned i = 0; st->shards != NULL && i < st->nshards; i++)
		n += txp_fraud_late(st->shards[i].fraud);
	return n;
}

void txp_stages_decided(struct txp_stages *st, struct txp_txn *t)
{
	if (st->retired != NULL)
		collect_retired(st);
	txp_txn_free(t);
}

void txp_stages_destroy(struct txp_stages *st)
{
	if (st == NULL)
		return;
	for (unsigned i = 0; st->shards != NULL && i < st->nshards; i++) {
		txp_fraud_state_destroy(st->shards[i].fraud);
		txp_compliance_state_destroy(st->shards[i].comply);
		txp_compliance_rules_unref(st->shards[i].comply_rules);
	}
	while (st->retired != NULL) {
		struct ruleset *rs = st->retired;
		st->retired = rs->older;
		ruleset_free(rs);
	}
	ruleset_free(atomic_load_explicit(&st->current, memory_order_relaxed));
	sodium_memzero(st->card_key, sizeof(st->card_key));
	sodium_memzero(st->pseud_key, sizeof(st->pseud_key));
	txp_blake2b_key_wipe(&st->pseud_b2);
	free(st->validators);
	free(st->shards);
	free(st->validate_ctx);
	free(st->fraud_ctx);
	free(st->comply_ctx);
	free(st);
}
