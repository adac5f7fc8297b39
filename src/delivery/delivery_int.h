/* delivery_int.h: what the delivery layer's files share: its structs and internal calls (not part of the API). */
#ifndef TXP_DELIVERY_INT_H
#define TXP_DELIVERY_INT_H

#include "txpipe/delivery.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/aws/client.h"
#include "txpipe/fleet.h"
#include "txpipe/heap.h"
#include "txpipe/pipeline.h"
#include "txpipe/queue.h"
#include "txpipe/retry.h"

#define MAX_STORE_INFLIGHT 8
#define MAX_ALERT_INFLIGHT 4
#define MAX_DLQ_INFLIGHT 2
/* Fleet mode: one conditional PutItem per record, so many more requests
 * fly at once (still bounded by [aws] max_connections). */
#define MAX_FLEET_STORE_INFLIGHT 128
#define DLQ_BATCH 10 /* SendMessageBatch allows 10 entries */
#define MAX_BATCH 25 /* the largest batch of any kind */
/* Retries allowed per minute whatever the traffic, so a quiet daemon can
 * still retry (Finagle's RetryBudget has the same floor idea). */
#define RETRY_FLOOR_PER_MINUTE 600
#define HELD_RETRY_MIN_MS 1000
#define HELD_RETRY_MAX_MS 30000
#define HELD_LOG_EVERY_MS 10000
#define PROBE_MIN_MS 250
#define PROBE_MAX_MS 5000
/* Open addressing for the ids of puts in flight: a power of two at least
 * twice the most puts that can fly at once, so probes stay short. */
#define BUSY_SLOTS 512
_Static_assert(BUSY_SLOTS >= 2 * MAX_STORE_INFLIGHT * MAX_BATCH && BUSY_SLOTS >= 2 * MAX_FLEET_STORE_INFLIGHT && (BUSY_SLOTS & (BUSY_SLOTS - 1)) == 0,
               "BUSY_SLOTS: a power of two over twice the puts in flight");

enum job_kind { JOB_STORE, JOB_ALERT, JOB_DLQ, JOB_KINDS };

/* A journaled transaction's jobs share one: delivered when all are done. */
struct origin {
	struct origin *next_spare; /* in d->spare_origins while unused */
	uint64_t seq;
	unsigned pending;
	bool failed; /* a job of it was dropped or left undelivered */
};

struct job {
	struct job *next;
	struct origin *origin; /* NULL when not journaled */
	enum job_kind kind;
	uint8_t alert_kind; /* TXP_ALERT_KIND_* for alerts */
	uint8_t severity;
	bool failed_alert; /* DLQ jobs: what failed */
	unsigned attempts;
	uint64_t due_ms; /* retry heap: when to send again */
	uint64_t order;  /* retry heap: ties on due_ms leave in the order they failed */
	char *payload;   /* item, alert message, or DLQ body */
	uint32_t len;
	bool pooled;      /* payload is an ITEM_BLOCK of d->spare_items' */
	uint32_t id_hash; /* txp_shard_hash(id): the busy table's home slot */
	char error_code[64]; /* DLQ jobs: the final error */
	char id[TXP_ID_MAX + 1];
};

struct queue {
	struct job *head, *tail;
	size_t n;
};

/* A put in flight (j, whose id is the key; NULL: a free slot) and the
 * later puts of the same id waiting for it to come back, in order. */
struct busy {
	struct job *j;
	struct queue parked;
};

struct call {
	struct txp_delivery *d;
	struct txp_queue link; /* in d->calls */
	enum job_kind kind;
	bool probe;    /* sent while its service was unreachable */
	bool checking; /* fleet: the GetItem after a failed conditional put is in flight */
	size_t n;
	struct job *jobs[MAX_BATCH];
};

struct txp_delivery {
	uv_loop_t *loop;
	struct txp_aws_client *client;
	const struct txp_config *cfg;
	uv_timer_t wake;        /* flush deadlines, retries, held retries */
	uv_timer_t flush_timer; /* txp_delivery_flush's timeout */
	int handles_open;

	struct queue q[JOB_KINDS];    /* waiting to be sent */
	uint64_t deadline[JOB_KINDS]; /* when a partial batch of q[k] leaves; 0: none */
	struct txp_heap retry;        /* waiting for their backoff, earliest due first */
	size_t retrying[JOB_KINDS];   /* of them, per kind */
	uint64_t retry_order;
	struct queue held;      /* DLQ messages SQS did not take */
	struct txp_queue calls; /* struct call, in flight */
	unsigned inflight[JOB_KINDS];
	size_t alive;                 /* jobs anywhere in here */
	struct busy busy[BUSY_SLOTS]; /* ids of the puts in flight */
	/* Finished jobs and origins kept for the next transactions (a few per
	 * transaction, born and freed in bursts of a batch: glibc's per-thread
	 * cache holds only 7 of a size, so most would take malloc's slow path). */
	struct job *spare_jobs;
	struct origin *spare_origins;
	size_t nspare_jobs, nspare_origins;
	/* Likewise the stored items' buffers: the stages build each item in
	 * a buffer of its own, which txp_delivery_take copies into one of
	 * these and frees at once (the next item's malloc takes it back from
	 * the cache), where hundreds of items freed in the order they were
	 * stored would each take malloc's slow path. */
	char *spare_items; /* linked through their first bytes */
	size_t nspare_items;

	struct txp_retry_policy policy;
	struct txp_retry_budget budget;
	uint64_t held_due, held_backoff;
	uint64_t held_logged_ms;
	/* Services that could not be reached (see the top of delivery.c; for the DLQ only
	 * noted, for the flush). */
	bool unreachable[JOB_KINDS];
	uint64_t probe_due[JOB_KINDS], probe_backoff[JOB_KINDS];
	bool congested_logged;

	bool flushing, closing;
	void (*flush_done)(void *arg);
	void *flush_arg;
	txp_delivery_done_fn on_delivered;
	void *delivered_arg;
	/* Fleet mode (txp_delivery_set_fleet): conditional puts, first decision wins. */
	bool fleet;
	char decided_by[TXP_FLEET_INSTANCE_ID_MAX + 1];
	txp_delivery_conflict_fn on_conflict;
	void *conflict_arg;

	struct txp_delivery_stats st;
};

/* jobs.c */

/* A zeroed job or origin, from the spares when there are some; NULL when out
 * of memory.  delivery__job_done and delivery__origin_release give them
 * back; delivery__spares_free frees the spares (at close). */
struct job *delivery__job_alloc(struct txp_delivery *d);
struct origin *delivery__origin_alloc(struct txp_delivery *d);
void delivery__spares_free(struct txp_delivery *d);

/* Items of fewer bytes than this (with their NUL) are copied into a pooled
 * block (every item at the sizes txpiped(8) gives, 948 bytes at most). */
#define ITEM_BLOCK 1024u
/* An ITEM_BLOCK from the spares, or malloc'd; NULL when out of memory. */
char *delivery__item_block(struct txp_delivery *d);
/* Gives a block back to the spares (or frees it past their bound). */
void delivery__item_block_put(struct txp_delivery *d, char *b);
/* Frees j's payload, to the spares when it is a pooled block. */
void delivery__payload_free(struct txp_delivery *d, struct job *j);

/* The loop's cached time, in ms. */
uint64_t delivery__now_ms(const struct txp_delivery *d);
/* Appends j to q. */
void delivery__q_push(struct queue *q, struct job *j);
/* Removes and returns the head of q, or NULL. */
struct job *delivery__q_pop(struct queue *q);
/* Moves all of `from`, in order, in front of q. */
void delivery__q_prepend(struct queue *q, struct queue *from);
/* The retry heap's order: earliest due first, ties in the order they failed. */
bool delivery__retry_less(const void *a, const void *b, void *arg);
/* One job of o is over (o may be NULL); the last one reports o delivered unless one failed. */
void delivery__origin_release(struct txp_delivery *d, struct origin *o, bool delivered);
/* Frees a job that is done with: `delivered` when AWS took it. */
void delivery__job_done(struct txp_delivery *d, struct job *j, bool delivered);
/* "store", "alert" or "dlq", for logs. */
const char *delivery__kind_name(enum job_kind k);
/* A job that will not reach AWS in this run: logged as kept or lost, then freed. */
void delivery__job_lost(struct txp_delivery *d, struct job *j, const char *why);
/* Reads the reloadable [retry] section into d's policy and budget. */
void delivery__policy_refresh(struct txp_delivery *d);
/* A store or alert attempt failed: puts it on the retry heap, or dead-letters it. */
void delivery__job_failed(struct txp_delivery *d, struct job *j, bool retryable, const char *code, const char *message);

/* deadletter.c */

/* Turns a store or alert job that failed for good into a DLQ message, queued or held. */
void delivery__dead_letter(struct txp_delivery *d, struct job *j, const char *code, const char *message);
/* A SendMessageBatch call came back: what SQS did not take is held. */
void delivery__dlq_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r);
/* [sqs] queue_url is set. */
bool delivery__has_queue_url(const struct txp_delivery *d);
/* The last round of held DLQ messages is over, so a new one may start when due. */
bool delivery__held_round_may_start(const struct txp_delivery *d);

/* send.c */

/* Service names by job kind, for logs. */
extern const char *const delivery__service_name_of[JOB_KINDS];
/* Moves due jobs to their queues, sends what is ready, and re-arms the timer. */
void delivery__pump(struct txp_delivery *d);

/* delivery.c */

/* Ends a flush when nothing deliverable is left. */
void delivery__maybe_flushed(struct txp_delivery *d);
/* Frees d once closed, with its handles closed and no call in flight. */
void delivery__maybe_free(struct txp_delivery *d);

#endif
