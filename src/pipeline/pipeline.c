/* pipeline.c: worker threads running the stages, connected by SPSC rings. */
#include "txpipe/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "txpipe/config.h"
#include "txpipe/file.h"
#include "txpipe/ring.h"

/*
 * Topology with N workers (N >= 1):
 *
 *   loop --in[i]--> V_i --vf[i][j]--> F_j --fc[j]--> C_j --out[j]--> loop
 *
 * N validation threads V_i take transactions from the loop round-robin,
 * parse and validate them, and route each to the shard j that owns its
 * customer.  Shard j is one fraud thread F_j and one compliance thread C_j.
 * Every ring has exactly one producer thread and one consumer thread.
 *
 * Admission control keeps at most `capacity` (= ring capacity)
 * transactions in flight across the whole pipeline, so no ring can ever be
 * full: a producer never has to wait on its consumer.  Backpressure is the
 * loop's job (it stops reading clients), which is where it belongs.
 *
 * With workers, a burst of fewer than `inline_below` transactions that
 * finds nothing in flight runs inline on the loop thread instead, with the
 * contexts of validation thread 0 and of each transaction's shard.  Those
 * threads are idle then: everything handed to them came back through the
 * result rings (acquire), so their work happens before the loop's, and the
 * loop's before theirs once the next burst goes through a ring (release).
 * At low load that saves three hand-offs, each a wake-up, per burst; under
 * load bursts are large and the threads screen beside the loop.
 */

#define BURST 64

struct worker;

struct inbox {
	struct txp_ring **rings; /* rings this worker consumes */
	unsigned n;
};

struct worker {
	struct txp_pipeline *p;
	pthread_t thread;
	enum txp_stage_id stage;
	unsigned index; /* V_i: i; F_j/C_j: j */
	struct inbox in;
	struct txp_latency latency;
	_Atomic uint64_t processed;

	/* Sleeping protocol (a Dekker-style handshake, see worker_wait and
	 * worker_wake): the worker sets `sleeping` and then re-checks its
	 * rings; a producer publishes into a ring and then checks
	 * `sleeping`.  Between its store and its load each side does an
	 * acq_rel read-modify-write of `handshake`.  RMWs of one location
	 * are totally ordered and each reads the one before it, so whichever
	 * side comes second synchronises with the first and sees its store:
	 * either the worker sees the item, or the producer sees it asleep
	 * and signals.  (A seq_cst fence would do the same, but
	 * ThreadSanitizer does not model fences.) */
	_Atomic int sleeping;
	_Atomic uint32_t handshake;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wake;
};

struct txp_pipeline {
	uv_loop_t *loop;
	uv_async_t async;
	unsigned workers;
	uint32_t capacity;
	struct txp_stage_fns fns;
	void (*done)(void *done_arg, struct txp_txn *t);
	void *done_arg;
	_Atomic int stopping;
	/* sched_yield() rounds a worker spins on an empty inbox before it
	 * sleeps: see spin_rounds(). */
	int spin;
	uint32_t inflight;     /* loop thread only */
	uint32_t inline_below; /* see the topology comment; 0: never inline */
	unsigned next_v;       /* round-robin cursor, loop thread only */
	/* Optional gate before the stages (txp_pipeline_set_hold), loop
	 * thread only. */
	bool (*hold)(void *arg, struct txp_txn *t);
	void *hold_arg;

	struct txp_ring **in;  /* [N] loop -> V_i */
	struct txp_ring **vf;  /* [N*N] V_i -> F_j at i*N+j */
	struct txp_ring **fc;  /* [N] F_j -> C_j */
	struct txp_ring **out; /* [N] C_j -> loop */
	struct worker *v, *f, *c;
	unsigned started; /* threads started, for unwinding */

	/* Inline runs' latencies and count, written on the loop thread. */
	struct txp_latency inline_latency[TXP_STAGE_COUNT];
	uint64_t inline_processed;
};

uint64_t txp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t txp_shard_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619u;
	}
	return h;
}

const char *txp_stage_name(enum txp_stage_id s)
{
	static const char *const names[TXP_STAGE_COUNT] = { "validation", "fraud", "compliance" };
	return (unsigned)s < TXP_STAGE_COUNT ? names[s] : "?";
}

void txp_latency_record(struct txp_latency *l, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b = 0;

	while (us > 0 && b < TXP_LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	/* One writer per histogram: relaxed increments are enough, readers
	 * only need each counter to be untorn. */
	atomic_fetch_add_explicit(&l->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&l->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&l->sum_ns, ns, memory_order_relaxed);
}

uint64_t txp_latency_quantile_us(const struct txp_latency *l, unsigned permille)
{
	uint64_t total = 0, seen = 0, target;

	for (unsigned b = 0; b < TXP_LAT_BUCKETS; b++)
		total += atomic_load_explicit(&l->buckets[b], memory_order_relaxed);
	if (total == 0)
		return 0;
	target = (total * permille + 999) / 1000;
	if (target == 0)
		target = 1;
	for (unsigned b = 0; b < TXP_LAT_BUCKETS; b++) {
		seen += atomic_load_explicit(&l->buckets[b], memory_order_relaxed);
		if (seen >= target)
			return b == 0 ? 1 : (UINT64_C(1) << b);
	}
	return UINT64_C(1) << (TXP_LAT_BUCKETS - 1);
}

static void worker_wake(struct worker *w)
{
	/* Pairs with the RMW in worker_wait (see struct worker). */
	atomic_fetch_add_explicit(&w->handshake, 0, memory_order_acq_rel);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed)) {
		pthread_mutex_lock(&w->mu);
		w->wake = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static bool inbox_empty(struct inbox *in)
{
	for (unsigned i = 0; i < in->n; i++)
		if (txp_ring_count(in->rings[i]) != 0)
			return false;
	return true;
}

static void worker_wait(struct worker *w)
{
	/* A short spin first, where it pays (see spin_rounds()): under load
	 * the next batch is microseconds away and a futex sleep/wake costs
	 * more than that. */
	for (int spin = 0; spin < w->p->spin; spin++) {
		if (!inbox_empty(&w->in))
			return;
		sched_yield();
	}
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	/* Pairs with the RMW in worker_wake (see struct worker). */
	atomic_fetch_add_explicit(&w->handshake, 0, memory_order_acq_rel);
	if (inbox_empty(&w->in) && !atomic_load_explicit(&w->p->stopping, memory_order_acquire)) {
		pthread_mutex_lock(&w->mu);
		while (!w->wake && !atomic_load_explicit(&w->p->stopping, memory_order_acquire))
			pthread_cond_wait(&w->cv, &w->mu);
		w->wake = false;
		pthread_mutex_unlock(&w->mu);
	}
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

/* Pushes all n items; the admission bound means this never has to wait,
 * but a yield loop keeps it correct even if that invariant broke. */
static void push_all(struct txp_ring *r, struct txp_txn **items, uint32_t n)
{
	uint32_t done = 0;

	while (done < n) {
		done += txp_ring_enqueue_burst(r, (void *const *)(items + done), n - done);
		if (done < n)
			sched_yield();
	}
}

static void run_validation(struct worker *w, struct txp_txn **batch, uint32_t n)
{
	struct txp_pipeline *p = w->p;
	unsigned shards = p->workers;
	struct txp_txn *route[BURST];
	uint32_t shard_of[BURST];
	uint32_t nroute;

	for (uint32_t k = 0; k < n; k++) {
		struct txp_txn *t = batch[k];
		p->fns.validate(p->fns.validate_ctx[w->index], t);
		t->t_validated = txp_now_ns();
		/* Validation leaves a hash of the customer key (the customer_id
		 * pseudonym) in t->shard. */
		t->shard %= shards;
		shard_of[k] = t->shard;
		txp_latency_record(&w->latency, t->t_validated - t->t_received);
	}
	atomic_fetch_add_explicit(&w->processed, n, memory_order_relaxed);
	/* Route per shard, keeping the batch's order within each shard.  Once
	 * pushed, a transaction belongs to the next stage (which may already
	 * have finished and freed it), so routing reads only shard_of[]. */
	for (unsigned j = 0; j < shards; j++) {
		nroute = 0;
		for (uint32_t k = 0; k < n; k++)
			if (shard_of[k] == j)
				route[nroute++] = batch[k];
		if (nroute > 0) {
			push_all(p->vf[w->index * shards + j], route, nroute);
			worker_wake(&p->f[j]);
		}
	}
}

static void run_fraud(struct worker *w, struct txp_txn **batch, uint32_t n)
{
	struct txp_pipeline *p = w->p;

	for (uint32_t k = 0; k < n; k++) {
		struct txp_txn *t = batch[k];
		p->fns.fraud(p->fns.fraud_ctx[w->index], t);
		t->t_fraud = txp_now_ns();
		txp_latency_record(&w->latency, t->t_fraud - t->t_validated);
	}
	atomic_fetch_add_explicit(&w->processed, n, memory_order_relaxed);
	push_all(p->fc[w->index], batch, n);
	worker_wake(&p->c[w->index]);
}

static void run_compliance(struct worker *w, struct txp_txn **batch, uint32_t n)
{
	struct txp_pipeline *p = w->p;

	for (uint32_t k = 0; k < n; k++) {
		struct txp_txn *t = batch[k];
		p->fns.comply(p->fns.comply_ctx[w->index], t);
		t->t_compliance = txp_now_ns();
		txp_latency_record(&w->latency, t->t_compliance - t->t_fraud);
		if (p->fns.finish != NULL)
			p->fns.finish(t);
	}
	atomic_fetch_add_explicit(&w->processed, n, memory_order_relaxed);
	push_all(p->out[w->index], batch, n);
	/* uv_async_send coalesces: it is a cheap atomic check when a wake-up
	 * is already pending. */
	uv_async_send(&p->async);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct txp_txn *batch[BURST];

	for (;;) {
		uint32_t total = 0;
		for (unsigned i = 0; i < w->in.n; i++) {
			uint32_t n = txp_ring_dequeue_burst(w->in.rings[i], (void **)batch, BURST);
			if (n == 0)
				continue;
			total += n;
			switch (w->stage) {
			case TXP_STAGE_VALIDATION:
				run_validation(w, batch, n);
				break;
			case TXP_STAGE_FRAUD:
				run_fraud(w, batch, n);
				break;
			default:
				run_compliance(w, batch, n);
				break;
			}
		}
		if (total == 0) {
			if (atomic_load_explicit(&w->p->stopping, memory_order_acquire) && inbox_empty(&w->in))
				break;
			worker_wait(w);
		}
	}
	return NULL;
}

static void on_async(uv_async_t *h)
{
	struct txp_pipeline *p = h->data;
	struct txp_txn *batch[BURST];
	bool more = true;

	/* Drain every result ring; each batch is handed over in order. */
	while (more) {
		more = false;
		for (unsigned j = 0; j < p->workers; j++) {
			uint32_t n = txp_ring_dequeue_burst(p->out[j], (void **)batch, BURST);
			p->inflight -= n;
			for (uint32_t k = 0; k < n; k++)
				p->done(p->done_arg, batch[k]);
			if (n == BURST)
				more = true;
		}
	}
}

static int make_rings(struct txp_ring ***out, unsigned n, uint32_t cap)
{
	struct txp_ring **rs = calloc(n, sizeof(*rs));

	if (rs == NULL)
		return -ENOMEM;
	*out = rs;
	for (unsigned i = 0; i < n; i++)
		if ((rs[i] = txp_ring_create(cap)) == NULL)
			return -ENOMEM;
	return 0;
}

static void free_rings(struct txp_ring **rs, unsigned n)
{
	if (rs == NULL)
		return;
	for (unsigned i = 0; i < n; i++)
		txp_ring_destroy(rs[i]);
	free(rs);
}

static void pipeline_free(struct txp_pipeline *p);

static void on_async_closed(uv_handle_t *h)
{
	pipeline_free(h->data);
}

static void pipeline_free(struct txp_pipeline *p)
{
	unsigned n = p->workers;
	struct worker *groups[3] = { p->v, p->f, p->c };

	for (unsigned g = 0; g < 3; g++) {
		if (groups[g] == NULL)
			continue;
		for (unsigned i = 0; i < n; i++) {
			free(groups[g][i].in.rings);
			pthread_mutex_destroy(&groups[g][i].mu);
			pthread_cond_destroy(&groups[g][i].cv);
		}
		free(groups[g]);
	}
	free_rings(p->in, n);
	free_rings(p->vf, n * n);
	free_rings(p->fc, n);
	free_rings(p->out, n);
	free(p);
}

static int init_workers(struct txp_pipeline *p)
{
	unsigned n = p->workers;

	p->v = calloc(n, sizeof(*p->v));
	p->f = calloc(n, sizeof(*p->f));
	p->c = calloc(n, sizeof(*p->c));
	if (p->v == NULL || p->f == NULL || p->c == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct worker *ws[3] = { &p->v[i], &p->f[i], &p->c[i] };
		for (unsigned g = 0; g < 3; g++) {
			ws[g]->p = p;
			ws[g]->stage = (enum txp_stage_id)g;
			ws[g]->index = i;
			pthread_mutex_init(&ws[g]->mu, NULL);
			pthread_cond_init(&ws[g]->cv, NULL);
		}
		p->v[i].in.rings = calloc(1, sizeof(struct txp_ring *));
		p->f[i].in.rings = calloc(n, sizeof(struct txp_ring *));
		p->c[i].in.rings = calloc(1, sizeof(struct txp_ring *));
		if (p->v[i].in.rings == NULL || p->f[i].in.rings == NULL || p->c[i].in.rings == NULL)
			return -ENOMEM;
		p->v[i].in.rings[0] = p->in[i];
		p->v[i].in.n = 1;
		for (unsigned k = 0; k < n; k++)
			p->f[i].in.rings[k] = p->vf[k * n + i];
		p->f[i].in.n = n;
		p->c[i].in.rings[0] = p->fc[i];
		p->c[i].in.n = 1;
	}
	return 0;
}

static void join_started(struct txp_pipeline *p)
{
	unsigned n = p->workers;
	struct worker *all[3] = { p->v, p->f, p->c };

	atomic_store_explicit(&p->stopping, 1, memory_order_release);
	for (unsigned k = 0; k < p->started; k++) {
		struct worker *w = &all[k / n][k % n];
		pthread_mutex_lock(&w->mu);
		w->wake = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	for (unsigned k = 0; k < p->started; k++)
		pthread_join(all[k / n][k % n].thread, NULL);
	p->started = 0;
}

/*
 * Spinning before sleeping only pays when the spinner has a CPU to itself:
 * with fewer CPUs than the stage threads plus the loop and the journal
 * writer, each round of sched_yield() is a system call and a trip through
 * the scheduler that delays the very threads the spinner waits for.
 * Measured on a 2-vCPU VM with one worker per stage, at 60,000
 * transactions/s: 64 rounds cost 20 us of CPU and 1.8 context switches
 * per transaction, no spinning 17-18 us and 0.4-0.9.
 */
static int spin_rounds(unsigned workers)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus > 0 && (unsigned long)cpus >= 3ul * workers + 2 ? 64 : 0;
}

int txp_pipeline_create(struct txp_pipeline **out, uv_loop_t *loop, unsigned workers, uint32_t ring_capacity,
                        const struct txp_stage_fns *fns, void (*done)(void *done_arg, struct txp_txn *t),
                        void *done_arg, char *err, size_t errlen)
{
	struct txp_pipeline *p;
	unsigned n = workers;
	int rc;

	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "pipeline: out of memory");
		return -ENOMEM;
	}
	p->loop = loop;
	p->workers = workers;
	p->fns = *fns;
	p->done = done;
	p->done_arg = done_arg;
	p->capacity = ring_capacity;
	p->spin = spin_rounds(workers);
	atomic_init(&p->stopping, 0);

	if (n > 0) {
		if ((rc = make_rings(&p->in, n, ring_capacity)) < 0 ||
		    (rc = make_rings(&p->vf, n * n, ring_capacity)) < 0 ||
		    (rc = make_rings(&p->fc, n, ring_capacity)) < 0 ||
		    (rc = make_rings(&p->out, n, ring_capacity)) < 0 || (rc = init_workers(p)) < 0) {
			snprintf(err, errlen, "pipeline: out of memory for %u workers of %u slots", n, ring_capacity);
			goto err_after_alloc;
		}
		/* The real ring capacity may have been rounded up. */
		p->capacity = txp_ring_capacity(p->in[0]);
	}
	rc = uv_async_init(loop, &p->async, on_async);
	if (rc < 0) {
		snprintf(err, errlen, "pipeline: uv_async_init: %s", uv_strerror(rc));
		goto err_after_alloc;
	}
	p->async.data = p;

	for (unsigned g = 0; g < 3 && n > 0; g++) {
		struct worker *group = g == 0 ? p->v : g == 1 ? p->f : p->c;
		for (unsigned i = 0; i < n; i++) {
			rc = -pthread_create(&group[i].thread, NULL, worker_main, &group[i]);
			if (rc < 0) {
				snprintf(err, errlen, "pipeline: cannot start %s thread: %s", txp_stage_name(g),
				         strerror(-rc));
				goto err_after_threads;
			}
			p->started++;
		}
	}
	*out = p;
	return 0;

err_after_threads:
	join_started(p);
	/* The async handle must be closed before the memory goes: freed from
	 * its close callback when the caller's loop next runs (never run
	 * here: the loop is the caller's). */
	uv_close((uv_handle_t *)&p->async, on_async_closed);
	return rc;
err_after_alloc:
	pipeline_free(p);
	return rc;
}

uint32_t txp_pipeline_capacity(const struct txp_pipeline *p)
{
	return p->capacity;
}

uint32_t txp_pipeline_inflight(const struct txp_pipeline *p)
{
	return p->inflight;
}

unsigned txp_pipeline_shards(const struct txp_pipeline *p)
{
	return p->workers > 0 ? p->workers : 1;
}

static void run_inline(struct txp_pipeline *p, struct txp_txn *t)
{
	uint64_t now;

	p->fns.validate(p->fns.validate_ctx[0], t);
	/* Each transaction completes before the next is validated, and none
	 * is in the threads: validation's duplicate check is final. */
	t->dedup_final = true;
	now = t->t_validated = txp_now_ns();
	txp_latency_record(&p->inline_latency[TXP_STAGE_VALIDATION], now - t->t_received);
	t->shard = p->workers > 0 ? t->shard % p->workers : 0;
	p->fns.fraud(p->fns.fraud_ctx[t->shard], t);
	t->t_fraud = txp_now_ns();
	txp_latency_record(&p->inline_latency[TXP_STAGE_FRAUD], t->t_fraud - now);
	p->fns.comply(p->fns.comply_ctx[t->shard], t);
	t->t_compliance = txp_now_ns();
	txp_latency_record(&p->inline_latency[TXP_STAGE_COMPLIANCE], t->t_compliance - t->t_fraud);
	if (p->fns.finish != NULL)
		p->fns.finish(t);
	p->inline_processed++;
}

/* Hands n transactions, already counted in flight, to the stages. */
static void enter(struct txp_pipeline *p, struct txp_txn **ts, uint32_t n)
{
	if (n == 0)
		return;
	/* inflight == n: these are all that is in flight (the threads are
	 * idle and none is held). */
	if (p->workers == 0 || (n < p->inline_below && p->inflight == n)) {
		/* Inline: the stages run right here, and each result goes
		 * straight to `done`. */
		p->inflight -= p->workers > 0 ? n : 0;
		for (uint32_t k = 0; k < n; k++) {
			run_inline(p, ts[k]);
			p->done(p->done_arg, ts[k]);
		}
		return;
	}
	/* Whole bursts go to one validation thread, so one connection's
	 * lines usually stay together; the next burst goes to the next.  The
	 * admission bound leaves room for all of them. */
	push_all(p->in[p->next_v], ts, n);
	worker_wake(&p->v[p->next_v]);
	p->next_v = (p->next_v + 1) % p->workers;
}

uint32_t txp_pipeline_submit(struct txp_pipeline *p, struct txp_txn **ts, uint32_t n)
{
	uint32_t room = p->capacity - p->inflight;
	struct txp_txn *go[BURST];
	uint32_t ngo = 0;

	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (p->workers > 0)
		p->inflight += n;
	if (p->hold == NULL) {
		enter(p, ts, n);
		return n;
	}
	/* A held transaction stays counted in flight, so the admission bound
	 * still holds when it is released. */
	for (uint32_t k = 0; k < n; k++) {
		if (p->hold(p->hold_arg, ts[k]))
			continue;
		go[ngo++] = ts[k];
		if (ngo == BURST) {
			enter(p, go, ngo);
			ngo = 0;
		}
	}
	enter(p, go, ngo);
	return n;
}

void txp_pipeline_set_inline_below(struct txp_pipeline *p, uint32_t n)
{
	p->inline_below = n;
}

void txp_pipeline_set_hold(struct txp_pipeline *p, bool (*hold)(void *arg, struct txp_txn *t), void *arg)
{
	p->hold = hold;
	p->hold_arg = arg;
}

void txp_pipeline_release(struct txp_pipeline *p, struct txp_txn **ts, uint32_t n)
{
	while (n > 0) {
		uint32_t k = n < BURST ? n : BURST;
		enter(p, ts, k);
		ts += k;
		n -= k;
	}
}

/* Adds one thread's figures for `stage` to s (the loop's inline runs count
 * as one more thread): counts add up, and its quantiles and mean replace
 * those in s when worse, since with several threads per stage the worst
 * thread's is what an operator needs to see. */
static void stats_add(struct txp_pipeline_stats *s, unsigned stage, const struct txp_latency *l, uint64_t processed)
{
	uint64_t count = atomic_load_explicit(&l->count, memory_order_relaxed);
	uint64_t q[3] = { txp_latency_quantile_us(l, 500), txp_latency_quantile_us(l, 990),
		          txp_latency_quantile_us(l, 999) };
	uint64_t mean = count ? atomic_load_explicit(&l->sum_ns, memory_order_relaxed) / count : 0;

	s->processed[stage] += processed;
	s->latency[stage].count += count;
	for (unsigned b = 0; b < TXP_LAT_BUCKETS; b++)
		s->latency[stage].buckets[b] += atomic_load_explicit(&l->buckets[b], memory_order_relaxed);
	if (q[0] > s->latency[stage].p50_us)
		s->latency[stage].p50_us = q[0];
	if (q[1] > s->latency[stage].p99_us)
		s->latency[stage].p99_us = q[1];
	if (q[2] > s->latency[stage].p999_us)
		s->latency[stage].p999_us = q[2];
	if (mean > s->latency[stage].mean_ns)
		s->latency[stage].mean_ns = mean;
}

void txp_pipeline_stats(struct txp_pipeline *p, struct txp_pipeline_stats *s)
{
	unsigned n = p->workers;

	memset(s, 0, sizeof(*s));
	s->ring_capacity = p->capacity;
	s->inflight = p->inflight;
	s->workers = n;
	for (unsigned g = 0; g < TXP_STAGE_COUNT; g++)
		stats_add(s, g, &p->inline_latency[g], p->inline_processed);
	for (unsigned i = 0; i < n; i++) {
		struct worker *ws[3] = { &p->v[i], &p->f[i], &p->c[i] };
		uint32_t d;

		for (unsigned g = 0; g < 3; g++)
			stats_add(s, g, &ws[g]->latency, atomic_load_explicit(&ws[g]->processed, memory_order_relaxed));
		if ((d = txp_ring_count(p->in[i])) > s->ring_depth_max[0])
			s->ring_depth_max[0] = d;
		for (unsigned k = 0; k < n; k++)
			if ((d = txp_ring_count(p->vf[k * n + i])) > s->ring_depth_max[1])
				s->ring_depth_max[1] = d;
		if ((d = txp_ring_count(p->fc[i])) > s->ring_depth_max[2])
			s->ring_depth_max[2] = d;
		if ((d = txp_ring_count(p->out[i])) > s->ring_depth_max[3])
			s->ring_depth_max[3] = d;
	}
}

void txp_pipeline_stop(struct txp_pipeline *p)
{
	if (p == NULL)
		return;
	join_started(p);
	/* Anything the threads finished after the last async callback. */
	on_async(&p->async);
	uv_close((uv_handle_t *)&p->async, on_async_closed);
}

/* cgroup v2's cpu.max of our own cgroup ("QUOTA PERIOD", or "max PERIOD"
 * for none): the CPUs the quota is worth, rounded up; 0 when unlimited or
 * unknown.  systemd's CPUQuota= and a container's CPU limit land there. */
static unsigned cgroup_cpu_quota(void)
{
	char path[640];
	unsigned long long quota, period;
	unsigned cpus = 0;
	FILE *q;

	if (txp_cgroup_v2_path("cpu.max", path, sizeof(path)) != 0 || (q = fopen(path, "re")) == NULL)
		return 0;
	if (fscanf(q, "%llu %llu", &quota, &period) == 2 && period > 0)
		cpus = (unsigned)((quota + period - 1) / period);
	fclose(q);
	return cpus;
}

unsigned txp_pipeline_usable_cpus(void)
{
	cpu_set_t set;
	unsigned cpus = 0, quota;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = (unsigned)CPU_COUNT(&set);
	if (cpus == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus = n > 0 ? (unsigned)n : 1;
	}
	quota = cgroup_cpu_quota();
	if (quota > 0 && quota < cpus)
		cpus = quota;
	return cpus;
}

unsigned txp_pipeline_workers(uint64_t configured)
{
	unsigned cpus, w;

	if (configured != TXP_CFG_AUTO)
		return (unsigned)configured;
	cpus = txp_pipeline_usable_cpus();
	if (cpus <= 1)
		return 0;
	w = (cpus - 1) / 3;
	return w < 1 ? 1 : w > 16 ? 16 : w;
}
