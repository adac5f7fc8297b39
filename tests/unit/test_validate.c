/* test_validate.c: the validation stage: every field rule at its boundaries, rejections, and card-data hygiene. */
/* memmem and strdup are GNU/POSIX extensions; the build config defines _GNU_SOURCE. */
#include "txp_build_config.h"

#include "txpipe/clock.h"
#include "txpipe/rulelists.h"
#include "txpipe/validate.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAN "4111111111111111"

static const unsigned char test_key[TXP_CARD_KEY_BYTES] = {
	1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

static struct txp_validator *make_validator(uint64_t max_amount, int unknown)
{
	struct txp_config cfg;
	struct txp_validator *v;

	memset(&cfg, 0, sizeof(cfg));
	cfg.validation.max_amount = max_amount;
	cfg.validation.unknown_fields = unknown;
	v = txp_validator_new(&cfg, test_key);
	ck_assert_ptr_nonnull(v);
	return v;
}

/* The required fields of a valid line, as raw JSON values. */
static const char *const base_names[] = { "transaction_id", "amount",           "currency",        "merchant_id",
	                                  "customer_id",    "merchant_country", "customer_country" };
static const char *const base_values[] = {
	"\"tx-1\"", "\"12.34\"", "\"USD\"", "\"m-1\"", "\"c-1\"", "\"US\"", "\"DE\""
};

/*
 * Builds a line from the base fields with overrides: pairs of (name, raw JSON
 * value) ending in NULL.  A base name with a NULL value is left out; other
 * names are appended.  Returns a malloc'd string.
 */
static char *line_v(const char *name, va_list ap)
{
	const char *names[64], *vals[64];
	size_t n = 0, len = 0;
	char *out, *p;

	for (size_t i = 0; i < 7; i++) {
		names[n] = base_names[i];
		vals[n++] = base_values[i];
	}
	for (; name != NULL; name = va_arg(ap, const char *)) {
		const char *val = va_arg(ap, const char *);
		size_t i;
		for (i = 0; i < n && strcmp(names[i], name) != 0; i++)
			;
		names[i] = name;
		vals[i] = val;
		if (i == n)
			n++;
	}
	for (size_t i = 0; i < n; i++)
		if (vals[i] != NULL)
			len += strlen(names[i]) + strlen(vals[i]) + 4;
	out = p = malloc(len + 3);
	ck_assert_ptr_nonnull(out);
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (vals[i] == NULL)
			continue;
		p += sprintf(p, "%s\"%s\":%s", p == out + 1 ? "" : ",", names[i], vals[i]);
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

static char *line_with(const char *name, ...)
{
	va_list ap;
	char *l;

	va_start(ap, name);
	l = line_v(name, ap);
	va_end(ap);
	return l;
}

static int last_rc;

/* Validates `line` (taking ownership) into a new transaction. */
static struct txp_txn *run_owned(const struct txp_validator *v, char *line, size_t len)
{
	struct txp_txn *t = txp_txn_new();

	ck_assert_ptr_nonnull(t);
	t->line = line;
	t->line_len = (uint32_t)len;
	last_rc = txp_validate(v, t);
	ck_assert_ptr_null(t->line);
	ck_assert_uint_eq(t->line_len, 0);
	/* Whatever happened, the reply must build. */
	ck_assert_int_eq(txp_txn_build_reply(t), 0);
	return t;
}

static struct txp_txn *run(const struct txp_validator *v, const char *line)
{
	char *copy = strdup(line);
	ck_assert_ptr_nonnull(copy);
	return run_owned(v, copy, strlen(line));
}

static struct txp_txn *run_with(const struct txp_validator *v, const char *name, ...)
{
	va_list ap;
	char *l;

	va_start(ap, name);
	l = line_v(name, ap);
	va_end(ap);
	return run_owned(v, l, strlen(l));
}

static void expect_ok(struct txp_txn *t)
{
	ck_assert_msg(last_rc == 0, "rejected: %s %s: %s", t->error.code, t->error.field, t->error.message);
	ck_assert_int_eq(t->status, TXP_STATUS_APPROVED);
}

static void expect_fail(struct txp_txn *t, enum txp_status status, const char *code, const char *field)
{
	ck_assert_msg(last_rc == -EINVAL, "rc %d for expected %s", last_rc, code);
	ck_assert_int_eq(t->status, status);
	ck_assert_str_eq(t->error.code, code);
	ck_assert_str_eq(t->error.field, field);
	ck_assert_msg(t->error.message[0] != '\0', "empty message");
}

/* Checks one overridden field's outcome and frees the transaction. */
static void check_field(const struct txp_validator *v, const char *name, const char *raw, const char *code,
                        const char *field)
{
	struct txp_txn *t = run_with(v, name, raw, NULL);
	if (code == NULL) {
		if (last_rc != 0)
			ck_abort_msg("%s=%s rejected: %s: %s", name, raw, t->error.code, t->error.message);
	} else {
		if (last_rc == 0)
			ck_abort_msg("%s=%s accepted, want %s", name, raw, code);
		if (strcmp(t->error.code, code) != 0 || strcmp(t->error.field, field) != 0)
			ck_abort_msg("%s=%s: got %s/%s (%s), want %s/%s", name, raw, t->error.code, t->error.field,
			             t->error.message, code, field);
		ck_assert_int_eq(t->status, TXP_STATUS_REJECTED);
	}
	txp_txn_free(t);
}

/* ---- Whole lines --------------------------------------------------------- */

START_TEST(minimal_valid_line_fills_every_required_field)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t = run_with(v, NULL);

	expect_ok(t);
	ck_assert(t->has_id);
	ck_assert_str_eq(t->transaction_id, "tx-1");
	ck_assert_int_eq(t->amount, 1234);
	ck_assert_str_eq(t->currency, "USD");
	ck_assert_uint_eq(t->currency_exponent, 2);
	ck_assert_str_eq(t->merchant_id, "m-1");
	ck_assert_str_eq(t->customer_id, "c-1");
	ck_assert_str_eq(t->merchant_country, "US");
	ck_assert_str_eq(t->customer_country, "DE");
	ck_assert(!t->has_timestamp);
	ck_assert(!t->has_card);
	ck_assert_str_eq(t->merchant_category, "");
	ck_assert_int_eq(t->channel, TXP_CHANNEL_UNSPECIFIED);
	ck_assert_str_eq(t->ip_address, "");
	ck_assert_str_eq(t->device_id, "");
	ck_assert_int_eq(t->kyc, TXP_KYC_UNSPECIFIED);
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(full_valid_line_fills_every_optional_field)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_REJECT);
	struct txp_txn *t =
	        run_with(v, "timestamp", "\"2024-05-01T12:30:00.250Z\"", "card_number", "\"" PAN "\"",
	                 "merchant_category", "\"5411\"", "channel", "\"online\"", "ip_address", "\"192.0.2.7\"",
	                 "device_id", "\"dev 42/abc\"", "customer_kyc_status", "\"verified\"", NULL);

	expect_ok(t);
	ck_assert(t->has_timestamp);
	ck_assert_int_eq(t->timestamp_ms, 1714566600250);
	ck_assert(t->has_card);
	ck_assert_str_eq(t->card_bin, "411111");
	ck_assert_str_eq(t->card_last4, "1111");
	ck_assert_uint_eq(strlen(t->card_token), TXP_TOKEN_HEX);
	ck_assert_str_eq(t->merchant_category, "5411");
	ck_assert_int_eq(t->channel, TXP_CHANNEL_ONLINE);
	ck_assert_str_eq(t->ip_address, "192.0.2.7");
	ck_assert_str_eq(t->device_id, "dev 42/abc");
	ck_assert_int_eq(t->kyc, TXP_KYC_VERIFIED);
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(shard_is_a_stable_hash_of_customer_id)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *a = run_with(v, "transaction_id", "\"a\"", NULL);
	struct txp_txn *b = run_with(v, "transaction_id", "\"b\"", NULL);
	struct txp_txn *c = run_with(v, "customer_id", "\"c-2\"", NULL);

	ck_assert_uint_eq(a->shard, b->shard);
	ck_assert_uint_ne(a->shard, c->shard);
	txp_txn_free(a);
	txp_txn_free(b);
	txp_txn_free(c);
	txp_validator_free(v);
}
END_TEST

START_TEST(party_names_are_kept_for_screening_and_bad_ones_refused_unquoted)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_REJECT);
	struct txp_txn *t = run_with(v, "customer_name", "\"Jos\u00e9 O'Brien\"", "counterparty_name", "\"ACME S.A.\"",
	                             "beneficiary_name", "\"\u5f20\u4f1f\"", NULL);
	char long_name[260];

	expect_ok(t);
	ck_assert_str_eq(t->names[0], "Jos\xc3\xa9 O'Brien");
	ck_assert_str_eq(t->names[1], "ACME S.A.");
	ck_assert_str_eq(t->names[2], "\xe5\xbc\xa0\xe4\xbc\x9f");
	txp_txn_free(t);
	for (int k = 0; k < TXP_NAME_FIELDS; k++) {
		const char *f = txp_name_fields[k];
		check_field(v, f, "42", "invalid_type", f);
		check_field(v, f, "\"\"", "invalid_value", f);
		check_field(v, f, "\"Ivan\\tPetrov\"", "invalid_value", f);
		check_field(v, f, "null", NULL, NULL);
	}
	/* Over 200 bytes. */
	memset(long_name, 'a', sizeof(long_name));
	long_name[0] = '"';
	long_name[202] = '"';
	long_name[203] = '\0';
	check_field(v, "beneficiary_name", long_name, "too_long", "beneficiary_name");
	/* The message names the field and never quotes the name. */
	t = run_with(v, "beneficiary_name", "\"Ivan\\u0001Petrovsky\"", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "beneficiary_name");
	ck_assert_ptr_null(strstr(t->error.message, "Petrovsky"));
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(each_missing_required_field_is_named)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	for (size_t i = 0; i < 7; i++)
		check_field(v, base_names[i], NULL, "missing_field", base_names[i]);
	txp_validator_free(v);
}
END_TEST

START_TEST(wrong_json_types_are_invalid_type_for_every_field)
{
	static const char *const all[] = {
		"transaction_id",   "amount",           "currency",  "merchant_id",        "customer_id",
		"merchant_country", "customer_country", "timestamp", "card_number",        "merchant_category",
		"channel",          "ip_address",       "device_id", "customer_kyc_status"
	};
	static const char *const wrong[] = { "true", "false", "{}", "[]", "[\"x\"]", "{\"a\":1}" };
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		for (size_t k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++)
			check_field(v, all[i], wrong[k], "invalid_type", all[i]);
		/* Numbers are refused everywhere except amount. */
		if (strcmp(all[i], "amount") != 0) {
			check_field(v, all[i], "5", "invalid_type", all[i]);
			check_field(v, all[i], "5.5", "invalid_type", all[i]);
		}
		/* null is a wrong type for required fields, "not given" for optional ones. */
		check_field(v, all[i], "null", i < 7 ? "invalid_type" : NULL, all[i]);
	}
	txp_validator_free(v);
}
END_TEST

/* ---- Identifiers ---------------------------------------------------------- */

START_TEST(identifiers_accept_64_characters_and_refuse_65)
{
	static const char *const ids[] = { "transaction_id", "merchant_id", "customer_id" };
	char v64[80], v65[80];
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	snprintf(v64, sizeof(v64), "\"%.*s\"", 64,
	         "aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-xxxx");
	snprintf(v65, sizeof(v65), "\"%.*s\"", 65,
	         "aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-aZ09._:-xxxx");
	for (size_t i = 0; i < 3; i++) {
		check_field(v, ids[i], v64, NULL, NULL);
		check_field(v, ids[i], v65, "too_long", ids[i]);
		check_field(v, ids[i], "\"\"", "invalid_value", ids[i]);
		check_field(v, ids[i], "\"a b\"", "invalid_value", ids[i]);
		check_field(v, ids[i], "\"a/b\"", "invalid_value", ids[i]);
		check_field(v, ids[i], "\"caf\xc3\xa9\"", "invalid_value", ids[i]);
		check_field(v, ids[i], "\"a\\nb\"", "invalid_value", ids[i]);
		check_field(v, ids[i], "\"A\"", NULL, NULL);
	}
	txp_validator_free(v);
}
END_TEST

START_TEST(transaction_id_is_kept_when_another_field_fails)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t = run_with(v, "transaction_id", "\"order:77\"", "currency", "\"usd\"", NULL);

	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "currency");
	ck_assert(t->has_id);
	ck_assert_str_eq(t->transaction_id, "order:77");
	ck_assert_ptr_nonnull(strstr(t->reply, "\"transaction_id\":\"order:77\""));
	txp_txn_free(t);

	t = run_with(v, "transaction_id", "\"bad id\"", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "transaction_id");
	ck_assert(!t->has_id);
	ck_assert_ptr_nonnull(strstr(t->reply, "\"transaction_id\":null"));
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

/* A card-like transaction_id's token: "tok_" and 26 base32 characters. */
static void assert_token(const struct txp_txn *t)
{
	ck_assert(t->has_id);
	ck_assert(t->id_tokenised);
	ck_assert_uint_eq(strlen(t->transaction_id), TXP_ID_TOKEN_LEN);
	ck_assert_int_eq(strncmp(t->transaction_id, TXP_ID_TOKEN_PREFIX, 4), 0);
	ck_assert_uint_eq(strspn(t->transaction_id + 4, "abcdefghijklmnopqrstuvwxyz234567"), 26);
}

START_TEST(card_like_transaction_ids_become_distinct_stable_tokens)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	/* Both Luhn-valid: masked, both were "****************". */
	struct txp_txn *a = run_with(v, "transaction_id", "\"2024120600000008\"", NULL);
	struct txp_txn *b = run_with(v, "transaction_id", "\"2024120600000016\"", NULL);
	struct txp_txn *a2 = run_with(v, "transaction_id", "\"2024120600000008\"", "currency", "\"EUR\"", NULL);
	struct txp_txn *plain = run_with(v, "transaction_id", "\"2024120600000009\"", NULL);
	struct txp_txn *bad = run_with(v, "transaction_id", "\"2024120600000008\"", "currency", "\"usd\"", NULL);

	ck_assert_int_eq(a->status, TXP_STATUS_APPROVED);
	assert_token(a);
	assert_token(b);
	ck_assert_str_ne(a->transaction_id, b->transaction_id);
	ck_assert_str_eq(a->transaction_id, a2->transaction_id);
	ck_assert_ptr_null(strstr(a->reply, "2024120600000008"));
	ck_assert_ptr_nonnull(strstr(a->reply, a->transaction_id));
	/* Not a card number (fails Luhn): kept as sent. */
	ck_assert(!plain->id_tokenised);
	ck_assert_str_eq(plain->transaction_id, "2024120600000009");
	/* A rejected line's id is echoed: tokenised all the same. */
	ck_assert_int_eq(bad->status, TXP_STATUS_REJECTED);
	ck_assert_str_eq(bad->error.field, "currency");
	assert_token(bad);
	ck_assert_str_eq(bad->transaction_id, a->transaction_id);
	ck_assert_ptr_null(strstr(bad->reply, "2024120600000008"));
	/* The keyed BLAKE2b of "transaction_id\0" and the id, in base32. */
	{
		static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
		crypto_generichash_state h;
		unsigned char dg[16];
		char want[27];

		crypto_generichash_init(&h, test_key, sizeof(test_key), sizeof(dg));
		crypto_generichash_update(&h, (const unsigned char *)"transaction_id", 15);
		crypto_generichash_update(&h, (const unsigned char *)"2024120600000016", 16);
		crypto_generichash_final(&h, dg, sizeof(dg));
		for (unsigned c = 0; c < 26; c++) {
			unsigned x = 0;
			for (unsigned k = 0; k < 5; k++) {
				unsigned bit = c * 5 + k;
				x = x << 1 | (bit < 128 ? (dg[bit / 8] >> (7 - bit % 8)) & 1u : 0u);
			}
			want[c] = b32[x];
		}
		want[26] = '\0';
		ck_assert_str_eq(b->transaction_id + 4, want);
	}
	/* Not the card token of the same digits (another domain). */
	txp_txn_free(a2);
	a2 = run_with(v, "card_number", "\"2024120600000008\"", NULL);
	ck_assert_ptr_null(strstr(a->transaction_id, a2->card_token));
	txp_txn_free(a);
	txp_txn_free(b);
	txp_txn_free(a2);
	txp_txn_free(plain);
	txp_txn_free(bad);
	txp_validator_free(v);
}
END_TEST

/* ---- Amount ----------------------------------------------------------------- */

static void check_amount(const struct txp_validator *v, const char *cur, const char *raw, const char *code,
                         int64_t want)
{
	char c[8];
	struct txp_txn *t;

	snprintf(c, sizeof(c), "\"%s\"", cur);
	t = run_with(v, "currency", c, "amount", raw, NULL);
	if (code == NULL) {
		if (last_rc != 0)
			ck_abort_msg("%s %s rejected: %s: %s", raw, cur, t->error.code, t->error.message);
		if (t->amount != want)
			ck_abort_msg("%s %s gave %lld, want %lld", raw, cur, (long long)t->amount, (long long)want);
	} else {
		if (last_rc == 0)
			ck_abort_msg("%s %s accepted, want %s", raw, cur, code);
		if (strcmp(t->error.code, code) != 0)
			ck_abort_msg("%s %s: got %s (%s), want %s", raw, cur, t->error.code, t->error.message, code);
	}
	txp_txn_free(t);
}

START_TEST(amount_accepts_the_exact_maximum_and_refuses_one_minor_unit_more)
{
	struct txp_validator *v = make_validator(1000, TXP_UNKNOWN_IGNORE);

	check_amount(v, "USD", "\"1000.00\"", NULL, 100000);
	check_amount(v, "USD", "\"1000\"", NULL, 100000);
	check_amount(v, "USD", "1000", NULL, 100000);
	check_amount(v, "USD", "1000.0", NULL, 100000);
	check_amount(v, "USD", "\"1000.01\"", "amount_range", 0);
	check_amount(v, "USD", "1000.01", "amount_range", 0);
	check_amount(v, "USD", "1001", "amount_range", 0);
	check_amount(v, "JPY", "\"1000\"", NULL, 1000);
	check_amount(v, "JPY", "1000", NULL, 1000);
	check_amount(v, "JPY", "\"1001\"", "amount_range", 0);
	check_amount(v, "KWD", "\"1000.000\"", NULL, 1000000);
	check_amount(v, "KWD", "\"1000.001\"", "amount_range", 0);
	check_amount(v, "BHD", "\"0.001\"", NULL, 1);
	check_amount(v, "CLF", "\"1000.0000\"", NULL, 10000000);
	check_amount(v, "CLF", "\"1000.0001\"", "amount_range", 0);
	check_amount(v, "CLF", "\"0.0001\"", NULL, 1);
	txp_validator_free(v);
}
END_TEST

START_TEST(with_rates_the_maximum_is_in_us_dollars_for_every_currency_that_has_one)
{
	struct txp_validator *v = make_validator(1000, TXP_UNKNOWN_IGNORE);
	struct txp_rates rates;
	struct txp_txn *t;
	char err[128];

	ck_assert_int_eq(txp_rates_parse("USD:1000000,KRW:680,KWD:3250000", &rates, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_validator_set_rates(v, &rates), 0);
	txp_rates_free(&rates); /* the validator keeps its own copy */
	check_amount(v, "USD", "\"1000.00\"", NULL, 100000);
	check_amount(v, "USD", "\"1000.01\"", "amount_range", 0);
	/* USD 1,000 is KRW 1,470,588.23 at 680 micro-dollars a won: a
	 * payment of a few hundred dollars in won is no longer refused as
	 * over "1000" of its own units. */
	check_amount(v, "KRW", "\"1470588\"", NULL, 1470588);
	check_amount(v, "KRW", "\"1470589\"", "amount_range", 0);
	/* ...and a stronger currency gets less: 307.692 dinars. */
	check_amount(v, "KWD", "\"307.692\"", NULL, 307692);
	check_amount(v, "KWD", "\"307.693\"", "amount_range", 0);
	/* Without a rate, the limit stays in the currency's major units. */
	check_amount(v, "JPY", "\"1000\"", NULL, 1000);
	check_amount(v, "JPY", "\"1001\"", "amount_range", 0);
	t = run_with(v, "currency", "\"KRW\"", "amount", "\"2000000\"", NULL);
	ck_assert_int_ne(last_rc, 0);
	ck_assert_msg(strstr(t->error.message, "1470588 KRW") != NULL && strstr(t->error.message, "1000 US dollars"),
	              "message: %s", t->error.message);
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(amount_fraction_digits_follow_the_currency_exponent)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	check_amount(v, "USD", "\"0.01\"", NULL, 1);
	check_amount(v, "USD", "\"12.345\"", "amount_precision", 0);
	check_amount(v, "USD", "12.345", "amount_precision", 0);
	check_amount(v, "USD", "\"12.340\"", NULL, 1234);
	check_amount(v, "JPY", "\"12.5\"", "amount_precision", 0);
	check_amount(v, "JPY", "12.5", "amount_precision", 0);
	check_amount(v, "JPY", "\"1500.00\"", NULL, 1500);
	check_amount(v, "KWD", "\"1.2345\"", "amount_precision", 0);
	check_amount(v, "KWD", "1.234", NULL, 1234);
	check_amount(v, "CLF", "\"1.23456\"", "amount_precision", 0);
	txp_validator_free(v);
}
END_TEST

START_TEST(amount_json_reals_give_exact_minor_units_or_ask_for_a_string)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	check_amount(v, "USD", "0.3", NULL, 30);
	check_amount(v, "USD", "19.99", NULL, 1999);
	check_amount(v, "USD", "4.35", NULL, 435);
	check_amount(v, "USD", "0.07", NULL, 7);
	check_amount(v, "KWD", "1.005", NULL, 1005);
	check_amount(v, "USD", "1.005", "amount_precision", 0);
	check_amount(v, "USD", "1.2e2", NULL, 12000);
	check_amount(v, "USD", "1E+2", NULL, 10000);
	check_amount(v, "USD", "0.30000000000000004", "amount_precision", 0);
	check_amount(v, "USD", "123456.7890123456", "amount_precision", 0);
	txp_validator_free(v);
}
END_TEST

START_TEST(amount_must_be_positive_and_representable)
{
	struct txp_validator *v = make_validator(UINT64_MAX, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t;

	check_amount(v, "USD", "0", "amount_range", 0);
	check_amount(v, "USD", "0.0", "amount_range", 0);
	check_amount(v, "USD", "-0.0", "amount_range", 0);
	check_amount(v, "USD", "\"0\"", "amount_range", 0);
	check_amount(v, "USD", "\"0.00\"", "amount_range", 0);
	check_amount(v, "USD", "-5", "amount_range", 0);
	check_amount(v, "USD", "-5.5", "amount_range", 0);
	check_amount(v, "USD", "\"-5.00\"", "amount_range", 0);
	check_amount(v, "USD", "1e300", "amount_range", 0);
	check_amount(v, "USD", "92233720368547758", NULL, 9223372036854775800);
	check_amount(v, "USD", "92233720368547759", "amount_range", 0);
	check_amount(v, "USD", "\"92233720368547758.07\"", NULL, INT64_MAX);
	check_amount(v, "USD", "\"92233720368547758.08\"", "amount_range", 0);
	check_amount(v, "JPY", "9223372036854775807", NULL, INT64_MAX);
	/* Beyond int64 jansson cannot hold the number at all. */
	t = run_with(v, "amount", "99999999999999999999", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "");
	ck_assert(t->has_id == false);
	txp_txn_free(t);
	t = run_with(v, "amount", "1e400", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "");
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(amount_strings_follow_the_strict_grammar_and_length_bound)
{
	static const char *const bad[] = { "\"\"",    "\".\"",  "\"1.\"", "\".5\"",  "\"007\"", "\"+1\"",
		                           "\"1e3\"", "\" 1\"", "\"1 \"", "\"1,5\"", "\"0x1\"", "\"12.3.4\"" };
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	char s40[48], s41[48];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_amount(v, "USD", bad[i], "invalid_value", 0);
	snprintf(s40, sizeof(s40), "\"1.%s\"", "00000000000000000000000000000000000000");
	snprintf(s41, sizeof(s41), "\"1.%s\"", "000000000000000000000000000000000000000");
	check_amount(v, "USD", s40, NULL, 100);
	check_amount(v, "USD", s41, "too_long", 0);
	txp_validator_free(v);
}
END_TEST

/* ---- Codes ------------------------------------------------------------------- */

START_TEST(currency_must_be_an_active_payable_iso_4217_code)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t;

	check_field(v, "currency", "\"EUR\"", NULL, NULL);
	check_field(v, "currency", "\"usd\"", "invalid_value", "currency");
	check_field(v, "currency", "\"US\"", "invalid_value", "currency");
	check_field(v, "currency", "\"USDX\"", "invalid_value", "currency");
	check_field(v, "currency", "\"ABC\"", "invalid_value", "currency");
	check_field(v, "currency", "\"HRK\"", "invalid_value", "currency");
	check_field(v, "currency", "\"XAU\"", "invalid_value", "currency");
	check_field(v, "currency", "\"USN\"", "invalid_value", "currency");
	check_field(v, "currency", "\"\"", "invalid_value", "currency");
	check_field(v, "currency", "\"EURO-DOLLAR-YEN-X\"", "too_long", "currency");
	t = run_with(v, "currency", "\"XAU\"", NULL);
	ck_assert_ptr_nonnull(strstr(t->error.message, "XAU"));
	txp_txn_free(t);
	t = run_with(v, "currency", "\"JPY\"", "amount", "\"500\"", NULL);
	expect_ok(t);
	ck_assert_uint_eq(t->currency_exponent, 0);
	ck_assert_int_eq(t->amount, 500);
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(countries_must_be_assigned_iso_3166_alpha_2_codes)
{
	static const char *const fields[] = { "merchant_country", "customer_country" };
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	for (size_t i = 0; i < 2; i++) {
		check_field(v, fields[i], "\"AQ\"", NULL, NULL);
		check_field(v, fields[i], "\"GB\"", NULL, NULL);
		check_field(v, fields[i], "\"USA\"", "invalid_value", fields[i]);
		check_field(v, fields[i], "\"us\"", "invalid_value", fields[i]);
		check_field(v, fields[i], "\"XK\"", "invalid_value", fields[i]);
		check_field(v, fields[i], "\"UK\"", "invalid_value", fields[i]);
		check_field(v, fields[i], "\"\"", "invalid_value", fields[i]);
		check_field(v, fields[i], "\"U1\"", "invalid_value", fields[i]);
		check_field(v, fields[i], "\"United Kingdom of GB\"", "too_long", fields[i]);
	}
	txp_validator_free(v);
}
END_TEST

/* ---- Timestamp ------------------------------------------------------------------ */

static int64_t ts(const char *s)
{
	int64_t ms = -1;
	ck_assert_msg(txp_time_parse_rfc3339(s, strlen(s), &ms) == 0, "%s refused", s);
	return ms;
}

static void ts_bad(const char *s)
{
	int64_t ms = 77;
	ck_assert_msg(txp_time_parse_rfc3339(s, strlen(s), &ms) == -EINVAL, "%s accepted", s);
	ck_assert_int_eq(ms, 77);
}

START_TEST(rfc3339_timestamps_convert_to_unix_milliseconds)
{
	ck_assert_int_eq(ts("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(ts("1969-12-31T23:59:59Z"), -1000);
	ck_assert_int_eq(ts("2000-03-01T00:00:00Z"), 951868800000);
	ck_assert_int_eq(ts("2024-05-01T12:30:00.250Z"), 1714566600250);
	ck_assert_int_eq(ts("2024-05-01t12:30:00.250z"), 1714566600250);
	ck_assert_int_eq(ts("2024-05-01T14:30:00.250+02:00"), 1714566600250);
	ck_assert_int_eq(ts("2024-05-01T07:00:00.250-05:30"), 1714566600250);
	ck_assert_int_eq(ts("2024-05-01T12:30:00.2Z"), 1714566600200);
	ck_assert_int_eq(ts("2024-05-01T12:30:00.123456789Z"), 1714566600123);
	ck_assert_int_eq(ts("2024-02-29T23:59:59.999Z"), 1709251199999);
	ck_assert_int_eq(ts("2016-12-31T23:59:60Z"), ts("2016-12-31T23:59:59.999Z"));
	ck_assert_int_eq(ts("0000-01-01T00:00:00Z"), -62167219200000);
	ck_assert_int_eq(ts("9999-12-31T23:59:59Z"), 253402300799000);
	ck_assert_int_eq(ts("2000-02-29T00:00:00Z"), 951782400000);
}
END_TEST

START_TEST(impossible_or_malformed_timestamps_are_refused)
{
	ts_bad("2023-02-29T00:00:00Z");
	ts_bad("1900-02-29T00:00:00Z");
	ts_bad("2024-04-31T00:00:00Z");
	ts_bad("2024-13-01T00:00:00Z");
	ts_bad("2024-00-01T00:00:00Z");
	ts_bad("2024-01-00T00:00:00Z");
	ts_bad("2024-01-32T00:00:00Z");
	ts_bad("2024-01-01T24:00:00Z");
	ts_bad("2024-01-01T23:60:00Z");
	ts_bad("2024-01-01T23:59:61Z");
	ts_bad("2024-01-01T00:00:00");  /* no zone */
	ts_bad("2024-01-01 00:00:00Z"); /* space separator */
	ts_bad("2024-01-01T00:00:00.Z");
	ts_bad("2024-01-01T00:00:00.1234567890Z");
	ts_bad("2024-01-01T00:00:00+24:00");
	ts_bad("2024-01-01T00:00:00+02:60");
	ts_bad("2024-01-01T00:00:00+0200");
	ts_bad("2024-01-01T00:00:00+02:00Z");
	ts_bad("2024-01-01T00:00:00Zjunk");
	ts_bad("2024-1-01T00:00:00Z");
	ts_bad("24-01-01T00:00:00Z");
	ts_bad("2024-01-01");
	ts_bad("");
	ts_bad("+2024-01-01T00:00:00Z");
	ts_bad("2024-01-01T00:00:00\xef\xbc\xba");
}
END_TEST

START_TEST(timestamp_field_is_checked_and_optional)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	char long_ts[64];

	check_field(v, "timestamp", "\"2023-02-29T10:00:00Z\"", "invalid_value", "timestamp");
	check_field(v, "timestamp", "\"yesterday\"", "invalid_value", "timestamp");
	check_field(v, "timestamp", "\"\"", "invalid_value", "timestamp");
	check_field(v, "timestamp", "1714566600", "invalid_type", "timestamp");
	snprintf(long_ts, sizeof(long_ts), "\"2024-05-01T12:30:00.%s+02:00\"", "123456789123456");
	check_field(v, "timestamp", long_ts, "too_long", "timestamp");
	check_field(v, "timestamp", "null", NULL, NULL);
	txp_validator_free(v);
}
END_TEST

/* ---- Card number ---------------------------------------------------------------- */

/* No byte sequence of the full PAN anywhere in the transaction or reply. */
static void assert_no_pan(const struct txp_txn *t, const char *digits)
{
	ck_assert_ptr_null(memmem(t, sizeof(*t), digits, strlen(digits)));
	if (t->reply != NULL)
		ck_assert_ptr_null(memmem(t->reply, t->reply_len, digits, strlen(digits)));
	/* Nor its middle digits: only the BIN and the last four may appear. */
	ck_assert_ptr_null(memmem(t->error.message, strlen(t->error.message), digits + 6, strlen(digits) - 10));
}

START_TEST(card_number_yields_bin_last4_and_keyed_token)
{
	unsigned char h[16];
	char hex[33];
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t = run_with(v, "card_number", "\"" PAN "\"", NULL);

	expect_ok(t);
	crypto_generichash(h, sizeof(h), (const unsigned char *)PAN, 16, test_key, sizeof(test_key));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	ck_assert_str_eq(t->card_token, hex);
	ck_assert_str_eq(t->card_bin, "411111");
	ck_assert_str_eq(t->card_last4, "1111");
	assert_no_pan(t, PAN);
	txp_txn_free(t);

	/* Grouping does not change the token. */
	t = run_with(v, "card_number", "\"4111 1111 1111 1111\"", NULL);
	expect_ok(t);
	ck_assert_str_eq(t->card_token, hex);
	txp_txn_free(t);
	t = run_with(v, "card_number", "\"4111-1111-1111-1111\"", NULL);
	expect_ok(t);
	ck_assert_str_eq(t->card_token, hex);
	txp_txn_free(t);

	/* A different key gives a different token. */
	{
		struct txp_config cfg;
		unsigned char k2[TXP_CARD_KEY_BYTES] = { 0 };
		struct txp_validator *v2;
		memset(&cfg, 0, sizeof(cfg));
		cfg.validation.max_amount = 1000000;
		v2 = txp_validator_new(&cfg, k2);
		t = run_with(v2, "card_number", "\"" PAN "\"", NULL);
		expect_ok(t);
		ck_assert_str_ne(t->card_token, hex);
		txp_txn_free(t);
		txp_validator_free(v2);
	}
	txp_validator_free(v);
}
END_TEST

START_TEST(card_number_length_grouping_and_luhn_are_enforced)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	/* Luhn-valid numbers of 12, 13, 15, 16 and 19 digits. */
	check_field(v, "card_number", "\"000000000000\"", NULL, NULL);
	check_field(v, "card_number", "\"4222222222222\"", NULL, NULL);
	check_field(v, "card_number", "\"378282246310005\"", NULL, NULL);
	check_field(v, "card_number", "\"5555555555554444\"", NULL, NULL);
	check_field(v, "card_number", "\"6011000990139424\"", NULL, NULL);
	check_field(v, "card_number", "\"4000000000000000006\"", NULL, NULL);
	check_field(v, "card_number", "\"3782 822463 10005\"", NULL, NULL);
	/* 11 and 20 digits (Luhn-valid), bad check digit. */
	check_field(v, "card_number", "\"00000000000\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"00000000000000000000\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4111111111111112\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4111111111111121\"", "invalid_value", "card_number");
	/* Grouping: single separators of one kind, between digits. */
	check_field(v, "card_number", "\"4111 1111-1111 1111\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4111  1111 1111 1111\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\" 4111111111111111\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4111111111111111 \"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"-4111111111111111\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4111.1111.1111.1111\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4111\\t1111 1111 1111\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"411111111111111x\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"\"", "invalid_value", "card_number");
	check_field(v, "card_number", "\"4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1\"", "too_long", "card_number");
	check_field(v, "card_number", "4111111111111111", "invalid_type", "card_number");
	txp_validator_free(v);
}
END_TEST

START_TEST(rejected_card_numbers_leave_no_trace_in_the_transaction_or_reply)
{
	static const char *const lines[] = {
		"{\"transaction_id\":\"t\",\"card_number\":\"4111111111111112\"}",
		"{\"transaction_id\":\"t\",\"card_number\":\"41111111111111121\"}",
		"{\"transaction_id\":\"t\",\"card_number\":\"4111111111111112\",\"cvv\":\"123\"}",
		"{\"card_number\":\"4111111111111112",
		"{\"card_number\": 4111111111111112x}",
		"{\"card_number\":\"4111111111111112\\u0000\"}",
		"{\"card_number\":\"4111111111111112\x01\"}",
		"{\"card_number\":\"4111111111111112\",\"card_number\":\"4111111111111112\"}",
		"{\"4111111111111112\":1}",
		"[\"4111111111111112\"]",
	};
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_REJECT);

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct txp_txn *t = run(v, lines[i]);
		ck_assert_msg(last_rc != 0, "%s accepted", lines[i]);
		assert_no_pan(t, "4111111111111112");
		txp_txn_free(t);
	}
	txp_validator_free(v);
}
END_TEST

/* A jansson allocator that counts freed blocks still holding the PAN. */
static size_t pan_frees;

static void *counting_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(max_align_t));
	if (p == NULL)
		return NULL;
	*p = n;
	return (char *)p + sizeof(max_align_t);
}

static void counting_free(void *q)
{
	if (q == NULL)
		return;
	char *p = (char *)q - sizeof(max_align_t);
	if (memmem(q, *(size_t *)(void *)p, PAN + 4, 8) != NULL)
		pan_frees++;
	free(p);
}

START_TEST(card_number_value_is_wiped_before_jansson_frees_it)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t;

	json_set_alloc_funcs(counting_malloc, counting_free);
	/* jansson's lexer keeps each token's text in a buffer that it grows by
	 * copying and reuses from the start: a long token before the card
	 * number makes it big enough not to grow on the PAN, and one after
	 * overwrites it, so only the parsed value could still hold the digits.
	 * (txp_validate_global_init's wiping allocator covers the lexer.) */
	pan_frees = 0;
	t = run(v, "{\"device_id\":\"a-long-token-that-grows-the-lexer-buffer\",\"card_number\":\"" PAN "\","
	           "\"transaction_id\":\"a-long-enough-id-1\",\"amount\":\"1.00\","
	           "\"currency\":\"USD\",\"merchant_id\":\"m\",\"customer_id\":\"c\",\"merchant_country\":\"US\","
	           "\"customer_country\":\"US\"}");
	expect_ok(t);
	ck_assert_uint_eq(pan_frees, 0);
	txp_txn_free(t);
	/* Also when the transaction is rejected after the card was read. */
	pan_frees = 0;
	t = run(v, "{\"device_id\":\"a-long-token-that-grows-the-lexer-buffer\",\"card_number\":\"" PAN "\","
	           "\"transaction_id\":\"a-long-enough-id-1\",\"amount\":\"-1.00\","
	           "\"currency\":\"USD\",\"merchant_id\":\"m\",\"customer_id\":\"c\",\"merchant_country\":\"US\","
	           "\"customer_country\":\"US\"}");
	expect_fail(t, TXP_STATUS_REJECTED, "amount_range", "amount");
	ck_assert_uint_eq(pan_frees, 0);
	txp_txn_free(t);
	json_set_alloc_funcs(malloc, free);
	txp_validator_free(v);
}
END_TEST

START_TEST(global_init_installs_a_working_wiping_allocator)
{
	struct txp_validator *v;
	struct txp_txn *t;
	json_malloc_t m;
	json_free_t f;

	ck_assert_int_eq(txp_validate_global_init(), 0);
	json_get_alloc_funcs(&m, &f);
	ck_assert_ptr_ne((void *)m, (void *)malloc);
	ck_assert_ptr_ne((void *)f, (void *)free);
	v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	t = run_with(v, "card_number", "\"" PAN "\"", "notes", "[1,2,{\"x\":\"yyyyyyyyyyyyyyyyyyyyyyyy\"}]", NULL);
	expect_ok(t);
	txp_txn_free(t);
	txp_validator_free(v);
	json_set_alloc_funcs(malloc, free);
}
END_TEST

/* ---- Forbidden and unknown fields ---------------------------------------------- */

START_TEST(pci_sensitive_fields_are_forbidden_in_any_case_and_still_carry_the_id)
{
	static const char *const names[] = { "cvv", "cvv2", "cvc", "cvc2", "cid", "pin", "pin_block", "track1",
		                             "track2", "track_data", "magstripe", "CVV", "Cvc2", "PIN-BLOCK",
		                             "Track_Data",
		                             /* Other separators and spellings (issue 14). */
		                             "CVV-2", "cvv_code", "Cvv2", "card_cvc", "security_code",
		                             "cardSecurityCode", "CVC.2", "card_pin", "PIN2", "cc_cid", "CSC",
		                             "pin-code", "track-1", "Mag_Stripe", "magnetic_stripe", "cvn", "CAV2",
		                             "PINBlock" };
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct txp_txn *t = run_with(v, names[i], "\"123\"", NULL);
		expect_fail(t, TXP_STATUS_REJECTED, "forbidden_field", names[i]);
		ck_assert(t->has_id);
		ck_assert_ptr_null(strstr(t->reply, "123"));
		txp_txn_free(t);
	}
	/* Names that only contain those letters are not taken for them. */
	{
		static const char *const fine[] = { "shipping",      "incident",     "pinned",      "spin", "opinion",
			                            "tracking_data", "cid_campaign", "card_pinyin", "csv" };
		for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
			struct txp_txn *t = run_with(v, fine[i], "\"123\"", NULL);
			ck_assert_msg(t->status == TXP_STATUS_APPROVED, "%s: %s", fine[i], t->error.code);
			txp_txn_free(t);
		}
	}
	/* Checked before any other field: even a line missing everything. */
	{
		struct txp_txn *t = run(v, "{\"cvv\":123}");
		expect_fail(t, TXP_STATUS_REJECTED, "forbidden_field", "cvv");
		ck_assert(!t->has_id);
		txp_txn_free(t);
	}
	txp_validator_free(v);
}
END_TEST

START_TEST(unknown_fields_are_ignored_or_rejected_per_config)
{
	struct txp_validator *ign = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_validator *rej = make_validator(1000000, TXP_UNKNOWN_REJECT);
	struct txp_txn *t;

	t = run_with(ign, "note", "\"hello\"", "Amount", "5", "extra", "{\"a\":[1,2,3]}", NULL);
	expect_ok(t);
	txp_txn_free(t);
	t = run_with(rej, "note", "\"hello\"", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "unknown_field", "note");
	ck_assert(t->has_id);
	txp_txn_free(t);
	t = run_with(rej, "Amount", "5", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "unknown_field", "Amount");
	txp_txn_free(t);
	/* A name that could be card data or control characters is not echoed. */
	t = run_with(rej, "5555555555554444", "1", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "unknown_field", "");
	assert_no_pan(t, "5555555555554444");
	txp_txn_free(t);
	t = run_with(rej, "a\\u0001b", "1", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "unknown_field", "");
	txp_txn_free(t);
	txp_validator_free(ign);
	txp_validator_free(rej);
}
END_TEST

/* ---- JSON-level problems ------------------------------------------------------ */

START_TEST(non_json_and_non_object_lines_are_malformed_json_errors)
{
	static const char *const lines[] = {
		"",        "not json", "{",    "{\"a\":1", "{\"a\":1} x",      "{\"a\":tru}",      "[1,2]",
		"\"str\"", "42",       "null", "{'a':1}",  "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":01}"
	};
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct txp_txn *t = run(v, lines[i]);
		expect_fail(t, TXP_STATUS_ERROR, "malformed_json", "");
		ck_assert(!t->has_id);
		txp_txn_free(t);
	}
	{
		struct txp_txn *t = run(v, "{\"a\":tru}");
		ck_assert_ptr_nonnull(strstr(t->error.message, "column 8"));
		ck_assert_ptr_null(strstr(t->error.message, "tru"));
		txp_txn_free(t);
		t = run(v, "[1]");
		ck_assert_ptr_nonnull(strstr(t->error.message, "object"));
		txp_txn_free(t);
	}
	txp_validator_free(v);
}
END_TEST

START_TEST(duplicate_keys_are_rejected_naming_the_field)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t = run_with(v, "extra", "1,\"amount\":\"1.00\"", NULL);

	expect_fail(t, TXP_STATUS_REJECTED, "duplicate_field", "amount");
	txp_txn_free(t);
	t = run(v, "{\"x\":1,\"x\":1}");
	expect_fail(t, TXP_STATUS_REJECTED, "duplicate_field", "x");
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

START_TEST(nul_escapes_inside_strings_are_rejected)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t;

	/* jansson refuses \u0000 unless JSON_ALLOW_NUL, which is not used: a
	 * NUL would silently truncate every C string downstream. */
	t = run_with(v, "transaction_id", "\"tx\\u0000-2\"", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "");
	ck_assert(!t->has_id);
	ck_assert_ptr_nonnull(strstr(t->error.message, "\\u0000"));
	txp_txn_free(t);
	t = run_with(v, "note", "\"\\u0000\"", NULL);
	expect_fail(t, TXP_STATUS_REJECTED, "invalid_value", "");
	txp_txn_free(t);
	/* A raw NUL byte in the line is not JSON at all. */
	{
		char *raw = line_with(NULL);
		size_t len = strlen(raw);
		raw[len - 1] = '\0';
		t = run_owned(v, raw, len);
		expect_fail(t, TXP_STATUS_ERROR, "malformed_json", "");
		txp_txn_free(t);
	}
	txp_validator_free(v);
}
END_TEST

START_TEST(deep_nesting_is_parsed_to_jansson_limit_then_refused)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	char *deep = malloc(2 * 100000 + 16);
	struct txp_txn *t;
	size_t n;

	/* 100 levels in an ignored field: fine. */
	n = 0;
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	t = run_with(v, "nested", deep, NULL);
	expect_ok(t);
	txp_txn_free(t);
	/* 100000 levels: jansson stops at its depth limit (2048). */
	n = 0;
	for (int i = 0; i < 100000; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100000; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	t = run_with(v, "nested", deep, NULL);
	expect_fail(t, TXP_STATUS_ERROR, "malformed_json", "");
	txp_txn_free(t);
	free(deep);
	txp_validator_free(v);
}
END_TEST

/* ---- Other optional fields ------------------------------------------------------ */

START_TEST(merchant_category_is_exactly_four_digits)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);

	check_field(v, "merchant_category", "\"0742\"", NULL, NULL);
	check_field(v, "merchant_category", "\"9999\"", NULL, NULL);
	check_field(v, "merchant_category", "\"541\"", "invalid_value", "merchant_category");
	check_field(v, "merchant_category", "\"54111\"", "invalid_value", "merchant_category");
	check_field(v, "merchant_category", "\"54a1\"", "invalid_value", "merchant_category");
	check_field(v, "merchant_category", "\"\"", "invalid_value", "merchant_category");
	check_field(v, "merchant_category", "\"54115411541154115\"", "too_long", "merchant_category");
	check_field(v, "merchant_category", "5411", "invalid_type", "merchant_category");
	txp_validator_free(v);
}
END_TEST

START_TEST(channel_and_kyc_accept_exactly_their_documented_values)
{
	static const char *const channels[] = { "online", "pos", "atm", "mobile", "moto" };
	static const char *const kycs[] = { "verified", "pending", "unverified", "failed" };
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	char raw[32];

	for (int i = 0; i < 5; i++) {
		struct txp_txn *t;
		snprintf(raw, sizeof(raw), "\"%s\"", channels[i]);
		t = run_with(v, "channel", raw, NULL);
		expect_ok(t);
		ck_assert_int_eq(t->channel, i + 1);
		ck_assert_str_eq(txp_channel_name(t->channel), channels[i]);
		txp_txn_free(t);
	}
	for (int i = 0; i < 4; i++) {
		struct txp_txn *t;
		snprintf(raw, sizeof(raw), "\"%s\"", kycs[i]);
		t = run_with(v, "customer_kyc_status", raw, NULL);
		expect_ok(t);
		ck_assert_int_eq(t->kyc, i + 1);
		ck_assert_str_eq(txp_kyc_name(t->kyc), kycs[i]);
		txp_txn_free(t);
	}
	check_field(v, "channel", "\"ONLINE\"", "invalid_value", "channel");
	check_field(v, "channel", "\"web\"", "invalid_value", "channel");
	check_field(v, "channel", "\"\"", "invalid_value", "channel");
	check_field(v, "channel", "\"online-and-offline\"", "too_long", "channel");
	check_field(v, "customer_kyc_status", "\"Verified\"", "invalid_value", "customer_kyc_status");
	check_field(v, "customer_kyc_status", "\"none\"", "invalid_value", "customer_kyc_status");
	txp_validator_free(v);
}
END_TEST

START_TEST(ip_address_accepts_ipv4_and_ipv6_in_canonical_form)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t;

	t = run_with(v, "ip_address", "\"2001:DB8:0:0:0:0:0:1\"", NULL);
	expect_ok(t);
	ck_assert_str_eq(t->ip_address, "2001:db8::1");
	txp_txn_free(t);
	t = run_with(v, "ip_address", "\"0000:0000:0000:0000:0000:ffff:255.255.255.255\"", NULL);
	expect_ok(t);
	ck_assert_str_eq(t->ip_address, "::ffff:255.255.255.255");
	txp_txn_free(t);
	check_field(v, "ip_address", "\"203.0.113.255\"", NULL, NULL);
	check_field(v, "ip_address", "\"::1\"", NULL, NULL);
	check_field(v, "ip_address", "\"256.1.1.1\"", "invalid_value", "ip_address");
	check_field(v, "ip_address", "\"1.2.3\"", "invalid_value", "ip_address");
	check_field(v, "ip_address", "\" 1.2.3.4\"", "invalid_value", "ip_address");
	check_field(v, "ip_address", "\"fe80::1%eth0\"", "invalid_value", "ip_address");
	check_field(v, "ip_address", "\"example.com\"", "invalid_value", "ip_address");
	check_field(v, "ip_address", "\"\"", "invalid_value", "ip_address");
	check_field(v, "ip_address", "\"0000:0000:0000:0000:0000:ffff:255.255.255.2550\"", "too_long", "ip_address");
	txp_validator_free(v);
}
END_TEST

START_TEST(device_id_is_1_to_128_printable_ascii)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	char d128[140], d129[140];

	memset(d128, 'd', sizeof(d128));
	d128[0] = '"';
	d128[129] = '"';
	d128[130] = '\0';
	memset(d129, '~', sizeof(d129));
	d129[0] = '"';
	d129[130] = '"';
	d129[131] = '\0';
	check_field(v, "device_id", d128, NULL, NULL);
	check_field(v, "device_id", d129, "too_long", "device_id");
	check_field(v, "device_id", "\" \"", NULL, NULL);
	check_field(v, "device_id", "\"\"", "invalid_value", "device_id");
	check_field(v, "device_id", "\"a\\u0001b\"", "invalid_value", "device_id");
	check_field(v, "device_id", "\"a\\u007fb\"", "invalid_value", "device_id");
	check_field(v, "device_id", "\"caf\xc3\xa9\"", "invalid_value", "device_id");
	txp_validator_free(v);
}
END_TEST

START_TEST(missing_line_is_an_internal_error)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	struct txp_txn *t = txp_txn_new();

	ck_assert_int_eq(txp_validate(v, t), -EINVAL);
	ck_assert_int_eq(t->status, TXP_STATUS_ERROR);
	ck_assert_str_eq(t->error.code, "internal_error");
	txp_txn_free(t);
	txp_validator_free(v);
}
END_TEST

/* The line framed by the loop lives in the transaction's own allocation
 * (txp_txn_new_line): validation wipes it and forgets it without freeing
 * it, and the transaction's free returns it.  Under ASan a free of the
 * line itself would be reported as a free of memory malloc never gave. */
START_TEST(a_line_in_the_transaction_is_wiped_then_freed_with_it)
{
	struct txp_validator *v = make_validator(1000000, TXP_UNKNOWN_IGNORE);
	char *l = line_with("card_number", "\"" PAN "\"", NULL);
	size_t len = strlen(l);
	struct txp_txn *t = txp_txn_new_line(l, len);
	const unsigned char *kept;

	ck_assert_ptr_nonnull(t);
	ck_assert(t->line_in_txn);
	ck_assert_uint_eq(t->line_len, len);
	ck_assert_str_eq(t->line, l);
	kept = (const unsigned char *)t->line;
	ck_assert_int_eq(txp_validate(v, t), 0);
	ck_assert(t->has_card);
	ck_assert_ptr_null(t->line);
	ck_assert_uint_eq(t->line_len, 0);
	ck_assert(!t->line_in_txn);
	/* Still t's memory: every byte of the line, the card number's too, is zero. */
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(kept[i] == 0, "byte %zu of the line was not wiped", i);
	txp_txn_free(t);
	free(l);
	txp_validator_free(v);
}
END_TEST

static Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, minimal_valid_line_fills_every_required_field);
	tcase_add_test(tc, full_valid_line_fills_every_optional_field);
	tcase_add_test(tc, shard_is_a_stable_hash_of_customer_id);
	tcase_add_test(tc, each_missing_required_field_is_named);
	tcase_add_test(tc, party_names_are_kept_for_screening_and_bad_ones_refused_unquoted);
	tcase_add_test(tc, wrong_json_types_are_invalid_type_for_every_field);
	tcase_add_test(tc, identifiers_accept_64_characters_and_refuse_65);
	tcase_add_test(tc, transaction_id_is_kept_when_another_field_fails);
	tcase_add_test(tc, amount_accepts_the_exact_maximum_and_refuses_one_minor_unit_more);
	tcase_add_test(tc, with_rates_the_maximum_is_in_us_dollars_for_every_currency_that_has_one);
	tcase_add_test(tc, amount_fraction_digits_follow_the_currency_exponent);
	tcase_add_test(tc, amount_json_reals_give_exact_minor_units_or_ask_for_a_string);
	tcase_add_test(tc, amount_must_be_positive_and_representable);
	tcase_add_test(tc, amount_strings_follow_the_strict_grammar_and_length_bound);
	tcase_add_test(tc, currency_must_be_an_active_payable_iso_4217_code);
	tcase_add_test(tc, countries_must_be_assigned_iso_3166_alpha_2_codes);
	tcase_add_test(tc, rfc3339_timestamps_convert_to_unix_milliseconds);
	tcase_add_test(tc, impossible_or_malformed_timestamps_are_refused);
	tcase_add_test(tc, timestamp_field_is_checked_and_optional);
	tcase_add_test(tc, card_number_yields_bin_last4_and_keyed_token);
	tcase_add_test(tc, card_number_length_grouping_and_luhn_are_enforced);
	tcase_add_test(tc, rejected_card_numbers_leave_no_trace_in_the_transaction_or_reply);
	tcase_add_test(tc, card_number_value_is_wiped_before_jansson_frees_it);
	tcase_add_test(tc, global_init_installs_a_working_wiping_allocator);
	tcase_add_test(tc, pci_sensitive_fields_are_forbidden_in_any_case_and_still_carry_the_id);
	tcase_add_test(tc, card_like_transaction_ids_become_distinct_stable_tokens);
	tcase_add_test(tc, unknown_fields_are_ignored_or_rejected_per_config);
	tcase_add_test(tc, non_json_and_non_object_lines_are_malformed_json_errors);
	tcase_add_test(tc, duplicate_keys_are_rejected_naming_the_field);
	tcase_add_test(tc, nul_escapes_inside_strings_are_rejected);
	tcase_add_test(tc, deep_nesting_is_parsed_to_jansson_limit_then_refused);
	tcase_add_test(tc, merchant_category_is_exactly_four_digits);
	tcase_add_test(tc, channel_and_kyc_accept_exactly_their_documented_values);
	tcase_add_test(tc, ip_address_accepts_ipv4_and_ipv6_in_canonical_form);
	tcase_add_test(tc, device_id_is_1_to_128_printable_ascii);
	tcase_add_test(tc, missing_line_is_an_internal_error);
	tcase_add_test(tc, a_line_in_the_transaction_is_wiped_then_freed_with_it);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(validate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
