/* test_bench_hist.c: txpbench's log-linear histogram: bucket bounds, precision and percentiles. */
#include "hist.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

START_TEST(values_below_sub_bucket_count_are_exact)
{
	for (uint64_t v = 0; v < 2048; v++) {
		uint32_t i = txpb_hist_index(v);
		ck_assert_uint_eq(txpb_hist_lowest(i), v);
		ck_assert_uint_eq(txpb_hist_highest(i), v);
	}
}
END_TEST

START_TEST(buckets_tile_the_range_without_gaps_or_overlap)
{
	ck_assert_uint_eq(txpb_hist_lowest(0), 0);
	for (uint32_t i = 0; i + 1 < TXPB_HIST_BUCKETS; i++)
		ck_assert_uint_eq(txpb_hist_highest(i) + 1, txpb_hist_lowest(i + 1));
	ck_assert_uint_eq(txpb_hist_highest(TXPB_HIST_BUCKETS - 1), TXPB_HIST_MAX);
	ck_assert_uint_eq(txpb_hist_index(TXPB_HIST_MAX), TXPB_HIST_BUCKETS - 1);
}
END_TEST

START_TEST(every_value_lies_in_its_bucket_within_a_thousandth)
{
	uint64_t x = 88172645463325252u;
	for (int n = 0; n < 200000; n++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = x >> (30 + n % 34); /* spread over all magnitudes */
		uint32_t i = txpb_hist_index(v);
		uint64_t lo = txpb_hist_lowest(i), hi = txpb_hist_highest(i);
		ck_assert_uint_le(lo, v);
		ck_assert_uint_ge(hi, v);
		ck_assert_uint_le((hi - lo) * 1024, v > 0 ? v : 1024);
	}
}
END_TEST

START_TEST(ten_seconds_in_microseconds_is_covered_exactly_enough)
{
	uint64_t ten_s = 10000000; /* us */
	uint32_t i = txpb_hist_index(ten_s);
	ck_assert_uint_lt(i, TXPB_HIST_BUCKETS - 1);
	ck_assert_uint_le(txpb_hist_highest(i) - ten_s, ten_s / 1000);
}
END_TEST

START_TEST(percentiles_of_a_uniform_run_are_within_bucket_precision)
{
	struct txpb_hist h;
	ck_assert_int_eq(txpb_hist_init(&h), 0);
	ck_assert_uint_eq(txpb_hist_percentile(&h, 50), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		txpb_hist_record(&h, v);
	ck_assert_uint_eq(h.count, 100000);
	ck_assert_uint_eq(h.min, 1);
	ck_assert_uint_eq(h.max, 100000);
	uint64_t p50 = txpb_hist_percentile(&h, 50);
	uint64_t p99 = txpb_hist_percentile(&h, 99);
	uint64_t p999 = txpb_hist_percentile(&h, 99.9);
	ck_assert_uint_ge(p50, 50000);
	ck_assert_uint_le(p50, 50000 + 50);
	ck_assert_uint_ge(p99, 99000);
	ck_assert_uint_le(p99, 99000 + 99);
	ck_assert_uint_ge(p999, 99900);
	ck_assert_uint_le(p999, 99900 + 100);
	ck_assert_uint_eq(txpb_hist_percentile(&h, 100), 100000);
	ck_assert_uint_eq(txpb_hist_percentile(&h, 0), 1);
	txpb_hist_free(&h);
	txpb_hist_free(&h);
}
END_TEST

START_TEST(a_single_outlier_sets_max_and_the_top_percentile_only)
{
	struct txpb_hist h;
	ck_assert_int_eq(txpb_hist_init(&h), 0);
	for (int n = 0; n < 999; n++)
		txpb_hist_record(&h, 100);
	txpb_hist_record(&h, UINT64_C(1) << 40); /* beyond the range: clamped bucket, exact max */
	ck_assert_uint_eq(txpb_hist_percentile(&h, 99.9), 100);
	ck_assert_uint_eq(h.max, UINT64_C(1) << 40);
	ck_assert_uint_ge(txpb_hist_percentile(&h, 100), TXPB_HIST_MAX - (TXPB_HIST_MAX >> 10));
	txpb_hist_free(&h);
}
END_TEST

START_TEST(merge_adds_counts_and_extremes)
{
	struct txpb_hist a, b;
	ck_assert_int_eq(txpb_hist_init(&a), 0);
	ck_assert_int_eq(txpb_hist_init(&b), 0);
	txpb_hist_record(&a, 10);
	txpb_hist_record(&b, 5);
	txpb_hist_record(&b, 5000);
	txpb_hist_merge(&a, &b);
	ck_assert_uint_eq(a.count, 3);
	ck_assert_uint_eq(a.min, 5);
	ck_assert_uint_eq(a.max, 5000);
	ck_assert_uint_eq(a.sum, 5015);
	ck_assert_uint_eq(txpb_hist_percentile(&a, 50), 10);
	txpb_hist_free(&a);
	txpb_hist_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_hist");
	TCase *tc = tcase_create("hist");
	tcase_add_test(tc, values_below_sub_bucket_count_are_exact);
	tcase_add_test(tc, buckets_tile_the_range_without_gaps_or_overlap);
	tcase_add_test(tc, every_value_lies_in_its_bucket_within_a_thousandth);
	tcase_add_test(tc, ten_seconds_in_microseconds_is_covered_exactly_enough);
	tcase_add_test(tc, percentiles_of_a_uniform_run_are_within_bucket_precision);
	tcase_add_test(tc, a_single_outlier_sets_max_and_the_top_percentile_only);
	tcase_add_test(tc, merge_adds_counts_and_extremes);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
