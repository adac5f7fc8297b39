/* test_velocity.c: sliding-window edges and the key table's lookup, LRU, eviction and overflow. */
#include "txpipe/velocity.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const uint8_t key[TXP_KEYTAB_HASH_KEY_BYTES] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6 };

/* A 12 s window: 1 s buckets. */
#define L 12000
#define G 1000
#define T0 INT64_C(1793577600000)

static uint64_t count_at(struct txp_window *w, int64_t now)
{
	uint64_t n;
	int64_t s;

	txp_window_totals(w, G, now, &n, &s);
	return n;
}

START_TEST(window_width_is_a_twelfth_rounded_up)
{
	ck_assert_int_eq(txp_window_width(12000), 1000);
	ck_assert_int_eq(txp_window_width(60000), 5000);
	ck_assert_int_eq(txp_window_width(86400000), 7200000);
	ck_assert_int_eq(txp_window_width(13), 2);
}
END_TEST

START_TEST(window_counts_event_exactly_at_length_and_drops_it_one_ms_later)
{
	struct txp_window w;
	/* The last millisecond of a bucket: leaves at exactly t + L + 1. */
	int64_t t = T0 + G - 1;

	memset(&w, 0, sizeof(w));
	txp_window_add(&w, G, t, 500);
	ck_assert_uint_eq(count_at(&w, t), 1);
	ck_assert_uint_eq(count_at(&w, t + L - 1), 1);
	ck_assert_uint_eq(count_at(&w, t + L), 1);
	ck_assert_uint_eq(count_at(&w, t + L + 1), 0);
}
END_TEST

START_TEST(window_over_counts_by_less_than_one_bucket_never_under)
{
	struct txp_window w;
	/* The first millisecond of a bucket: stays until t + L + G - 1. */
	int64_t t = T0;

	memset(&w, 0, sizeof(w));
	txp_window_add(&w, G, t, 1);
	ck_assert_uint_eq(count_at(&w, t + L), 1);
	ck_assert_uint_eq(count_at(&w, t + L + G - 1), 1);
	ck_assert_uint_eq(count_at(&w, t + L + G), 0);
}
END_TEST

START_TEST(window_sums_amounts_and_ignores_negative_ones)
{
	struct txp_window w;
	uint64_t n;
	int64_t s;

	memset(&w, 0, sizeof(w));
	for (int i = 0; i < 30; i++)
		txp_window_add(&w, G, T0 + i * 500, 100);
	txp_window_add(&w, G, T0 + 15000, -5000);
	/* At T0+15000 (bucket 15) the 13 slots hold buckets 3..15: events at
	 * 3000..14500 ms, 24 of them, plus the negative one at no amount. */
	txp_window_totals(&w, G, T0 + 15000, &n, &s);
	ck_assert_uint_eq(n, 25);
	ck_assert_int_eq(s, 2400);
}
END_TEST

START_TEST(window_clears_after_a_long_gap_and_saturates_sums)
{
	struct txp_window w;
	uint64_t n;
	int64_t s;

	memset(&w, 0, sizeof(w));
	txp_window_add(&w, G, T0, INT64_MAX - 1);
	txp_window_add(&w, G, T0, 10);
	txp_window_add(&w, G, T0 + G, INT64_MAX);
	txp_window_totals(&w, G, T0 + G, &n, &s);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(s, INT64_MAX);
	txp_window_totals(&w, G, T0 + 100 * L, &n, &s);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(s, 0);
}
END_TEST

START_TEST(window_puts_an_older_event_in_its_own_bucket)
{
	struct txp_window w;

	memset(&w, 0, sizeof(w));
	ck_assert(txp_window_add(&w, G, T0 + 5 * G, 1));
	/* A late event (a fleet peer's) goes where it belongs, not into the
	 * newest bucket, so it leaves the window when it would have. */
	ck_assert(txp_window_add(&w, G, T0, 1));
	ck_assert_uint_eq(count_at(&w, T0 + 5 * G), 2);
	ck_assert_uint_eq(count_at(&w, T0 + L + G - 1), 2);
	ck_assert_uint_eq(count_at(&w, T0 + L + G), 1);
	ck_assert_uint_eq(count_at(&w, T0 + 5 * G + L + G), 0);
}
END_TEST

START_TEST(window_drops_an_event_older_than_the_ring)
{
	struct txp_window w;
	struct txp_window_small sw;
	uint64_t n;
	int64_t s;

	memset(&w, 0, sizeof(w));
	memset(&sw, 0, sizeof(sw));
	ck_assert(txp_window_add(&w, G, T0 + 20 * G, 1));
	ck_assert(txp_window_small_add(&sw, G, T0 + 20 * G, 1));
	/* The oldest bucket the ring holds is head - 12. */
	ck_assert(txp_window_add(&w, G, T0 + 8 * G, 5));
	ck_assert(txp_window_small_add(&sw, G, T0 + 8 * G, 5));
	ck_assert(!txp_window_add(&w, G, T0 + 8 * G - 1, 7));
	ck_assert(!txp_window_small_add(&sw, G, T0 + 8 * G - 1, 7));
	txp_window_totals(&w, G, T0 + 20 * G, &n, &s);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(s, 6);
	txp_window_small_totals(&sw, G, T0 + 20 * G, &n, &s);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(s, 6);
	/* The old event leaves first; the newest stays. */
	txp_window_small_totals(&sw, G, T0 + 21 * G, &n, &s);
	ck_assert_uint_eq(n, 1);
}
END_TEST

struct payload {
	uint64_t value;
};

START_TEST(keytab_finds_what_it_inserted_and_zeroes_new_payloads)
{
	struct txp_keytab *kt = txp_keytab_create(4, sizeof(struct payload), key);
	uint64_t ha = txp_keytab_hash(kt, "alice"), hb = txp_keytab_hash(kt, "bob");
	struct payload *p;
	bool fresh;

	ck_assert_uint_ne(ha, hb);
	ck_assert_uint_eq(ha, txp_keytab_hash(kt, "alice"));
	p = txp_keytab_get(kt, ha, T0, 1000, &fresh);
	ck_assert(fresh);
	ck_assert_uint_eq(p->value, 0);
	p->value = 42;
	p = txp_keytab_get(kt, hb, T0, 1000, &fresh);
	ck_assert(fresh);
	p = txp_keytab_get(kt, ha, T0 + 999, 1000, &fresh);
	ck_assert(!fresh);
	ck_assert_uint_eq(p->value, 42);
	ck_assert_ptr_eq(txp_keytab_peek(kt, ha), p);
	ck_assert_ptr_null(txp_keytab_peek(kt, txp_keytab_hash(kt, "carol")));
	/* Unused for a whole ttl: the entry's state is reset. */
	p = txp_keytab_get(kt, ha, T0 + 999 + 1000, 1000, &fresh);
	ck_assert(fresh);
	ck_assert_uint_eq(p->value, 0);
	txp_keytab_destroy(kt);
	txp_keytab_destroy(NULL);
	ck_assert_ptr_null(txp_keytab_create(0, 8, key));
}
END_TEST

START_TEST(keytab_full_of_live_keys_refuses_and_counts_overflow)
{
	struct txp_keytab *kt = txp_keytab_create(3, sizeof(struct payload), key);
	struct txp_keytab_stats st;
	struct payload *p;
	bool fresh;

	for (int i = 0; i < 3; i++) {
		char k[8] = { 'k', (char)('0' + i), 0 };
		p = txp_keytab_get(kt, txp_keytab_hash(kt, k), T0 + i, 1000, &fresh);
		ck_assert_ptr_nonnull(p);
		p->value = (uint64_t)i + 1;
	}
	/* The oldest (k0, seen at T0) is live until T0 + 1000. */
	ck_assert_ptr_null(txp_keytab_get(kt, txp_keytab_hash(kt, "new"), T0 + 999, 1000, &fresh));
	txp_keytab_stats(kt, &st);
	ck_assert_uint_eq(st.overflows, 1);
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_uint_eq(st.used, 3);
	/* Existing keys are still served while full. */
	p = txp_keytab_get(kt, txp_keytab_hash(kt, "k1"), T0 + 999, 1000, &fresh);
	ck_assert_uint_eq(p->value, 2);
	txp_keytab_destroy(kt);
}
END_TEST

START_TEST(keytab_evicts_only_the_least_recently_seen_expired_key)
{
	struct txp_keytab *kt = txp_keytab_create(3, sizeof(struct payload), key);
	struct txp_keytab_stats st;
	struct payload *p;
	bool fresh;

	txp_keytab_get(kt, txp_keytab_hash(kt, "a"), T0, 1000, &fresh);
	txp_keytab_get(kt, txp_keytab_hash(kt, "b"), T0 + 10, 1000, &fresh);
	txp_keytab_get(kt, txp_keytab_hash(kt, "c"), T0 + 20, 1000, &fresh);
	/* Touch a: b becomes the least recently seen. */
	p = txp_keytab_get(kt, txp_keytab_hash(kt, "a"), T0 + 30, 1000, &fresh);
	p->value = 7;
	/* At T0 + 1010 b has expired (seen at T0 + 10), a and c have not. */
	p = txp_keytab_get(kt, txp_keytab_hash(kt, "d"), T0 + 1010, 1000, &fresh);
	ck_assert_ptr_nonnull(p);
	ck_assert(fresh);
	ck_assert_ptr_null(txp_keytab_peek(kt, txp_keytab_hash(kt, "b")));
	p = txp_keytab_peek(kt, txp_keytab_hash(kt, "a"));
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->value, 7);
	ck_assert_ptr_nonnull(txp_keytab_peek(kt, txp_keytab_hash(kt, "c")));
	/* Next oldest is c (T0 + 20), live until T0 + 1020. */
	ck_assert_ptr_null(txp_keytab_get(kt, txp_keytab_hash(kt, "e"), T0 + 1019, 1000, &fresh));
	ck_assert_ptr_nonnull(txp_keytab_get(kt, txp_keytab_hash(kt, "e"), T0 + 1020, 1000, &fresh));
	ck_assert_ptr_null(txp_keytab_peek(kt, txp_keytab_hash(kt, "c")));
	txp_keytab_stats(kt, &st);
	ck_assert_uint_eq(st.evictions, 2);
	ck_assert_uint_eq(st.overflows, 1);
	txp_keytab_destroy(kt);
}
END_TEST

START_TEST(keytab_churn_keeps_every_live_key_reachable)
{
	/* Many keys through a small table with backward-shift deletions: after
	 * each step every key inserted in the last `live` steps must be found
	 * with its payload.  Hashes are forced into few home slots so runs are
	 * long and deletion shifts a lot. */
	enum { MAX = 64, STEPS = 20000, TTL = MAX };
	struct txp_keytab *kt = txp_keytab_create(MAX, sizeof(struct payload), key);
	uint64_t hashes[STEPS];
	bool fresh;

	for (uint64_t i = 0; i < STEPS; i++) {
		struct payload *p;
		/* Low bits collide heavily, high bits keep keys distinct. */
		hashes[i] = (i << 32) | ((i * 2654435761u) & 0x7);
		p = txp_keytab_get(kt, hashes[i], (int64_t)i, TTL, &fresh);
		ck_assert_ptr_nonnull(p);
		ck_assert(fresh);
		p->value = i;
		for (uint64_t j = i >= TTL - 1 ? i - (TTL - 1) : 0; j <= i; j += 1 + (i % 5)) {
			struct payload *q = txp_keytab_peek(kt, hashes[j]);
			ck_assert_msg(q != NULL, "key %llu lost at step %llu", (unsigned long long)j,
			              (unsigned long long)i);
			ck_assert_uint_eq(q->value, j);
		}
	}
	txp_keytab_destroy(kt);
}
END_TEST

START_TEST(keytab_stats_report_the_memory_bound)
{
	struct txp_keytab *kt = txp_keytab_create(1000, 100, key);
	struct txp_keytab_stats st;

	txp_keytab_stats(kt, &st);
	ck_assert_uint_eq(st.max_keys, 1000);
	/* 1000 entries of 24 + 104 bytes and a 2048-slot index of 4 bytes. */
	ck_assert_uint_ge(st.bytes, 1000 * 128 + 2048 * 4);
	ck_assert_uint_lt(st.bytes, 1000 * 128 + 2048 * 4 + 256);
	txp_keytab_destroy(kt);
}
END_TEST

static long minor_faults(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/*
 * A key in an index page nobody has touched costs one page fault, not two:
 * the page is first touched by a write, so the read that probes it does not
 * map the shared zero page that the insert's write would then have to
 * replace (a second fault and a TLB shootdown; see velocity.c).  One key at
 * the start of each of `blocks` 4 KiB blocks of the index: the faults are
 * one per block, plus the few pages of entries (and, under ASan, a read of
 * the shadow of each block: 512 bytes each, an eighth of a page).
 */
START_TEST(keytab_faults_each_index_page_in_once)
{
	const size_t blocks = 2048, slots_per_block = 4096 / sizeof(uint32_t);
	struct txp_keytab *kt = txp_keytab_create(blocks * slots_per_block / 2, sizeof(struct payload), key);
	struct txp_keytab_stats st;
	bool fresh;
	long before, faults;

	ck_assert_ptr_nonnull(kt);
	before = minor_faults();
	for (size_t b = 0; b < blocks; b++)
		ck_assert_ptr_nonnull(txp_keytab_get(kt, (uint64_t)(b * slots_per_block), T0, 1000, &fresh));
	faults = minor_faults() - before;
	txp_keytab_stats(kt, &st);
	ck_assert_uint_eq(st.used, blocks);
	for (size_t b = 0; b < blocks; b++)
		ck_assert_ptr_nonnull(txp_keytab_peek(kt, (uint64_t)(b * slots_per_block)));
	txp_keytab_destroy(kt);
	if (faults < (long)blocks / 4) {
		/* Transparent huge pages (enabled = always) back the index in
		 * 2 MiB pages: nothing to count. */
		fprintf(stderr, "keytab_faults_each_index_page_in_once: %ld faults for %zu blocks, huge pages\n",
		        faults, blocks);
		return;
	}
	ck_assert_int_ge(faults, (long)blocks);
	ck_assert_int_lt(faults, (long)(blocks + blocks / 2));
}
END_TEST

START_TEST(small_window_has_the_same_edges_as_the_wide_one)
{
	struct txp_window_small w;
	uint64_t n;
	int64_t sum, t = T0 + G - 1;

	memset(&w, 0, sizeof(w));
	txp_window_small_add(&w, G, t, 500);
	txp_window_small_totals(&w, G, t + L, &n, &sum);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(sum, 500);
	txp_window_small_totals(&w, G, t + L + 1, &n, &sum);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(sum, 0);
}
END_TEST

/* Saturation never changes a decision at a threshold the config allows:
 * one full bucket reaches TXP_WINDOW_SMALL_MAX_COUNT events and
 * TXP_WINDOW_SMALL_MAX_USD dollars. */
START_TEST(small_window_saturates_at_the_documented_bounds_never_wraps)
{
	struct txp_window_small w;
	uint64_t n;
	int64_t sum;

	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < 70000; i++)
		txp_window_small_add(&w, G, T0, 100000000); /* $1,000,000 each */
	txp_window_small_add(&w, G, T0, INT64_MAX);
	txp_window_small_add(&w, G, T0, -5);
	txp_window_small_totals(&w, G, T0, &n, &sum);
	ck_assert_uint_eq(n, 65535);
	ck_assert_uint_ge(n, TXP_WINDOW_SMALL_MAX_COUNT);
	ck_assert_int_eq(sum, (int64_t)UINT32_MAX);
	ck_assert_int_ge(sum, (int64_t)TXP_WINDOW_SMALL_MAX_USD * 100);
	/* A second bucket adds on top rather than wrapping. */
	txp_window_small_add(&w, G, T0 + G, 250);
	txp_window_small_totals(&w, G, T0 + G, &n, &sum);
	ck_assert_uint_eq(n, 65536);
	ck_assert_int_eq(sum, (int64_t)UINT32_MAX + 250);
}
END_TEST

START_TEST(auto_keys_take_half_the_memory_within_bounds)
{
	/* 16 GiB, one shard, 1000 B per key: 8 GiB / 1000. */
	ck_assert_uint_eq(txp_state_auto_keys(UINT64_C(16) << 30, 1, 1000), (UINT64_C(16) << 30) / 100 * 50 / 1000);
	/* Shared by shards. */
	ck_assert_uint_eq(txp_state_auto_keys(UINT64_C(16) << 30, 4, 1000), (UINT64_C(16) << 30) / 100 * 50 / 4 / 1000);
	/* Unknown or tiny memory: the old fixed default; huge: the table's limit. */
	ck_assert_uint_eq(txp_state_auto_keys(0, 1, 1000), TXP_STATE_AUTO_MIN_KEYS);
	ck_assert_uint_eq(txp_state_auto_keys(UINT64_C(1) << 50, 1, 100), UINT64_C(1) << 30);
	ck_assert_uint_eq(txp_keytab_bytes_per_key(88), 24 + 88 + 16);
}
END_TEST

static Suite *velocity_suite(void)
{
	Suite *s = suite_create("velocity");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, window_width_is_a_twelfth_rounded_up);
	tcase_add_test(tc, small_window_has_the_same_edges_as_the_wide_one);
	tcase_add_test(tc, small_window_saturates_at_the_documented_bounds_never_wraps);
	tcase_add_test(tc, auto_keys_take_half_the_memory_within_bounds);
	tcase_add_test(tc, window_counts_event_exactly_at_length_and_drops_it_one_ms_later);
	tcase_add_test(tc, window_over_counts_by_less_than_one_bucket_never_under);
	tcase_add_test(tc, window_sums_amounts_and_ignores_negative_ones);
	tcase_add_test(tc, window_clears_after_a_long_gap_and_saturates_sums);
	tcase_add_test(tc, window_puts_an_older_event_in_its_own_bucket);
	tcase_add_test(tc, window_drops_an_event_older_than_the_ring);
	tcase_add_test(tc, keytab_finds_what_it_inserted_and_zeroes_new_payloads);
	tcase_add_test(tc, keytab_full_of_live_keys_refuses_and_counts_overflow);
	tcase_add_test(tc, keytab_evicts_only_the_least_recently_seen_expired_key);
	tcase_add_test(tc, keytab_churn_keeps_every_live_key_reachable);
	tcase_add_test(tc, keytab_stats_report_the_memory_bound);
	tcase_add_test(tc, keytab_faults_each_index_page_in_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(velocity_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
