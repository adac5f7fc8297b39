/* pipeline.h: the validation -> fraud -> compliance stages on worker threads and SPSC rings. */
#ifndef TXPIPE_PIPELINE_H
#define TXPIPE_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/txn.h"

/*
 * What each stage does to one transaction.  The pipeline owns threads and
 * rings; the stage functions own the screening logic.  `validate` runs on a
 * validation thread and must set t->shard in [0, shards) for accepted
 * transactions (the fraud and compliance state for one customer lives on
 * one shard).  Every thread gets a context of its own: validation thread i
 * validate_ctx[i], shard j's fraud thread fraud_ctx[j] and its compliance
 * thread comply_ctx[j], so per-thread state needs no locks.  Stage functions skip
 * transactions that an earlier stage already rejected.
 */
struct txp_stage_fns {
	void (*validate)(void *ctx, struct txp_txn *t);
	void (*fraud)(void *shard_ctx, struct txp_txn *t);
	void (*comply)(void *shard_ctx, struct txp_txn *t);
	void **validate_ctx; /* one per validation thread (one when inline) */
	void **fraud_ctx;    /* one per shard */
	void **comply_ctx;   /* one per shard */
	/* Optional: after comply, once the compliance time is recorded, on the
	 * same thread.  What the decision needs next that need not cost the
	 * loop thread: the stored item. */
	void (*finish)(struct txp_txn *t);
};

/* Latency histogram: bucket i counts latencies in [2^(i-1), 2^i) us,
 * bucket 0 counts < 1 us. Written by one thread, read by any. */
#define TXP_LAT_BUCKETS 24
struct txp_latency {
	_Atomic uint64_t buckets[TXP_LAT_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t sum_ns;
};

void txp_latency_record(struct txp_latency *l, uint64_t ns);
/* The latency below which `q` (0..1000 permille) of samples fall, in us
 * (upper bucket bound); 0 when empty. */
uint64_t txp_latency_quantile_us(const struct txp_latency *l, unsigned permille);

enum txp_stage_id { TXP_STAGE_VALIDATION, TXP_STAGE_FRAUD, TXP_STAGE_COMPLIANCE, TXP_STAGE_COUNT };
const char *txp_stage_name(enum txp_stage_id s);

struct txp_pipeline;

/*
 * Creates the pipeline.  `workers` = 0 runs every stage inline on the
 * caller's (loop) thread inside txp_pipeline_submit(); `workers` = N starts
 * N validation threads and N shards of one fraud and one compliance thread
 * each.  Every ring holds `ring_capacity` slots; the caller keeps at most
 * txp_pipeline_capacity() transactions in flight, so no ring can overflow.
 * Finished transactions come back on `loop` by `done(done_arg, t)` calls,
 * in batches, from an async handle.  Returns 0 and sets *out, or a negative
 * errno (message in err); after a failure the memory is freed once `loop`
 * runs again (a handle was closed).  Stop and free with txp_pipeline_stop().
 */
int txp_pipeline_create(struct txp_pipeline **out, uv_loop_t *loop, unsigned workers, uint32_t ring_capacity,
                        const struct txp_stage_fns *fns, void (*done)(void *done_arg, struct txp_txn *t),
                        void *done_arg, char *err, size_t errlen);

/*
 * The workers for [pipeline] workers = `configured`: itself, or for
 * TXP_CFG_AUTO, from the CPUs this process may use (its affinity mask,
 * and the cgroup's cpu.max quota when lower): 0 (the stages inline on
 * the loop) with one CPU, where the threads could only take turns with
 * the loop; else (cpus - 1) / 3, at least 1 and at most 16, since each
 * worker is three threads (validation, fraud, compliance) and the loop
 * keeps one.  With few CPUs every hand-off is a wake-up on a CPU the loop
 * also needs, so the daemon sets txp_pipeline_set_inline_below(): the
 * threads take only the load the loop cannot screen itself.
 */
unsigned txp_pipeline_workers(uint64_t configured);

/* The CPUs this process may use, as txp_pipeline_workers() counts them. */
unsigned txp_pipeline_usable_cpus(void);

/* Transactions that may be in flight at once. */
uint32_t txp_pipeline_capacity(const struct txp_pipeline *p);
uint32_t txp_pipeline_inflight(const struct txp_pipeline *p);
unsigned txp_pipeline_shards(const struct txp_pipeline *p);

/*
 * Loop thread only.  Hands transactions to the validation stage (the
 * pipeline owns them until `done`).  Returns how many were taken: fewer
 * than n only when in-flight would exceed the capacity.
 */
uint32_t txp_pipeline_submit(struct txp_pipeline *p, struct txp_txn **ts, uint32_t n);

/*
 * Loop thread only.  With workers, a burst of fewer than n transactions
 * submitted (or released) while none is in flight runs inline on the loop
 * thread, as with no workers, with validation thread 0's context and the
 * transaction's shard's; 0 (the default) always hands bursts to the
 * threads.  No effect without workers.
 */
void txp_pipeline_set_inline_below(struct txp_pipeline *p, uint32_t n);

/*
 * Loop thread only.  A gate before the stages: txp_pipeline_submit() offers
 * each transaction to `hold`, which returns true when it keeps it (the
 * fleet's fresh mode: it waits for a read of the shared state); a kept one
 * stays counted in flight and enters the stages with txp_pipeline_release().
 * `hold` may call neither function.  NULL removes the gate.
 */
void txp_pipeline_set_hold(struct txp_pipeline *p, bool (*hold)(void *arg, struct txp_txn *t), void *arg);
void txp_pipeline_release(struct txp_pipeline *p, struct txp_txn **ts, uint32_t n);

/* Statistics, readable from the loop thread at any time. */
struct txp_pipeline_stats {
	uint64_t processed[TXP_STAGE_COUNT];
	struct {
		uint64_t count, p50_us, p99_us, p999_us, mean_ns;
		uint64_t buckets[TXP_LAT_BUCKETS]; /* summed over the stage's threads */
	} latency[TXP_STAGE_COUNT];
	uint32_t ring_depth_max[TXP_STAGE_COUNT + 1]; /* deepest ring into each stage; [3] = results */
	uint32_t ring_capacity;
	uint32_t inflight;
	unsigned workers;
};
void txp_pipeline_stats(struct txp_pipeline *p, struct txp_pipeline_stats *s);

/*
 * Stops the worker threads once everything submitted has been delivered to
 * `done`, closes the async handle and frees the pipeline when the handle is
 * closed (run the loop until then).  NULL is safe.
 */
void txp_pipeline_stop(struct txp_pipeline *p);

/* Monotonic clock, ns. */
uint64_t txp_now_ns(void);

/* FNV-1a, 32 bits, of a customer key: t->shard, which spreads customers
 * over the fraud/compliance shards so one customer's history lives in one
 * shard, the same live and when the journal is replayed. */
uint32_t txp_shard_hash(const char *key);

#endif
