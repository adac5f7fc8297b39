/* test_compliance.c: AML threshold and structuring, sanctions, KYC, card-number masking, pseudonyms, retention. */
#include "txpipe/compliance.h"
#include "txpipe/config.h"
#include "txpipe/fraud.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules_fixture.h"

#include <sodium.h>

struct engine {
	struct txp_rates rates;
	struct txp_compliance_rules *rules;
	struct txp_compliance_state *st;
};

static void engine_start(struct engine *e, const struct txp_compliance_config *cfg)
{
	char err[256];

	fx_rates(&e->rates);
	ck_assert_msg(txp_compliance_rules_create(cfg, &e->rates, &e->rules, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(txp_compliance_state_create(e->rules, fx_hash_key, &e->st, err, sizeof(err)), 0);
}

static void engine_stop(struct engine *e)
{
	txp_compliance_state_destroy(e->st);
	txp_compliance_rules_unref(e->rules);
	txp_rates_free(&e->rates);
}

static struct txp_txn *check(struct engine *e, struct txp_txn *t)
{
	txp_compliance_check(e->st, t);
	return t;
}

static bool checks_with(struct engine *e, struct txp_txn *t, const char *code)
{
	bool has;

	txp_compliance_check(e->st, t);
	has = fx_has(t, code);
	txp_txn_free(t);
	return has;
}

static void defaults(struct txp_compliance_config *cfg)
{
	fx_compliance_defaults(cfg);
}

START_TEST(ordinary_transaction_passes_with_retention_set)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = check(&e, fx_txn("c1", "m1", 1234, FX_T0 + 1500));
	ck_assert_uint_eq(t->n_reasons, 0);
	ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
	ck_assert_uint_eq(t->alerts, 0);
	ck_assert_uint_eq(t->compliance_flags, 0);
	ck_assert_int_eq(t->expires_at, FX_T0 / 1000 + 1 + 1825 * 86400);
	txp_txn_free(t);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(aml_threshold_fires_at_10000_usd_equivalent_not_below)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(!checks_with(&e, fx_txn("a", "m", 999999, FX_T0), "aml_reporting_threshold"));
	t = check(&e, fx_txn("b", "m", 1000000, FX_T0));
	ck_assert(fx_has(t, "aml_reporting_threshold"));
	ck_assert_int_eq(fx_points(t, "aml_reporting_threshold"), 0);
	ck_assert_uint_eq(t->compliance_flags, TXP_COMPLIANCE_AML_REPORT);
	ck_assert_uint_eq(t->alerts, TXP_ALERT_COMPLIANCE);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_HIGH);
	/* Reporting alone does not change the decision by default. */
	ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
	txp_txn_free(t);
	/* 9259.26 EUR is 10000.0008 USD at 1.08; 9259.25 EUR is 9999.99. */
	t = fx_txn("c", "m", 925925, FX_T0);
	memcpy(t->currency, "EUR", 4);
	ck_assert(!checks_with(&e, t, "aml_reporting_threshold"));
	t = fx_txn("d", "m", 925926, FX_T0);
	memcpy(t->currency, "EUR", 4);
	ck_assert(checks_with(&e, t, "aml_reporting_threshold"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(aml_action_can_send_to_review)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	cfg.aml_action = TXP_ACTION_REVIEW;
	engine_start(&e, &cfg);
	t = check(&e, fx_txn("b", "m", 2000000, FX_T0));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	txp_txn_free(t);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(structuring_fires_when_small_transactions_reach_the_threshold_in_24h)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;
	int64_t h = 3600 * 1000;

	defaults(&cfg);
	engine_start(&e, &cfg);
	/* 4000 + 4000 USD over a day: 8000, below. */
	ck_assert(!checks_with(&e, fx_txn("a", "m", 400000, FX_T0), "aml_structuring"));
	ck_assert(!checks_with(&e, fx_txn("a", "m", 400000, FX_T0 + 10 * h), "aml_structuring"));
	/* A third of 2000 reaches 10000 within 24 h. */
	t = check(&e, fx_txn("a", "m", 200000, FX_T0 + 20 * h));
	ck_assert(fx_has(t, "aml_structuring"));
	ck_assert(!fx_has(t, "aml_reporting_threshold"));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	ck_assert(t->compliance_flags & TXP_COMPLIANCE_STRUCTURING);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_HIGH);
	txp_txn_free(t);
	/* One above-threshold transaction is reported, not structuring, and is
	 * not added to the small-transaction sum. */
	t = check(&e, fx_txn("b", "m", 1500000, FX_T0 + 20 * h));
	ck_assert(fx_has(t, "aml_reporting_threshold"));
	ck_assert(!fx_has(t, "aml_structuring"));
	txp_txn_free(t);
	ck_assert(!checks_with(&e, fx_txn("b", "m", 100, FX_T0 + 20 * h), "aml_structuring"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(structuring_window_edges_at_24h_and_one_ms_after)
{
	struct txp_compliance_config cfg;
	struct engine e;
	int64_t day = 24 * 3600 * 1000, g = 2 * 3600 * 1000; /* 2 h buckets */
	/* The last millisecond of a bucket leaves at exactly t + 24 h + 1. */
	int64_t t1 = FX_T0 + g - 1;

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(!checks_with(&e, fx_txn("a", "m", 600000, t1), "aml_structuring"));
	ck_assert(checks_with(&e, fx_txn("a", "m", 400000, t1 + day), "aml_structuring"));
	ck_assert(!checks_with(&e, fx_txn("b", "m", 600000, t1 + day), "aml_structuring"));
	ck_assert(!checks_with(&e, fx_txn("b", "m", 400000, t1 + 2 * day + 1), "aml_structuring"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(sanctioned_country_declines_with_critical_alert)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "IR", 3);
	t = check(&e, t);
	ck_assert(fx_has(t, "sanctions_country"));
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	ck_assert_uint_eq(t->alerts, TXP_ALERT_COMPLIANCE);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_CRITICAL);
	ck_assert(t->compliance_flags & TXP_COMPLIANCE_SANCTIONS);
	txp_txn_free(t);
	t = fx_txn("b", "m", 1234, FX_T0);
	memcpy(t->merchant_country, "KP", 3);
	ck_assert(checks_with(&e, t, "sanctions_country"));
	t = fx_txn("c", "m", 1234, FX_T0);
	memcpy(t->merchant_country, "CU", 3);
	ck_assert(checks_with(&e, t, "sanctions_country"));
	/* Syria's comprehensive program ended in 2025: not in the defaults. */
	t = fx_txn("d", "m", 1234, FX_T0);
	memcpy(t->merchant_country, "SY", 3);
	ck_assert(!checks_with(&e, t, "sanctions_country"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(sanctions_list_matches_customer_or_merchant_id)
{
	struct txp_compliance_config cfg;
	struct engine e;
	char *list = fx_list_file("# screening list\nsdn-customer-1\nsdn-merchant-9\n");
	struct txp_txn *t;

	defaults(&cfg);
	fx_set(&cfg.sanctions_list, list);
	engine_start(&e, &cfg);
	t = check(&e, fx_txn("sdn-customer-1", "m", 1234, FX_T0));
	ck_assert(fx_has(t, "sanctions_list_match"));
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	txp_txn_free(t);
	ck_assert(checks_with(&e, fx_txn("x", "sdn-merchant-9", 1234, FX_T0), "sanctions_list_match"));
	ck_assert(!checks_with(&e, fx_txn("sdn-customer", "m", 1234, FX_T0), "sanctions_list_match"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
	fx_unlink(list);
}
END_TEST

/* An in-house name list in a temporary file, as the config names it. */
static char *name_list_spec(char **file)
{
	char *spec = malloc(4200);

	*file = fx_list_file("id,name,alias\nIH-7,\"Petrovsky, Ivan Sergeyevich\",Vanya Petrovski\n"
	                     "IH-8,Northwind Trading Co. Ltd,\n");
	ck_assert_ptr_nonnull(spec);
	snprintf(spec, 4200, "watch=inhouse:%s", *file);
	return spec;
}

START_TEST(party_name_on_a_list_declines_with_entry_and_score)
{
	struct txp_compliance_config cfg;
	struct engine e;
	char *file, *spec = name_list_spec(&file);
	struct txp_txn *t;
	static const uint8_t key[32] = { 7 };

	defaults(&cfg);
	fx_set(&cfg.sanctions_name_lists, spec);
	engine_start(&e, &cfg);
	ck_assert_uint_eq(txp_compliance_name_entries(e.rules), 2);
	ck_assert_uint_gt(txp_compliance_name_bytes(e.rules), 0);

	t = fx_txn("c1", "m", 1234, FX_T0);
	snprintf(t->names[0], sizeof(t->names[0]), "%s", "Maria Lopez");
	snprintf(t->names[2], sizeof(t->names[2]), "%s", "PETROVSKY, Ivan S.");
	check(&e, t);
	ck_assert(fx_has(t, "sanctions_name_match"));
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_CRITICAL);
	ck_assert_uint_eq(t->compliance_flags & TXP_COMPLIANCE_SANCTIONS, TXP_COMPLIANCE_SANCTIONS);
	ck_assert_uint_eq(t->name_hit_field, 3); /* beneficiary_name */
	ck_assert_str_eq(t->name_hit_list, "watch");
	ck_assert_str_eq(t->name_hit_entry, "IH-7");
	ck_assert_uint_eq(t->name_hit_score, 1000);
	/* Sealing keeps keyed pseudonyms of the normalised names only. */
	{
		struct txp_blake2b_key k;

		ck_assert_int_eq(txp_compliance_pseudonym_key(&k, key, sizeof(key)), 0);
		txp_compliance_names_seal(&k, t);
		txp_blake2b_key_wipe(&k);
	}
	for (int k = 0; k < TXP_NAME_FIELDS; k++)
		for (size_t i = 0; i < sizeof(t->names[k]); i++)
			ck_assert_int_eq(t->names[k][i], 0);
	ck_assert_uint_eq(strlen(t->name_pseud[0]), TXP_TOKEN_HEX);
	ck_assert_str_eq(t->name_pseud[1], "");
	{
		char same[TXP_TOKEN_HEX + 1];
		ck_assert_int_eq(txp_compliance_pseudonym(key, sizeof(key), "customer_name", "maria lopez", same), 0);
		ck_assert_str_eq(t->name_pseud[0], same);
	}
	txp_txn_free(t);

	/* Entity suffixes do not count; an ordinary name passes. */
	t = fx_txn("c1", "m", 1234, FX_T0);
	snprintf(t->names[1], sizeof(t->names[1]), "%s", "NORTHWIND TRADING LIMITED");
	ck_assert(checks_with(&e, t, "sanctions_name_match"));
	t = fx_txn("c1", "m", 1234, FX_T0);
	snprintf(t->names[1], sizeof(t->names[1]), "%s", "Southwind Trading Ltd");
	ck_assert(!checks_with(&e, t, "sanctions_name_match"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
	fx_unlink(file);
	free(spec);
}
END_TEST

START_TEST(name_action_and_threshold_are_configurable)
{
	struct txp_compliance_config cfg;
	struct engine e;
	char *file, *spec = name_list_spec(&file);
	struct txp_txn *t;

	defaults(&cfg);
	fx_set(&cfg.sanctions_name_lists, spec);
	cfg.sanctions_name_action = TXP_ACTION_REVIEW;
	cfg.sanctions_name_threshold = 1000;
	engine_start(&e, &cfg);
	t = fx_txn("c1", "m", 1234, FX_T0);
	snprintf(t->names[0], sizeof(t->names[0]), "%s", "Vanya Petrovski");
	check(&e, t);
	ck_assert(fx_has(t, "sanctions_name_match"));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	txp_txn_free(t);
	/* A typo scores under 1000. */
	t = fx_txn("c1", "m", 1234, FX_T0);
	snprintf(t->names[0], sizeof(t->names[0]), "%s", "Vanya Petrowski");
	ck_assert(!checks_with(&e, t, "sanctions_name_match"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
	fx_unlink(file);
	free(spec);
}
END_TEST

START_TEST(a_name_list_that_fails_to_parse_names_file_and_line)
{
	struct txp_compliance_config cfg;
	struct txp_rates rates;
	struct txp_compliance_rules *r = NULL;
	char *file = fx_list_file("id,name\nA1,Foo Bar\nA2\n"), spec[4200], err[1024];

	defaults(&cfg);
	snprintf(spec, sizeof(spec), "inhouse:%s", file);
	fx_set(&cfg.sanctions_name_lists, spec);
	fx_rates(&rates);
	ck_assert_int_eq(txp_compliance_rules_create(&cfg, &rates, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err, "[compliance] sanctions_name_lists: ") != NULL && strstr(err, file) != NULL &&
	                      strstr(err, ":3: expected id,name") != NULL,
	              "%s", err);
	txp_rates_free(&rates);
	txp_compliance_config_free(&cfg);
	fx_unlink(file);
}
END_TEST

static struct txp_txn *kyc_txn(const char *c, int64_t cents, enum txp_kyc kyc)
{
	struct txp_txn *t = fx_txn(c, "m", cents, FX_T0);
	t->kyc = kyc;
	return t;
}

START_TEST(kyc_not_verified_goes_to_review_at_the_threshold)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(!checks_with(&e, kyc_txn("a", 99999, TXP_KYC_UNVERIFIED), "kyc_not_verified"));
	t = check(&e, kyc_txn("b", 100000, TXP_KYC_UNVERIFIED));
	ck_assert(fx_has(t, "kyc_not_verified"));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_MEDIUM);
	ck_assert(t->compliance_flags & TXP_COMPLIANCE_KYC);
	txp_txn_free(t);
	ck_assert(checks_with(&e, kyc_txn("c", 100000, TXP_KYC_PENDING), "kyc_not_verified"));
	ck_assert(!checks_with(&e, kyc_txn("d", 100000, TXP_KYC_VERIFIED), "kyc_not_verified"));
	/* Unspecified passes unless configured otherwise. */
	ck_assert(!checks_with(&e, kyc_txn("e", 100000, TXP_KYC_UNSPECIFIED), "kyc_not_verified"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);

	defaults(&cfg);
	cfg.kyc_unspecified_is_unverified = true;
	engine_start(&e, &cfg);
	ck_assert(checks_with(&e, kyc_txn("e", 100000, TXP_KYC_UNSPECIFIED), "kyc_not_verified"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(kyc_failed_declines_by_default_and_is_configurable)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = check(&e, kyc_txn("a", 100000, TXP_KYC_FAILED));
	ck_assert(fx_has(t, "kyc_failed"));
	ck_assert(!fx_has(t, "kyc_not_verified"));
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	txp_txn_free(t);
	ck_assert(!checks_with(&e, kyc_txn("b", 99999, TXP_KYC_FAILED), "kyc_failed"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);

	defaults(&cfg);
	cfg.kyc_failed_action = TXP_ACTION_REVIEW;
	cfg.kyc_threshold_usd = 0;
	engine_start(&e, &cfg);
	t = check(&e, kyc_txn("a", 1, TXP_KYC_FAILED));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	txp_txn_free(t);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(card_numbers_in_free_text_fields_are_masked_and_flagged)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	strcpy(t->device_id, "phone 4111 1111 1111 1111");
	t = check(&e, t);
	ck_assert(fx_has(t, "pan_in_field"));
	ck_assert_str_eq(t->device_id, "phone **** **** **** ****");
	ck_assert(t->compliance_flags & TXP_COMPLIANCE_PAN_MASKED);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_HIGH);
	ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
	txp_txn_free(t);
	t = check(&e, fx_txn("5555555555554444", "m", 1234, FX_T0));
	ck_assert(fx_has(t, "pan_in_field"));
	ck_assert_str_eq(t->customer_id, "****************");
	txp_txn_free(t);
	t = fx_txn("b", "m", 1234, FX_T0);
	strcpy(t->device_id, "dev-12345");
	ck_assert(!checks_with(&e, t, "pan_in_field"));
	engine_stop(&e);
	txp_compliance_config_free(&cfg);

	defaults(&cfg);
	cfg.pan_scan = false;
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	strcpy(t->device_id, "4111111111111111");
	t = check(&e, t);
	ck_assert(!fx_has(t, "pan_in_field"));
	ck_assert_str_eq(t->device_id, "4111111111111111");
	txp_txn_free(t);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(unknown_currency_goes_to_review)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;

	defaults(&cfg);
	engine_start(&e, &cfg);
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->currency, "CHF", 4);
	t->kyc = TXP_KYC_PENDING;
	t = check(&e, t);
	ck_assert(fx_has(t, "currency_rate_unknown"));
	/* KYC cannot know the amount is small, so it applies. */
	ck_assert(fx_has(t, "kyc_not_verified"));
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	ck_assert(t->compliance_flags & TXP_COMPLIANCE_RATE_UNKNOWN);
	txp_txn_free(t);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(full_state_sends_untracked_customers_to_review)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_keytab_stats stats;

	defaults(&cfg);
	cfg.max_tracked_keys = 1;
	engine_start(&e, &cfg);
	ck_assert(!checks_with(&e, fx_txn("a", "m", 1234, FX_T0), "compliance_state_full"));
	ck_assert(checks_with(&e, fx_txn("b", "m", 1234, FX_T0 + 1), "compliance_state_full"));
	txp_compliance_stats(e.st, &stats);
	ck_assert_uint_eq(stats.overflows, 1);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(decision_combines_fraud_and_compliance_declined_beats_review)
{
	struct txp_compliance_config ccfg;
	struct txp_fraud_config fcfg;
	struct txp_fraud_rules *fr;
	struct txp_fraud_state *fs;
	struct engine e;
	struct txp_txn *t;
	char err[256];

	defaults(&ccfg);
	engine_start(&e, &ccfg);
	fx_fraud_defaults(&fcfg);
	fcfg.review_threshold = 30;
	fcfg.decline_threshold = 70;
	ck_assert_int_eq(txp_fraud_rules_create(&fcfg, &e.rates, &fr, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_fraud_state_create(fr, fx_hash_key, &fs, err, sizeof(err)), 0);

	/* Fraud says review (cross-border 10 + high-risk country 25 = 35),
	 * compliance declines (sanctioned Iran). */
	t = fx_txn("a", "m", 1234, FX_T0);
	memcpy(t->customer_country, "IR", 3);
	txp_fraud_score(fs, t);
	ck_assert_int_eq(t->status, TXP_STATUS_REVIEW);
	txp_compliance_check(e.st, t);
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	ck_assert_int_eq(t->risk_score, 35);
	ck_assert(fx_has(t, "cross_border") && fx_has(t, "sanctions_country"));
	ck_assert_uint_eq(t->alerts, TXP_ALERT_FRAUD | TXP_ALERT_COMPLIANCE);
	ck_assert_uint_eq(t->fraud_severity, TXP_SEVERITY_MEDIUM);
	ck_assert_uint_eq(t->compliance_severity, TXP_SEVERITY_CRITICAL);
	/* The USD amount computed by fraud is reused. */
	ck_assert(t->amount_usd_known);
	ck_assert_int_eq(t->amount_usd, 1234);
	txp_txn_free(t);

	/* Fraud declines (10 + 25 + 30 high amount + 10 round = 75) and a
	 * compliance review cannot lower it. */
	t = fx_txn("b", "m", 900000, FX_T0);
	memcpy(t->customer_country, "MM", 3);
	t->kyc = TXP_KYC_PENDING;
	txp_fraud_score(fs, t);
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	txp_compliance_check(e.st, t);
	ck_assert(fx_has(t, "kyc_not_verified"));
	ck_assert_int_eq(t->status, TXP_STATUS_DECLINED);
	txp_txn_free(t);

	txp_fraud_state_destroy(fs);
	txp_fraud_rules_unref(fr);
	txp_fraud_config_free(&fcfg);
	engine_stop(&e);
	txp_compliance_config_free(&ccfg);
}
END_TEST

START_TEST(pseudonyms_are_deterministic_per_key_and_field)
{
	uint8_t k1[32], k2[32];
	char a[TXP_TOKEN_HEX + 1], b[TXP_TOKEN_HEX + 1], c[TXP_TOKEN_HEX + 1], d[TXP_TOKEN_HEX + 1];

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	ck_assert_int_eq(txp_compliance_pseudonym(k1, sizeof(k1), "customer_id", "alice", a), 0);
	ck_assert_int_eq(txp_compliance_pseudonym(k1, sizeof(k1), "customer_id", "alice", b), 0);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), TXP_TOKEN_HEX);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), TXP_TOKEN_HEX);
	/* Another key, another field or another value: another pseudonym. */
	ck_assert_int_eq(txp_compliance_pseudonym(k2, sizeof(k2), "customer_id", "alice", c), 0);
	ck_assert_str_ne(a, c);
	ck_assert_int_eq(txp_compliance_pseudonym(k1, sizeof(k1), "device_id", "alice", d), 0);
	ck_assert_str_ne(a, d);
	ck_assert_int_eq(txp_compliance_pseudonym(k1, sizeof(k1), "customer_id", "alicf", d), 0);
	ck_assert_str_ne(a, d);
	/* It never contains the value. */
	ck_assert_ptr_null(strstr(a, "alice"));
	ck_assert_int_eq(txp_compliance_pseudonym(k1, sizeof(k1), "customer_id", "", d), 0);
	ck_assert_str_eq(d, "");
	ck_assert_int_eq(txp_compliance_pseudonym(k1, 15, "customer_id", "alice", d), -EINVAL);
	ck_assert_int_eq(txp_compliance_pseudonym(k1, 65, "customer_id", "alice", d), -EINVAL);
}
END_TEST

START_TEST(pseudonym_matches_keyed_blake2b_of_label_nul_value)
{
	/* Independent recomputation with libsodium's one-shot API over the
	 * documented input, so the format is pinned. */
	uint8_t key[16];
	unsigned char msg[] = "ip_address\0"
	                      "192.0.2.1",
	              digest[16];
	char hex[33], got[TXP_TOKEN_HEX + 1];

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	crypto_generichash(digest, sizeof(digest), msg, sizeof(msg) - 1, key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	ck_assert_int_eq(txp_compliance_pseudonym(key, sizeof(key), "ip_address", "192.0.2.1", got), 0);
	ck_assert_str_eq(got, hex);
}
END_TEST

START_TEST(pseudonymise_txn_fills_only_configured_fields)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_txn *t;
	struct txp_blake2b_key k;
	uint8_t key[32];
	char want[TXP_TOKEN_HEX + 1];

	memset(key, 7, sizeof(key));
	defaults(&cfg);
	fx_set(&cfg.pseudonymise, "customer_id, device_id");
	engine_start(&e, &cfg);
	t = fx_txn("alice", "m", 1234, FX_T0);
	strcpy(t->ip_address, "192.0.2.1");
	strcpy(t->device_id, "dev-1");
	/* The fixture keys history by the raw id; without a customer_key
	 * the pseudonym is computed. */
	t->customer_key[0] = '\0';
	ck_assert_int_eq(txp_compliance_pseudonym_key(&k, key, sizeof(key)), 0);
	txp_compliance_pseudonymise_txn(e.rules, &k, t);
	ck_assert_int_eq(txp_compliance_pseudonym(key, sizeof(key), "customer_id", "alice", want), 0);
	ck_assert_str_eq(t->customer_pseud, want);
	ck_assert_str_eq(t->ip_pseud, "");
	ck_assert_int_eq(txp_compliance_pseudonym(key, sizeof(key), "device_id", "dev-1", want), 0);
	ck_assert_str_eq(t->device_pseud, want);
	/* With one, made as the stages make it, it is copied: the same. */
	ck_assert_int_eq(txp_compliance_pseudonym(key, sizeof(key), "customer_id", "alice", t->customer_key), 0);
	t->customer_pseud[0] = '\0';
	txp_compliance_pseudonymise_txn(e.rules, &k, t);
	ck_assert_str_eq(t->customer_pseud, t->customer_key);
	txp_blake2b_key_wipe(&k);
	/* Keys too short or too long for a pseudonym key are refused. */
	ck_assert_int_eq(txp_compliance_pseudonym_key(&k, key, 8), -EINVAL);
	ck_assert_int_eq(txp_compliance_pseudonym(key, 8, "customer_id", "alice", want), -EINVAL);
	txp_txn_free(t);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(expiry_adds_retention_days_in_unix_seconds)
{
	ck_assert_int_eq(txp_compliance_expiry(FX_T0 + 999, 1), FX_T0 / 1000 + 86400);
	ck_assert_int_eq(txp_compliance_expiry(FX_T0, 1825), FX_T0 / 1000 + 1825 * 86400);
	ck_assert_int_eq(txp_compliance_expiry(FX_T0, 0), 0);
	ck_assert_int_eq(txp_compliance_expiry(INT64_MAX, 10), INT64_MAX / 1000 + 864000);
	ck_assert_int_eq(txp_compliance_expiry(FX_T0, UINT64_MAX), INT64_MAX);
	ck_assert_int_eq(txp_compliance_expiry(INT64_MAX, (uint64_t)INT64_MAX / 86400), INT64_MAX);
}
END_TEST

START_TEST(rules_create_rejects_bad_settings_naming_the_key)
{
	struct txp_compliance_config cfg;
	struct txp_rates rates;
	struct txp_compliance_rules *r;
	char err[256];

	fx_rates(&rates);
	defaults(&cfg);
	fx_set(&cfg.sanctioned_countries, "CU,Iran");
	ck_assert_int_eq(txp_compliance_rules_create(&cfg, &rates, &r, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "[compliance] sanctioned_countries: \"Iran\": not an ISO 3166-1 alpha-2 code");
	txp_compliance_config_free(&cfg);

	defaults(&cfg);
	fx_set(&cfg.pseudonymise, "customer_id,email");
	ck_assert_int_eq(txp_compliance_rules_create(&cfg, &rates, &r, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "[compliance] pseudonymise: \"email\": expected customer_id, ip_address or device_id");
	txp_compliance_config_free(&cfg);

	defaults(&cfg);
	fx_set(&cfg.sanctions_list, "/nonexistent/sdn.txt");
	ck_assert_int_eq(txp_compliance_rules_create(&cfg, &rates, &r, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "[compliance] sanctions_list: /nonexistent/sdn.txt: No such file or directory");
	txp_compliance_config_free(&cfg);
	txp_rates_free(&rates);
}
END_TEST

START_TEST(reload_keeps_structuring_state_and_refuses_window_change)
{
	struct txp_compliance_config cfg;
	struct engine e;
	struct txp_compliance_rules *r2;
	char err[256];

	defaults(&cfg);
	engine_start(&e, &cfg);
	ck_assert(!checks_with(&e, fx_txn("a", "m", 600000, FX_T0), "aml_structuring"));
	cfg.aml_threshold_usd = 8000;
	ck_assert_int_eq(txp_compliance_rules_create(&cfg, &e.rates, &r2, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_compliance_set_rules(e.st, r2, err, sizeof(err)), 0);
	txp_compliance_rules_unref(r2);
	ck_assert(checks_with(&e, fx_txn("a", "m", 200000, FX_T0 + 1), "aml_structuring"));
	cfg.structuring_window_ms = 3600 * 1000;
	ck_assert_int_eq(txp_compliance_rules_create(&cfg, &e.rates, &r2, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_compliance_set_rules(e.st, r2, err, sizeof(err)), -EINVAL);
	txp_compliance_rules_unref(r2);
	engine_stop(&e);
	txp_compliance_config_free(&cfg);
}
END_TEST

START_TEST(table_defaults_pass_validation_and_build_working_rules)
{
	/* The daemon's defaults are the table's; there are no others. */
	struct txp_config table;
	struct txp_rates rates;
	struct txp_fraud_rules *fr;
	struct txp_compliance_rules *cr;
	char err[256];

	ck_assert_int_eq(txp_config_defaults(&table), 0);
	ck_assert_msg(txp_config_validate(&table, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(txp_rates_parse(table.compliance.usd_rates, &rates, err, sizeof(err)), 0);
	ck_assert_msg(txp_fraud_rules_create(&table.fraud, &rates, &fr, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(txp_compliance_rules_create(&table.compliance, &rates, &cr, err, sizeof(err)) == 0, "%s", err);
	/* What the engines run with is what the table says. */
	ck_assert_uint_eq(txp_fraud_rules_config(fr)->card_test_merchants, table.fraud.card_test_merchants);
	ck_assert_uint_eq(txp_compliance_rules_config(cr)->retention_days, 1825);
	txp_fraud_rules_unref(fr);
	txp_compliance_rules_unref(cr);
	txp_rates_free(&rates);
	txp_config_free(&table);
}
END_TEST

static Suite *compliance_suite(void)
{
	Suite *s = suite_create("compliance");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ordinary_transaction_passes_with_retention_set);
	tcase_add_test(tc, aml_threshold_fires_at_10000_usd_equivalent_not_below);
	tcase_add_test(tc, aml_action_can_send_to_review);
	tcase_add_test(tc, structuring_fires_when_small_transactions_reach_the_threshold_in_24h);
	tcase_add_test(tc, structuring_window_edges_at_24h_and_one_ms_after);
	tcase_add_test(tc, sanctioned_country_declines_with_critical_alert);
	tcase_add_test(tc, sanctions_list_matches_customer_or_merchant_id);
	tcase_add_test(tc, party_name_on_a_list_declines_with_entry_and_score);
	tcase_add_test(tc, name_action_and_threshold_are_configurable);
	tcase_add_test(tc, a_name_list_that_fails_to_parse_names_file_and_line);
	tcase_add_test(tc, kyc_not_verified_goes_to_review_at_the_threshold);
	tcase_add_test(tc, kyc_failed_declines_by_default_and_is_configurable);
	tcase_add_test(tc, card_numbers_in_free_text_fields_are_masked_and_flagged);
	tcase_add_test(tc, unknown_currency_goes_to_review);
	tcase_add_test(tc, full_state_sends_untracked_customers_to_review);
	tcase_add_test(tc, decision_combines_fraud_and_compliance_declined_beats_review);
	tcase_add_test(tc, pseudonyms_are_deterministic_per_key_and_field);
	tcase_add_test(tc, pseudonym_matches_keyed_blake2b_of_label_nul_value);
	tcase_add_test(tc, pseudonymise_txn_fills_only_configured_fields);
	tcase_add_test(tc, expiry_adds_retention_days_in_unix_seconds);
	tcase_add_test(tc, rules_create_rejects_bad_settings_naming_the_key);
	tcase_add_test(tc, reload_keeps_structuring_state_and_refuses_window_change);
	tcase_add_test(tc, table_defaults_pass_validation_and_build_working_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(compliance_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
