/* test_fraud.c: each fraud rule's positive, negative and boundary cases, velocity state, eviction and reload. */
#include "txpipe/fraud.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules_fixture.h"

struct engine {
	struct txp_rates rates;
	struct txp_fraud_rules *rules;
	struct txp_fraud_state *st;
};

static void engine_start(struct engine *e, const struct txp_fraud_config *cfg)
{
	char err[256];

	fx_rates(&e->rates);
	ck_assert_msg(txp_fraud_rules_create(cfg, &e->rates, &e->rules, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(txp_fraud_state_create(e->rules, fx_hash_key, &e->st, err, sizeof(err)), 0);
}

static void engine_stop(struct engine *e)
{
	txp_fraud_state_destroy(e->st);
	txp_fraud_rules_unref(e->rules);
	txp_rates_free(&e->rates);
}

/* Scores one transaction and returns it (caller frees). */
static struct txp_txn *score(struct engine *e, struct txp_txn *t)
{
	txp_fraud_score(e->st, t);
	return t;
}

/* Scores and frees, returning whether `code` was given. */
static bool scores_with(struct engine *e, struct txp_txn *t, const char *code)
{
	bool has;

	txp_fraud_score(e->st, t);
	has = fx_has(t, code);
	txp_txn_free(t);
	return has;
}

static void defaults(struct txp_fraud_config *cfg)
{
	fx_fraud_defaults(cfg);
}

START_TEST(ordinary_transaction_is_approved_with_score_zero)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = score(&e, fx_txn("c1", "m1", 1234, FX_T0));
	ck_assert(t->scored);
	ck_assert_int_eq(t->risk_score, 0);
	ck_assert_uint_eq(t->n_reasons, 0);
	ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
	ck_assert(t->amount_usd_known);
	ck_assert_int_eq(t->amount_usd, 1234);
	ck_assert_uint_eq(t->alerts, 0);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(high_amount_fires_at_the_usd_threshold_not_below)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 499999, FX_T0), "high_amount"));
	ck_assert(scores_with(&e, fx_txn("b", "m", 500000, FX_T0), "high_amount"));
	/* 4629.62 EUR is 4999.9896 USD at 1.08, truncated to 4999.98;
	 * 4629.63 EUR is 5000.0004, truncated to 5000.00. */
	t = fx_txn("c", "m", 462962, FX_T0);
	memcpy(t->currency, "EUR", 4);
	ck_assert(!scores_with(&e, t, "high_amount"));
	t = fx_txn("d", "m", 462963, FX_T0);
	memcpy(t->currency, "EUR", 4);
	t = score(&e, t);
	ck_assert(fx_has(t, "high_amount"));
	ck_assert_int_eq(fx_points(t, "high_amount"), 30);
	ck_assert_int_eq(t->amount_usd, 500000);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(unknown_currency_skips_amount_rules_but_still_scores)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 999999999, FX_T0 + 1);
	memcpy(t->currency, "GBP", 4);
	t = score(&e, t);
	ck_assert(!t->amount_usd_known);
	ck_assert(!fx_has(t, "high_amount"));
	ck_assert(t->scored);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(relative_amount_needs_history_and_fires_above_k_times_average)
{
	struct txp_fraud_config cfg;
	struct engine e;

	defaults(&cfg);
	cfg.round_amount_major = 0;
	engine_start(&e, &cfg);
	/* Two earlier transactions are not enough history (minimum 3). */
	for (int i = 0; i < 2; i++)
		ck_assert(!scores_with(&e, fx_txn("a", "m", 1000, FX_T0 + i), "high_amount_relative"));
	ck_assert(!scores_with(&e, fx_txn("a", "m", 100000, FX_T0 + 10), "high_amount_relative"));
	/* b: three at 10.00; 50.00 is exactly 500 % of the average: no. */
	for (int i = 0; i < 3; i++)
		ck_assert(!scores_with(&e, fx_txn("b", "m", 1000, FX_T0 + i), "high_amount_relative"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 5000, FX_T0 + 10), "high_amount_relative"));
	/* c: the same history; 50.01 is above it. */
	for (int i = 0; i < 3; i++)
		ck_assert(!scores_with(&e, fx_txn("c", "m", 1000, FX_T0 + i), "high_amount_relative"));
	ck_assert(scores_with(&e, fx_txn("c", "m", 5001, FX_T0 + 10), "high_amount_relative"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

/* A config where only customer counts in a 12 s short window matter. */
static void short_window_config(struct txp_fraud_config *cfg, uint64_t count)
{
	defaults(cfg);
	cfg->window_short_ms = 12000; /* 1 s buckets */
	cfg->customer_count[0] = count;
	cfg->customer_count[1] = cfg->customer_count[2] = 0;
	cfg->customer_amount_usd[0] = cfg->customer_amount_usd[1] = cfg->customer_amount_usd[2] = 0;
	cfg->repeat_points = 0;
}

START_TEST(fleet_event_counts_in_its_own_bucket_and_is_dropped_past_the_window)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *r;

	short_window_config(&cfg, 3);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("c1", "m1", 100, FX_T0 + 20000), "velocity_customer_count_short"));
	/* Another host's event, older than the 12 s window's ring: left out,
	 * counted as late. */
	r = fx_txn("c1", "m2", 100, FX_T0 + 2000);
	r->fleet_apply = true;
	r->amount_usd_known = true;
	r->amount_usd = 100;
	txp_fraud_apply(e.st, r);
	txp_txn_free(r);
	ck_assert_uint_eq(txp_fraud_late(e.st), 1);
	ck_assert(!scores_with(&e, fx_txn("c1", "m1", 100, FX_T0 + 20100), "velocity_customer_count_short"));
	/* One five seconds late but still in the window counts. */
	r = fx_txn("c1", "m2", 100, FX_T0 + 15000);
	r->fleet_apply = true;
	r->amount_usd_known = true;
	r->amount_usd = 100;
	txp_fraud_apply(e.st, r);
	txp_txn_free(r);
	ck_assert_uint_eq(txp_fraud_late(e.st), 1);
	ck_assert(scores_with(&e, fx_txn("c1", "m1", 100, FX_T0 + 20200), "velocity_customer_count_short"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(customer_count_fires_when_reached_not_before)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	short_window_config(&cfg, 3);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, FX_T0), "velocity_customer_count_short"));
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, FX_T0 + 1), "velocity_customer_count_short"));
	t = score(&e, fx_txn("a", "m", 1234, FX_T0 + 2));
	ck_assert(fx_has(t, "velocity_customer_count_short"));
	ck_assert_int_eq(fx_points(t, "velocity_customer_count_short"), 25);
	txp_txn_free(t);
	/* Another customer is counted separately. */
	ck_assert(!scores_with(&e, fx_txn("b", "m", 1234, FX_T0 + 3), "velocity_customer_count_short"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(customer_window_counts_exactly_at_its_length_and_not_one_ms_after)
{
	struct txp_fraud_config cfg;
	struct engine e;
	/* The last millisecond of a 1 s bucket, as in test_velocity. */
	int64_t t1 = FX_T0 + 999;

	short_window_config(&cfg, 2);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, t1), "velocity_customer_count_short"));
	ck_assert(scores_with(&e, fx_txn("a", "m", 1234, t1 + 12000), "velocity_customer_count_short"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 1234, t1 + 12000), "velocity_customer_count_short"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 1234, t1 + 12000 + 12001), "velocity_customer_count_short"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(customer_amount_fires_when_the_window_sum_reaches_it)
{
	struct txp_fraud_config cfg;
	struct engine e;

	defaults(&cfg);
	cfg.high_amount_usd = 0;
	cfg.relative_percent = 0;
	cfg.round_amount_major = 0;
	engine_start(&e, &cfg);
	/* Short window limit 2000 USD: 1999.99 then 0.01 reaches it. */
	ck_assert(!scores_with(&e, fx_txn("a", "m", 199999, FX_T0), "velocity_customer_amount_short"));
	ck_assert(scores_with(&e, fx_txn("a", "m", 1, FX_T0 + 1), "velocity_customer_amount_short"));
	/* Two minutes later the short window is empty; the medium (1 h,
	 * 10000 USD) and long ones still hold 2000. */
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1, FX_T0 + 120000), "velocity_customer_amount_short"));
	ck_assert(scores_with(&e, fx_txn("a", "m", 800000, FX_T0 + 120001), "velocity_customer_amount_medium"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(merchant_velocity_counts_across_customers_unless_merchant_is_allow_listed)
{
	struct txp_fraud_config cfg;
	struct engine e;
	char *allow = fx_list_file("# trusted high-volume merchant\nbig-shop\n");
	struct txp_txn *t;

	defaults(&cfg);
	cfg.merchant_count[0] = 3;
	fx_set(&cfg.allow_merchants, allow);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, FX_T0), "velocity_merchant_count_short"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 1234, FX_T0 + 1), "velocity_merchant_count_short"));
	t = score(&e, fx_txn("c", "m", 1234, FX_T0 + 2));
	ck_assert(fx_has(t, "velocity_merchant_count_short"));
	ck_assert_int_eq(fx_points(t, "velocity_merchant_count_short"), 15);
	txp_txn_free(t);
	for (int i = 0; i < 5; i++) {
		t = score(&e, fx_txn("x", "big-shop", 1234, FX_T0 + i));
		ck_assert(!fx_has(t, "velocity_merchant_count_short"));
		ck_assert(fx_has(t, "allow_listed_merchant"));
		txp_txn_free(t);
	}
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
	fx_unlink(allow);
}
END_TEST

START_TEST(geography_flags_cross_border_and_high_risk_countries)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "DE", 3);
	t = score(&e, t);
	ck_assert(fx_has(t, "cross_border"));
	ck_assert(!fx_has(t, "high_risk_country"));
	ck_assert_int_eq(t->risk_score, 10);
	txp_txn_free(t);
	t = fx_txn("b", "m", 1234, FX_T0);
	memcpy(t->merchant_country, "MM", 3);
	memcpy(t->customer_country, "MM", 3);
	t = score(&e, t);
	ck_assert(!fx_has(t, "cross_border"));
	ck_assert(fx_has(t, "high_risk_country"));
	txp_txn_free(t);
	/* A missing country is not a mismatch. */
	t = fx_txn("c", "m", 1234, FX_T0);
	t->customer_country[0] = '\0';
	ck_assert(!scores_with(&e, t, "cross_border"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(deny_lists_decline_and_beat_allow_lists)
{
	struct txp_fraud_config cfg;
	struct engine e;
	char *deny_c = fx_list_file("bad-customer\n"), *deny_m = fx_list_file("bad-merchant\n");
	char *deny_k = fx_list_file("0123456789abcdef0123456789abcdef\n"), *deny_d = fx_list_file("bad-device\n");
	char *allow_c = fx_list_file("bad-customer\ngood-customer\n");
	struct txp_txn *t;

	defaults(&cfg);
	fx_set(&cfg.deny_customers, deny_c);
	fx_set(&cfg.deny_merchants, deny_m);
	fx_set(&cfg.deny_cards, deny_k);
	fx_set(&cfg.deny_devices, deny_d);
	fx_set(&cfg.allow_customers, allow_c);
	engine_start(&e, &cfg);
	t = score(&e, fx_txn("bad-customer", "m", 1234, FX_T0));
	ck_assert(fx_has(t, "deny_list_customer"));
	ck_assert(fx_has(t, "allow_listed"));
	ck_assert_int_eq(t->risk_score, 100);
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	ck_assert_uint_eq(t->alerts, TXP_ALERT_FRAUD);
	ck_assert_uint_eq(t->fraud_severity, TXP_SEVERITY_HIGH);
	txp_txn_free(t);
	ck_assert(scores_with(&e, fx_txn("x", "bad-merchant", 1234, FX_T0), "deny_list_merchant"));
	t = fx_txn("y", "m", 1234, FX_T0);
	fx_card(t, "0123456789abcdef0123456789abcdef");
	ck_assert(scores_with(&e, t, "deny_list_card"));
	t = fx_txn("z", "m", 1234, FX_T0);
	strcpy(t->device_id, "bad-device");
	ck_assert(scores_with(&e, t, "deny_list_device"));
	t = score(&e, fx_txn("ok", "m", 1234, FX_T0));
	ck_assert_uint_eq(t->n_reasons, 0);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
	fx_unlink(deny_c);
	fx_unlink(deny_m);
	fx_unlink(deny_k);
	fx_unlink(deny_d);
	fx_unlink(allow_c);
}
END_TEST

START_TEST(allow_listed_customer_skips_heuristics_but_history_is_kept)
{
	struct txp_fraud_config cfg;
	struct engine e;
	char *allow = fx_list_file("vip\n");
	struct txp_fraud_rules *plain;
	char err[256];
	struct txp_txn *t;

	short_window_config(&cfg, 3);
	fx_set(&cfg.allow_customers, allow);
	engine_start(&e, &cfg);
	for (int i = 0; i < 3; i++) {
		t = fx_txn("vip", "m", 900000, FX_T0 + i);
		memcpy(t->customer_country, "KP", 3);
		t = score(&e, t);
		ck_assert_uint_eq(t->n_reasons, 1);
		ck_assert(fx_has(t, "allow_listed"));
		ck_assert_int_eq(t->risk_score, 0);
		ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
		txp_txn_free(t);
	}
	/* Off the allow list (reload): the three earlier ones count. */
	fx_set(&cfg.allow_customers, "");
	ck_assert_int_eq(txp_fraud_rules_create(&cfg, &e.rates, &plain, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_fraud_set_rules(e.st, plain, err, sizeof(err)), 0);
	txp_fraud_rules_unref(plain);
	ck_assert(scores_with(&e, fx_txn("vip", "m", 1234, FX_T0 + 4), "velocity_customer_count_short"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
	fx_unlink(allow);
}
END_TEST

START_TEST(allow_listed_card_or_device_also_exempts)
{
	struct txp_fraud_config cfg;
	struct engine e;
	char *cards = fx_list_file("feedfeedfeedfeedfeedfeedfeedfeed\n"), *devs = fx_list_file("kiosk-1\n");
	struct txp_txn *t;

	defaults(&cfg);
	fx_set(&cfg.allow_cards, cards);
	fx_set(&cfg.allow_devices, devs);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 900000, FX_T0);
	fx_card(t, "feedfeedfeedfeedfeedfeedfeedfeed");
	t = score(&e, t);
	ck_assert(fx_has(t, "allow_listed"));
	ck_assert(!fx_has(t, "high_amount"));
	txp_txn_free(t);
	t = fx_txn("b", "m", 900000, FX_T0);
	strcpy(t->device_id, "kiosk-1");
	ck_assert(!scores_with(&e, t, "high_amount"));
	ck_assert(scores_with(&e, fx_txn("c", "m", 900000, FX_T0), "high_amount"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
	fx_unlink(cards);
	fx_unlink(devs);
}
END_TEST

START_TEST(round_amounts_are_whole_multiples_of_the_configured_major_units)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(scores_with(&e, fx_txn("a", "m", 10000, FX_T0), "round_amount"));
	ck_assert(scores_with(&e, fx_txn("b", "m", 20000, FX_T0), "round_amount"));
	ck_assert(!scores_with(&e, fx_txn("c", "m", 10001, FX_T0), "round_amount"));
	ck_assert(!scores_with(&e, fx_txn("d", "m", 5000, FX_T0), "round_amount"));
	/* JPY has no minor unit: 100 major units are 100 minor units. */
	t = fx_txn("e", "m", 10000, FX_T0);
	memcpy(t->currency, "JPY", 4);
	t->currency_exponent = 0;
	ck_assert(scores_with(&e, t, "round_amount"));
	t = fx_txn("f", "m", 10050, FX_T0);
	memcpy(t->currency, "JPY", 4);
	t->currency_exponent = 0;
	ck_assert(!scores_with(&e, t, "round_amount"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);

	defaults(&cfg);
	cfg.round_amount_major = 0;
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 10000, FX_T0), "round_amount"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(repeated_amount_fires_on_the_third_within_the_window)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m1", 4321, FX_T0), "repeat_amount"));
	ck_assert(!scores_with(&e, fx_txn("a", "m2", 4321, FX_T0 + 1000), "repeat_amount"));
	ck_assert(scores_with(&e, fx_txn("a", "m3", 4321, FX_T0 + 2000), "repeat_amount"));
	/* Same digits in another currency are a different amount. */
	t = fx_txn("b", "m", 4321, FX_T0);
	memcpy(t->currency, "EUR", 4);
	ck_assert(!scores_with(&e, t, "repeat_amount"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 4321, FX_T0 + 1), "repeat_amount"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 4322, FX_T0 + 2), "repeat_amount"));
	/* The window (10 min) is inclusive at its length. */
	ck_assert(!scores_with(&e, fx_txn("c", "m", 4321, FX_T0), "repeat_amount"));
	ck_assert(!scores_with(&e, fx_txn("c", "m", 4321, FX_T0 + 1), "repeat_amount"));
	ck_assert(scores_with(&e, fx_txn("c", "m", 4321, FX_T0 + 600000), "repeat_amount"));
	/* One ms later the first has left: only one earlier match.  (The
	 * engine's clock never goes back, so d starts after c's last.) */
	ck_assert(!scores_with(&e, fx_txn("d", "m", 4321, FX_T0 + 700000), "repeat_amount"));
	ck_assert(!scores_with(&e, fx_txn("d", "m", 4321, FX_T0 + 700001), "repeat_amount"));
	ck_assert(!scores_with(&e, fx_txn("d", "m", 4321, FX_T0 + 1300001), "repeat_amount"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

static struct txp_txn *card_txn(const char *customer, const char *merchant, int64_t cents, int64_t when,
                                const char *token)
{
	struct txp_txn *t = fx_txn(customer, merchant, cents, when);
	fx_card(t, token);
	return t;
}

START_TEST(card_testing_needs_small_amounts_at_distinct_merchants)
{
	static const char tok[] = "aaaabbbbccccddddaaaabbbbccccdddd";
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	/* One card, four customers, small amounts at m1..m4: the fourth
	 * distinct merchant fires for the card (customers differ). */
	ck_assert(!scores_with(&e, card_txn("u1", "m1", 100, FX_T0, tok), "card_testing_card"));
	ck_assert(!scores_with(&e, card_txn("u2", "m2", 150, FX_T0 + 1, tok), "card_testing_card"));
	/* Same merchant again: still three distinct. */
	ck_assert(!scores_with(&e, card_txn("u3", "m2", 200, FX_T0 + 2, tok), "card_testing_card"));
	/* Not small (above 5 USD): not counted. */
	ck_assert(!scores_with(&e, card_txn("u3", "m5", 501, FX_T0 + 3, tok), "card_testing_card"));
	ck_assert(!scores_with(&e, card_txn("u3", "m3", 500, FX_T0 + 4, tok), "card_testing_card"));
	t = score(&e, card_txn("u4", "m4", 99, FX_T0 + 5, tok));
	ck_assert(fx_has(t, "card_testing_card"));
	ck_assert(!fx_has(t, "card_testing_customer"));
	ck_assert_int_eq(fx_points(t, "card_testing_card"), 40);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(card_testing_by_one_customer_across_cards_and_window_edge)
{
	struct txp_fraud_config cfg;
	struct engine e;

	defaults(&cfg);
	cfg.card_test_merchants = 3;
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("u", "m1", 100, FX_T0), "card_testing_customer"));
	ck_assert(!scores_with(&e, fx_txn("u", "m2", 101, FX_T0 + 1), "card_testing_customer"));
	/* m1 is exactly 10 min old: still inside. */
	ck_assert(scores_with(&e, fx_txn("u", "m3", 102, FX_T0 + 600000), "card_testing_customer"));
	/* v: the first is 10 min + 1 ms old when the third arrives (after
	 * u's, as the engine's clock never goes back). */
	ck_assert(!scores_with(&e, fx_txn("v", "m1", 100, FX_T0 + 700000), "card_testing_customer"));
	ck_assert(!scores_with(&e, fx_txn("v", "m2", 101, FX_T0 + 700001), "card_testing_customer"));
	ck_assert(!scores_with(&e, fx_txn("v", "m3", 102, FX_T0 + 1300001), "card_testing_customer"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(score_maps_to_decision_at_thresholds_and_caps_at_100)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	/* cross_border alone gives exactly the points asked for. */
	cfg.review_threshold = 40;
	cfg.decline_threshold = 70;
	cfg.cross_border_points = 39;
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "FR", 3);
	t = score(&e, t);
	ck_assert_int_eq(t->risk_score, 39);
	ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
	ck_assert_uint_eq(t->alerts, 0);
	txp_txn_free(t);
	engine_stop(&e);

	cfg.cross_border_points = 40;
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "FR", 3);
	t = score(&e, t);
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	ck_assert_uint_eq(t->alerts, TXP_ALERT_FRAUD);
	ck_assert_uint_eq(t->fraud_severity, TXP_SEVERITY_MEDIUM);
	txp_txn_free(t);
	engine_stop(&e);

	cfg.cross_border_points = 70;
	cfg.alert_decline_severity = TXP_SEVERITY_CRITICAL;
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "FR", 3);
	t = score(&e, t);
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	ck_assert_uint_eq(t->fraud_severity, TXP_SEVERITY_CRITICAL);
	txp_txn_free(t);
	/* 70 + 25 (high risk) + 30 (high amount) + 10 (round) caps at 100. */
	t = fx_txn("b", "m", 900000, FX_T0);
	memcpy(t->customer_country, "IR", 3);
	t = score(&e, t);
	ck_assert_int_eq(t->risk_score, 100);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(review_alert_can_be_switched_off)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	cfg.alert_review_severity = TXP_SEVERITY_NONE;
	cfg.cross_border_points = 60;
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "FR", 3);
	t = score(&e, t);
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	ck_assert_uint_eq(t->alerts, 0);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(full_table_of_live_keys_sends_new_customers_to_review_then_evicts_when_expired)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_fraud_stats stats;
	struct txp_txn *t;
	/* TTL of a customer entry: long window + one bucket (24 h + 2 h). */
	int64_t ttl = 26 * 3600 * 1000;

	defaults(&cfg);
	cfg.max_tracked_keys = 2;
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, FX_T0), "velocity_state_full"));
	ck_assert(!scores_with(&e, fx_txn("b", "m", 1234, FX_T0 + 1), "velocity_state_full"));
	t = score(&e, fx_txn("c", "m", 1234, FX_T0 + 2));
	ck_assert(fx_has(t, "velocity_state_full"));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	txp_txn_free(t);
	/* Known customers are still tracked and scored normally. */
	ck_assert(!scores_with(&e, fx_txn("b", "m", 1234, FX_T0 + 3), "velocity_state_full"));
	txp_fraud_stats(e.st, &stats);
	ck_assert_uint_eq(stats.customers.overflows, 1);
	ck_assert_uint_eq(stats.customers.used, 2);
	/* Once a's windows are all empty its entry is reused. */
	ck_assert(scores_with(&e, fx_txn("c", "m", 1234, FX_T0 + ttl - 1), "velocity_state_full"));
	ck_assert(!scores_with(&e, fx_txn("c", "m", 1234, FX_T0 + ttl), "velocity_state_full"));
	txp_fraud_stats(e.st, &stats);
	ck_assert_uint_eq(stats.customers.evictions, 1);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(reload_keeps_velocity_and_applies_new_thresholds)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_fraud_rules *r2;
	char err[256];

	short_window_config(&cfg, 10);
	engine_start(&e, &cfg);
	for (int i = 0; i < 3; i++)
		ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, FX_T0 + i), "velocity_customer_count_short"));
	cfg.customer_count[0] = 4;
	ck_assert_int_eq(txp_fraud_rules_create(&cfg, &e.rates, &r2, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_fraud_set_rules(e.st, r2, err, sizeof(err)), 0);
	/* The state holds its own reference: the creator can let go. */
	txp_fraud_rules_unref(r2);
	ck_assert(scores_with(&e, fx_txn("a", "m", 1234, FX_T0 + 3), "velocity_customer_count_short"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(reload_refuses_new_window_lengths_or_table_size)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_fraud_rules *r2;
	char err[256];

	defaults(&cfg);
	engine_start(&e, &cfg);
	cfg.window_medium_ms = 2 * 3600 * 1000;
	ck_assert_int_eq(txp_fraud_rules_create(&cfg, &e.rates, &r2, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_fraud_set_rules(e.st, r2, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "window"));
	txp_fraud_rules_unref(r2);
	cfg.window_medium_ms = 3600 * 1000;
	cfg.max_tracked_keys = 10;
	ck_assert_int_eq(txp_fraud_rules_create(&cfg, &e.rates, &r2, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_fraud_set_rules(e.st, r2, err, sizeof(err)), -EINVAL);
	txp_fraud_rules_unref(r2);
	/* The state still works with its old rules. */
	ck_assert(scores_with(&e, fx_txn("a", "m", 900000, FX_T0), "high_amount"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(windows_follow_the_daemon_clock_not_the_producer_timestamp)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	short_window_config(&cfg, 2);
	engine_start(&e, &cfg);
	ck_assert(!scores_with(&e, fx_txn("a", "m", 1234, FX_T0), "velocity_customer_count_short"));
	/* Received a minute later but claiming the same event time: the
	 * window has moved on. */
	t = fx_txn("a", "m", 1234, FX_T0 + 60000);
	t->timestamp_ms = FX_T0;
	ck_assert(!scores_with(&e, t, "velocity_customer_count_short"));
	/* The daemon's clock stepping back does not rewind the windows: this
	 * one counts as received at FX_T0 + 60000. */
	ck_assert(scores_with(&e, fx_txn("a", "m", 1234, FX_T0 - 3600000), "velocity_customer_count_short"));
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(rejected_transactions_are_left_alone)
{
	struct txp_fraud_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 900000, FX_T0);
	t->status = TXP_STATUS_REJECTED;
	t = score(&e, t);
	ck_assert(!t->scored);
	ck_assert_uint_eq(t->n_reasons, 0);
	ck_assert_int_eq(t->status, TXP_STATUS_REJECTED);
	txp_txn_free(t);
	engine_stop(&e);
	txp_fraud_config_free(&cfg);
}
END_TEST

START_TEST(rules_create_rejects_bad_settings_naming_the_key)
{
	struct txp_fraud_config cfg;
	struct txp_rates rates;
	struct txp_fraud_rules *r;
	char err[256];

	fx_rates(&rates);
	/* Bounds and settings that must agree are the config's to check
	 * (test_config); what is left here is what only building finds. */
	defaults(&cfg);
	fx_set(&cfg.high_risk_countries, "KP,IRN");
	ck_assert_int_eq(txp_fraud_rules_create(&cfg, &rates, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(err, "[fraud] high_risk_countries: \"IRN\": not an ISO 3166-1 alpha-2 code");
	txp_fraud_config_free(&cfg);

	defaults(&cfg);
	fx_set(&cfg.deny_cards, "/nonexistent/deny-cards");
	ck_assert_int_eq(txp_fraud_rules_create(&cfg, &rates, &r, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "[fraud] deny_cards: /nonexistent/deny-cards: No such file or directory");
	txp_fraud_config_free(&cfg);
	txp_rates_free(&rates);
}
END_TEST

static Suite *fraud_suite(void)
{
	Suite *s = suite_create("fraud");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ordinary_transaction_is_approved_with_score_zero);
	tcase_add_test(tc, high_amount_fires_at_the_usd_threshold_not_below);
	tcase_add_test(tc, unknown_currency_skips_amount_rules_but_still_scores);
	tcase_add_test(tc, relative_amount_needs_history_and_fires_above_k_times_average);
	tcase_add_test(tc, customer_count_fires_when_reached_not_before);
	tcase_add_test(tc, customer_window_counts_exactly_at_its_length_and_not_one_ms_after);
	tcase_add_test(tc, customer_amount_fires_when_the_window_sum_reaches_it);
	tcase_add_test(tc, merchant_velocity_counts_across_customers_unless_merchant_is_allow_listed);
	tcase_add_test(tc, geography_flags_cross_border_and_high_risk_countries);
	tcase_add_test(tc, deny_lists_decline_and_beat_allow_lists);
	tcase_add_test(tc, allow_listed_customer_skips_heuristics_but_history_is_kept);
	tcase_add_test(tc, allow_listed_card_or_device_also_exempts);
	tcase_add_test(tc, round_amounts_are_whole_multiples_of_the_configured_major_units);
	tcase_add_test(tc, repeated_amount_fires_on_the_third_within_the_window);
	tcase_add_test(tc, card_testing_needs_small_amounts_at_distinct_merchants);
	tcase_add_test(tc, card_testing_by_one_customer_across_cards_and_window_edge);
	tcase_add_test(tc, score_maps_to_decision_at_thresholds_and_caps_at_100);
	tcase_add_test(tc, review_alert_can_be_switched_off);
	tcase_add_test(tc, full_table_of_live_keys_sends_new_customers_to_review_then_evicts_when_expired);
	tcase_add_test(tc, reload_keeps_velocity_and_applies_new_thresholds);
	tcase_add_test(tc, reload_refuses_new_window_lengths_or_table_size);
	tcase_add_test(tc, windows_follow_the_daemon_clock_not_the_producer_timestamp);
	tcase_add_test(tc, rejected_transactions_are_left_alone);
	tcase_add_test(tc, rules_create_rejects_bad_settings_naming_the_key);
	tcase_add_test(tc, fleet_event_counts_in_its_own_bucket_and_is_dropped_past_the_window);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fraud_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
