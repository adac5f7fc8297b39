/* test_sbuf.c: the growable buffer behind replies, records, request bodies and SigV4 strings. */
#include "txpipe/sbuf.h"

#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static char *finish(struct txp_sbuf *b)
{
	size_t len = 0;
	char *s = txp_sbuf_finish(b, &len);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), len);
	return s;
}

START_TEST(numbers_are_exact_at_their_limits)
{
	struct txp_sbuf b = { 0 };
	char *s;

	txp_sbuf_int(&b, LLONG_MIN);
	txp_sbuf_str(&b, " ");
	txp_sbuf_int(&b, LLONG_MAX);
	txp_sbuf_str(&b, " ");
	txp_sbuf_int(&b, 0);
	txp_sbuf_str(&b, " ");
	txp_sbuf_uint(&b, ULLONG_MAX);
	s = finish(&b);
	ck_assert_str_eq(s, "-9223372036854775808 9223372036854775807 0 18446744073709551615");
	free(s);
}
END_TEST

START_TEST(json_strings_escape_quotes_backslashes_and_controls)
{
	struct txp_sbuf b = { 0 };
	char *s;

	txp_sbuf_json_strn(&b, "a\"b\\c\n\x01\x7f\xc3\xa9", 10);
	s = finish(&b);
	/* DEL and UTF-8 pass through; JSON requires escaping only below 0x20. */
	ck_assert_str_eq(s, "\"a\\\"b\\\\c\\u000a\\u0001\x7f\xc3\xa9\"");
	free(s);
}
END_TEST

START_TEST(form_encoding_keeps_only_the_unreserved_characters)
{
	struct txp_sbuf b = { 0 };
	char *s;

	txp_sbuf_urlenc(&b, "Az09-_.~ /+=&\xc3\xa9");
	s = finish(&b);
	ck_assert_str_eq(s, "Az09-_.~%20%2F%2B%3D%26%C3%A9");
	free(s);
}
END_TEST

START_TEST(a_buffer_grows_past_its_first_allocation)
{
	struct txp_sbuf b = { 0 };
	char *s;

	for (int i = 0; i < 5000; i++)
		txp_sbuf_raw(&b, "0123456789", 10);
	ck_assert(!b.oom);
	s = txp_sbuf_finish(&b, NULL); /* the length is optional */
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), 50000);
	ck_assert_ptr_null(b.p);
	free(s);
}
END_TEST

START_TEST(an_empty_buffer_finishes_as_an_empty_string)
{
	struct txp_sbuf b = { 0 };
	char *s = finish(&b);

	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(wipe_and_free_leave_a_reusable_zeroed_buffer)
{
	struct txp_sbuf b = { 0 };
	char *s;

	txp_sbuf_str(&b, "x-amz-security-token:secret");
	txp_sbuf_wipe(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	txp_sbuf_wipe(&b); /* safe twice */
	txp_sbuf_str(&b, "again");
	s = finish(&b);
	ck_assert_str_eq(s, "again");
	free(s);
	txp_sbuf_free(&b);
}
END_TEST

static Suite *sbuf_suite(void)
{
	Suite *s = suite_create("sbuf");
	TCase *tc = tcase_create("append");

	tcase_add_test(tc, numbers_are_exact_at_their_limits);
	tcase_add_test(tc, json_strings_escape_quotes_backslashes_and_controls);
	tcase_add_test(tc, form_encoding_keeps_only_the_unreserved_characters);
	tcase_add_test(tc, a_buffer_grows_past_its_first_allocation);
	tcase_add_test(tc, an_empty_buffer_finishes_as_an_empty_string);
	tcase_add_test(tc, wipe_and_free_leave_a_reusable_zeroed_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sbuf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
