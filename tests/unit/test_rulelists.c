/* test_rulelists.c: USD rate parsing and conversion, country sets and identifier list files. */
#include "txpipe/rulelists.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules_fixture.h"

START_TEST(rates_parse_sorts_uppercases_and_finds)
{
	struct txp_rates r;
	char err[128];

	ck_assert_int_eq(txp_rates_parse(" usd:1000000 ,EUR:1080000,JPY:6700", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(r.items[0].currency, "EUR");
	ck_assert_uint_eq(txp_rates_find(&r, "USD"), 1000000);
	ck_assert_uint_eq(txp_rates_find(&r, "JPY"), 6700);
	ck_assert_uint_eq(txp_rates_find(&r, "GBP"), 0);
	txp_rates_free(&r);
	ck_assert_int_eq(txp_rates_parse("", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 0);
	txp_rates_free(&r);
}
END_TEST

START_TEST(rates_parse_rejects_bad_items_naming_them)
{
	static const char *const bad[] = {
		"USD",         "USD:",         "US:100", "USD:0",   "USD:1.5",           "USD:-1",
		"USD:1,USD:2", "USD:1,,EUR:2", "USD:1,", "U1D:100", "USD:10000000000000"
	};
	struct txp_rates r;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(txp_rates_parse(bad[i], &r, err, sizeof(err)) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no message for %s", bad[i]);
		ck_assert_ptr_null(r.items);
	}
	ck_assert_int_eq(txp_rates_parse("USD:1,usd:2", &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "twice"));
}
END_TEST

START_TEST(rates_convert_minor_units_with_exponent_truncating)
{
	struct txp_rates r;
	int64_t c;

	fx_rates(&r);
	/* 100.00 USD is 10000 cents. */
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "USD", 2, 10000, &c), 0);
	ck_assert_int_eq(c, 10000);
	/* 100.00 EUR at 1.08 is 108.00 USD. */
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "EUR", 2, 10000, &c), 0);
	ck_assert_int_eq(c, 10800);
	/* 0.01 EUR is 1.08 cents, truncated to 1. */
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "EUR", 2, 1, &c), 0);
	ck_assert_int_eq(c, 1);
	/* JPY has no minor unit: 10000 JPY at 0.0067 is 67.00 USD. */
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "JPY", 0, 10000, &c), 0);
	ck_assert_int_eq(c, 6700);
	/* KWD has three decimals: 1.000 KWD at 3.25 is 325 cents. */
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "KWD", 3, 1000, &c), 0);
	ck_assert_int_eq(c, 325);
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "GBP", 2, 100, &c), -ENOENT);
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "USD", 19, 100, &c), -EINVAL);
	/* Exponents above 14 divide in two steps; the result is still exact. */
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "USD", 18, INT64_C(1000000000000000000) / 1000000, &c), 0);
	ck_assert_int_eq(c, 0);
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "KWD", 16, INT64_C(2000000000000000000) / 1000000, &c), 0);
	ck_assert_int_eq(c, 0);
	txp_rates_free(&r);
}
END_TEST

START_TEST(rates_convert_saturates_instead_of_overflowing)
{
	struct txp_rates r;
	int64_t c;

	fx_rates(&r);
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "KWD", 3, INT64_MAX / 2, &c), 0);
	ck_assert_int_eq(c, INT64_MAX);
	ck_assert_int_eq(txp_rates_to_usd_cents(&r, "KWD", 3, INT64_MIN / 2, &c), 0);
	ck_assert_int_eq(c, INT64_MIN);
	txp_rates_free(&r);
}
END_TEST

START_TEST(rates_file_parses_codes_date_and_comments)
{
	static const char text[] = "# indicative\r\n\n  date 2026-12-04  \nusd 1000000\nEUR\t1160000 # euro\n"
	                           "JPY 6450\n";
	struct txp_rates r;
	char err[160];

	ck_assert_int_eq(txp_rates_parse_file(text, strlen(text), "r.txt", &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(r.items[0].currency, "EUR");
	ck_assert_uint_eq(txp_rates_find(&r, "USD"), 1000000);
	ck_assert_uint_eq(txp_rates_find(&r, "EUR"), 1160000);
	/* 2026-12-04T00:00:00Z */
	ck_assert_int_eq(r.date, INT64_C(1796342400));
	txp_rates_free(&r);
}
END_TEST

/* Parses `text` and checks the error is exactly `want`. */
static void expect_rates_file_error(const char *text, const char *want)
{
	struct txp_rates r;
	char err[200];

	ck_assert_int_eq(txp_rates_parse_file(text, strlen(text), "/etc/txpipe/usd-rates.txt", &r, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_str_eq(err, want);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_ptr_null(r.items);
}

START_TEST(rates_file_refuses_bad_lines_naming_file_and_line)
{
	expect_rates_file_error("date 2026-12-04\nUSD 1000000\nEUR 1.16\n",
	                        "/etc/txpipe/usd-rates.txt:3: \"EUR:1.16\": the rate must be an integer "
	                        "1..1000000000000 (micro-USD)");
	expect_rates_file_error("date 2026-12-04\nEUR 1160000\neur 1170000\n",
	                        "/etc/txpipe/usd-rates.txt:3: \"eur:1170000\": EUR is listed twice");
	expect_rates_file_error("date 2026-12-04\nEURO 1160000\n",
	                        "/etc/txpipe/usd-rates.txt:2: \"EURO 1160000\": expected a three-letter currency "
	                        "code and a rate");
	expect_rates_file_error("date 2026-12-04\nEUR\n",
	                        "/etc/txpipe/usd-rates.txt:2: expected \"CODE MICRO_USD\" or \"date YYYY-MM-DD\"");
	expect_rates_file_error("date 2026-12-04\nEUR 1160000 1170000\n",
	                        "/etc/txpipe/usd-rates.txt:2: expected \"CODE MICRO_USD\" or \"date YYYY-MM-DD\"");
	expect_rates_file_error("date 2026-02-29\n",
	                        "/etc/txpipe/usd-rates.txt:1: \"2026-02-29\": expected a date YYYY-MM-DD from 1970 on");
	expect_rates_file_error("date 4 Dec 2026\n",
	                        "/etc/txpipe/usd-rates.txt:1: expected \"CODE MICRO_USD\" or \"date YYYY-MM-DD\"");
	expect_rates_file_error("# no date\nUSD 1000000\n",
	                        "/etc/txpipe/usd-rates.txt: no \"date YYYY-MM-DD\" line: say which day the rates are "
	                        "from");
	expect_rates_file_error("date 2026-12-04\ndate 2026-12-05\n",
	                        "/etc/txpipe/usd-rates.txt:2: a second date line");
}
END_TEST

START_TEST(rates_file_leap_day_and_load_errors)
{
	struct txp_rates r;
	char err[200], *path;

	ck_assert_int_eq(txp_rates_parse_file("date 2028-02-29\n", 16, "x", &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r.date, INT64_C(1835395200));
	txp_rates_free(&r);
	path = fx_list_file("date 1970-01-02\nGBP 1330000\n");
	ck_assert_int_eq(txp_rates_load(path, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r.date, 86400);
	ck_assert_uint_eq(txp_rates_find(&r, "GBP"), 1330000);
	txp_rates_free(&r);
	fx_unlink(path);
	ck_assert_int_eq(txp_rates_load("/nonexistent/txp-rates", &r, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/txp-rates: No such file or directory");
}
END_TEST

START_TEST(rates_merge_adds_and_replaces_keeping_the_date)
{
	struct txp_rates base, over;
	char err[160];

	ck_assert_int_eq(
	        txp_rates_parse_file("date 2026-12-04\nUSD 1000000\nEUR 1160000\n", 40, "b", &base, err, sizeof(err)),
	        0);
	ck_assert_int_eq(txp_rates_parse("EUR:1200000,CHF:1245000", &over, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_rates_merge(&base, &over), 0);
	ck_assert_uint_eq(base.n, 3);
	ck_assert_uint_eq(txp_rates_find(&base, "EUR"), 1200000);
	ck_assert_uint_eq(txp_rates_find(&base, "CHF"), 1245000);
	ck_assert_uint_eq(txp_rates_find(&base, "USD"), 1000000);
	ck_assert_int_eq(base.date, INT64_C(1796342400));
	txp_rates_free(&over);
	txp_rates_free(&base);
}
END_TEST

/* The built-in table is the shipped sample, parses, is dated and covers
 * the 30 most traded currencies of the BIS Triennial Survey. */
START_TEST(builtin_rates_are_the_sample_file_and_cover_the_most_traded)
{
	static const char *const most_traded[] = {
		"USD", "EUR", "JPY", "GBP", "CNY", "AUD", "CAD", "CHF", "HKD", "SGD", "SEK", "KRW", "NOK", "NZD", "INR",
		"MXN", "TWD", "ZAR", "BRL", "DKK", "PLN", "THB", "ILS", "IDR", "CZK", "AED", "TRY", "HUF", "CLP", "SAR"
	};
	const char *top = getenv("top_srcdir");
	char path[1024], err[200];
	struct txp_rates builtin, file;

	ck_assert_int_eq(txp_rates_parse_file(txp_rates_builtin, strlen(txp_rates_builtin), "built-in", &builtin, err,
	                                      sizeof(err)),
	                 0);
	ck_assert_int_eq(builtin.date, INT64_C(1796342400));
	for (size_t i = 0; i < sizeof(most_traded) / sizeof(most_traded[0]); i++)
		ck_assert_msg(txp_rates_find(&builtin, most_traded[i]) != 0, "%s missing", most_traded[i]);
	ck_assert_msg(top != NULL, "top_srcdir is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/conf/usd-rates.txt", top);
	ck_assert_msg(txp_rates_load(path, &file, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(file.date, builtin.date);
	ck_assert_uint_eq(file.n, builtin.n);
	ck_assert_int_eq(memcmp(file.items, builtin.items, file.n * sizeof(file.items[0])), 0);
	txp_rates_free(&file);
	txp_rates_free(&builtin);
}
END_TEST

START_TEST(country_set_parses_and_matches_any_case)
{
	struct txp_country_set s;
	char err[128];

	ck_assert_int_eq(txp_country_set_parse("CU, ir,KP", &s, err, sizeof(err)), 0);
	ck_assert(txp_country_set_has(&s, "CU"));
	ck_assert(txp_country_set_has(&s, "IR"));
	ck_assert(txp_country_set_has(&s, "kp"));
	ck_assert(!txp_country_set_has(&s, "US"));
	ck_assert(!txp_country_set_has(&s, ""));
	ck_assert(!txp_country_set_has(&s, "CUB"));
	ck_assert(!txp_country_set_has(&s, "C1"));
	ck_assert_int_eq(txp_country_set_parse("", &s, err, sizeof(err)), 0);
	ck_assert(!txp_country_set_has(&s, "CU"));
	ck_assert_int_eq(txp_country_set_parse("CU,CUB", &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "CUB"));
	ck_assert_int_eq(txp_country_set_parse("CU,,IR", &s, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_country_set_parse("Z9", &s, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(idset_skips_comments_blanks_and_trims)
{
	static const char text[] =
	        "# deny list\n\n  cust-1  \r\ncust-2\n\t# indented comment\ncust-2\nmerchant #7\nlast";
	struct txp_idset *s;
	char err[128];

	ck_assert_int_eq(txp_idset_parse(text, strlen(text), "test", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(txp_idset_count(s), 4);
	ck_assert(txp_idset_has(s, "cust-1"));
	ck_assert(txp_idset_has(s, "cust-2"));
	ck_assert(txp_idset_has(s, "merchant #7"));
	ck_assert(txp_idset_has(s, "last"));
	ck_assert(!txp_idset_has(s, "CUST-1"));
	ck_assert(!txp_idset_has(s, "cust"));
	ck_assert(!txp_idset_has(s, ""));
	ck_assert(!txp_idset_has(s, "# deny list"));
	ck_assert(!txp_idset_has(NULL, "cust-1"));
	txp_idset_free(s);
	txp_idset_free(NULL);
}
END_TEST

START_TEST(idset_rejects_long_entries_and_control_characters_with_line)
{
	char big[TXP_IDSET_ENTRY_MAX + 8];
	struct txp_idset *s;
	char err[128];

	memset(big, 'a', sizeof(big));
	big[0] = 'x';
	big[1] = '\n';
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(txp_idset_parse(big, strlen(big), "big.txt", &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(err, "big.txt:2: entry longer than 128 bytes");
	ck_assert_int_eq(txp_idset_parse("ok\nbad\001x\n", 9, "c.txt", &s, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "c.txt:2: control character in entry");
	/* Exactly the maximum is fine. */
	big[TXP_IDSET_ENTRY_MAX + 2] = '\0';
	ck_assert_int_eq(txp_idset_parse(big, strlen(big), "big.txt", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(txp_idset_count(s), 2);
	txp_idset_free(s);
}
END_TEST

START_TEST(idset_load_reads_a_file_and_reports_open_errors)
{
	char *path = fx_list_file("a\nb\nc\n");
	struct txp_idset *s;
	char err[256];

	ck_assert_int_eq(txp_idset_load(path, &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(txp_idset_count(s), 3);
	ck_assert(txp_idset_has(s, "b"));
	txp_idset_free(s);
	fx_unlink(path);
	ck_assert_int_eq(txp_idset_load("/nonexistent/txp-list", &s, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(err, "/nonexistent/txp-list: No such file or directory");
}
END_TEST

START_TEST(idset_holds_many_entries)
{
	size_t cap = 20000 * 12, len = 0;
	char *buf = malloc(cap), name[16];
	struct txp_idset *s;
	char err[128];

	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(buf + len, cap - len, "id-%d\n", i);
	ck_assert_int_eq(txp_idset_parse(buf, len, "many", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(txp_idset_count(s), 20000);
	for (int i = 0; i < 20000; i += 7) {
		snprintf(name, sizeof(name), "id-%d", i);
		ck_assert(txp_idset_has(s, name));
	}
	ck_assert(!txp_idset_has(s, "id-20000"));
	txp_idset_free(s);
	free(buf);
}
END_TEST

static Suite *rulelists_suite(void)
{
	Suite *s = suite_create("rulelists");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, rates_parse_sorts_uppercases_and_finds);
	tcase_add_test(tc, rates_parse_rejects_bad_items_naming_them);
	tcase_add_test(tc, rates_convert_minor_units_with_exponent_truncating);
	tcase_add_test(tc, rates_convert_saturates_instead_of_overflowing);
	tcase_add_test(tc, rates_file_parses_codes_date_and_comments);
	tcase_add_test(tc, rates_file_refuses_bad_lines_naming_file_and_line);
	tcase_add_test(tc, rates_file_leap_day_and_load_errors);
	tcase_add_test(tc, rates_merge_adds_and_replaces_keeping_the_date);
	tcase_add_test(tc, builtin_rates_are_the_sample_file_and_cover_the_most_traded);
	tcase_add_test(tc, country_set_parses_and_matches_any_case);
	tcase_add_test(tc, idset_skips_comments_blanks_and_trims);
	tcase_add_test(tc, idset_rejects_long_entries_and_control_characters_with_line);
	tcase_add_test(tc, idset_load_reads_a_file_and_reports_open_errors);
	tcase_add_test(tc, idset_holds_many_entries);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rulelists_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
