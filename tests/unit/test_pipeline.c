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
	unsigned shards, workers;
	bool finish; /* the stages have a finish function */
	/* Hybrid runs (txp_pipeline_set_inline_below): a shard's stages may
	 * run on its threads or inline on the loop, never at once. */
	uint32_t inline_below;
	pthread_t loop_thread;
	/* [0] fraud, [1] compliance: each context is one thread's at a time. */
	uint64_t shard_work[2][MAX_SHARDS]; /* plain: TSan sees unordered access */
	_Atomic int busy[2][MAX_SHARDS];
	_Atomic uint32_t on_loop, on_threads;
	unsigned char *ran_inline;
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

/* Hybrid: the shard's work, which must not overlap another thread's, and
 * where it ran. */
static void shard_turn(struct harness *h, unsigned stage, int shard, struct txp_txn *t)
{
	if (atomic_exchange(&h->busy[stage][shard], 1) != 0)
		atomic_store(&h->wrong_thread, 1);
	h->shard_work[stage][shard]++;
	if (pthread_equal(pthread_self(), h->loop_thread)) {
		atomic_fetch_add(&h->on_loop, 1);
		h->ran_inline[t->id] = 1;
	} else {
		atomic_fetch_add(&h->on_threads, 1);
	}
	atomic_store(&h->busy[stage][shard], 0);
}

static void stage_fraud(void *ctx, struct txp_txn *t)
{
	int shard = *(int *)ctx;

	if (the_harness->inline_below > 0)
		shard_turn(the_harness, 0, shard, t);
	else
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

	if (the_harness->inline_below > 0)
		shard_turn(the_harness, 1, shard, t);
	else
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
	/* Only a run inline, alone in the pipeline, makes validation's
	 * duplicate check final. */
	if (h->inline_below > 0)
		ck_assert_int_eq(t->dedup_final, h->ran_inline[t->id]);
	else
		ck_assert_int_eq(t->dedup_final, h->workers == 0);
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

static void on_done_free(void *arg, struct txp_txn *t)
{
	(void)arg;
	ck_assert(t->dedup_final);
	txp_txn_free(t);
}

static void feed(uv_idle_t *idle)
{
	struct harness *h = idle->data;
	uint32_t n = h->total - h->submitted, most = 100;

	/* Hybrid: bursts of 1 to 40, so some find the threads idle and small
	 * enough to run inline, and some do not. */
	if (h->inline_below > 0)
		most = 1 + (uint32_t)((h->submitted * 2654435761u) >> 7) % 40;
	if (n > most)
		n = most;
	if (n == 0)
		return;
	for (uint32_t k = 0; k < n; k++) {
		struct txp_txn *t = h->pending[h->submitted + k];
		t->t_received = txp_now_ns();
	}
	h->submitted += txp_pipeline_submit(h->p, h->pending + h->submitted, n);
	ck_assert_uint_le(txp_pipeline_inflight(h->p), txp_pipeline_capacity(h->p));
}

/* inline_below: txp_pipeline_set_inline_below()'s n (0: none); finish: the
 * stages have a finish function (only without inline runs, whose thread
 * check_thread would refuse). */
static void run(unsigned workers, uint32_t total, uint32_t capacity, bool finish, uint32_t inline_below)
{
	struct harness h;
	struct txp_stage_fns fns;
	char err[256];

	memset(&h, 0, sizeof(h));
	the_harness = &h;
	h.total = total;
	h.finish = finish;
	ck_assert(!finish || inline_below == 0);
	h.inline_below = inline_below;
	h.loop_thread = pthread_self();
	if (h.inline_below > 0)
		h.ran_inline = calloc(total, 1);
	h.shards = workers > 0 ? workers : 1;
	h.workers = workers;
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
	txp_pipeline_set_inline_below(h.p, h.inline_below);
	uv_idle_init(&h.loop, &h.feeder);
	h.feeder.data = &h;
	uv_idle_start(&h.feeder, feed);
	ck_assert_int_eq(uv_run(&h.loop, UV_RUN_DEFAULT), 0);
	ck_assert_uint_eq(h.done, total);
	ck_assert_int_eq(atomic_load(&h.wrong_thread), 0);
	if (h.inline_below > 0) {
		/* Both ways were taken; every stage call did its shard's work. */
		uint64_t work = 0;
		ck_assert_uint_gt(atomic_load(&h.on_loop), 0);
		ck_assert_uint_gt(atomic_load(&h.on_threads), 0);
		for (unsigned i = 0; i < MAX_SHARDS; i++)
			work += h.shard_work[0][i] + h.shard_work[1][i];
		ck_assert_uint_eq(work, atomic_load(&h.on_loop) + atomic_load(&h.on_threads));
	}
	ck_assert_int_eq(uv_loop_close(&h.loop), 0);
	free(h.pending);
	free(h.seen);
	free(h.ran_inline);
}

static void run_pipeline(unsigned workers, uint32_t total, uint32_t capacity)
{
	run(workers, total, capacity, false, 0);
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
	run(2, 50000, 256, true, 0);
	run(0, 5000, 64, true, 0);
}
END_TEST

/* With inline_below, small bursts that find the threads idle run on the
 * loop thread with the same shard contexts, never while a thread runs
 * them (ThreadSanitizer checks the plain per-shard counter too); larger
 * bursts and bursts behind busy threads go to the threads. */
START_TEST(small_bursts_run_inline_while_the_threads_are_idle)
{
	run(1, 30000, 1024, false, 16);
	run(2, 30000, 256, false, 16);
}
END_TEST

/* Stage statistics count the inline runs with the threads'. */
START_TEST(stats_count_inline_runs_with_the_threads)
{
	struct harness h;
	uv_loop_t loop;
	struct txp_pipeline *p;
	struct txp_pipeline_stats st;
	struct txp_txn *t[3];
	void *vctx[MAX_SHARDS] = { NULL };
	struct txp_stage_fns fns;
	char err[256];

	memset(&h, 0, sizeof(h));
	the_harness = &h;
	h.shards = 1;
	h.inline_below = 4;
	h.loop_thread = pthread_self();
	h.ran_inline = calloc(8, 1);
	h.shard_ctx[0] = &h.shard_ctx_ids[0];
	fns = (struct txp_stage_fns){ .validate = stage_validate,
		                      .fraud = stage_fraud,
		                      .comply = stage_comply,
		                      .validate_ctx = vctx,
		                      .fraud_ctx = h.shard_ctx,
		                      .comply_ctx = h.shard_ctx };
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(txp_pipeline_create(&p, &loop, 1, 64, &fns, on_done_free, NULL, err, sizeof(err)), 0);
	txp_pipeline_set_inline_below(p, 4);
	for (int i = 0; i < 3; i++) {
		t[i] = txp_txn_new();
		t[i]->id = (uint64_t)i + 1;
	}
	/* Three lines, below 4 and alone: inline, done before submit returns. */
	ck_assert_uint_eq(txp_pipeline_submit(p, t, 3), 3);
	ck_assert_uint_eq(txp_pipeline_inflight(p), 0);
	ck_assert_uint_eq(atomic_load(&h.on_loop), 2 * 3);
	txp_pipeline_stats(p, &st);
	for (unsigned g = 0; g < TXP_STAGE_COUNT; g++) {
		ck_assert_uint_eq(st.processed[g], 3);
		ck_assert_uint_eq(st.latency[g].count, 3);
	}
	txp_pipeline_stop(p);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	free(h.ran_inline);
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

/* workers = auto: inline with one usable CPU, one worker per three
 * CPUs beyond the loop's on larger hosts; a number stays itself. */
START_TEST(auto_workers_follow_the_usable_cpus)
{
	cpu_set_t saved, one;
	unsigned cpus = txp_pipeline_usable_cpus(), want;

	ck_assert_uint_eq(txp_pipeline_workers(0), 0);
	ck_assert_uint_eq(txp_pipeline_workers(3), 3);
	ck_assert_uint_ge(cpus, 1);
	want = cpus <= 1 ? 0 : (cpus - 1) / 3 < 1 ? 1 : (cpus - 1) / 3 > 16 ? 16 : (cpus - 1) / 3;
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
	tcase_add_test(tc, small_bursts_run_inline_while_the_threads_are_idle);
	tcase_add_test(tc, stats_count_inline_runs_with_the_threads);
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
