/* compliance.h: the compliance stage: AML, sanctions, KYC, PCI DSS card-number scan, GDPR pseudonyms. */
#ifndef TXPIPE_COMPLIANCE_H
#define TXPIPE_COMPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/blake2b.h"
#include "txpipe/rulelists.h"
#include "txpipe/txn.h"
#include "txpipe/velocity.h"

/* What a compliance rule does to the decision when it fires. */
enum txp_rule_action {
	TXP_ACTION_NONE = 0, /* reason and flag only */
	TXP_ACTION_REVIEW,
	TXP_ACTION_DECLINE,
	TXP_ACTION_COUNT
};

/* "none", "review", "decline" (the config file's spelling). */
extern const char *const txp_rule_action_names[TXP_ACTION_COUNT + 1];
/* "none", "low", "medium", "high", "critical", NULL-terminated. */
extern const char *const txp_severity_names[TXP_SEVERITY_COUNT + 1];

/* Which identifiers txp_compliance_pseudonymise_txn() fills. */
#define TXP_PSEUD_CUSTOMER_ID (1u << 0)
#define TXP_PSEUD_IP_ADDRESS (1u << 1)
#define TXP_PSEUD_DEVICE_ID (1u << 2)

/*
 * Configuration, shaped like struct txp_fraud_config so it can sit in
 * struct txp_config: numbers uint64_t, strings owned char *, enums int
 * (enum txp_rule_action or enum txp_severity).  Defaults and bounds live
 * only in the config table (src/config_table.c).  Amounts are whole USD; a
 * rule fires when the USD equivalent is at or above its threshold.
 * Sanctions by country and identifier always decline: that outcome is
 * not configurable; a name hit does what sanctions_name_action says
 * (default decline), since a name alone may need a review.
 */
struct txp_compliance_config {
	/* USD rates for every stage ("USD:1000000,EUR:1080000"): the caller
	 * loads usd_rates_file (or the built-in table), adds these with
	 * txp_rates_parse() and txp_rates_merge(), and passes the same table
	 * to txp_fraud_rules_create() and txp_compliance_rules_create(). */
	char *usd_rates;
	/* A rates file (txp_rates_load()), "" for the built-in table
	 * (txp_rates_builtin); usd_rates is added on top of it. */
	char *usd_rates_file;
	uint64_t rates_max_age_days; /* warn when the rates are older; 0 never */
	uint64_t aml_threshold_usd;  /* reporting threshold */
	int aml_action;
	int aml_severity;
	uint64_t structuring_window_ms; /* not reloadable */
	int structuring_action;
	int structuring_severity;
	uint64_t max_tracked_keys; /* customers per shard; not reloadable */
	int state_full_action;     /* enum txp_rule_action when the table is full */

	char *sanctioned_countries; /* "CU,IR,KP" */
	char *sanctions_list;       /* list file of customer/merchant ids; "" none */
	int sanctions_severity;
	/* Name screening (names.h): "[LABEL=]FORMAT:PATH, ..." ("" none),
	 * the score in thousandths from which a name is a hit, and what a
	 * hit does (sanctions_name_match). */
	char *sanctions_name_lists;
	uint64_t sanctions_name_threshold;
	int sanctions_name_action;
	int sanctions_name_severity;

	uint64_t kyc_threshold_usd;
	bool kyc_unspecified_is_unverified; /* a missing kyc field counts as unverified */
	int kyc_action;                     /* unverified or pending */
	int kyc_failed_action;
	int kyc_severity;

	bool pan_scan; /* mask card numbers found in free-text fields */
	int pan_action;
	int pan_severity;

	int rate_unknown_action; /* currency without a USD rate */

	char *pseudonymise;      /* "customer_id,ip_address,device_id" */
	uint64_t retention_days; /* record TTL */

	/* Key files (mode 0600, 32 bytes raw or 64 hex digits): the card
	 * token key (PCI DSS) and the pseudonym key (GDPR), kept apart so
	 * one leaking does not unmask the other.  Not reloadable: a new key
	 * would break every token's continuity. */
	char *card_token_key_file;
	char *pseudonym_key_file;
};

/*
 * Parses a pseudonymise value ("customer_id, ip_address,device_id"; commas
 * and spaces separate) into TXP_PSEUD_* bits in *out.  Returns 0, or -EINVAL
 * with the unknown name in `err` (no key: the caller adds it).
 */
int txp_compliance_pseud_parse(const char *spec, unsigned *out, char *err, size_t errlen);

/* Safe on a zeroed struct. */
void txp_compliance_config_free(struct txp_compliance_config *cfg);

struct txp_compliance_rules;
struct txp_compliance_state;

/*
 * As txp_fraud_rules_create(): `cfg` passed the table's bounds and
 * txp_config_validate(); loads the sanctions list file, copies `cfg` and
 * `rates`; one reference in *out.  Returns 0 or a negative errno with `err`
 * naming the key or file.
 */
int txp_compliance_rules_create(const struct txp_compliance_config *cfg, const struct txp_rates *rates,
                                struct txp_compliance_rules **out, char *err, size_t errlen);
struct txp_compliance_rules *txp_compliance_rules_ref(struct txp_compliance_rules *r);
void txp_compliance_rules_unref(struct txp_compliance_rules *r);
const struct txp_compliance_config *txp_compliance_rules_config(const struct txp_compliance_rules *r);

/* Resident bytes one customer costs in a full compliance table. */
size_t txp_compliance_bytes_per_key(void);

/*
 * One shard's structuring state (a 24 h window per customer), owned by one
 * thread; same contract as txp_fraud_state_create().
 */
int txp_compliance_state_create(struct txp_compliance_rules *rules, const uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES],
                                struct txp_compliance_state **out, char *err, size_t errlen);
void txp_compliance_state_destroy(struct txp_compliance_state *st);

/* Swaps rules on the shard's thread, keeping state.  -EINVAL when
 * max_tracked_keys or structuring_window changes. */
int txp_compliance_set_rules(struct txp_compliance_state *st, struct txp_compliance_rules *rules, char *err,
                             size_t errlen);

/*
 * Checks a validated (and normally already scored) transaction: masks card
 * numbers in transaction_id, customer_id, merchant_id and device_id; then
 * sanctions, AML threshold and structuring, KYC.  Adds reasons (0 points:
 * the risk score is fraud's), sets t->compliance_flags, escalates t->status
 * (declined beats review beats approved), raises the compliance alert with
 * the highest severity of the rules that fired, and sets t->expires_at.
 * Rejected and error transactions are left alone.  Uses t->received_ms as
 * the clock, as the fraud stage does.  Structuring history is kept under
 * t->customer_key (the pseudonym); sanctions lists match the raw ids, and
 * the name lists the party names (t->names), a hit filling t->name_hit_*.
 */
void txp_compliance_check(struct txp_compliance_state *st, struct txp_txn *t);

/*
 * Records a transaction checked before a restart in the structuring
 * window without checking it (the rebuild from the journal).  Reads
 * customer_key, amount_usd(_known) and received_ms.
 */
void txp_compliance_record(struct txp_compliance_state *st, const struct txp_txn *t);

/* Records another fleet host's transaction as txp_compliance_record()
 * does, at its own received_ms (see txp_fraud_apply()). */
void txp_compliance_apply(struct txp_compliance_state *st, const struct txp_txn *t);

void txp_compliance_stats(const struct txp_compliance_state *st, struct txp_keytab_stats *out);

/* Key sizes accepted for pseudonyms (BLAKE2b allows 1 to 64 bytes). */
#define TXP_PSEUD_KEY_MIN 16
#define TXP_PSEUD_KEY_MAX 64

/*
 * GDPR pseudonym: hex of the 16-byte keyed BLAKE2b (RFC 7693; libsodium's
 * crypto_generichash gives the same) of
 * `label` NUL `value`.  The label ("customer_id", ...) separates domains so
 * equal values in different fields do not link.  Deterministic for a given
 * key; without the key the value cannot be recovered or confirmed.  The key
 * must be distinct from the card-tokenisation key.  An empty value gives "".
 * Returns 0, or -EINVAL for a key of the wrong size.
 */
int txp_compliance_pseudonym(const uint8_t *key, size_t keylen, const char *label, const char *value,
                             char out[TXP_TOKEN_HEX + 1]);

/*
 * The pseudonym key made ready once (txpipe/blake2b.h), for the calls
 * below, which make one pseudonym for each transaction's field: each is
 * then one BLAKE2b compression instead of two.  Returns 0, or -EINVAL for a
 * key of the wrong size.  Wipe it with txp_blake2b_key_wipe().
 */
int txp_compliance_pseudonym_key(struct txp_blake2b_key *k, const uint8_t *key, size_t keylen);

/* txp_compliance_pseudonym() with a key from txp_compliance_pseudonym_key(). */
void txp_compliance_pseudonym_keyed(const struct txp_blake2b_key *k, const char *label, const char *value,
                                    char out[TXP_TOKEN_HEX + 1]);

/*
 * Fills t->customer_pseud, t->ip_pseud and t->device_pseud for the fields
 * named in the rules' `pseudonymise` key (others are cleared), under `k`
 * (txp_compliance_pseudonym_key()).  A non-empty t->customer_key must be
 * the customer_id pseudonym under this same key (txn.h): it is copied, not
 * computed again.
 */
void txp_compliance_pseudonymise_txn(const struct txp_compliance_rules *r, const struct txp_blake2b_key *k,
                                     struct txp_txn *t);

/*
 * Fills t->name_pseud with the keyed pseudonyms (label: the field's name)
 * of the normalised party names given, so "JOHN SMITH" and "John Smith"
 * share one, then wipes the raw names from the transaction: after this
 * nothing downstream (reply, journal, store, alerts, logs) can see them.
 * Called for every transaction, screened or not.
 */
void txp_compliance_names_seal(const struct txp_blake2b_key *k, struct txp_txn *t);

/* The name index's entries and bytes (0 when no name list is loaded). */
size_t txp_compliance_name_entries(const struct txp_compliance_rules *r);
size_t txp_compliance_name_bytes(const struct txp_compliance_rules *r);

/* Retention expiry in Unix seconds (DynamoDB TTL): received_ms / 1000 plus
 * `days` days, saturating.  0 days gives 0 (keep forever). */
int64_t txp_compliance_expiry(int64_t received_ms, uint64_t days);

#endif
