/* test_retry.c: exact and jittered backoff, attempt counting, the sliding-minute retry budget and the defaults. */
#include "txpipe/config.h"
#include "txpipe/retry.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

static const struct txp_retry_policy policy = {
	.max_attempts = 3, .base_delay_ms = 100, .max_delay_ms = 1000, .jitter = true
};

START_TEST(delay_is_drawn_from_zero_to_the_exponential_cap)
{
	/* retry 0: [0, 100]; 1: [0, 200]; 2: [0, 400]; 3: [0, 800]; 4+: [0, 1000]. */
	static const uint64_t caps[] = { 100, 200, 400, 800, 1000, 1000, 1000 };

	for (unsigned r = 0; r < sizeof(caps) / sizeof(caps[0]); r++) {
		ck_assert_uint_eq(txp_retry_delay_ms(&policy, r, 0), 0);
		ck_assert_uint_eq(txp_retry_delay_ms(&policy, r, caps[r]), caps[r]);
		ck_assert_uint_eq(txp_retry_delay_ms(&policy, r, caps[r] + 1), 0);
		ck_assert_uint_eq(txp_retry_delay_ms(&policy, r, caps[r] - 1), caps[r] - 1);
	}
}
END_TEST

START_TEST(delay_never_exceeds_the_cap_for_any_random_value)
{
	uint64_t x = 88172645463325252u;

	for (int i = 0; i < 100000; i++) {
		/* xorshift64: any spread of inputs will do. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ck_assert_uint_le(txp_retry_delay_ms(&policy, (unsigned)(i % 8), x), 1000);
		ck_assert_uint_le(txp_retry_delay_ms(&policy, 0, x), 100);
	}
}
END_TEST

START_TEST(huge_retry_numbers_do_not_overflow)
{
	struct txp_retry_policy p = {
		.max_attempts = 100, .base_delay_ms = UINT64_MAX / 3, .max_delay_ms = UINT64_MAX, .jitter = true
	};

	ck_assert_uint_eq(txp_retry_delay_ms(&policy, 1000000, 999), 999);
	ck_assert_uint_eq(txp_retry_delay_ms(&p, 70, UINT64_MAX - 1), UINT64_MAX - 1);
}
END_TEST

START_TEST(max_attempts_counts_the_first_attempt)
{
	struct txp_retry_policy once = { .max_attempts = 1, .base_delay_ms = 1, .max_delay_ms = 1 };

	ck_assert(txp_retry_attempts_left(&policy, 1));
	ck_assert(txp_retry_attempts_left(&policy, 2));
	ck_assert(!txp_retry_attempts_left(&policy, 3));
	ck_assert(!txp_retry_attempts_left(&once, 1));
}
END_TEST

/* The reference's Step Functions Retry (MaxAttempts 3, IntervalSeconds 2,
 * BackoffRate 2) tries once, then retries 3 times after exactly 2, 4 and
 * 8 s: the defaults must do the same, without jitter or a budget. */
START_TEST(defaults_retry_like_the_reference)
{
	struct txp_config cfg;
	struct txp_retry_policy p;
	struct txp_retry_budget b;

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	p = (struct txp_retry_policy){ .max_attempts = (uint32_t)cfg.retry.max_attempts,
		                       .base_delay_ms = cfg.retry.base_delay_ms,
		                       .max_delay_ms = cfg.retry.max_delay_ms,
		                       .jitter = cfg.retry.jitter };
	for (unsigned attempts = 1; attempts <= 3; attempts++)
		ck_assert(txp_retry_attempts_left(&p, attempts));
	ck_assert(!txp_retry_attempts_left(&p, 4));
	/* Whatever the random number, the waits are exact. */
	for (uint64_t rnd = 0; rnd < 3; rnd++) {
		ck_assert_uint_eq(txp_retry_delay_ms(&p, 0, rnd * 777), 2000);
		ck_assert_uint_eq(txp_retry_delay_ms(&p, 1, rnd * 777), 4000);
		ck_assert_uint_eq(txp_retry_delay_ms(&p, 2, rnd * 777), 8000);
	}
	/* No budget: an outage retries every write, however many. */
	txp_retry_budget_init(&b, (uint32_t)cfg.retry.budget_percent, 0);
	for (int i = 0; i < 10000; i++)
		ck_assert(txp_retry_budget_take(&b, 1000));
	ck_assert_uint_eq(txp_retry_budget_left(&b, 1000), TXP_RETRY_UNLIMITED);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(without_jitter_the_wait_is_the_capped_exponential)
{
	struct txp_retry_policy p = policy;

	p.jitter = false;
	ck_assert_uint_eq(txp_retry_delay_ms(&p, 0, 5), 100);
	ck_assert_uint_eq(txp_retry_delay_ms(&p, 3, 5), 800);
	ck_assert_uint_eq(txp_retry_delay_ms(&p, 4, 5), 1000);
	ck_assert_uint_eq(txp_retry_delay_ms(&p, 1000000, 5), 1000);
}
END_TEST

START_TEST(budget_allows_the_floor_without_traffic)
{
	struct txp_retry_budget b;

	txp_retry_budget_init(&b, 20, 2);
	ck_assert(txp_retry_budget_take(&b, 5000));
	ck_assert(txp_retry_budget_take(&b, 5000));
	ck_assert(!txp_retry_budget_take(&b, 5000));
	txp_retry_budget_init(&b, 20, 0);
	ck_assert(!txp_retry_budget_take(&b, 5000));
}
END_TEST

START_TEST(budget_allows_percent_of_first_attempts)
{
	struct txp_retry_budget b;
	int taken = 0;

	txp_retry_budget_init(&b, 20, 0);
	txp_retry_budget_first(&b, 1000, 50);
	txp_retry_budget_first(&b, 30000, 50);
	ck_assert_uint_eq(txp_retry_budget_left(&b, 30000), 20);
	while (txp_retry_budget_take(&b, 31000))
		taken++;
	ck_assert_int_eq(taken, 20);
	ck_assert_uint_eq(txp_retry_budget_left(&b, 31000), 0);
}
END_TEST

START_TEST(budget_forgets_what_left_the_minute)
{
	struct txp_retry_budget b;

	txp_retry_budget_init(&b, 10, 0);
	txp_retry_budget_first(&b, 0, 100);     /* second 0 */
	txp_retry_budget_first(&b, 30500, 100); /* second 30 */
	ck_assert_uint_eq(txp_retry_budget_left(&b, 59999), 20);
	/* At second 60 the bucket of second 0 is out of the window. */
	ck_assert_uint_eq(txp_retry_budget_left(&b, 60000), 10);
	for (int i = 0; i < 10; i++)
		ck_assert(txp_retry_budget_take(&b, 60000));
	ck_assert(!txp_retry_budget_take(&b, 60000));
	/* Past second 90 both the firsts of second 30 and the retries of
	 * second 60... are gone or going: nothing allowed without traffic. */
	ck_assert_uint_eq(txp_retry_budget_left(&b, 91000), 0);
	txp_retry_budget_first(&b, 91000, 100);
	/* The retries of second 60 still count until second 120. */
	ck_assert_uint_eq(txp_retry_budget_left(&b, 91000), 0);
	ck_assert_uint_eq(txp_retry_budget_left(&b, 120000), 10);
}
END_TEST

START_TEST(budget_buckets_are_reused_after_a_minute)
{
	struct txp_retry_budget b;

	txp_retry_budget_init(&b, 100, 0);
	txp_retry_budget_first(&b, 1000, 7);  /* bucket of second 1 */
	txp_retry_budget_first(&b, 61000, 3); /* same bucket, second 61: starts afresh */
	ck_assert_uint_eq(txp_retry_budget_left(&b, 61000), 3);
}
END_TEST

START_TEST(budget_rounds_percent_down_on_small_counts)
{
	struct txp_retry_budget b;

	txp_retry_budget_init(&b, 20, 0);
	txp_retry_budget_first(&b, 0, 4);
	ck_assert_uint_eq(txp_retry_budget_left(&b, 0), 0);
	txp_retry_budget_first(&b, 0, 1);
	ck_assert_uint_eq(txp_retry_budget_left(&b, 0), 1);
	txp_retry_budget_first(&b, 0, 1000);
	ck_assert_uint_eq(txp_retry_budget_left(&b, 0), 201);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("retry");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, delay_is_drawn_from_zero_to_the_exponential_cap);
	tcase_add_test(tc, delay_never_exceeds_the_cap_for_any_random_value);
	tcase_add_test(tc, huge_retry_numbers_do_not_overflow);
	tcase_add_test(tc, max_attempts_counts_the_first_attempt);
	tcase_add_test(tc, defaults_retry_like_the_reference);
	tcase_add_test(tc, without_jitter_the_wait_is_the_capped_exponential);
	tcase_add_test(tc, budget_allows_the_floor_without_traffic);
	tcase_add_test(tc, budget_allows_percent_of_first_attempts);
	tcase_add_test(tc, budget_forgets_what_left_the_minute);
	tcase_add_test(tc, budget_buckets_are_reused_after_a_minute);
	tcase_add_test(tc, budget_rounds_percent_down_on_small_counts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
