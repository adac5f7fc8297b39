/* test_money.c: exact parsing of amounts into minor units, from strings, integers and doubles, and formatting. */
#include "txpipe/money.h"

#include <check.h>
#include <errno.h>
#include <math.h>
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
	static const char *const bad[] = {"",    ".",    "1.",   ".5",   "007",  "00.5", "01",  "+1",
	                                   "-1",  "1e3",  "1E3",  " 1",   "1 ",   "1,00", "1..2", "1.2.3",
	                                   "0x10", "1_000", "Inf", "NaN",  "\xef\xbc\x91", "--1", "1.-2", "1.+2"};
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

START_TEST(json_integers_scale_with_overflow_detection)
{
	int64_t v;

	ck_assert_int_eq(txp_money_from_int(5, 2, &v), 0);
	ck_assert_int_eq(v, 500);
	ck_assert_int_eq(txp_money_from_int(5, 0, &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(txp_money_from_int(-5, 3, &v), 0);
	ck_assert_int_eq(v, -5000);
	ck_assert_int_eq(txp_money_from_int(INT64_MAX / 100, 2, &v), 0);
	ck_assert_int_eq(txp_money_from_int(INT64_MAX / 100 + 1, 2, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(txp_money_from_int(INT64_MIN / 10000 - 1, 4, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(txp_money_from_int(INT64_MAX, 0, &v), 0);
	ck_assert_int_eq(v, INT64_MAX);
}
END_TEST

static int64_t dbl_ok(double d, unsigned exp)
{
	int64_t v = -12345;
	int rc = txp_money_from_double(d, exp, &v);
	ck_assert_msg(rc == 0, "%.17g exp %u: rc %d", d, exp, rc);
	return v;
}

START_TEST(doubles_that_print_short_give_the_decimal_the_producer_wrote)
{
	ck_assert_int_eq(dbl_ok(0.3, 2), 30);
	ck_assert_int_eq(dbl_ok(19.99, 2), 1999);   /* 19.99 * 100 = 1998.9999999999998 */
	ck_assert_int_eq(dbl_ok(4.35, 2), 435);     /* 4.35 * 100 = 434.99999999999994 */
	ck_assert_int_eq(dbl_ok(1.005, 3), 1005);   /* 1.005 is 1.00499999999999989... */
	ck_assert_int_eq(dbl_ok(0.07, 2), 7);
	ck_assert_int_eq(dbl_ok(1.1, 2), 110);
	ck_assert_int_eq(dbl_ok(100.0, 0), 100);
	ck_assert_int_eq(dbl_ok(1234567.89, 2), 123456789);
	ck_assert_int_eq(dbl_ok(1234567890123.45, 2), 123456789012345); /* 15 significant digits */
	ck_assert_int_eq(dbl_ok(0.0001, 4), 1);                         /* printed "0.0001" */
}
END_TEST

START_TEST(doubles_in_exponent_notation_are_scaled_exactly)
{
	int64_t v;

	/* %g switches to 'e' notation below 1e-4 and from 1e15. */
	ck_assert_int_eq(dbl_ok(1e15, 2), 100000000000000000);
	ck_assert_int_eq(dbl_ok(2.5e16, 0), 25000000000000000);
	ck_assert_int_eq(dbl_ok(1.25e17, 0), 125000000000000000);
	ck_assert_int_eq(txp_money_from_double(1.5e-5, 4, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(txp_money_from_double(1e-7, 2, &v), TXP_MONEY_EPRECISION);
	ck_assert_int_eq(txp_money_from_double(1e19, 0, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(txp_money_from_double(1e300, 2, &v), TXP_MONEY_ERANGE);
	ck_assert_int_eq(txp_money_from_double(5e-324, 4, &v), TXP_MONEY_EPRECISION);
}
END_TEST

START_TEST(doubles_needing_more_than_15_digits_are_refused)
{
	int64_t v = 77;

	ck_assert_int_eq(txp_money_from_double(0.1 + 0.2, 2, &v), TXP_MONEY_EDIGITS);
	ck_assert_int_eq(txp_money_from_double(12345678901234.56, 2, &v), TXP_MONEY_EDIGITS);
	ck_assert_int_eq(txp_money_from_double(9007199254740993.0, 0, &v), TXP_MONEY_EDIGITS);
	ck_assert_int_eq(txp_money_from_double(1.0 / 3.0, 4, &v), TXP_MONEY_EDIGITS);
	ck_assert_int_eq(v, 77);
	ck_assert_int_eq(txp_money_from_double(NAN, 2, &v), TXP_MONEY_ESYNTAX);
	ck_assert_int_eq(txp_money_from_double(INFINITY, 2, &v), TXP_MONEY_ESYNTAX);
}
END_TEST

START_TEST(negative_and_zero_doubles_keep_their_sign_for_the_range_check)
{
	ck_assert_int_eq(dbl_ok(-5.5, 2), -550);
	ck_assert_int_eq(dbl_ok(0.0, 2), 0);
	ck_assert_int_eq(dbl_ok(-0.0, 2), 0);
}
END_TEST

START_TEST(every_cent_amount_up_to_3000_round_trips_through_a_double)
{
	char text[32];
	int64_t v;

	for (int c = 0; c <= 300000; c++) {
		snprintf(text, sizeof(text), "%d.%02d", c / 100, c % 100);
		ck_assert_int_eq(txp_money_from_double(strtod(text, NULL), 2, &v), 0);
		if (v != c)
			ck_abort_msg("%s gave %lld", text, (long long)v);
	}
}
END_TEST

/* The search the brief describes: the shortest %.{1..17}g that reads back. */
static int shortest_digits(double d, char *text, size_t size)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(text, size, "%.*g", p, d);
		if (strtod(text, NULL) == d)
			return p;
	}
	return 17;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
	/* xorshift64: deterministic, so failures reproduce. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

START_TEST(one_step_15_digit_conversion_agrees_with_the_shortest_round_trip_search)
{
	static const int64_t p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
	char text[40], dec[40];
	int64_t v;

	/* Decimals k / 10^s with k < 10^9: the result is known exactly. */
	for (int i = 0; i < 200000; i++) {
		int64_t k = (int64_t)(rng() % 1000000000u);
		int s = (int)(rng() % 9);
		int64_t want;
		int want_rc = 0;
		double d;

		snprintf(dec, sizeof(dec), "%lld.%0*lld", (long long)(k / p10[s]), s ? s : 1,
		         (long long)(k % p10[s]));
		d = strtod(dec, NULL);
		if (s <= 4)
			want = k * p10[4 - s];
		else if (k % p10[s - 4] == 0)
			want = k / p10[s - 4];
		else
			want_rc = TXP_MONEY_EPRECISION, want = 0;
		ck_assert_int_le(shortest_digits(d, text, sizeof(text)), 15);
		ck_assert_int_eq(txp_money_from_double(d, 4, &v), want_rc);
		if (want_rc == 0 && v != want)
			ck_abort_msg("%s gave %lld, want %lld", dec, (long long)v, (long long)want);
	}
	/* Arbitrary doubles below 10^6: most need 16-17 digits. */
	for (int i = 0; i < 200000; i++) {
		double d = (double)(rng() >> 11) / 9007199254740992.0 * 1e6;
		int p = shortest_digits(d, text, sizeof(text));
		int rc = txp_money_from_double(d, 4, &v);
		if (p > 15) {
			ck_assert_msg(rc == TXP_MONEY_EDIGITS, "%s (%d digits) rc %d", text, p, rc);
		} else if (strchr(text, 'e') == NULL) {
			int64_t ref;
			int rrc = txp_money_parse(text, strlen(text), 4, &ref);
			ck_assert_int_eq(rc, rrc);
			if (rc == 0)
				ck_assert_int_eq(v, ref);
		}
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
	tcase_add_test(tc, json_integers_scale_with_overflow_detection);
	tcase_add_test(tc, doubles_that_print_short_give_the_decimal_the_producer_wrote);
	tcase_add_test(tc, doubles_in_exponent_notation_are_scaled_exactly);
	tcase_add_test(tc, doubles_needing_more_than_15_digits_are_refused);
	tcase_add_test(tc, negative_and_zero_doubles_keep_their_sign_for_the_range_check);
	tcase_add_test(tc, every_cent_amount_up_to_3000_round_trips_through_a_double);
	tcase_add_test(tc, one_step_15_digit_conversion_agrees_with_the_shortest_round_trip_search);
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
