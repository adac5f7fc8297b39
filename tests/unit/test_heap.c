/* test_heap.c: the min-heap behind delivery's retry queue: order, ties, and comparisons per operation. */
#include "txpipe/heap.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

struct item {
	uint64_t due, order;
};

/* Counts what it is asked, so the cost of each operation is checked
 * without timing anything. */
static bool less_counting(const void *a, const void *b, void *arg)
{
	const struct item *x = a, *y = b;

	(*(uint64_t *)arg)++;
	return x->due < y->due || (x->due == y->due && x->order < y->order);
}

static unsigned log2_ceil(size_t n)
{
	unsigned k = 0;

	while (((size_t)1 << k) < n)
		k++;
	return k;
}

START_TEST(pops_come_out_in_due_order_ties_in_push_order)
{
	enum { N = 5000 };
	struct item *it = calloc(N, sizeof(*it));
	struct txp_heap h;
	uint64_t compares = 0, x = 88172645463325252ull;
	const struct item *prev = NULL, *p;

	ck_assert_ptr_nonnull(it);
	txp_heap_init(&h, less_counting, &compares);
	ck_assert_ptr_null(txp_heap_peek(&h));
	ck_assert_ptr_null(txp_heap_pop(&h));
	for (size_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64: reproducible */
		it[i].due = x % 100;                     /* many ties */
		it[i].order = i;
		ck_assert_int_eq(txp_heap_push(&h, &it[i]), 0);
	}
	ck_assert_uint_eq(txp_heap_count(&h), N);
	for (size_t i = 0; i < N; i++) {
		p = txp_heap_pop(&h);
		ck_assert_ptr_nonnull(p);
		if (prev != NULL) {
			ck_assert_uint_le(prev->due, p->due);
			if (prev->due == p->due)
				ck_assert_uint_lt(prev->order, p->order);
		}
		prev = p;
	}
	ck_assert_ptr_null(txp_heap_pop(&h));
	ck_assert_uint_eq(txp_heap_count(&h), 0);
	txp_heap_free(&h);
	free(it);
}
END_TEST

START_TEST(interleaved_pushes_and_pops_keep_the_minimum_on_top)
{
	struct item it[64];
	struct txp_heap h;
	uint64_t compares = 0;

	txp_heap_init(&h, less_counting, &compares);
	for (unsigned i = 0; i < 64; i++)
		it[i] = (struct item){ .due = (i * 37) % 64, .order = i };
	for (unsigned i = 0; i < 32; i++)
		ck_assert_int_eq(txp_heap_push(&h, &it[i]), 0);
	for (unsigned i = 0; i < 32; i++) {
		const struct item *top = txp_heap_peek(&h), *p;
		uint64_t min = UINT64_MAX;
		for (unsigned k = 0; k < 64; k++)
			if (it[k].order != UINT64_MAX && k < 32 + i && it[k].due < min)
				min = it[k].due;
		ck_assert_uint_eq(top->due, min);
		p = txp_heap_pop(&h);
		ck_assert_ptr_eq(p, top);
		it[p->order].order = UINT64_MAX; /* popped: out of the reference minimum */
		ck_assert_int_eq(txp_heap_push(&h, &it[32 + i]), 0);
	}
	txp_heap_free(&h);
}
END_TEST

/*
 * What makes an outage with a million retries cheap: with n entries queued
 * and none due, finding the next deadline asks nothing, and taking one due
 * entry or adding one asks O(log n), whatever n is.
 */
START_TEST(cost_per_operation_is_logarithmic_in_the_backlog)
{
	enum { N = 1 << 20 };
	struct item *it = calloc(N + 1, sizeof(*it));
	struct txp_heap h;
	uint64_t compares = 0, before;
	unsigned lg = log2_ceil(N + 1);

	ck_assert_ptr_nonnull(it);
	txp_heap_init(&h, less_counting, &compares);
	/* A million retries, all due later than the one added last. */
	for (size_t i = 0; i < N; i++) {
		it[i] = (struct item){ .due = 1000000 + (i * 7919) % N, .order = i };
		before = compares;
		ck_assert_int_eq(txp_heap_push(&h, &it[i]), 0);
		ck_assert_uint_le(compares - before, log2_ceil(i + 1));
	}
	before = compares;
	for (int k = 0; k < 1000; k++)
		ck_assert_uint_ge(((const struct item *)txp_heap_peek(&h))->due, 1000000);
	ck_assert_uint_eq(compares, before); /* peek: nothing compared */
	it[N] = (struct item){ .due = 5, .order = N };
	before = compares;
	ck_assert_int_eq(txp_heap_push(&h, &it[N]), 0);
	ck_assert_uint_le(compares - before, lg);
	before = compares;
	ck_assert_ptr_eq(txp_heap_pop(&h), &it[N]);
	ck_assert_uint_le(compares - before, 2 * lg);
	ck_assert_uint_eq(txp_heap_count(&h), N);
	txp_heap_free(&h);
	free(it);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("heap");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pops_come_out_in_due_order_ties_in_push_order);
	tcase_add_test(tc, interleaved_pushes_and_pops_keep_the_minimum_on_top);
	tcase_add_test(tc, cost_per_operation_is_logarithmic_in_the_backlog);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
