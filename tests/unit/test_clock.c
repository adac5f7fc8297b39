/* test_clock.c: the wall clock and the one RFC 3339 parser (IMDS expirations, transaction timestamps). */
#include "txpipe/clock.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, int64_t *t)
{
	return txp_time_parse_rfc3339(s, strlen(s), t);
}

START_TEST(wall_clock_is_unix_milliseconds)
{
	/* 2020-01-01 and 2100-01-01: a clock in seconds or microseconds fails. */
	ck_assert_int_gt(txp_wall_ms(), 1577836800000LL);
	ck_assert_int_lt(txp_wall_ms(), 4102444800000LL);
}
END_TEST

START_TEST(rfc3339_parses_utc_fractions_and_offsets_as_aws_sends_them)
{
	int64_t t;

	ck_assert_int_eq(parse("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(parse("2017-05-17T15:09:54Z", &t), 0);
	ck_assert_int_eq(t, 1495033794000LL);
	ck_assert_int_eq(parse("2024-02-29T23:59:59.25Z", &t), 0);
	ck_assert_int_eq(t, 1709251199250LL);
	ck_assert_int_eq(parse("2000-01-01T01:00:00+02:00", &t), 0);
	ck_assert_int_eq(t, 946681200000LL);
	ck_assert_int_eq(parse("1999-12-31T22:30:00-00:30", &t), 0);
	ck_assert_int_eq(t, 946681200000LL);
}
END_TEST

START_TEST(rfc3339_rejects_malformed_times)
{
	int64_t t = 42;
	static const char *const bad[] = {
		"",
		"2017-05-17",
		"2017-05-17T15:09:54",
		"2017-05-17T15:09:54Zjunk",
		"2017-02-29T00:00:00Z",
		"2017-13-01T00:00:00Z",
		"2017-05-17T24:00:00Z",
		"2017-05-17T15:09:54.Z",
		"2017-05-17T15:09:54+0200",
		"17-05-17T15:09:54Z",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], &t) == -EINVAL, "accepted %s", bad[i]);
	ck_assert_int_eq(txp_time_parse_rfc3339(NULL, 0, &t), -EINVAL);
	ck_assert_int_eq(t, 42);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, wall_clock_is_unix_milliseconds);
	tcase_add_test(tc, rfc3339_parses_utc_fractions_and_offsets_as_aws_sends_them);
	tcase_add_test(tc, rfc3339_rejects_malformed_times);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
