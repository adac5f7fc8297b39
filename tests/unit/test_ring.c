/* test_ring.c: the SPSC ring's capacity, order, wrap-around and two-thread behaviour. */
#include "txpipe/ring.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

START_TEST(create_rounds_capacity_up_to_power_of_two)
{
	struct txp_ring *r = txp_ring_create(1000);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(txp_ring_capacity(r), 1024);
	txp_ring_destroy(r);
	ck_assert_ptr_null(txp_ring_create(0));
	ck_assert_ptr_null(txp_ring_create((UINT32_C(1) << 30) + 1));
	txp_ring_destroy(NULL);
}
END_TEST

START_TEST(empty_ring_dequeues_nothing_and_full_ring_refuses)
{
	struct txp_ring *r = txp_ring_create(4);
	uintptr_t v;

	ck_assert_ptr_null(txp_ring_dequeue(r));
	for (v = 1; v <= 4; v++)
		ck_assert_int_eq(txp_ring_enqueue(r, (void *)v), 1);
	ck_assert_int_eq(txp_ring_enqueue(r, (void *)5), 0);
	ck_assert_uint_eq(txp_ring_count(r), 4);
	for (v = 1; v <= 4; v++)
		ck_assert_ptr_eq(txp_ring_dequeue(r), (void *)v);
	ck_assert_ptr_null(txp_ring_dequeue(r));
	txp_ring_destroy(r);
}
END_TEST

START_TEST(burst_calls_return_partial_counts_in_order)
{
	struct txp_ring *r = txp_ring_create(8);
	void *in[12], *out[12];

	for (uintptr_t i = 0; i < 12; i++)
		in[i] = (void *)(i + 1);
	ck_assert_uint_eq(txp_ring_enqueue_burst(r, in, 12), 8);
	ck_assert_uint_eq(txp_ring_dequeue_burst(r, out, 3), 3);
	ck_assert_uint_eq(txp_ring_enqueue_burst(r, in + 8, 4), 3);
	ck_assert_uint_eq(txp_ring_dequeue_burst(r, out + 3, 12), 8);
	for (uintptr_t i = 0; i < 11; i++)
		ck_assert_ptr_eq(out[i], (void *)(i + 1));
	txp_ring_destroy(r);
}
END_TEST

START_TEST(indices_wrap_around_32_bits)
{
	struct txp_ring *r = txp_ring_create(4);
	/* Start both counters just below the 32-bit wrap so the masked
	 * arithmetic is exercised across it. */
	atomic_store(&r->head, UINT32_MAX - 1);
	atomic_store(&r->tail, UINT32_MAX - 1);
	r->head_cache = r->tail_cache = UINT32_MAX - 1;
	for (uintptr_t round = 0; round < 5; round++) {
		for (uintptr_t v = 1; v <= 4; v++)
			ck_assert_int_eq(txp_ring_enqueue(r, (void *)(round * 10 + v)), 1);
		ck_assert_int_eq(txp_ring_enqueue(r, (void *)99), 0);
		for (uintptr_t v = 1; v <= 4; v++)
			ck_assert_ptr_eq(txp_ring_dequeue(r), (void *)(round * 10 + v));
	}
	ck_assert_ptr_null(txp_ring_dequeue(r));
	txp_ring_destroy(r);
}
END_TEST

#define STRESS_ITEMS 1000000u

static void *stress_producer(void *arg)
{
	struct txp_ring *r = arg;
	uintptr_t next = 1;
	void *batch[37];

	while (next <= STRESS_ITEMS) {
		uint32_t n = 0;
		/* Vary the batch size so partial bursts happen. */
		uint32_t want = 1 + (uint32_t)(next % 37);
		while (n < want && next + n <= STRESS_ITEMS) {
			batch[n] = (void *)(next + n);
			n++;
		}
		uint32_t done = txp_ring_enqueue_burst(r, batch, n);
		next += done;
		if (done == 0)
			sched_yield();
	}
	return NULL;
}

START_TEST(two_threads_deliver_every_item_once_in_order)
{
	struct txp_ring *r = txp_ring_create(64);
	pthread_t th;
	uintptr_t expect = 1;
	void *out[29];

	ck_assert_int_eq(pthread_create(&th, NULL, stress_producer, r), 0);
	while (expect <= STRESS_ITEMS) {
		uint32_t n = txp_ring_dequeue_burst(r, out, 1 + (uint32_t)(expect % 29));
		for (uint32_t i = 0; i < n; i++) {
			ck_assert_ptr_eq(out[i], (void *)expect);
			expect++;
		}
		if (n == 0)
			sched_yield();
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_ptr_null(txp_ring_dequeue(r));
	txp_ring_destroy(r);
}
END_TEST

/* An observer thread reads the depth while both sides run, as the stats
 * command does: it must never exceed the capacity (read in the wrong order
 * the two indices can give a difference near 2^32). */
struct observed {
	struct txp_ring *r;
	_Atomic int done;
	uint32_t worst;
	unsigned long polls;
};

static void *observer(void *arg)
{
	struct observed *o = arg;

	while (!atomic_load(&o->done)) {
		uint32_t n = txp_ring_count(o->r);
		if (n > o->worst)
			o->worst = n;
		o->polls++;
	}
	return NULL;
}

START_TEST(a_third_thread_never_sees_more_than_the_capacity)
{
	struct observed o = { .r = txp_ring_create(8) };
	pthread_t prod, obs;
	uintptr_t expect = 1;
	void *out[3];

	ck_assert_int_eq(pthread_create(&obs, NULL, observer, &o), 0);
	ck_assert_int_eq(pthread_create(&prod, NULL, stress_producer, o.r), 0);
	while (expect <= STRESS_ITEMS) {
		uint32_t n = txp_ring_dequeue_burst(o.r, out, 3);
		expect += n;
		if (n == 0)
			sched_yield();
	}
	ck_assert_int_eq(pthread_join(prod, NULL), 0);
	atomic_store(&o.done, 1);
	ck_assert_int_eq(pthread_join(obs, NULL), 0);
	ck_assert_uint_gt(o.polls, 0);
	ck_assert_uint_le(o.worst, txp_ring_capacity(o.r));
	txp_ring_destroy(o.r);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, create_rounds_capacity_up_to_power_of_two);
	tcase_add_test(tc, empty_ring_dequeues_nothing_and_full_ring_refuses);
	tcase_add_test(tc, burst_calls_return_partial_counts_in_order);
	tcase_add_test(tc, indices_wrap_around_32_bits);
	tcase_add_test(tc, two_threads_deliver_every_item_once_in_order);
	tcase_add_test(tc, a_third_thread_never_sees_more_than_the_capacity);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
