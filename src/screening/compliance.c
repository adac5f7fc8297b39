/* compliance.c: the compliance stage: AML, structuring, sanctions, KYC, card-number masking, pseudonyms. */
#include "txpipe/compliance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/names.h"
#include "txpipe/pan.h"
#include "txpipe/ref.h"

const char *const txp_rule_action_names[TXP_ACTION_COUNT + 1] = { "none", "review", "decline", NULL };
const char *const txp_severity_names[TXP_SEVERITY_COUNT + 1] = { "none", "low", "medium", "high", "critical", NULL };

struct txp_compliance_rules {
	struct txp_ref refs;
	struct txp_compliance_config cfg; /* deep copy */
	struct txp_rates rates;
	struct txp_country_set sanctioned;
	struct txp_idset *sanctions_list;
	struct txp_names *names; /* immutable: shared by every shard's thread */
	unsigned pseud_fields;   /* TXP_PSEUD_* */
	int64_t width, ttl;
};

/* Compact (velocity.h): millions of customers live here at once, and the
 * structuring threshold is bounded so saturation never changes a decision. */
struct customer_entry {
	struct txp_window_small below; /* transactions below the reporting threshold */
};

struct txp_compliance_state {
	struct txp_compliance_rules *rules;
	struct txp_names_scratch *names_scratch; /* this thread's, so screening takes no lock */
	struct txp_keytab *customers;
	int64_t clock;
};

void txp_compliance_config_free(struct txp_compliance_config *cfg)
{
	free(cfg->sanctioned_countries);
	free(cfg->sanctions_list);
	free(cfg->sanctions_name_lists);
	free(cfg->pseudonymise);
	free(cfg->usd_rates);
	free(cfg->usd_rates_file);
	cfg->usd_rates_file = NULL;
	free(cfg->card_token_key_file);
	free(cfg->pseudonym_key_file);
	cfg->sanctioned_countries = cfg->sanctions_list = cfg->pseudonymise = cfg->usd_rates = NULL;
	cfg->sanctions_name_lists = NULL;
	cfg->card_token_key_file = cfg->pseudonym_key_file = NULL;
}

static int config_copy(struct txp_compliance_config *dst, const struct txp_compliance_config *src)
{
	*dst = *src;
	dst->sanctioned_countries = strdup(src->sanctioned_countries != NULL ? src->sanctioned_countries : "");
	dst->sanctions_list = strdup(src->sanctions_list != NULL ? src->sanctions_list : "");
	dst->pseudonymise = strdup(src->pseudonymise != NULL ? src->pseudonymise : "");
	dst->sanctions_name_lists = strdup(src->sanctions_name_lists != NULL ? src->sanctions_name_lists : "");
	dst->usd_rates = strdup(src->usd_rates != NULL ? src->usd_rates : "");
	dst->usd_rates_file = strdup(src->usd_rates_file != NULL ? src->usd_rates_file : "");
	dst->card_token_key_file = strdup(src->card_token_key_file != NULL ? src->card_token_key_file : "");
	dst->pseudonym_key_file = strdup(src->pseudonym_key_file != NULL ? src->pseudonym_key_file : "");
	if (dst->sanctioned_countries == NULL || dst->sanctions_list == NULL || dst->pseudonymise == NULL ||
	    dst->usd_rates == NULL || dst->usd_rates_file == NULL || dst->card_token_key_file == NULL ||
	    dst->pseudonym_key_file == NULL || dst->sanctions_name_lists == NULL) {
		txp_compliance_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int txp_compliance_pseud_parse(const char *spec, unsigned *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = { { "customer_id", TXP_PSEUD_CUSTOMER_ID },
		      { "ip_address", TXP_PSEUD_IP_ADDRESS },
		      { "device_id", TXP_PSEUD_DEVICE_ID } };
	const char *p = spec;

	*out = 0;
	while (*p != '\0') {
		size_t n;
		unsigned i;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strlen(names[i].name) == n && strncmp(names[i].name, p, n) == 0)
				break;
		}
		if (i == sizeof(names) / sizeof(names[0])) {
			snprintf(err, errlen, "\"%.*s\": expected customer_id, ip_address or device_id", (int)n, p);
			return -EINVAL;
		}
		*out |= names[i].bit;
		p += n;
	}
	return 0;
}

int txp_compliance_rules_create(const struct txp_compliance_config *cfg, const struct txp_rates *rates,
                                struct txp_compliance_rules **out, char *err, size_t errlen)
{
	struct txp_compliance_rules *r;
	char sub[512];
	int rc;

	*out = NULL;
	rc = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto err_nomem;
	txp_ref_init(&r->refs);
	if (config_copy(&r->cfg, cfg) != 0)
		goto err_after_r;
	if (txp_rates_copy(&r->rates, rates) != 0)
		goto err_after_cfg;
	rc = txp_country_set_parse(r->cfg.sanctioned_countries, &r->sanctioned, sub, sizeof(sub));
	if (rc != 0) {
		snprintf(err, errlen, "[compliance] sanctioned_countries: %s", sub);
		goto err_after_rates;
	}
	rc = txp_compliance_pseud_parse(r->cfg.pseudonymise, &r->pseud_fields, sub, sizeof(sub));
	if (rc != 0) {
		snprintf(err, errlen, "[compliance] pseudonymise: %s", sub);
		goto err_after_rates;
	}
	if (r->cfg.sanctions_list[0] != '\0') {
		rc = txp_idset_load(r->cfg.sanctions_list, &r->sanctions_list, sub, sizeof(sub));
		if (rc != 0) {
			snprintf(err, errlen, "[compliance] sanctions_list: %s", sub);
			goto err_after_rates;
		}
	}
	if (r->cfg.sanctions_name_lists[0] != '\0') {
		/* A list that fails to parse fails the whole build: at a reload
		 * the running rules, old lists included, stay in place. */
		rc = txp_names_load(r->cfg.sanctions_name_lists, &r->names, sub, sizeof(sub));
		if (rc != 0) {
			snprintf(err, errlen, "[compliance] sanctions_name_lists: %s", sub);
			goto err_after_idset;
		}
	}
	r->width = txp_window_width((int64_t)cfg->structuring_window_ms);
	r->ttl = (int64_t)cfg->structuring_window_ms + r->width;
	*out = r;
	return 0;

err_after_idset:
	txp_idset_free(r->sanctions_list);
err_after_rates:
	txp_rates_free(&r->rates);
err_after_cfg:
	txp_compliance_config_free(&r->cfg);
err_after_r:
	free(r);
err_nomem:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "[compliance] out of memory");
	return rc;
}

struct txp_compliance_rules *txp_compliance_rules_ref(struct txp_compliance_rules *r)
{
	txp_ref_get(&r->refs);
	return r;
}

void txp_compliance_rules_unref(struct txp_compliance_rules *r)
{
	if (r == NULL)
		return;
	if (!txp_ref_put(&r->refs))
		return;
	txp_idset_free(r->sanctions_list);
	txp_names_free(r->names);
	txp_rates_free(&r->rates);
	txp_compliance_config_free(&r->cfg);
	free(r);
}

size_t txp_compliance_name_entries(const struct txp_compliance_rules *r)
{
	return txp_names_entries(r->names);
}

size_t txp_compliance_name_bytes(const struct txp_compliance_rules *r)
{
	return txp_names_memory(r->names);
}

const struct txp_compliance_config *txp_compliance_rules_config(const struct txp_compliance_rules *r)
{
	return &r->cfg;
}

size_t txp_compliance_bytes_per_key(void)
{
	return txp_keytab_bytes_per_key(sizeof(struct customer_entry));
}

int txp_compliance_state_create(struct txp_compliance_rules *rules, const uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES],
                                struct txp_compliance_state **out, char *err, size_t errlen)
{
	struct txp_compliance_state *st;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		goto err;
	/* 0 unresolved (see txp_fraud_state_create()): the smallest size. */
	st->customers = txp_keytab_create(rules->cfg.max_tracked_keys != 0 ? (size_t)rules->cfg.max_tracked_keys
	                                                                   : TXP_STATE_AUTO_MIN_KEYS,
	                                  sizeof(struct customer_entry), hash_key);
	if (st->customers == NULL)
		goto err_after_st;
	st->names_scratch = txp_names_scratch_new();
	if (st->names_scratch == NULL)
		goto err_after_customers;
	st->rules = txp_compliance_rules_ref(rules);
	*out = st;
	return 0;

err_after_customers:
	txp_keytab_destroy(st->customers);
err_after_st:
	free(st);
err:
	snprintf(err, errlen, "[compliance] cannot allocate state for %llu keys",
	         (unsigned long long)rules->cfg.max_tracked_keys);
	return -ENOMEM;
}

void txp_compliance_state_destroy(struct txp_compliance_state *st)
{
	if (st == NULL)
		return;
	txp_keytab_destroy(st->customers);
	txp_names_scratch_free(st->names_scratch);
	txp_compliance_rules_unref(st->rules);
	free(st);
}

int txp_compliance_set_rules(struct txp_compliance_state *st, struct txp_compliance_rules *rules, char *err,
                             size_t errlen)
{
	if (st->rules->cfg.max_tracked_keys != rules->cfg.max_tracked_keys ||
	    st->rules->cfg.structuring_window_ms != rules->cfg.structuring_window_ms) {
		snprintf(err, errlen, "[compliance] max_tracked_keys and structuring_window cannot change on reload");
		return -EINVAL;
	}
	txp_compliance_rules_ref(rules);
	txp_compliance_rules_unref(st->rules);
	st->rules = rules;
	return 0;
}

void txp_compliance_stats(const struct txp_compliance_state *st, struct txp_keytab_stats *out)
{
	txp_keytab_stats(st->customers, out);
}

static enum txp_status action_status(int action)
{
	switch (action) {
	case TXP_ACTION_REVIEW:
		return TXP_STATUS_REVIEW;
	case TXP_ACTION_DECLINE:
		return TXP_STATUS_DECLINED;
	default:
		return TXP_STATUS_APPROVED;
	}
}

/* One fired rule: reason, flag, decision and alert. */
static void fire(struct txp_txn *t, const char *code, uint32_t flag, enum txp_status s, int severity)
{
	txp_txn_add_reason(t, code, 0);
	t->compliance_flags |= flag;
	txp_txn_escalate(t, s);
	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, (enum txp_severity)severity);
}

/*
 * Screens each party name given; the best-scoring hit is kept (its
 * field, list, entry and score).  A screening that cannot run (no memory
 * for the scratch) is never a silent pass: it asks for a review.
 */
static void screen_names(struct txp_compliance_state *st, struct txp_txn *t)
{
	const struct txp_compliance_config *c = &st->rules->cfg;
	struct txp_names_hit hit, best = { 0 };
	int best_field = -1;
	bool failed = false;

	for (int k = 0; k < TXP_NAME_FIELDS; k++) {
		int rc;
		if (t->names[k][0] == '\0')
			continue;
		rc = txp_names_screen(st->rules->names, st->names_scratch, t->names[k],
		                      (unsigned)c->sanctions_name_threshold, &hit);
		if (rc < 0)
			failed = true;
		else if (rc == 1 && (best_field < 0 || hit.score > best.score)) {
			best = hit;
			best_field = k;
		}
	}
	if (best_field >= 0) {
		t->name_hit_field = (uint8_t)(best_field + 1);
		t->name_hit_score = (uint16_t)best.score;
		snprintf(t->name_hit_list, sizeof(t->name_hit_list), "%s", best.list);
		snprintf(t->name_hit_entry, sizeof(t->name_hit_entry), "%s", best.entry);
		fire(t, "sanctions_name_match", TXP_COMPLIANCE_SANCTIONS, action_status(c->sanctions_name_action),
		     c->sanctions_name_severity);
	} else if (failed) {
		fire(t, "sanctions_name_unscreened", TXP_COMPLIANCE_SANCTIONS, TXP_STATUS_REVIEW,
		     c->sanctions_name_severity);
	}
}

void txp_compliance_check(struct txp_compliance_state *st, struct txp_txn *t)
{
	const struct txp_compliance_rules *r = st->rules;
	const struct txp_compliance_config *c = &r->cfg;
	int64_t now, threshold = (int64_t)c->aml_threshold_usd * 100;
	bool above;

	if (t->status > TXP_STATUS_DECLINED)
		return;
	now = t->received_ms > st->clock ? t->received_ms : st->clock;
	if (now < 0)
		now = 0;
	st->clock = now;
	t->expires_at = txp_compliance_expiry(t->received_ms, c->retention_days);

	/* PCI DSS: no card number may be stored or sent out in a free-text
	 * field.  Masked in place, before anything downstream copies them. */
	if (c->pan_scan) {
		/* A transaction_id with a card number was tokenised by
		 * validation (txn.h): it counts, and its token is left alone
		 * (its hex digits could pass for a number by chance). */
		size_t n = (t->id_tokenised ? 1 : txp_pan_mask(t->transaction_id)) + txp_pan_mask(t->customer_id) +
		           txp_pan_mask(t->merchant_id) + txp_pan_mask(t->device_id);
		if (n > 0)
			fire(t, "pan_in_field", TXP_COMPLIANCE_PAN_MASKED, action_status(c->pan_action),
			     c->pan_severity);
	}

	if (txp_country_set_has(&r->sanctioned, t->customer_country) ||
	    txp_country_set_has(&r->sanctioned, t->merchant_country))
		fire(t, "sanctions_country", TXP_COMPLIANCE_SANCTIONS, TXP_STATUS_DECLINED, c->sanctions_severity);
	if (txp_idset_has(r->sanctions_list, t->customer_id) || txp_idset_has(r->sanctions_list, t->merchant_id))
		fire(t, "sanctions_list_match", TXP_COMPLIANCE_SANCTIONS, TXP_STATUS_DECLINED, c->sanctions_severity);
	if (r->names != NULL)
		screen_names(st, t);

	if (!t->amount_usd_known)
		t->amount_usd_known = txp_rates_to_usd_cents(&r->rates, t->currency, t->currency_exponent, t->amount,
		                                             &t->amount_usd) == 0;
	if (!t->amount_usd_known) {
		/* Neither the reporting threshold nor structuring can be
		 * evaluated; KYC below treats the amount as above its threshold. */
		fire(t, "currency_rate_unknown", TXP_COMPLIANCE_RATE_UNKNOWN, action_status(c->rate_unknown_action),
		     TXP_SEVERITY_NONE);
	} else if (t->amount_usd >= threshold) {
		fire(t, "aml_reporting_threshold", TXP_COMPLIANCE_AML_REPORT, action_status(c->aml_action),
		     c->aml_severity);
	} else {
		bool fresh;
		struct customer_entry *ce = txp_keytab_get(
		        st->customers, txp_keytab_hash(st->customers, t->customer_key), now, r->ttl, &fresh);

		if (ce == NULL) {
			/* Never silently untracked: see velocity.h. */
			fire(t, "compliance_state_full", 0, action_status(c->state_full_action), TXP_SEVERITY_NONE);
		} else {
			uint64_t n;
			int64_t sum;

			(void)txp_window_small_add(&ce->below, r->width, now, t->amount_usd);
			txp_window_small_totals(&ce->below, r->width, now, &n, &sum);
			if (sum >= threshold)
				fire(t, "aml_structuring", TXP_COMPLIANCE_STRUCTURING,
				     action_status(c->structuring_action), c->structuring_severity);
		}
	}

	above = !t->amount_usd_known || t->amount_usd >= (int64_t)c->kyc_threshold_usd * 100;
	if (above) {
		if (t->kyc == TXP_KYC_FAILED)
			fire(t, "kyc_failed", TXP_COMPLIANCE_KYC, action_status(c->kyc_failed_action), c->kyc_severity);
		else if (t->kyc == TXP_KYC_PENDING || t->kyc == TXP_KYC_UNVERIFIED ||
		         (t->kyc == TXP_KYC_UNSPECIFIED && c->kyc_unspecified_is_unverified))
			fire(t, "kyc_not_verified", TXP_COMPLIANCE_KYC, action_status(c->kyc_action), c->kyc_severity);
	}
}

/* Adds a below-threshold amount to the structuring window at `now`. */
static void record_below(struct txp_compliance_state *st, const struct txp_txn *t, int64_t now)
{
	const struct txp_compliance_rules *r = st->rules;
	struct customer_entry *ce;
	bool fresh;

	/* Only amounts below the reporting threshold count towards
	 * structuring, as in txp_compliance_check(). */
	if (!t->amount_usd_known || t->amount_usd >= (int64_t)r->cfg.aml_threshold_usd * 100)
		return;
	ce = txp_keytab_get(st->customers, txp_keytab_hash(st->customers, t->customer_key), now, r->ttl, &fresh);
	if (ce != NULL)
		(void)txp_window_small_add(&ce->below, r->width, now, t->amount_usd);
}

void txp_compliance_record(struct txp_compliance_state *st, const struct txp_txn *t)
{
	int64_t now = t->received_ms > st->clock ? t->received_ms : st->clock;

	if (now < 0)
		now = 0;
	st->clock = now;
	record_below(st, t, now);
}

void txp_compliance_apply(struct txp_compliance_state *st, const struct txp_txn *t)
{
	/* A fleet event at its own time: see txp_fraud_apply(). */
	record_below(st, t, t->received_ms > 0 ? t->received_ms : 0);
}

int txp_compliance_pseudonym_key(struct txp_blake2b_key *k, const uint8_t *key, size_t keylen)
{
	if (keylen < TXP_PSEUD_KEY_MIN || keylen > TXP_PSEUD_KEY_MAX)
		return -EINVAL;
	return txp_blake2b_key_init(k, key, keylen, TXP_TOKEN_HEX / 2);
}

void txp_compliance_pseudonym_keyed(const struct txp_blake2b_key *k, const char *label, const char *value,
                                    char out[TXP_TOKEN_HEX + 1])
{
	unsigned char digest[TXP_TOKEN_HEX / 2];

	out[0] = '\0';
	if (value == NULL || value[0] == '\0')
		return;
	txp_blake2b_labelled(k, digest, label, value, strlen(value));
	sodium_bin2hex(out, TXP_TOKEN_HEX + 1, digest, sizeof(digest));
	sodium_memzero(digest, sizeof(digest));
}

int txp_compliance_pseudonym(const uint8_t *key, size_t keylen, const char *label, const char *value,
                             char out[TXP_TOKEN_HEX + 1])
{
	struct txp_blake2b_key k;

	out[0] = '\0';
	if (txp_compliance_pseudonym_key(&k, key, keylen) != 0)
		return -EINVAL;
	txp_compliance_pseudonym_keyed(&k, label, value, out);
	txp_blake2b_key_wipe(&k);
	return 0;
}

void txp_compliance_pseudonymise_txn(const struct txp_compliance_rules *r, const struct txp_blake2b_key *k,
                                     struct txp_txn *t)
{
	t->customer_pseud[0] = t->ip_pseud[0] = t->device_pseud[0] = '\0';
	if (r->pseud_fields & TXP_PSEUD_CUSTOMER_ID) {
		/* customer_key is this very pseudonym, made before the fraud
		 * stage under the same key (txn.h): a keyed BLAKE2b saved on
		 * every transaction. */
		if (t->customer_key[0] != '\0')
			memcpy(t->customer_pseud, t->customer_key, sizeof(t->customer_pseud));
		else
			txp_compliance_pseudonym_keyed(k, "customer_id", t->customer_id, t->customer_pseud);
	}
	if (r->pseud_fields & TXP_PSEUD_IP_ADDRESS)
		txp_compliance_pseudonym_keyed(k, "ip_address", t->ip_address, t->ip_pseud);
	if (r->pseud_fields & TXP_PSEUD_DEVICE_ID)
		txp_compliance_pseudonym_keyed(k, "device_id", t->device_id, t->device_pseud);
}

void txp_compliance_names_seal(const struct txp_blake2b_key *k, struct txp_txn *t)
{
	char norm[TXP_NAME_MAX * 2 + 2];

	for (int i = 0; i < TXP_NAME_FIELDS; i++) {
		t->name_pseud[i][0] = '\0';
		if (t->names[i][0] == '\0')
			continue;
		/* The normalised form, so spellings that differ only in case,
		 * accents, punctuation or word order ("SMITH, John") link. */
		if (txp_names_normalise(t->names[i], strlen(t->names[i]), 0, norm, sizeof(norm)) > 0)
			txp_compliance_pseudonym_keyed(k, txp_name_fields[i], norm, t->name_pseud[i]);
		sodium_memzero(norm, sizeof(norm));
	}
	sodium_memzero(t->names, sizeof(t->names));
}

int64_t txp_compliance_expiry(int64_t received_ms, uint64_t days)
{
	int64_t secs, ttl;

	if (days == 0)
		return 0;
	if (days > (uint64_t)INT64_MAX / 86400)
		return INT64_MAX;
	secs = received_ms / 1000;
	if (__builtin_add_overflow(secs, (int64_t)days * 86400, &ttl))
		return INT64_MAX;
	return ttl;
}
