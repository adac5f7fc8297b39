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
	static const char *const bad[] = {"USD",        "USD:",        "US:100",      "USD:0",
	                                  "USD:1.5",    "USD:-1",      "USD:1,USD:2", "USD:1,,EUR:2",
	                                  "USD:1,",     "U1D:100",     "USD:10000000000000"};
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
	static const char text[] = "# deny list\n\n  cust-1  \r\ncust-2\n\t# indented comment\ncust-2\nmerchant #7\nlast";
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
