/* fraud.c: the fraud stage's rules, per-shard velocity state and scoring. */
#include "txpipe/fraud.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/ref.h"

#include <stdatomic.h>

enum { W_SHORT = 0, W_MEDIUM, W_LONG, W_COUNT };
enum { L_CUSTOMER = 0, L_MERCHANT, L_CARD, L_DEVICE, L_COUNT };

struct txp_fraud_rules {
	struct txp_ref refs;
	struct txp_fraud_config cfg; /* deep copy */
	struct txp_rates rates;
	struct txp_country_set high_risk;
	struct txp_idset *allow[L_COUNT];
	struct txp_idset *deny[L_COUNT];
	int64_t width[W_COUNT]; /* bucket widths */
	int64_t ttl_customer, ttl_merchant, ttl_card;
};

/* Small amounts recently seen for a customer or a card, for card testing. */
struct card_test_ring {
	int64_t ms[TXP_FRAUD_CARD_TEST_RING];
	uint32_t merchant[TXP_FRAUD_CARD_TEST_RING]; /* low bits of the merchant's hash */
	uint8_t next, n;
};

/*
 * Per-key state.  Customers and cards are the keys that come in millions,
 * so their entries are kept small (velocity.h: compact windows; sizes in
 * txpiped.ini(5)); merchants are few and keep the wide windows, whose
 * 64-bit sums and 32-bit counts hold a large merchant's day.
 */
struct customer_entry {
	struct txp_window_small win[W_COUNT];
	int64_t repeat_amount[TXP_FRAUD_REPEAT_RING];
	int64_t repeat_ms[TXP_FRAUD_REPEAT_RING];
	uint32_t repeat_currency[TXP_FRAUD_REPEAT_RING];
	uint8_t repeat_next, repeat_n;
	struct card_test_ring card_test;
};

struct merchant_entry {
	struct txp_window win[W_COUNT];
};

struct card_entry {
	struct card_test_ring card_test;
};

struct txp_fraud_state {
	struct txp_fraud_rules *rules;
	struct txp_keytab *customers, *merchants, *cards;
	int64_t clock; /* latest received_ms seen: windows never move back */
	/* Fleet events (txp_fraud_apply) older than a window's ring, left
	 * out of that window; read by the loop for stats. */
	_Atomic uint64_t late;
};

static const char *const list_names[L_COUNT] = { "customers", "merchants", "cards", "devices" };

static const char *const deny_codes[L_COUNT] = { "deny_list_customer", "deny_list_merchant", "deny_list_card",
	                                         "deny_list_device" };

/* [customer/merchant][count/amount][window] */
static const char *const velocity_codes[2][2][W_COUNT] = {
	{ { "velocity_customer_count_short", "velocity_customer_count_medium", "velocity_customer_count_long" },
	  { "velocity_customer_amount_short", "velocity_customer_amount_medium", "velocity_customer_amount_long" } },
	{ { "velocity_merchant_count_short", "velocity_merchant_count_medium", "velocity_merchant_count_long" },
	  { "velocity_merchant_amount_short", "velocity_merchant_amount_medium", "velocity_merchant_amount_long" } },
};

void txp_fraud_config_free(struct txp_fraud_config *cfg)
{
	char **strs[] = { &cfg->high_risk_countries, &cfg->allow_customers, &cfg->allow_merchants,
		          &cfg->allow_cards,         &cfg->allow_devices,   &cfg->deny_customers,
		          &cfg->deny_merchants,      &cfg->deny_cards,      &cfg->deny_devices };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

size_t txp_fraud_bytes_per_key(void)
{
	return txp_keytab_bytes_per_key(sizeof(struct customer_entry)) +
	       txp_keytab_bytes_per_key(sizeof(struct card_entry)) +
	       txp_keytab_bytes_per_key(sizeof(struct merchant_entry)) / 8;
}

void txp_fraud_config_size(struct txp_fraud_config *cfg, uint64_t keys)
{
	if (cfg->max_tracked_keys != 0)
		return;
	cfg->max_tracked_keys = keys;
	cfg->max_tracked_merchants = keys / 8 > TXP_STATE_AUTO_MIN_KEYS ? keys / 8 : TXP_STATE_AUTO_MIN_KEYS;
	if (cfg->max_tracked_merchants > keys)
		cfg->max_tracked_merchants = keys;
}

/* The string fields, for copying and freeing them together. */
static char **config_string(struct txp_fraud_config *cfg, unsigned i)
{
	char **strs[] = { &cfg->high_risk_countries, &cfg->allow_customers, &cfg->allow_merchants,
		          &cfg->allow_cards,         &cfg->allow_devices,   &cfg->deny_customers,
		          &cfg->deny_merchants,      &cfg->deny_cards,      &cfg->deny_devices };

	return i < sizeof(strs) / sizeof(strs[0]) ? strs[i] : NULL;
}

static int config_copy(struct txp_fraud_config *dst, const struct txp_fraud_config *src)
{
	char **d;

	*dst = *src;
	for (unsigned i = 0; (d = config_string(dst, i)) != NULL; i++)
		*d = NULL;
	for (unsigned i = 0; (d = config_string(dst, i)) != NULL; i++) {
		const char *s = *config_string((struct txp_fraud_config *)src, i);
		*d = strdup(s != NULL ? s : "");
		if (*d == NULL) {
			txp_fraud_config_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

int txp_fraud_rules_create(const struct txp_fraud_config *cfg, const struct txp_rates *rates,
                           struct txp_fraud_rules **out, char *err, size_t errlen)
{
	const char *allow_paths[L_COUNT] = { cfg->allow_customers, cfg->allow_merchants, cfg->allow_cards,
		                             cfg->allow_devices };
	const char *deny_paths[L_COUNT] = { cfg->deny_customers, cfg->deny_merchants, cfg->deny_cards,
		                            cfg->deny_devices };
	struct txp_fraud_rules *r;
	char sub[192];
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
	rc = txp_country_set_parse(r->cfg.high_risk_countries, &r->high_risk, sub, sizeof(sub));
	if (rc != 0) {
		snprintf(err, errlen, "[fraud] high_risk_countries: %s", sub);
		goto err_after_lists;
	}
	for (unsigned l = 0; l < L_COUNT; l++) {
		if (allow_paths[l] != NULL && allow_paths[l][0] != '\0') {
			rc = txp_idset_load(allow_paths[l], &r->allow[l], sub, sizeof(sub));
			if (rc != 0) {
				snprintf(err, errlen, "[fraud] allow_%s: %s", list_names[l], sub);
				goto err_after_lists;
			}
		}
		if (deny_paths[l] != NULL && deny_paths[l][0] != '\0') {
			rc = txp_idset_load(deny_paths[l], &r->deny[l], sub, sizeof(sub));
			if (rc != 0) {
				snprintf(err, errlen, "[fraud] deny_%s: %s", list_names[l], sub);
				goto err_after_lists;
			}
		}
	}
	r->width[W_SHORT] = txp_window_width((int64_t)cfg->window_short_ms);
	r->width[W_MEDIUM] = txp_window_width((int64_t)cfg->window_medium_ms);
	r->width[W_LONG] = txp_window_width((int64_t)cfg->window_long_ms);
	/* An entry is reusable once everything in it has aged out: the long
	 * window's events are gone L + g after the last one (see velocity.h),
	 * ring events once older than their window. */
	r->ttl_merchant = (int64_t)cfg->window_long_ms + r->width[W_LONG];
	r->ttl_card = (int64_t)cfg->card_test_window_ms + 1;
	r->ttl_customer = max64(r->ttl_merchant,
	                        max64((int64_t)cfg->repeat_window_ms + 1, (int64_t)cfg->card_test_window_ms + 1));
	*out = r;
	return 0;

err_after_lists:
	for (unsigned l = 0; l < L_COUNT; l++) {
		txp_idset_free(r->allow[l]);
		txp_idset_free(r->deny[l]);
	}
	txp_rates_free(&r->rates);
err_after_cfg:
	txp_fraud_config_free(&r->cfg);
err_after_r:
	free(r);
err_nomem:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "[fraud] out of memory");
	return rc;
}

struct txp_fraud_rules *txp_fraud_rules_ref(struct txp_fraud_rules *r)
{
	txp_ref_get(&r->refs);
	return r;
}

void txp_fraud_rules_unref(struct txp_fraud_rules *r)
{
	if (r == NULL)
		return;
	if (!txp_ref_put(&r->refs))
		return;
	for (unsigned l = 0; l < L_COUNT; l++) {
		txp_idset_free(r->allow[l]);
		txp_idset_free(r->deny[l]);
	}
	txp_rates_free(&r->rates);
	txp_fraud_config_free(&r->cfg);
	free(r);
}

const struct txp_fraud_config *txp_fraud_rules_config(const struct txp_fraud_rules *r)
{
	return &r->cfg;
}

int txp_fraud_state_create(struct txp_fraud_rules *rules, const uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES],
                           struct txp_fraud_state **out, char *err, size_t errlen)
{
	/* 0 is resolved by txp_fraud_config_size(); a caller that did not
	 * (a unit test) gets the smallest size that sizing gives. */
	size_t max_keys =
	        rules->cfg.max_tracked_keys != 0 ? (size_t)rules->cfg.max_tracked_keys : TXP_STATE_AUTO_MIN_KEYS;
	struct txp_fraud_state *st;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		goto err;
	st->customers = txp_keytab_create(max_keys, sizeof(struct customer_entry), hash_key);
	st->merchants = txp_keytab_create(
	        rules->cfg.max_tracked_merchants != 0 ? (size_t)rules->cfg.max_tracked_merchants : max_keys,
	        sizeof(struct merchant_entry), hash_key);
	st->cards = txp_keytab_create(max_keys, sizeof(struct card_entry), hash_key);
	if (st->customers == NULL || st->merchants == NULL || st->cards == NULL)
		goto err_after_st;
	st->rules = txp_fraud_rules_ref(rules);
	*out = st;
	return 0;

err_after_st:
	txp_keytab_destroy(st->cards);
	txp_keytab_destroy(st->merchants);
	txp_keytab_destroy(st->customers);
	free(st);
err:
	snprintf(err, errlen, "[fraud] cannot allocate velocity state for %zu keys", max_keys);
	return -ENOMEM;
}

void txp_fraud_state_destroy(struct txp_fraud_state *st)
{
	if (st == NULL)
		return;
	txp_keytab_destroy(st->cards);
	txp_keytab_destroy(st->merchants);
	txp_keytab_destroy(st->customers);
	txp_fraud_rules_unref(st->rules);
	free(st);
}

int txp_fraud_set_rules(struct txp_fraud_state *st, struct txp_fraud_rules *rules, char *err, size_t errlen)
{
	const struct txp_fraud_config *o = &st->rules->cfg, *n = &rules->cfg;

	/* The bucket widths give meaning to the stored windows and the table
	 * size is allocated: both need a restart. */
	if (o->max_tracked_keys != n->max_tracked_keys || o->max_tracked_merchants != n->max_tracked_merchants ||
	    o->window_short_ms != n->window_short_ms || o->window_medium_ms != n->window_medium_ms ||
	    o->window_long_ms != n->window_long_ms) {
		snprintf(err, errlen, "[fraud] max_tracked_keys and the window lengths cannot change on reload");
		return -EINVAL;
	}
	txp_fraud_rules_ref(rules);
	txp_fraud_rules_unref(st->rules);
	st->rules = rules;
	return 0;
}

void txp_fraud_stats(const struct txp_fraud_state *st, struct txp_fraud_stats *out)
{
	txp_keytab_stats(st->customers, &out->customers);
	txp_keytab_stats(st->merchants, &out->merchants);
	txp_keytab_stats(st->cards, &out->cards);
}

static int64_t usd_to_cents(uint64_t usd)
{
	/* The config table keeps every amount at most 2^50 (src/config_table.c). */
	return (int64_t)usd * 100;
}

static int64_t mul_sat(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Records a small amount at `merchant` and returns how many distinct
 * merchants the ring saw within `window_ms`, this one included. */
static unsigned card_test_record(struct card_test_ring *ring, int64_t now, uint32_t merchant, int64_t window_ms)
{
	uint32_t seen[TXP_FRAUD_CARD_TEST_RING];
	unsigned distinct = 0;

	ring->ms[ring->next] = now;
	ring->merchant[ring->next] = merchant;
	ring->next = (uint8_t)((ring->next + 1) % TXP_FRAUD_CARD_TEST_RING);
	if (ring->n < TXP_FRAUD_CARD_TEST_RING)
		ring->n++;
	for (unsigned i = 0; i < ring->n; i++) {
		unsigned j;

		if (now - ring->ms[i] > window_ms)
			continue;
		for (j = 0; j < distinct && seen[j] != ring->merchant[i]; j++)
			;
		if (j == distinct)
			seen[distinct++] = ring->merchant[i];
	}
	return distinct;
}

static uint32_t pack_currency(const char *c)
{
	return (uint32_t)(unsigned char)c[0] | (uint32_t)(unsigned char)c[1] << 8 | (uint32_t)(unsigned char)c[2] << 16;
}

/* Counts earlier identical amounts within the window, then records this one. */
static unsigned repeat_record(struct customer_entry *ce, int64_t now, int64_t amount, uint32_t currency,
                              int64_t window_ms)
{
	unsigned same = 0;

	for (unsigned i = 0; i < ce->repeat_n; i++) {
		if (ce->repeat_amount[i] == amount && ce->repeat_currency[i] == currency &&
		    now - ce->repeat_ms[i] <= window_ms)
			same++;
	}
	ce->repeat_amount[ce->repeat_next] = amount;
	ce->repeat_currency[ce->repeat_next] = currency;
	ce->repeat_ms[ce->repeat_next] = now;
	ce->repeat_next = (uint8_t)((ce->repeat_next + 1) % TXP_FRAUD_REPEAT_RING);
	if (ce->repeat_n < TXP_FRAUD_REPEAT_RING)
		ce->repeat_n++;
	return same;
}

/* Adds the event to the three windows (`wide` for merchants, `small` for
 * customers: one of them is NULL) and reports the thresholds reached. */
static bool velocity(struct txp_txn *t, const struct txp_fraud_rules *r, struct txp_window *wide,
                     struct txp_window_small *small, int64_t now, int64_t cents, unsigned who,
                     const uint64_t counts[W_COUNT], const uint64_t amounts[W_COUNT], uint64_t points, bool score)
{
	bool counted = true;

	for (unsigned w = 0; w < W_COUNT; w++) {
		uint64_t n;
		int64_t sum;

		if (wide != NULL)
			counted &= txp_window_add(&wide[w], r->width[w], now, cents);
		else
			counted &= txp_window_small_add(&small[w], r->width[w], now, cents);
		if (!score)
			continue;
		if (wide != NULL)
			txp_window_totals(&wide[w], r->width[w], now, &n, &sum);
		else
			txp_window_small_totals(&small[w], r->width[w], now, &n, &sum);
		if (counts[w] != 0 && n >= counts[w])
			txp_txn_add_reason(t, velocity_codes[who][0][w], (int)points);
		if (amounts[w] != 0 && sum >= usd_to_cents(amounts[w]))
			txp_txn_add_reason(t, velocity_codes[who][1][w], (int)points);
	}
	return counted;
}

static bool is_round(const struct txp_txn *t, uint64_t major)
{
	int64_t unit = (int64_t)major;

	if (major == 0 || t->amount <= 0)
		return false;
	for (unsigned e = 0; e < t->currency_exponent; e++) {
		if (__builtin_mul_overflow(unit, 10, &unit))
			return false;
	}
	return t->amount % unit == 0;
}

/* Deny and allow lists: reasons, and whether the heuristics are waived. */
static void lists(const struct txp_fraud_rules *r, struct txp_txn *t, bool card, bool *exempt, bool *merchant_exempt)
{
	const struct txp_fraud_config *c = &r->cfg;

	/* Deny lists always apply; allow lists exempt from the heuristics.
	 * The lists hold raw ids: they are matched in memory, never kept. */
	if (txp_idset_has(r->deny[L_CUSTOMER], t->customer_id))
		txp_txn_add_reason(t, deny_codes[L_CUSTOMER], (int)c->deny_points);
	if (txp_idset_has(r->deny[L_MERCHANT], t->merchant_id))
		txp_txn_add_reason(t, deny_codes[L_MERCHANT], (int)c->deny_points);
	if (card && txp_idset_has(r->deny[L_CARD], t->card_token))
		txp_txn_add_reason(t, deny_codes[L_CARD], (int)c->deny_points);
	if (txp_idset_has(r->deny[L_DEVICE], t->device_id))
		txp_txn_add_reason(t, deny_codes[L_DEVICE], (int)c->deny_points);
	*exempt = txp_idset_has(r->allow[L_CUSTOMER], t->customer_id) ||
	          (card && txp_idset_has(r->allow[L_CARD], t->card_token)) ||
	          txp_idset_has(r->allow[L_DEVICE], t->device_id);
	*merchant_exempt = *exempt || txp_idset_has(r->allow[L_MERCHANT], t->merchant_id);
	if (*exempt)
		txp_txn_add_reason(t, "allow_listed", 0);
	else if (*merchant_exempt)
		txp_txn_add_reason(t, "allow_listed_merchant", 0);
}

/* The reasons that depend on this transaction alone (not on history). */
static void static_rules(const struct txp_fraud_rules *r, struct txp_txn *t, bool state_full)
{
	const struct txp_fraud_config *c = &r->cfg;

	if (t->merchant_country[0] != '\0' && t->customer_country[0] != '\0' &&
	    strcmp(t->merchant_country, t->customer_country) != 0)
		txp_txn_add_reason(t, "cross_border", (int)c->cross_border_points);
	if (txp_country_set_has(&r->high_risk, t->merchant_country) ||
	    txp_country_set_has(&r->high_risk, t->customer_country))
		txp_txn_add_reason(t, "high_risk_country", (int)c->high_risk_country_points);
	if (is_round(t, c->round_amount_major))
		txp_txn_add_reason(t, "round_amount", (int)c->round_amount_points);
	/* Not tracking a key is never silent: the table is full of live
	 * keys (possibly an attacker flooding it), so send it to a human. */
	if (state_full)
		txp_txn_add_reason(t, "velocity_state_full", (int)c->state_full_points);
}

/* The clock of a local transaction: its arrival, never before the latest
 * one seen, so this host's own windows never move back. */
static int64_t local_now(struct txp_fraud_state *st, const struct txp_txn *t)
{
	int64_t now = t->received_ms > st->clock ? t->received_ms : st->clock;

	if (now < 0)
		now = 0;
	st->clock = now;
	return now;
}

/*
 * Records `t` at time `now` in the velocity state (customers under
 * t->customer_key, the pseudonym, so a rebuilt state matches a live one;
 * merchants under t->merchant_key when the fleet set it, so every host keys
 * them alike) and, with `score`, adds the reasons.  Returns whether a table
 * was full; *late is set when a window refused the event as older than its
 * ring.  Without `score` only history changes: the rebuild at start, from
 * the journal, and the fleet's events.
 */
static bool observe(struct txp_fraud_state *st, struct txp_txn *t, int64_t now, bool score, bool exempt,
                    bool merchant_exempt, bool *late)
{
	const struct txp_fraud_rules *r = st->rules;
	const struct txp_fraud_config *c = &r->cfg;
	bool state_full = false, card = t->has_card && t->card_token[0] != '\0', small, fresh;
	uint64_t merchant_hash;
	int64_t cents;
	struct customer_entry *ce;
	struct merchant_entry *me;
	struct card_entry *ke;

	*late = false;
	/* Unknown currencies count in the windows with no amount; compliance
	 * sends them to review since no threshold can be checked. */
	cents = t->amount_usd_known && t->amount_usd > 0 ? t->amount_usd : 0;
	small = t->amount_usd_known && c->card_test_max_usd != 0 && cents <= usd_to_cents(c->card_test_max_usd);

	if (score && !exempt && c->high_amount_usd != 0 && t->amount_usd_known &&
	    t->amount_usd >= usd_to_cents(c->high_amount_usd))
		txp_txn_add_reason(t, "high_amount", (int)c->high_amount_points);

	/* The state is updated whatever the exemptions, so history stays
	 * complete if an entry later leaves an allow list. */
	merchant_hash = txp_keytab_hash(st->merchants, t->merchant_key[0] != '\0' ? t->merchant_key : t->merchant_id);
	ce = txp_keytab_get(st->customers, txp_keytab_hash(st->customers, t->customer_key), now, r->ttl_customer,
	                    &fresh);
	if (ce != NULL) {
		if (score && !exempt && c->relative_percent != 0 && t->amount_usd_known) {
			uint64_t n;
			int64_t sum;

			/* The customer's average before this transaction. */
			txp_window_small_totals(&ce->win[W_LONG], r->width[W_LONG], now, &n, &sum);
			if (n > 0 && n >= c->relative_min_history &&
			    mul_sat(cents, 100) > mul_sat(sum / (int64_t)n, (int64_t)c->relative_percent))
				txp_txn_add_reason(t, "high_amount_relative", (int)c->relative_points);
		}
		if (!velocity(t, r, NULL, ce->win, now, cents, 0, c->customer_count, c->customer_amount_usd,
		              c->velocity_customer_points, score && !exempt))
			*late = true;
		if (repeat_record(ce, now, t->amount, pack_currency(t->currency), (int64_t)c->repeat_window_ms) >=
		            c->repeat_min_count &&
		    score && !exempt)
			txp_txn_add_reason(t, "repeat_amount", (int)c->repeat_points);
		if (small &&
		    card_test_record(&ce->card_test, now, (uint32_t)merchant_hash, (int64_t)c->card_test_window_ms) >=
		            c->card_test_merchants &&
		    score && !exempt)
			txp_txn_add_reason(t, "card_testing_customer", (int)c->card_test_points);
	} else {
		state_full = true;
	}

	me = txp_keytab_get(st->merchants, merchant_hash, now, r->ttl_merchant, &fresh);
	if (me != NULL) {
		if (!velocity(t, r, me->win, NULL, now, cents, 1, c->merchant_count, c->merchant_amount_usd,
		              c->velocity_merchant_points, score && !merchant_exempt))
			*late = true;
	} else
		state_full = true;

	if (card && small) {
		ke = txp_keytab_get(st->cards, txp_keytab_hash(st->cards, t->card_token), now, r->ttl_card, &fresh);
		if (ke == NULL)
			state_full = true;
		else if (card_test_record(&ke->card_test, now, (uint32_t)merchant_hash,
		                          (int64_t)c->card_test_window_ms) >= c->card_test_merchants &&
		         score && !exempt)
			txp_txn_add_reason(t, "card_testing_card", (int)c->card_test_points);
	}
	return state_full;
}

void txp_fraud_score(struct txp_fraud_state *st, struct txp_txn *t)
{
	const struct txp_fraud_rules *r = st->rules;
	const struct txp_fraud_config *c = &r->cfg;
	bool exempt, merchant_exempt, state_full, late, card = t->has_card && t->card_token[0] != '\0';
	uint64_t total = 0;
	enum txp_status s;
	unsigned first_reason = t->n_reasons;

	if (t->status > TXP_STATUS_DECLINED)
		return;
	if (!t->amount_usd_known)
		t->amount_usd_known = txp_rates_to_usd_cents(&r->rates, t->currency, t->currency_exponent, t->amount,
		                                             &t->amount_usd) == 0;
	lists(r, t, card, &exempt, &merchant_exempt);
	state_full = observe(st, t, local_now(st, t), true, exempt, merchant_exempt, &late);
	if (!exempt)
		static_rules(r, t, state_full);

	/* Only this stage's reasons make the score. */
	for (unsigned i = first_reason; i < t->n_reasons; i++)
		total += t->reasons[i].points > 0 ? (uint64_t)t->reasons[i].points : 0;
	t->risk_score = total > 100 ? 100 : (int)total;
	t->scored = true;
	if ((uint64_t)t->risk_score >= c->decline_threshold)
		s = TXP_STATUS_DECLINED;
	else if ((uint64_t)t->risk_score >= c->review_threshold)
		s = TXP_STATUS_REVIEW;
	else
		s = TXP_STATUS_APPROVED;
	txp_txn_escalate(t, s);
	if (s == TXP_STATUS_DECLINED)
		txp_txn_alert(t, TXP_ALERT_FRAUD, (enum txp_severity)c->alert_decline_severity);
	else if (s == TXP_STATUS_REVIEW)
		txp_txn_alert(t, TXP_ALERT_FRAUD, (enum txp_severity)c->alert_review_severity);
}

void txp_fraud_record(struct txp_fraud_state *st, struct txp_txn *t)
{
	bool late;

	(void)observe(st, t, local_now(st, t), false, false, false, &late);
}

void txp_fraud_apply(struct txp_fraud_state *st, struct txp_txn *t)
{
	bool late;

	/* At its own time, not this host's clock: windows take a late event
	 * into its bucket, rings keep its time (velocity.h). */
	(void)observe(st, t, t->received_ms > 0 ? t->received_ms : 0, false, false, false, &late);
	if (late)
		atomic_fetch_add_explicit(&st->late, 1, memory_order_relaxed);
}

uint64_t txp_fraud_late(const struct txp_fraud_state *st)
{
	return atomic_load_explicit(&((struct txp_fraud_state *)st)->late, memory_order_relaxed);
}
