/* test_money.c: exact parsing of amounts into minor units, from decimal strings and JSON number text, and formatting. */
#include "txpipe/money.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, unsigned exp, int64_t *out)
{
	return txp_money_parse(s, strlen(s), exp, out);
}

static int64_t parse_ok(const char *s, unsigned exp)
{
	int64_t v = -12345;
	int rc = parse(s, exp, &v);
	ck_assert_msg(rc == 0, "\"%s\" exp %u: rc %d", s, exp, rc);
	return v;
}

START_TEST(decimal_strings_become_exact_minor_units)
{
	ck_assert_int_eq(parse_ok("12.34", 2), 1234);
	ck_assert_int_eq(parse_ok("1000", 2), 100000);
	ck_assert_int_eq(parse_ok("0.5", 2), 50);
	ck_assert_int_eq(parse_ok("0.05", 2), 5);
	ck_assert_int_eq(parse_ok("0", 2), 0);
	ck_assert_int_eq(parse_ok("0.50", 2), 50);
	ck_assert_int_eq(parse_ok("19.99", 2), 1999);
	ck_assert_int_eq(parse_ok("1500", 0), 1500);
	ck_assert_int_eq(parse_ok("1.234", 3), 1234);
	ck_assert_int_eq(parse_ok("0.001", 3), 1);
	ck_assert_int_eq(parse_ok("0.0001", 4), 1);
	ck_assert_int_eq(parse_ok("7", 4), 70000);
}
END_TEST

START_TEST(trailing_zero_fraction_digits_beyond_the_exponent_are_exact_and_accepted)
{
	ck_assert_int_eq(parse_ok("1500.00", 0), 1500);
	ck_assert_int_eq(parse_ok("12.3400", 2), 1234);
	ck_assert_int_eq(parse_ok("1.0000000000000000000000000000", 2), 100);
}
END_TEST

START_TEST(fraction_digits_beyond_the_exponent_are_a_precision_error)
{
	int64_t v = 77;

	ck_assert_int_eq(parse("12.345", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(parse("1500.5", 0, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(parse("1.2345", 3, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(parse("0.00001", 4, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(parse("12.3401", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(v, 77); /* untouched on failure */
}
END_TEST

START_TEST(strict_grammar_refuses_signs_exponents_spaces_empty_parts_and_leading_zeros)
{
	static const char *const bad[] = { "",     ".",     "1.",  ".5",  "007",          "00.5", "01",   "+1",
		                           "-1",   "1e3",   "1E3", " 1",  "1 ",           "1,00", "1..2", "1.2.3",
		                           "0x10", "1_000", "Inf", "NaN", "\xef\xbc\x91", "--1",  "1.-2", "1.+2" };
	int64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], 2, &v) == TXP_MONEY_ESYNTAX, "\"%s\" accepted", bad[i]);
	/* An embedded NUL is a byte like any other: not a digit. */
	ck_assert_int_eq(txp_money_parse("12\0", 3, 2, &v), TXP_MONEY_ESYNTAX);
	ck_assert_int_eq(txp_money_parse("12.5", 2, 2, &v), 0); /* only `len` bytes read */
	ck_assert_int_eq(v, 1200);
}
END_TEST

START_TEST(int64_overflow_is_detected_at_the_exact_boundary)
{
	int64_t v;

	ck_assert_int_eq(parse_ok("9223372036854775807", 0), INT64_MAX);
	ck_assert_int_eq(parse("9223372036854775808", 0, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(parse_ok("92233720368547758.07", 2), INT64_MAX);
	ck_assert_int_eq(parse("92233720368547758.08", 2, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(parse("922337203685477.5808", 4, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(parse("99999999999999999999999999", 0, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(parse("1", 5, &v), TXP_MONEY_ERANGE); /* no such exponent */
}
END_TEST

static int num(const char *s, unsigned exp, int64_t *out)
{
	return txp_money_parse_number(s, strlen(s), exp, out);
}

static int64_t num_ok(const char *s, unsigned exp)
{
	int64_t v = -12345;
	int rc = num(s, exp, &v);
	ck_assert_msg(rc == 0, "%s exp %u: rc %d", s, exp, rc);
	return v;
}

START_TEST(json_numbers_give_the_exact_decimal_they_spell)
{
	ck_assert_int_eq(num_ok("5", 2), 500);
	ck_assert_int_eq(num_ok("0.3", 2), 30);
	ck_assert_int_eq(num_ok("19.99", 2), 1999); /* as a double, 19.99 * 100 = 1998.9999999999998 */
	ck_assert_int_eq(num_ok("4.35", 2), 435);
	ck_assert_int_eq(num_ok("1.005", 3), 1005);
	ck_assert_int_eq(num_ok("0.07", 2), 7);
	ck_assert_int_eq(num_ok("1500.00", 0), 1500);
	ck_assert_int_eq(num_ok("0.0001", 4), 1);
	/* Beyond a double's 15-17 digits, still exact. */
	ck_assert_int_eq(num_ok("123456789012345.67", 2), 12345678901234567);
	ck_assert_int_eq(num_ok("9007199254740993", 0), 9007199254740993);
	ck_assert_int_eq(num_ok("9223372036854775807", 0), INT64_MAX);
	ck_assert_int_eq(num_ok("92233720368547758.07", 2), INT64_MAX);
}
END_TEST

START_TEST(json_number_exponents_shift_the_digits_exactly)
{
	int64_t v;

	ck_assert_int_eq(num_ok("1.2e2", 2), 12000);
	ck_assert_int_eq(num_ok("1E+2", 2), 10000);
	ck_assert_int_eq(num_ok("1e0", 0), 1);
	ck_assert_int_eq(num_ok("125e-2", 2), 125);
	ck_assert_int_eq(num_ok("12500E-4", 2), 125);
	ck_assert_int_eq(num_ok("1.5e-3", 4), 15);
	ck_assert_int_eq(num_ok("2.5e16", 0), 25000000000000000);
	ck_assert_int_eq(num_ok("0e99999999999999999999", 2), 0);
	ck_assert_int_eq(num("1.5e-5", 4, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("1e-7", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("1e-400", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("1e-99999999999999999999", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("1e19", 0, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(num("1e300", 2, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(num("1e99999999999999999999", 2, &v), TXP_MONEY_ERANGE);
}
END_TEST

START_TEST(json_numbers_below_the_minor_unit_are_a_precision_error_not_rounded)
{
	int64_t v = 77;

	ck_assert_int_eq(num("0.30000000000000004", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("12.345", 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("1.23456", 4, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(num("0.000000000000000000001", 4, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(v, 77);
	ck_assert_int_eq(num_ok("12.340000000000000000000", 2), 1234);
}
END_TEST

START_TEST(negative_and_zero_json_numbers_keep_their_sign_for_the_range_check)
{
	int64_t v;

	ck_assert_int_eq(num_ok("-5.5", 2), -550);
	ck_assert_int_eq(num_ok("-5", 3), -5000);
	ck_assert_int_eq(num_ok("0", 2), 0);
	ck_assert_int_eq(num_ok("-0", 2), 0);
	ck_assert_int_eq(num_ok("-0.0e5", 2), 0);
	/* The magnitude must fit: INT64_MIN itself is refused. */
	ck_assert_int_eq(num_ok("-9223372036854775807", 0), -INT64_MAX);
	ck_assert_int_eq(num("-9223372036854775808", 0, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(num("92233720368547758.08", 2, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(num("1", 5, &v), TXP_MONEY_ERANGE); /* no such exponent */
}
END_TEST

START_TEST(json_number_grammar_is_rfc_8259_exactly)
{
	static const char *const bad[] = { "",    "-",     "+1",  "01",    "-01",   "00",    "1.",          ".5", "-.5",
		                           "1e",  "1e+",   "1E-", "1.e5",  "e5",    "0x1",   "1 ",          " 1", "Inf",
		                           "NaN", "1E5.5", "--1", "1.2.3", "1e5e5", "1_000", "\xef\xbc\x91" };
	int64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(num(bad[i], 2, &v) == TXP_MONEY_ESYNTAX, "\"%s\" accepted", bad[i]);
	ck_assert_int_eq(txp_money_parse_number("12.5x", 4, 2, &v), 0); /* only `len` bytes read */
	ck_assert_int_eq(v, 1250);
}
END_TEST

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
	/* xorshift64: deterministic, so failures reproduce. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

START_TEST(json_numbers_agree_with_the_decimal_parser_in_every_spelling)
{
	static const int64_t p10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000 };
	char dec[48], sci[64];

	/* k / 10^s written plainly and as m e x for several exponents x: the
	 * decimal parser is the reference. */
	for (int i = 0; i < 200000; i++) {
		int64_t k = (int64_t)(rng() % 1000000000u), ref, got;
		int s = (int)(rng() % 9), x = (int)(rng() % 7) - 3, rrc, rc;
		unsigned exp = (unsigned)(rng() % (TXP_MONEY_MAX_EXPONENT + 1));

		snprintf(dec, sizeof(dec), "%lld.%0*lld", (long long)(k / p10[s]), s ? s : 1, (long long)(k % p10[s]));
		rrc = txp_money_parse(dec, strlen(dec), exp, &ref);
		ck_assert_int_eq(num(dec, exp, &got), rrc);
		if (rrc == 0)
			ck_assert_int_eq(got, ref);
		/* The same value k * 10^-s as an integer mantissa and exponent:
		 * k e -s, or (k / 10^x) e (x - s) when 10^x divides k. */
		if (x >= 0 && k % p10[x] == 0)
			snprintf(sci, sizeof(sci), "%llde%d", (long long)(k / p10[x]), x - s);
		else
			snprintf(sci, sizeof(sci), "%lldE%d", (long long)k, -s);
		rc = num(sci, exp, &got);
		ck_assert_msg(rc == rrc, "%s vs %s exp %u: %d vs %d", sci, dec, exp, rc, rrc);
		if (rc == 0)
			ck_assert_int_eq(got, ref);
	}
}
END_TEST

START_TEST(max_minor_saturates)
{
	ck_assert_int_eq(txp_money_max_minor(1000000, 2), 100000000);
	ck_assert_int_eq(txp_money_max_minor(1000000, 0), 1000000);
	ck_assert_int_eq(txp_money_max_minor(1000000, 4), 10000000000);
	ck_assert_int_eq(txp_money_max_minor(INT64_MAX / 100, 2), INT64_MAX / 100 * 100);
	ck_assert_int_eq(txp_money_max_minor(INT64_MAX / 100 + 1, 2), INT64_MAX);
	ck_assert_int_eq(txp_money_max_minor(UINT64_MAX, 0), INT64_MAX);
}
END_TEST

static const char *fmt(int64_t minor, unsigned exp)
{
	static char buf[TXP_MONEY_FMT_MAX];
	ck_assert_int_gt(txp_money_format(minor, exp, buf, sizeof(buf)), 0);
	return buf;
}

START_TEST(format_writes_exactly_exponent_fraction_digits)
{
	char small[5];

	ck_assert_str_eq(fmt(1234, 2), "12.34");
	ck_assert_str_eq(fmt(5, 3), "0.005");
	ck_assert_str_eq(fmt(1000, 0), "1000");
	ck_assert_str_eq(fmt(0, 2), "0.00");
	ck_assert_str_eq(fmt(0, 0), "0");
	ck_assert_str_eq(fmt(1, 4), "0.0001");
	ck_assert_str_eq(fmt(-150, 2), "-1.50");
	ck_assert_str_eq(fmt(INT64_MAX, 2), "92233720368547758.07");
	ck_assert_str_eq(fmt(INT64_MIN, 2), "-92233720368547758.08");
	ck_assert_int_eq(txp_money_format(1234, 2, small, sizeof(small)), -ENOSPC);
	ck_assert_int_eq(txp_money_format(123, 2, small, sizeof(small)), 4);
	ck_assert_str_eq(small, "1.23");
	ck_assert_int_eq(txp_money_format(1, 5, small, sizeof(small)), -EINVAL);
}
END_TEST

START_TEST(format_and_parse_are_inverse)
{
	char buf[TXP_MONEY_FMT_MAX];
	int64_t v;

	for (unsigned e = 0; e <= TXP_MONEY_MAX_EXPONENT; e++) {
		for (int i = 0; i < 20000; i++) {
			int64_t m = (int64_t)(rng() >> (1 + rng() % 63));
			ck_assert_int_gt(txp_money_format(m, e, buf, sizeof(buf)), 0);
			ck_assert_int_eq(txp_money_parse(buf, strlen(buf), e, &v), 0);
			ck_assert_int_eq(v, m);
		}
	}
}
END_TEST

static Suite *money_suite(void)
{
	Suite *s = suite_create("money");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, decimal_strings_become_exact_minor_units);
	tcase_add_test(tc, trailing_zero_fraction_digits_beyond_the_exponent_are_exact_and_accepted);
	tcase_add_test(tc, fraction_digits_beyond_the_exponent_are_a_precision_error);
	tcase_add_test(tc, strict_grammar_refuses_signs_exponents_spaces_empty_parts_and_leading_zeros);
	tcase_add_test(tc, int64_overflow_is_detected_at_the_exact_boundary);
	tcase_add_test(tc, json_numbers_give_the_exact_decimal_they_spell);
	tcase_add_test(tc, json_number_exponents_shift_the_digits_exactly);
	tcase_add_test(tc, json_numbers_below_the_minor_unit_are_a_precision_error_not_rounded);
	tcase_add_test(tc, negative_and_zero_json_numbers_keep_their_sign_for_the_range_check);
	tcase_add_test(tc, json_number_grammar_is_rfc_8259_exactly);
	tcase_add_test(tc, json_numbers_agree_with_the_decimal_parser_in_every_spelling);
	tcase_add_test(tc, max_minor_saturates);
	tcase_add_test(tc, format_writes_exactly_exponent_fraction_digits);
	tcase_add_test(tc, format_and_parse_are_inverse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(money_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
