/* test_iso.c: the ISO 4217 and ISO 3166-1 tables: order, lookups, exponents and payable codes. */
#include "txpipe/iso.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(currency_table_is_strictly_sorted_upper_case_and_found_entry_by_entry)
{
	for (size_t i = 0; i < txp_iso_currencies_n; i++) {
		const struct txp_iso_currency *c = &txp_iso_currencies[i];
		ck_assert_uint_eq(strlen(c->code), 3);
		for (int k = 0; k < 3; k++)
			ck_assert(c->code[k] >= 'A' && c->code[k] <= 'Z');
		ck_assert_uint_le(c->exponent, 4);
		if (i > 0)
			ck_assert_int_lt(strcmp(txp_iso_currencies[i - 1].code, c->code), 0);
		ck_assert_ptr_eq(txp_iso_currency_find(c->code, 3), c);
	}
	ck_assert_uint_ge(txp_iso_currencies_n, 170);
}
END_TEST

START_TEST(currency_exponents_follow_list_one)
{
	static const struct {
		const char *code;
		unsigned exp;
	} cases[] = { { "USD", 2 }, { "EUR", 2 }, { "JPY", 0 }, { "KRW", 0 }, { "ISK", 0 }, { "CLP", 0 },
		      { "VND", 0 }, { "XOF", 0 }, { "KWD", 3 }, { "BHD", 3 }, { "OMR", 3 }, { "JOD", 3 },
		      { "TND", 3 }, { "IQD", 3 }, { "LYD", 3 }, { "CLF", 4 }, { "UYW", 4 }, { "AED", 2 },
		      { "ZWG", 2 }, { "XCG", 2 }, { "SLE", 2 }, { "VED", 2 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct txp_iso_currency *c = txp_iso_currency_find(cases[i].code, 3);
		ck_assert_msg(c != NULL, "%s not found", cases[i].code);
		ck_assert_msg(c->exponent == cases[i].exp, "%s exponent %u", cases[i].code, c->exponent);
	}
}
END_TEST

START_TEST(funds_metals_and_special_codes_are_listed_but_not_payable)
{
	static const char *const nopay[] = { "XAU", "XAG", "XPT", "XPD", "XDR", "XTS", "XXX",
		                             "XBA", "XBB", "XBC", "XBD", "XSU", "XUA", "BOV",
		                             "CHE", "CHW", "COU", "MXV", "USN", "UYI", "UYW" };
	size_t payable_false = 0;

	for (size_t i = 0; i < sizeof(nopay) / sizeof(nopay[0]); i++) {
		const struct txp_iso_currency *c = txp_iso_currency_find(nopay[i], 3);
		ck_assert_msg(c != NULL, "%s not found", nopay[i]);
		ck_assert_msg(!c->payable, "%s payable", nopay[i]);
	}
	/* Exactly those: every other code is payable, CLF included. */
	for (size_t i = 0; i < txp_iso_currencies_n; i++)
		payable_false += !txp_iso_currencies[i].payable;
	ck_assert_uint_eq(payable_false, sizeof(nopay) / sizeof(nopay[0]));
	ck_assert(txp_iso_currency_find("CLF", 3)->payable);
	ck_assert(txp_iso_currency_find("USD", 3)->payable);
}
END_TEST

START_TEST(currency_lookup_refuses_withdrawn_lower_case_and_wrong_lengths)
{
	ck_assert_ptr_null(txp_iso_currency_find("HRK", 3));
	ck_assert_ptr_null(txp_iso_currency_find("ZWL", 3));
	ck_assert_ptr_null(txp_iso_currency_find("DEM", 3));
	ck_assert_ptr_null(txp_iso_currency_find("usd", 3));
	ck_assert_ptr_null(txp_iso_currency_find("US", 2));
	ck_assert_ptr_null(txp_iso_currency_find("USDX", 4));
	ck_assert_ptr_null(txp_iso_currency_find("", 0));
	ck_assert_ptr_null(txp_iso_currency_find("AAA", 3)); /* below the first */
	ck_assert_ptr_null(txp_iso_currency_find("ZZZ", 3)); /* above the last */
	/* Only `len` bytes are read. */
	ck_assert_ptr_nonnull(txp_iso_currency_find("USDollar", 3));
}
END_TEST

START_TEST(country_table_has_the_249_assigned_codes_sorted)
{
	ck_assert_uint_eq(txp_iso_countries_n, 249);
	for (size_t i = 0; i < txp_iso_countries_n; i++) {
		ck_assert_uint_eq(strlen(txp_iso_countries[i]), 2);
		if (i > 0)
			ck_assert_int_lt(strcmp(txp_iso_countries[i - 1], txp_iso_countries[i]), 0);
		ck_assert(txp_iso_country_valid(txp_iso_countries[i], 2));
	}
}
END_TEST

START_TEST(country_lookup_refuses_reserved_user_assigned_and_malformed_codes)
{
	ck_assert(txp_iso_country_valid("US", 2));
	ck_assert(txp_iso_country_valid("AD", 2));
	ck_assert(txp_iso_country_valid("ZW", 2));
	ck_assert(txp_iso_country_valid("AQ", 2));
	ck_assert(txp_iso_country_valid("SS", 2));
	ck_assert(!txp_iso_country_valid("XK", 2));
	ck_assert(!txp_iso_country_valid("UK", 2));
	ck_assert(!txp_iso_country_valid("EU", 2));
	ck_assert(!txp_iso_country_valid("AN", 2));
	ck_assert(!txp_iso_country_valid("ZZ", 2));
	ck_assert(!txp_iso_country_valid("AA", 2));
	ck_assert(!txp_iso_country_valid("us", 2));
	ck_assert(!txp_iso_country_valid("USA", 3));
	ck_assert(!txp_iso_country_valid("U", 1));
	ck_assert(!txp_iso_country_valid("", 0));
}
END_TEST

static Suite *iso_suite(void)
{
	Suite *s = suite_create("iso");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, currency_table_is_strictly_sorted_upper_case_and_found_entry_by_entry);
	tcase_add_test(tc, currency_exponents_follow_list_one);
	tcase_add_test(tc, funds_metals_and_special_codes_are_listed_but_not_payable);
	tcase_add_test(tc, currency_lookup_refuses_withdrawn_lower_case_and_wrong_lengths);
	tcase_add_test(tc, country_table_has_the_249_assigned_codes_sorted);
	tcase_add_test(tc, country_lookup_refuses_reserved_user_assigned_and_malformed_codes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(iso_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
