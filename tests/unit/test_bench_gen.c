/* test_bench_gen.c: txpbench's generator: valid lines are valid, invalid ones are not, runs repeat, profiles hold. */
#include "gen.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct txpb_gen_params params(uint64_t seed, uint32_t n)
{
	struct txpb_gen_params p = { .seed = seed,
		                     .customers = 500,
		                     .merchants = 50,
		                     .pool_size = n,
		                     .prefix = "run.7",
		                     .profile = TXPB_PROFILE_SMALL };
	char err[128];
	ck_assert_int_eq(txpb_mix_parse("good=90,risky=8,invalid=2", &p.mix, err, sizeof(err)), 0);
	return p;
}

/* The line for template i with its placeholders stamped, as the sender
 * would write it (without the '\n'); caller frees. */
static char *stamp(const struct txpb_pool *pool, uint32_t i, uint64_t seq)
{
	const struct txpb_template *t = &pool->t[i];
	char *s = malloc(t->len + 1);
	memcpy(s, pool->text + t->off, t->len);
	ck_assert_int_eq(s[t->len - 1], '\n');
	s[t->len - 1] = '\0';
	if (t->id_off >= 0)
		txpb_put_seq(s + t->id_off + pool->id_len - TXPB_SEQ_DIGITS, seq);
	if (t->ts_off >= 0)
		txpb_put_timestamp(s + t->ts_off, 1764201600123);
	return s;
}

/* ISO 4217 minor units of the currencies the profiles use. */
static int currency_exponent(const char *c)
{
	static const char *const two[] = { "USD", "GBP", "EUR", "CAD", "AUD", "CHF", "SEK", "PLN", "MXN", "NOK",
		                           "DKK", "SGD", "HKD", "BRL", "INR", "NZD", "CZK", "HUF", "ZAR" };
	for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
		if (strcmp(c, two[i]) == 0)
			return 2;
	if (strcmp(c, "KWD") == 0)
		return 3;
	return strcmp(c, "JPY") == 0 || strcmp(c, "KRW") == 0 ? 0 : -1;
}

static bool is_upper(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return false;
	return true;
}

static bool str_field_ok(json_t *o, const char *key, bool (*ok)(const char *))
{
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		return true; /* optional fields are checked only when present */
	return json_is_string(v) && ok(json_string_value(v));
}

static bool id_ok(const char *s)
{
	return txpb_id_ok(s, strlen(s));
}

static bool country_ok(const char *s)
{
	return is_upper(s, 2);
}

static bool pan_ok(const char *s)
{
	size_t n = strlen(s);
	bool test_bin = strncmp(s, "411111", 6) == 0 || strncmp(s, "555555", 6) == 0 || strncmp(s, "378282", 6) == 0;
	return n >= 15 && n <= 16 && test_bin && txpb_luhn_ok(s, n);
}

static bool mcc_ok(const char *s)
{
	return strlen(s) == 4 && strspn(s, "0123456789") == 4;
}

static bool channel_ok(const char *s)
{
	return strcmp(s, "online") == 0 || strcmp(s, "pos") == 0 || strcmp(s, "atm") == 0 || strcmp(s, "mobile") == 0 ||
	       strcmp(s, "moto") == 0;
}

static bool kyc_ok(const char *s)
{
	return strcmp(s, "verified") == 0 || strcmp(s, "pending") == 0 || strcmp(s, "unverified") == 0 ||
	       strcmp(s, "failed") == 0;
}

static bool ts_ok(const char *s)
{
	return strcmp(s, "2025-11-27T00:00:00.123Z") == 0;
}

/* The text of the (only) amount member, without quotes. */
static void amount_text(const char *line, char *out, size_t outlen)
{
	const char *p = strstr(line, "\"amount\":");
	size_t n = 0;
	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("\"amount\":");
	if (*p == '"')
		p++;
	while (p[n] != '\0' && p[n] != '"' && p[n] != ',' && p[n] != '}' && n + 1 < outlen)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The protocol's rules, restated independently of the generator. */
static bool line_valid(const char *line)
{
	json_error_t e;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &e);
	bool ok = false;
	if (o == NULL || !json_is_object(o))
		goto out;
	json_t *id = json_object_get(o, "transaction_id"), *cur = json_object_get(o, "currency");
	json_t *amt = json_object_get(o, "amount");
	if (!json_is_string(id) || !id_ok(json_string_value(id)) || !json_is_string(cur) || amt == NULL)
		goto out;
	int exp = currency_exponent(json_string_value(cur));
	if (exp < 0)
		goto out;
	/* The amount is checked on its text, as the daemon must not go through
	 * a double (jansson would hand back one for a JSON number). */
	char num[64];
	if (!json_is_string(amt) && !json_is_number(amt))
		goto out;
	amount_text(line, num, sizeof(num));
	const char *dot = strchr(num, '.');
	if (num[0] == '\0' || strspn(num, "0123456789.") != strlen(num) || (dot != NULL && (int)strlen(dot + 1) > exp))
		goto out;
	const char *req_ids[] = { "merchant_id", "customer_id" };
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(o, req_ids[i]);
		if (!json_is_string(v) || !id_ok(json_string_value(v)))
			goto out;
	}
	const char *req_ctry[] = { "merchant_country", "customer_country" };
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(o, req_ctry[i]);
		if (!json_is_string(v) || !country_ok(json_string_value(v)))
			goto out;
	}
	ok = str_field_ok(o, "card_number", pan_ok) && str_field_ok(o, "merchant_category", mcc_ok) &&
	     str_field_ok(o, "channel", channel_ok) && str_field_ok(o, "customer_kyc_status", kyc_ok) &&
	     str_field_ok(o, "timestamp", ts_ok) && str_field_ok(o, "device_id", id_ok);
out:
	json_decref(o);
	return ok;
}

START_TEST(luhn_accepts_published_test_cards_and_rejects_altered_ones)
{
	ck_assert(txpb_luhn_ok("4111111111111111", 16));
	ck_assert(txpb_luhn_ok("5555555555554444", 16));
	ck_assert(txpb_luhn_ok("378282246310005", 15));
	ck_assert(!txpb_luhn_ok("4111111111111112", 16));
	ck_assert(!txpb_luhn_ok("41111111111111a1", 16));
	ck_assert(!txpb_luhn_ok("", 0));
}
END_TEST

START_TEST(mix_parses_weights_and_refuses_bad_specs)
{
	struct txpb_mix m;
	char err[128];
	ck_assert_int_eq(txpb_mix_parse("invalid=3,good=7", &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.weight[TXPB_GOOD], 7);
	ck_assert_uint_eq(m.weight[TXPB_RISKY], 0);
	ck_assert_uint_eq(m.weight[TXPB_INVALID], 3);
	ck_assert_int_lt(txpb_mix_parse("good=0", &m, err, sizeof(err)), 0);
	ck_assert_int_lt(txpb_mix_parse("great=1", &m, err, sizeof(err)), 0);
	ck_assert_int_lt(txpb_mix_parse("good=x", &m, err, sizeof(err)), 0);
	ck_assert_int_lt(txpb_mix_parse("good=5,", &m, err, sizeof(err)), 0);
	ck_assert_int_lt(txpb_mix_parse("good", &m, err, sizeof(err)), 0);
}
END_TEST

START_TEST(timestamps_and_sequence_numbers_have_fixed_width)
{
	char ts[TXPB_TS_LEN + 1] = { 0 }, seq[TXPB_SEQ_DIGITS + 1] = { 0 };
	txpb_put_timestamp(ts, 0);
	ck_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
	txpb_put_timestamp(ts, 1700000000123);
	ck_assert_str_eq(ts, "2023-11-14T22:13:20.123Z");
	txpb_put_seq(seq, 42);
	ck_assert_str_eq(seq, "000000000042");
	txpb_put_seq(seq, UINT64_C(1234567890123));
	ck_assert_str_eq(seq, "234567890123");
}
END_TEST

START_TEST(good_and_risky_lines_are_valid_and_invalid_lines_are_not)
{
	struct txpb_gen_params p = params(7, 20000);
	struct txpb_pool pool;
	char err[128];
	ck_assert_int_eq(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(pool.n, 20000);
	ck_assert_uint_eq(pool.id_len, strlen("run.7-") + TXPB_SEQ_DIGITS);
	for (uint32_t i = 0; i < pool.n; i++) {
		char *line = stamp(&pool, i, 1000 + i);
		bool valid = line_valid(line);
		if (pool.t[i].kind == TXPB_INVALID)
			ck_assert_msg(!valid, "invalid template %u passes: %s", i, line);
		else
			ck_assert_msg(valid, "template %u (kind %d) fails: %s", i, pool.t[i].kind, line);
		if (pool.t[i].id_check == TXPB_ID_MATCH)
			ck_assert_int_ge(pool.t[i].id_off, 0);
		ck_assert_uint_le(pool.t[i].len, pool.max_len);
		free(line);
	}
	txpb_pool_free(&pool);
	txpb_pool_free(&pool);
}
END_TEST

START_TEST(the_stamped_id_is_the_prefix_and_the_sequence_number)
{
	struct txpb_gen_params p = params(3, 100);
	struct txpb_pool pool;
	char err[128];
	ck_assert_int_eq(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < pool.n; i++) {
		if (pool.t[i].kind == TXPB_INVALID)
			continue;
		char *line = stamp(&pool, i, 987654321);
		json_t *o = json_loads(line, 0, NULL);
		ck_assert_ptr_nonnull(o);
		ck_assert_str_eq(json_string_value(json_object_get(o, "transaction_id")), "run.7-000987654321");
		json_decref(o);
		free(line);
	}
	txpb_pool_free(&pool);
}
END_TEST

START_TEST(the_mix_sets_the_share_of_each_kind)
{
	struct txpb_gen_params p = params(11, 50000);
	struct txpb_pool pool;
	char err[128];
	ck_assert_int_eq(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	ck_assert_uint_ge(pool.by_kind[TXPB_GOOD], 44500);
	ck_assert_uint_le(pool.by_kind[TXPB_GOOD], 45500);
	ck_assert_uint_ge(pool.by_kind[TXPB_RISKY], 3700);
	ck_assert_uint_le(pool.by_kind[TXPB_RISKY], 4300);
	ck_assert_uint_ge(pool.by_kind[TXPB_INVALID], 850);
	ck_assert_uint_le(pool.by_kind[TXPB_INVALID], 1150);
	txpb_pool_free(&pool);
}
END_TEST

START_TEST(risky_lines_carry_the_risk_signals)
{
	struct txpb_gen_params p = params(5, 20000);
	struct txpb_pool pool;
	char err[128];
	unsigned high = 0, foreign = 0, unverified = 0, sanctioned = 0, risky = 0, good_high = 0;
	ck_assert_int_eq(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < pool.n; i++) {
		if (pool.t[i].kind == TXPB_INVALID)
			continue;
		char *line = stamp(&pool, i, i);
		json_t *o = json_loads(line, 0, NULL);
		json_t *amt = json_object_get(o, "amount");
		double a = json_is_string(amt) ? atof(json_string_value(amt)) : json_number_value(amt);
		const char *cc = json_string_value(json_object_get(o, "customer_country"));
		const char *mc = json_string_value(json_object_get(o, "merchant_country"));
		json_t *kyc = json_object_get(o, "customer_kyc_status");
		if (pool.t[i].kind == TXPB_RISKY) {
			risky++;
			high += a >= 5000;
			foreign += strcmp(cc, mc) != 0;
			unverified += kyc != NULL && strcmp(json_string_value(kyc), "verified") != 0 &&
			              strcmp(json_string_value(kyc), "pending") != 0;
			sanctioned += strcmp(cc, "KP") == 0 || strcmp(cc, "IR") == 0 || strcmp(mc, "KP") == 0 ||
			              strcmp(mc, "IR") == 0 || strcmp(cc, "SY") == 0 || strcmp(mc, "SY") == 0 ||
			              strcmp(cc, "CU") == 0 || strcmp(mc, "CU") == 0;
		} else {
			good_high += a >= 5000 && strcmp(json_string_value(json_object_get(o, "currency")), "JPY") != 0;
		}
		json_decref(o);
		free(line);
	}
	ck_assert_uint_gt(risky, 1000);
	ck_assert_uint_gt(high, risky / 10);
	ck_assert_uint_gt(foreign, risky / 10);
	ck_assert_uint_gt(unverified, risky / 10);
	ck_assert_uint_gt(sanctioned, 0);
	ck_assert_uint_eq(good_high, 0);
	txpb_pool_free(&pool);
}
END_TEST

START_TEST(the_same_seed_gives_the_same_pool_and_another_seed_another)
{
	struct txpb_gen_params p = params(99, 2000);
	struct txpb_pool a, b, c;
	char err[128];
	ck_assert_int_eq(txpb_pool_generate(&a, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(txpb_pool_generate(&b, &p, err, sizeof(err)), 0);
	p.seed = 100;
	ck_assert_int_eq(txpb_pool_generate(&c, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(a.text_len, b.text_len);
	ck_assert_int_eq(memcmp(a.text, b.text, a.text_len), 0);
	ck_assert(a.text_len != c.text_len || memcmp(a.text, c.text, a.text_len) != 0);
	txpb_pool_free(&a);
	txpb_pool_free(&b);
	txpb_pool_free(&c);
}
END_TEST

START_TEST(bad_parameters_are_refused_with_a_message)
{
	struct txpb_gen_params p = params(1, 10);
	struct txpb_pool pool;
	char err[128] = "";
	p.prefix = "has space";
	ck_assert_int_lt(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	ck_assert(err[0] != '\0');
	p.prefix = "ok";
	p.customers = 0;
	ck_assert_int_lt(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
}
END_TEST

/* The small profile is the mix txpbench sent before profiles existed: a
 * hash of its pool, taken with the generator of commit 6d4c1a8. */
START_TEST(the_small_profile_gives_the_lines_it_gave_before_profiles)
{
	struct txpb_gen_params p = params(7, 20000);
	struct txpb_pool pool;
	char err[128];
	uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a, 64 bits */
	ck_assert_int_eq(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	for (size_t i = 0; i < pool.text_len; i++) {
		h ^= (unsigned char)pool.text[i];
		h *= UINT64_C(1099511628211);
	}
	ck_assert_uint_eq(pool.text_len, 6511631);
	ck_assert_uint_eq(h, UINT64_C(0x5d8156df6f4404e3));
	txpb_pool_free(&pool);
}
END_TEST

static struct txpb_gen_params retail_params(uint64_t seed)
{
	struct txpb_profile_defaults d;
	char err[128];
	txpb_profile_defaults(TXPB_PROFILE_RETAIL, &d);
	struct txpb_gen_params p = { .seed = seed,
		                     .customers = d.customers,
		                     .merchants = d.merchants,
		                     .prefix = "rt.1",
		                     .profile = TXPB_PROFILE_RETAIL };
	ck_assert_int_eq(txpb_mix_parse(d.mix, &p.mix, err, sizeof(err)), 0);
	return p;
}

/* The stream's next line, stamped as the sender would (no '\n'); caller frees. */
static char *next_stamped(struct txpb_gen *g, uint64_t seq, struct txpb_template *t)
{
	char buf[TXPB_LINE_MAX];
	uint32_t len = txpb_gen_next(g, buf, t);
	ck_assert_uint_eq(len, t->len);
	ck_assert_uint_le(len, TXPB_LINE_MAX);
	ck_assert_int_eq(buf[len - 1], '\n');
	char *s = malloc(len);
	memcpy(s, buf, len - 1);
	s[len - 1] = '\0';
	if (t->id_off >= 0)
		txpb_put_seq(s + t->id_off + strlen("rt.1-"), seq);
	if (t->ts_off >= 0)
		txpb_put_timestamp(s + t->ts_off, 1764201600123);
	return s;
}

START_TEST(retail_lines_pass_the_protocol_checks_and_invalid_ones_fail)
{
	struct txpb_gen_params p = retail_params(7);
	struct txpb_gen *g;
	char err[128];
	ck_assert_int_eq(txpb_gen_create(&g, &p, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 100000; i++) {
		struct txpb_template t;
		char *line = next_stamped(g, i, &t);
		bool valid = line_valid(line);
		if (t.kind == TXPB_INVALID)
			ck_assert_msg(!valid, "invalid line %u passes: %s", i, line);
		else
			ck_assert_msg(valid, "line %u (kind %d) fails: %s", i, t.kind, line);
		if (t.id_check == TXPB_ID_MATCH)
			ck_assert_int_ge(t.id_off, 0);
		free(line);
	}
	txpb_gen_free(g);
}
END_TEST

static long long major_of(const char *line)
{
	char num[64];
	amount_text(line, num, sizeof(num));
	return strtoll(num, NULL, 10);
}

START_TEST(retail_has_millions_of_customers_many_currencies_and_few_alerts)
{
	static const char *const currencies[] = { "USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK",
		                                  "PLN", "MXN", "NOK", "DKK", "SGD", "HKD", "BRL", "INR",
		                                  "NZD", "KRW", "CZK", "HUF", "ZAR", "KWD" };
	enum { N = 200000, NCUR = sizeof(currencies) / sizeof(currencies[0]) };
	struct txpb_gen_params p = retail_params(11);
	struct txpb_gen *g;
	char err[128];
	uint8_t *seen = calloc(p.customers / 8 + 1, 1);
	uint32_t *merchant_lines = calloc(p.merchants, sizeof(uint32_t));
	unsigned by_cur[NCUR] = { 0 }, kinds[TXPB_KIND_COUNT] = { 0 };
	unsigned distinct = 0, valid = 0, good = 0, abroad = 0, top = 0, merchants = 0;

	ck_assert_int_eq(txpb_gen_create(&g, &p, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < N; i++) {
		struct txpb_template t;
		char *line = next_stamped(g, i, &t);
		kinds[t.kind]++;
		if (t.kind != TXPB_INVALID) {
			json_t *o = json_loads(line, 0, NULL);
			const char *cust = json_string_value(json_object_get(o, "customer_id"));
			const char *merch = json_string_value(json_object_get(o, "merchant_id"));
			const char *cur = json_string_value(json_object_get(o, "currency"));
			const char *mc = json_string_value(json_object_get(o, "merchant_country"));
			const char *cc = json_string_value(json_object_get(o, "customer_country"));
			unsigned long c = strtoul(cust + strlen("cust-"), NULL, 10);
			unsigned long m = strtoul(merch + strlen("merch-"), NULL, 10);
			long long major = major_of(line);
			ck_assert_uint_lt(c, p.customers);
			ck_assert_uint_lt(m, p.merchants);
			if (!(seen[c / 8] & (1u << (c % 8)))) {
				seen[c / 8] |= (uint8_t)(1u << (c % 8));
				distinct++;
			}
			merchant_lines[m]++;
			for (unsigned k = 0; k < NCUR; k++)
				by_cur[k] += strcmp(cur, currencies[k]) == 0;
			valid++;
			/* Under txpiped's default max_amount in its own units too (10^6, as
			 * it is for a currency without a USD rate). */
			ck_assert_int_lt(major, 1000000);
			if (t.kind == TXPB_GOOD) {
				good++;
				abroad += strcmp(mc, cc) != 0;
				/* Everyday amounts, 1-300 dollars' worth in the local currency. */
				if (strcmp(cur, "USD") == 0)
					ck_assert_int_le(major, 300);
				if (strcmp(cur, "JPY") == 0)
					ck_assert_msg(major >= 100 && major <= 50000, "%s", line);
				if (strcmp(cur, "KRW") == 0)
					ck_assert_msg(major >= 1000 && major <= 500000, "%s", line);
			}
			json_decref(o);
		}
		free(line);
	}
	for (uint32_t m = 0; m < p.merchants; m++) {
		merchants += merchant_lines[m] > 0;
		top = merchant_lines[m] > top ? merchant_lines[m] : top;
	}
	/* The mix: 96.5% good, 3% risky, 0.5% invalid. */
	ck_assert_uint_ge(kinds[TXPB_INVALID], 700);
	ck_assert_uint_le(kinds[TXPB_INVALID], 1300);
	ck_assert_uint_ge(kinds[TXPB_RISKY], 5400);
	ck_assert_uint_le(kinds[TXPB_RISKY], 6600);
	/* Drawn from millions, nearly every customer is new. */
	ck_assert_uint_ge(p.customers, 1000000);
	ck_assert_uint_ge(distinct, 185000);
	/* Every currency present, the big ones in their shares. */
	for (unsigned k = 0; k < NCUR; k++)
		ck_assert_msg(by_cur[k] > 0, "no %s", currencies[k]);
	ck_assert_uint_ge(by_cur[0], valid * 40 / 100); /* USD */
	ck_assert_uint_le(by_cur[0], valid * 50 / 100);
	ck_assert_uint_ge(by_cur[1], valid * 18 / 100); /* EUR */
	ck_assert_uint_le(by_cur[1], valid * 26 / 100);
	ck_assert_uint_ge(by_cur[2], valid * 7 / 100); /* GBP */
	ck_assert_uint_le(by_cur[2], valid * 11 / 100);
	/* A few percent of good purchases abroad. */
	ck_assert_uint_ge(abroad, good * 2 / 100);
	ck_assert_uint_le(abroad, good * 45 / 1000);
	/* Popularity skewed: one merchant takes over 1% of all lines, and the
	 * long tail is still there. */
	ck_assert_uint_gt(top, valid / 100);
	ck_assert_uint_gt(merchants, 10000);
	txpb_gen_free(g);
	free(merchant_lines);
	free(seen);
}
END_TEST

/* With few customers each is seen often, so every card shows up. */
START_TEST(retail_customers_own_their_cards_and_a_few_have_two)
{
	struct txpb_gen_params p = retail_params(5);
	struct txpb_gen *g;
	char err[128];
	json_t *owner = json_object(), *first = json_object();
	unsigned two = 0, customers = 0;

	p.customers = 2000;
	ck_assert_int_eq(txpb_gen_create(&g, &p, err, sizeof(err)), 0);
	json_t *second = json_object();
	for (uint32_t i = 0; i < 100000; i++) {
		struct txpb_template t;
		char *line = next_stamped(g, i, &t);
		json_t *o = t.kind != TXPB_INVALID ? json_loads(line, 0, NULL) : NULL;
		json_t *pan = json_object_get(o, "card_number");
		if (pan != NULL) {
			const char *cust = json_string_value(json_object_get(o, "customer_id"));
			const char *num = json_string_value(pan);
			json_t *who = json_object_get(owner, num);
			/* A card belongs to one customer. */
			if (who != NULL)
				ck_assert_str_eq(json_string_value(who), cust);
			else
				json_object_set_new(owner, num, json_string(cust));
			json_t *f = json_object_get(first, cust);
			if (f == NULL) {
				json_object_set_new(first, cust, json_string(num));
				customers++;
			} else if (strcmp(json_string_value(f), num) != 0) {
				json_t *s2 = json_object_get(second, cust);
				if (s2 == NULL) {
					json_object_set_new(second, cust, json_string(num));
					two++;
				} else {
					/* Never a third card. */
					ck_assert_str_eq(json_string_value(s2), num);
				}
			}
		}
		json_decref(o);
		free(line);
	}
	ck_assert_uint_eq(customers, 2000);
	/* About 8% of customers hold two cards. */
	ck_assert_uint_ge(two, customers * 5 / 100);
	ck_assert_uint_le(two, customers * 11 / 100);
	struct txpb_population pop;
	txpb_gen_population(g, &pop);
	ck_assert_uint_eq(pop.cards, customers + two);
	json_decref(owner);
	json_decref(first);
	json_decref(second);
	txpb_gen_free(g);
}
END_TEST

START_TEST(the_retail_stream_repeats_for_a_seed_and_a_pool_is_its_first_lines)
{
	struct txpb_gen_params p = retail_params(99);
	struct txpb_gen *a, *b, *c;
	struct txpb_pool pool;
	char err[128], la[TXPB_LINE_MAX], lb[TXPB_LINE_MAX], lc[TXPB_LINE_MAX];
	unsigned differ = 0;

	ck_assert_int_eq(txpb_gen_create(&a, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(txpb_gen_create(&b, &p, err, sizeof(err)), 0);
	p.pool_size = 5000;
	ck_assert_int_eq(txpb_pool_generate(&pool, &p, err, sizeof(err)), 0);
	p.seed = 100;
	ck_assert_int_eq(txpb_gen_create(&c, &p, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 20000; i++) {
		struct txpb_template ta, tb, tc;
		uint32_t na = txpb_gen_next(a, la, &ta), nb = txpb_gen_next(b, lb, &tb), nc = txpb_gen_next(c, lc, &tc);
		ck_assert_uint_eq(na, nb);
		ck_assert_int_eq(memcmp(la, lb, na), 0);
		ck_assert_int_eq(memcmp(&ta, &tb, sizeof(ta)), 0);
		differ += na != nc || memcmp(la, lc, na) != 0;
		if (i < pool.n) {
			ck_assert_uint_eq(pool.t[i].len, na);
			ck_assert_int_eq(memcmp(pool.text + pool.t[i].off, la, na), 0);
			ck_assert_int_eq(pool.t[i].id_off, ta.id_off);
			ck_assert_int_eq(pool.t[i].ts_off, ta.ts_off);
		}
	}
	ck_assert_uint_gt(differ, 19000);
	txpb_gen_free(a);
	txpb_gen_free(b);
	txpb_gen_free(c);
	txpb_pool_free(&pool);
}
END_TEST

START_TEST(profiles_parse_and_describe_their_population)
{
	enum txpb_profile prof;
	struct txpb_profile_defaults d;
	struct txpb_population pop;
	struct txpb_gen *g;
	char err[128];

	ck_assert_int_eq(txpb_profile_parse("retail", &prof), 0);
	ck_assert_int_eq(prof, TXPB_PROFILE_RETAIL);
	ck_assert_int_eq(txpb_profile_parse("small", &prof), 0);
	ck_assert_int_eq(prof, TXPB_PROFILE_SMALL);
	ck_assert_int_lt(txpb_profile_parse("huge", &prof), 0);
	ck_assert_str_eq(txpb_profile_name(TXPB_PROFILE_RETAIL), "retail");
	txpb_profile_defaults(TXPB_PROFILE_SMALL, &d);
	ck_assert_uint_eq(d.customers, 10000);
	ck_assert_uint_eq(d.merchants, 1000);
	ck_assert_str_eq(d.mix, "good=90,risky=8,invalid=2");
	ck_assert(!d.on_the_fly);
	txpb_profile_defaults(TXPB_PROFILE_RETAIL, &d);
	ck_assert(d.on_the_fly);

	struct txpb_gen_params p = retail_params(1);
	ck_assert_int_eq(txpb_gen_create(&g, &p, err, sizeof(err)), 0);
	txpb_gen_population(g, &pop);
	ck_assert_str_eq(pop.profile, "retail");
	ck_assert_uint_eq(pop.customers, 5000000);
	ck_assert_uint_gt(pop.cards, pop.customers);
	ck_assert_uint_lt(pop.cards, pop.customers * 12 / 10);
	ck_assert_uint_eq(pop.merchants, 50000);
	ck_assert(pop.merchants_zipf);
	ck_assert_uint_eq(pop.currencies, 22);
	ck_assert_int_eq(strncmp(pop.currency_list, "USD,EUR,GBP", 11), 0);
	txpb_gen_free(g);
	/* Retail card numbers hold the customer's number in 8 digits. */
	p.customers = 100000001;
	ck_assert_int_lt(txpb_gen_create(&g, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_gen");
	TCase *tc = tcase_create("gen");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, luhn_accepts_published_test_cards_and_rejects_altered_ones);
	tcase_add_test(tc, mix_parses_weights_and_refuses_bad_specs);
	tcase_add_test(tc, timestamps_and_sequence_numbers_have_fixed_width);
	tcase_add_test(tc, good_and_risky_lines_are_valid_and_invalid_lines_are_not);
	tcase_add_test(tc, the_stamped_id_is_the_prefix_and_the_sequence_number);
	tcase_add_test(tc, the_mix_sets_the_share_of_each_kind);
	tcase_add_test(tc, risky_lines_carry_the_risk_signals);
	tcase_add_test(tc, the_same_seed_gives_the_same_pool_and_another_seed_another);
	tcase_add_test(tc, bad_parameters_are_refused_with_a_message);
	tcase_add_test(tc, the_small_profile_gives_the_lines_it_gave_before_profiles);
	tcase_add_test(tc, retail_lines_pass_the_protocol_checks_and_invalid_ones_fail);
	tcase_add_test(tc, retail_has_millions_of_customers_many_currencies_and_few_alerts);
	tcase_add_test(tc, retail_customers_own_their_cards_and_a_few_have_two);
	tcase_add_test(tc, the_retail_stream_repeats_for_a_seed_and_a_pool_is_its_first_lines);
	tcase_add_test(tc, profiles_parse_and_describe_their_population);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
