/* fraud.h: the fraud stage: weighted rules, per-shard velocity state and a risk score. */
#ifndef TXPIPE_FRAUD_H
#define TXPIPE_FRAUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/rulelists.h"
#include "txpipe/txn.h"
#include "txpipe/velocity.h"

/*
 * The engine is split in two so rules can be reloaded without losing
 * history:
 *
 *  - struct txp_fraud_rules: the configuration and loaded lists, immutable
 *    once built and reference-counted (atomically), so one rules object can
 *    be shared by every shard and dropped by whichever shard lets go last.
 *  - struct txp_fraud_state: one shard's mutable velocity state, owned by one
 *    thread.  txp_fraud_set_rules() swaps the rules it uses, on that thread.
 *
 * Transactions are sharded by customer, so a customer's history lives in one
 * shard.  Merchant and card velocity are therefore counted per shard: with
 * N shards a merchant's counts are about 1/N of its true traffic (customers
 * spread evenly), and merchant thresholds must be set per shard.  Card
 * tokens usually belong to one customer, so card-testing state is close to
 * exact; a stolen card used under many customer ids is split across shards.
 * (A deployment that needs exact merchant velocity can run one shard, or add
 * a merchant-keyed stage; see the report in src/rules-config.md.)
 *
 * Time: the windows use t->received_ms, the daemon's clock when the line was
 * read, never the producer's timestamp (data only, so producers cannot
 * rewind windows).  The state also never moves backwards: a received_ms
 * earlier than the latest seen (a wall-clock step) is treated as the latest.
 */

/* Configuration, shaped so it can sit in struct txp_config and be filled by
 * the config table: numbers are uint64_t, strings owned char * (comma lists
 * and file paths; "" means none), enums int.  Amounts are whole USD.
 * Defaults, bounds and help live only in the table (src/config_table.c);
 * settings that must agree with each other are checked by
 * txp_config_validate().  A test takes the defaults from the table too
 * (txp_config_defaults()). */
struct txp_fraud_config {
	/* Decision. */
	uint64_t review_threshold;  /* score >= this: review */
	uint64_t decline_threshold; /* score >= this: declined */
	int alert_review_severity;  /* enum txp_severity of the alert for review */
	int alert_decline_severity; /* ... and for declined */

	/* State (not reloadable: fixed when the state is created). */
	uint64_t max_tracked_keys; /* per table (customers, merchants, cards) per shard */
	/* Not a config key: the merchant table's size when max_tracked_keys
	 * was sized from the host (txp_fraud_config_size()); 0 means
	 * max_tracked_keys. */
	uint64_t max_tracked_merchants;
	uint64_t window_short_ms;
	uint64_t window_medium_ms;
	uint64_t window_long_ms;
	uint64_t state_full_points; /* when a table is full of live keys */

	/* High amount. */
	uint64_t high_amount_usd; /* absolute; 0 disables */
	uint64_t high_amount_points;
	uint64_t relative_percent;     /* amount > this % of the customer's average; 0 disables */
	uint64_t relative_min_history; /* transactions in the long window needed first */
	uint64_t relative_points;

	/* Velocity: counts and USD sums reached within each window; 0 disables. */
	uint64_t customer_count[3]; /* short, medium, long */
	uint64_t customer_amount_usd[3];
	uint64_t merchant_count[3];
	uint64_t merchant_amount_usd[3];
	uint64_t velocity_customer_points;
	uint64_t velocity_merchant_points;

	/* Geography. */
	uint64_t cross_border_points;
	char *high_risk_countries; /* "KP,IR,MM" */
	uint64_t high_risk_country_points;

	/* Lists: one entry per line, '#' comments.  "" means no list. */
	char *allow_customers;
	char *allow_merchants;
	char *allow_cards;
	char *allow_devices;
	char *deny_customers;
	char *deny_merchants;
	char *deny_cards;
	char *deny_devices;
	uint64_t deny_points;

	/* Round amounts: a whole multiple of this many major units; 0 disables. */
	uint64_t round_amount_major;
	uint64_t round_amount_points;

	/* The same amount and currency again for the same customer. */
	uint64_t repeat_window_ms;
	uint64_t repeat_min_count; /* earlier identical ones needed, 1..TXP_FRAUD_REPEAT_RING */
	uint64_t repeat_points;

	/* Card testing: small amounts at distinct merchants. */
	uint64_t card_test_max_usd; /* "small": at most this; 0 disables */
	uint64_t card_test_window_ms;
	uint64_t card_test_merchants; /* distinct merchants, this one included, 2..TXP_FRAUD_CARD_TEST_RING */
	uint64_t card_test_points;
};

#define TXP_FRAUD_REPEAT_RING 4
#define TXP_FRAUD_CARD_TEST_RING 8

/* Frees the strings `cfg` owns.  Safe on a zeroed struct. */
void txp_fraud_config_free(struct txp_fraud_config *cfg);

/*
 * Resident bytes one key costs across a shard's fraud tables when full:
 * a customer, a card and an eighth of a merchant (see
 * txp_fraud_config_size()).
 */
size_t txp_fraud_bytes_per_key(void);

/*
 * Resolves max_tracked_keys = 0 to `keys` (from txp_state_auto_keys()):
 * customers and cards get `keys` each, merchants one eighth of it (at least
 * TXP_STATE_AUTO_MIN_KEYS), since a host's merchants are far fewer than its
 * customers and each merchant entry is large.  A value set by the operator
 * is left alone and sizes all three tables.
 */
void txp_fraud_config_size(struct txp_fraud_config *cfg, uint64_t keys);

struct txp_fraud_rules;
struct txp_fraud_state;

/*
 * Loads `cfg`'s list files and copies `cfg` and `rates`, giving a new rules
 * object with one reference in *out.  `cfg` must hold values within the
 * config table's bounds that passed txp_config_validate(): nothing is
 * checked twice here.  Runs on any thread (it reads files: call it at
 * start-up or reload, not on a worker's hot path).  Returns 0, -EINVAL for
 * a bad list or country code, the errno of a list file that cannot be read,
 * or -ENOMEM; `err` says which key or file.
 */
int txp_fraud_rules_create(const struct txp_fraud_config *cfg, const struct txp_rates *rates,
                           struct txp_fraud_rules **out, char *err, size_t errlen);

/* Takes a reference.  Thread-safe.  Returns `r`. */
struct txp_fraud_rules *txp_fraud_rules_ref(struct txp_fraud_rules *r);

/* Drops a reference, freeing the rules with the last one.  Thread-safe;
 * NULL is safe. */
void txp_fraud_rules_unref(struct txp_fraud_rules *r);

/* The configuration the rules were built from (owned by the rules). */
const struct txp_fraud_config *txp_fraud_rules_config(const struct txp_fraud_rules *r);

/*
 * Creates one shard's state using `rules` (it takes its own reference) with
 * the table size and windows of the rules' config.  `hash_key` keys the
 * SipHash of customer, merchant and card keys; pass random bytes
 * (randombytes_buf) so nobody can predict collisions.  Returns 0, or -ENOMEM
 * (err filled).  Free with txp_fraud_state_destroy() on the owning thread.
 */
int txp_fraud_state_create(struct txp_fraud_rules *rules, const uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES],
                           struct txp_fraud_state **out, char *err, size_t errlen);

/* Frees the state and drops its rules reference.  NULL is safe. */
void txp_fraud_state_destroy(struct txp_fraud_state *st);

/*
 * Makes the state use `rules` from now on (taking a reference and dropping
 * the old one), keeping all velocity history.  Call on the shard's thread.
 * Returns 0, or -EINVAL (state unchanged, err filled) when `rules` changes
 * a setting fixed at state creation: max_tracked_keys or a window length.
 */
int txp_fraud_set_rules(struct txp_fraud_state *st, struct txp_fraud_rules *rules, char *err, size_t errlen);

/*
 * Scores a validated transaction: records it in the velocity state, then
 * sets t->amount_usd(_known), t->risk_score (0..100), t->scored, the
 * reasons, t->status (approved/review/declined, escalating only) and the
 * fraud alert.  Transactions already rejected or in error are left alone.
 * Every transaction is recorded, including declined ones: attempts are what
 * velocity and card-testing rules count.  A customer's history is kept under
 * t->customer_key (its pseudonym), merchants under merchant_id, cards under
 * card_token; the deny and allow lists match the raw ids.
 */
void txp_fraud_score(struct txp_fraud_state *st, struct txp_txn *t);

/*
 * Records a transaction scored before a restart in the velocity state,
 * without scoring it: the rebuild from the journal, before the workers
 * start.  Reads customer_key, merchant_id, has_card, card_token, amount,
 * currency, amount_usd(_known) and received_ms; changes nothing in `t`.
 */
void txp_fraud_record(struct txp_fraud_state *st, struct txp_txn *t);

/*
 * Records another fleet host's decided transaction (fleet.h), as
 * txp_fraud_record() does but at its own received_ms rather than this
 * host's clock: the windows put it in its bucket when it arrives late, and
 * leave it out of a window whose ring no longer holds that time (counted:
 * txp_fraud_late()).  Reads the same fields, and merchant_key.
 */
void txp_fraud_apply(struct txp_fraud_state *st, struct txp_txn *t);

/* Fleet events left out of a window as older than it.  Any thread. */
uint64_t txp_fraud_late(const struct txp_fraud_state *st);

struct txp_fraud_stats {
	struct txp_keytab_stats customers, merchants, cards;
};

void txp_fraud_stats(const struct txp_fraud_state *st, struct txp_fraud_stats *out);

#endif
