/* test_pipeline.c: the stage threads deliver every transaction once, shard by customer, and shut down clean. */
#include "txpipe/pipeline.h"

#include "txpipe/config.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARDS 4

struct harness {
	uv_loop_t loop;
	struct txp_pipeline *p;
	uint32_t total, submitted, done;
	struct txp_txn **pending;
	unsigned char *seen;
	uv_idle_t feeder;
	/* Which thread ran fraud/compliance for each shard: one each. */
	pthread_t fraud_thread[MAX_SHARDS], comply_thread[MAX_SHARDS];
	_Atomic int fraud_thread_set[MAX_SHARDS], comply_thread_set[MAX_SHARDS];
	_Atomic int wrong_thread;
	int shard_ctx_ids[MAX_SHARDS];
	void *shard_ctx[MAX_SHARDS];
	unsigned shards;
	bool finish; /* the stages have a finish function */
};

static void stage_validate(void *ctx, struct txp_txn *t)
{
	(void)ctx;
	/* A toy "customer": every 7th transaction is rejected and skips the
	 * later stages' work. */
	t->shard = (uint32_t)(t->id % 13);
	if (t->id % 7 == 0)
		t->status = TXP_STATUS_REJECTED;
}

static void check_thread(struct harness *h, pthread_t *slot, _Atomic int *set)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(set, &expected, 1)) {
		*slot = pthread_self();
		atomic_store(set, 2);
		return;
	}
	while (atomic_load(set) != 2)
		;
	if (!pthread_equal(*slot, pthread_self()))
		atomic_store(&h->wrong_thread, 1);
}

static struct harness *the_harness;

static void stage_fraud(void *ctx, struct txp_txn *t)
{
	int shard = *(int *)ctx;

	check_thread(the_harness, &the_harness->fraud_thread[shard], &the_harness->fraud_thread_set[shard]);
	/* Every transaction of one "customer" lands on one shard. */
	if ((t->id % 13) % the_harness->shards != (uint64_t)shard)
		atomic_store(&the_harness->wrong_thread, 1);
	if (t->status != TXP_STATUS_REJECTED)
		t->risk_score = (int)(t->id % 101);
}

static void stage_comply(void *ctx, struct txp_txn *t)
{
	int shard = *(int *)ctx;

	check_thread(the_harness, &the_harness->comply_thread[shard], &the_harness->comply_thread_set[shard]);
	if (t->status != TXP_STATUS_REJECTED)
		t->scored = true;
}

/* Runs after comply, on its thread, with the compliance time recorded:
 * leaves a mark that on_done checks. */
static void stage_finish(struct txp_txn *t)
{
	int shard = (int)(t->id % 13 % the_harness->shards);

	check_thread(the_harness, &the_harness->comply_thread[shard], &the_harness->comply_thread_set[shard]);
	if (t->t_compliance != 0 && t->t_compliance >= t->t_fraud && t->item == NULL)
		t->item = strdup("finished");
}

static void on_done(void *arg, struct txp_txn *t)
{
	struct harness *h = arg;

	ck_assert_uint_lt(t->id, h->total);
	ck_assert_uint_eq(h->seen[t->id], 0);
	h->seen[t->id] = 1;
	if (t->id % 7 == 0) {
		ck_assert_int_eq(t->status, TXP_STATUS_REJECTED);
		ck_assert(!t->scored);
	} else {
		ck_assert(t->scored);
		ck_assert_int_eq(t->risk_score, (int)(t->id % 101));
	}
	ck_assert_uint_ge(t->t_compliance, t->t_validated);
	if (h->finish) {
		ck_assert_ptr_nonnull(t->item);
		ck_assert_str_eq(t->item, "finished");
	} else {
		ck_assert_ptr_null(t->item);
	}
	h->done++;
	txp_txn_free(t);
	if (h->done == h->total) {
		txp_pipeline_stop(h->p);
		uv_idle_stop(&h->feeder);
		uv_close((uv_handle_t *)&h->feeder, NULL);
	}
}

static void feed(uv_idle_t *idle)
{
	struct harness *h = idle->data;
	uint32_t n = h->total - h->submitted;

	if (n > 100)
		n = 100;
	if (n == 0)
		return;
	for (uint32_t k = 0; k < n; k++) {
		struct txp_txn *t = h->pending[h->submitted + k];
		t->t_received = txp_now_ns();
	}
	h->submitted += txp_pipeline_submit(h->p, h->pending + h->submitted, n);
	ck_assert_uint_le(txp_pipeline_inflight(h->p), txp_pipeline_capacity(h->p));
}

static void run_pipeline_with(unsigned workers, uint32_t total, uint32_t capacity, bool finish)
{
	struct harness h;
	struct txp_stage_fns fns;
	char err[256];

	memset(&h, 0, sizeof(h));
	the_harness = &h;
	h.total = total;
	h.finish = finish;
	h.shards = workers > 0 ? workers : 1;
	h.pending = calloc(total, sizeof(*h.pending));
	h.seen = calloc(total, 1);
	for (uint32_t i = 0; i < total; i++) {
		h.pending[i] = txp_txn_new();
		h.pending[i]->id = i;
	}
	for (unsigned i = 0; i < MAX_SHARDS; i++) {
		h.shard_ctx_ids[i] = (int)i;
		h.shard_ctx[i] = &h.shard_ctx_ids[i];
	}
	void *vctx[MAX_SHARDS] = { NULL };
	fns = (struct txp_stage_fns){ .validate = stage_validate,
		                      .fraud = stage_fraud,
		                      .comply = stage_comply,
		                      .validate_ctx = vctx,
		                      .fraud_ctx = h.shard_ctx,
		                      .comply_ctx = h.shard_ctx,
		                      .finish = finish ? stage_finish : NULL };
	ck_assert_int_eq(uv_loop_init(&h.loop), 0);
	ck_assert_int_eq(txp_pipeline_create(&h.p, &h.loop, workers, capacity, &fns, on_done, &h, err, sizeof(err)), 0);
	uv_idle_init(&h.loop, &h.feeder);
	h.feeder.data = &h;
	uv_idle_start(&h.feeder, feed);
	ck_assert_int_eq(uv_run(&h.loop, UV_RUN_DEFAULT), 0);
	ck_assert_uint_eq(h.done, total);
	ck_assert_int_eq(atomic_load(&h.wrong_thread), 0);
	ck_assert_int_eq(uv_loop_close(&h.loop), 0);
	free(h.pending);
	free(h.seen);
}

static void run_pipeline(unsigned workers, uint32_t total, uint32_t capacity)
{
	run_pipeline_with(workers, total, capacity, false);
}

START_TEST(one_worker_delivers_every_transaction_once)
{
	run_pipeline(1, 200000, 1024);
}
END_TEST

START_TEST(two_workers_shard_by_customer_and_deliver_once)
{
	run_pipeline(2, 200000, 256);
}
END_TEST

START_TEST(tiny_rings_apply_admission_control)
{
	/* 64 slots for 50,000 transactions: submit must refuse past the
	 * capacity and the rings must never overflow. */
	run_pipeline(3, 50000, 64);
}
END_TEST

START_TEST(inline_mode_runs_stages_on_the_loop_thread)
{
	run_pipeline(0, 20000, 64);
}
END_TEST

/* The finish function runs once per transaction, after comply and its
 * time, on the compliance thread of the transaction's shard (the loop
 * thread inline): the daemon builds the stored item there. */
START_TEST(finish_runs_after_compliance_on_its_thread)
{
	run_pipeline_with(2, 50000, 256, true);
	run_pipeline_with(0, 5000, 64, true);
}
END_TEST

START_TEST(latency_quantiles_come_from_the_histogram)
{
	struct txp_latency l;

	memset(&l, 0, sizeof(l));
	ck_assert_uint_eq(txp_latency_quantile_us(&l, 500), 0);
	for (int i = 0; i < 98; i++)
		txp_latency_record(&l, 3000); /* 3 us: bucket [2, 4) */
	txp_latency_record(&l, 1000000);      /* 1 ms */
	txp_latency_record(&l, 1000000);
	ck_assert_uint_eq(txp_latency_quantile_us(&l, 500), 4);
	ck_assert_uint_eq(txp_latency_quantile_us(&l, 980), 4);
	ck_assert_uint_eq(txp_latency_quantile_us(&l, 990), 1024);
	ck_assert_uint_eq(atomic_load(&l.count), 100);
}
END_TEST

/* workers = auto: inline with one or two usable CPUs, one worker per three
 * CPUs beyond the loop's on larger hosts; a number stays itself. */
START_TEST(auto_workers_follow_the_usable_cpus)
{
	cpu_set_t saved, one;
	unsigned cpus = txp_pipeline_usable_cpus(), want;

	ck_assert_uint_eq(txp_pipeline_workers(0), 0);
	ck_assert_uint_eq(txp_pipeline_workers(3), 3);
	ck_assert_uint_ge(cpus, 1);
	want = cpus <= 2 ? 0 : (cpus - 1) / 3 < 1 ? 1 : (cpus - 1) / 3 > 16 ? 16 : (cpus - 1) / 3;
	ck_assert_uint_eq(txp_pipeline_workers(TXP_CFG_AUTO), want);
	/* Confined to one CPU (as taskset or systemd's CPUAffinity= do): inline. */
	ck_assert_int_eq(sched_getaffinity(0, sizeof(saved), &saved), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &saved)) {
			CPU_SET(c, &one);
			break;
		}
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	ck_assert_uint_eq(txp_pipeline_usable_cpus(), 1);
	ck_assert_uint_eq(txp_pipeline_workers(TXP_CFG_AUTO), 0);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(saved), &saved), 0);
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, one_worker_delivers_every_transaction_once);
	tcase_add_test(tc, two_workers_shard_by_customer_and_deliver_once);
	tcase_add_test(tc, tiny_rings_apply_admission_control);
	tcase_add_test(tc, inline_mode_runs_stages_on_the_loop_thread);
	tcase_add_test(tc, finish_runs_after_compliance_on_its_thread);
	tcase_add_test(tc, latency_quantiles_come_from_the_histogram);
	tcase_add_test(tc, auto_workers_follow_the_usable_cpus);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pipeline_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
