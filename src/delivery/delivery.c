/* delivery.c: decided transactions to DynamoDB, alerts to SNS, failures to the SQS DLQ (loop thread). */
#include "txpipe/delivery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/aws/dynamodb.h"
#include "txpipe/aws/sns.h"
#include "txpipe/aws/sqs.h"
#include "txpipe/clock.h"
#include "txpipe/dlq.h"
#include "txpipe/heap.h"
#include "txpipe/item.h"
#include "txpipe/log.h"
#include "txpipe/pipeline.h"
#include "txpipe/queue.h"
#include "txpipe/retry.h"

/*
 * Semantics, in short:
 * - Each decided transaction with a valid id becomes one store job (its
 *   item) and one alert job per raised alert kind.  Jobs are batched:
 *   BatchWriteItem of up to [dynamodb] batch_size puts, PublishBatch of up
 *   to [sns] batch_size, SendMessageBatch of up to 10 DLQ messages; a
 *   batch leaves when full or [dynamodb] flush_delay_ms after its oldest
 *   job arrived.
 * - Resubmission: a transaction_id decided again overwrites its record
 *   (BatchWriteItem's PutRequest replaces the whole item, last writer
 *   wins): the record reflects the latest decision.  Two puts of one id
 *   never share a batch (DynamoDB rejects that as a ValidationException)
 *   nor fly in two batches at once, so they land in submission order.  A
 *   put that is retried after a newer one of the same id succeeded can
 *   still overwrite it; that needs a resubmission during an outage, and
 *   the record then holds the older decision (accepted, kept simple).
 * - Retryable failures (throttling, 5xx, timeouts, UnprocessedItems,
 *   credentials) are retried per [retry] (src/delivery/retry.c) within the retry
 *   budget; fatal ones (validation, access denied, missing table or
 *   topic), exhausted ones and those the budget refuses go to the DLQ.
 * - A service that cannot be reached at all (connection refused, timeout:
 *   no HTTP answer) is marked unreachable: its queue then sends one batch
 *   at a time, a probe, after a backoff that doubles from PROBE_MIN_MS to
 *   PROBE_MAX_MS, and everything else waits where it is, spending neither
 *   attempts nor the retry budget, so an outage of any length dead-letters
 *   nothing that the service would take when it returns.  The first answer
 *   of any kind (even an error) ends it.  A service that answers with
 *   errors (5xx, throttling) is reachable: that is what [retry] is for.
 *   The DLQ needs none of this: its held rounds already pace it.
 * - DLQ sends that fail are held in memory (at most [sqs] max_held) and
 *   retried periodically; over the bound a message is dropped with an
 *   error log naming the transaction.  Nothing is dropped silently.
 * - Journal: a transaction submitted with a journal sequence number is
 *   reported delivered (txp_delivery_on_delivered) once its store and
 *   every alert of it were done: stored or published, or taken by the
 *   DLQ.  A job dropped or left at shutdown never reports it, so the
 *   journal keeps the record and the next start delivers it again.
 * - Cost: an outage can leave a million jobs waiting, so no event walks
 *   them.  Retries wait in a min-heap keyed by due time (O(log n) per
 *   retry, O(1) to find the next deadline); the queues to send and the DLQ
 *   hold queue are FIFOs (the hold queue has one due time for a whole
 *   round, so its head is always the next to go); the ids of puts in
 *   flight are a small hash set, and a put whose id is in flight is parked
 *   under that id until its call returns instead of being skipped at every
 *   batch.  So a wake costs O(log n) per job it moves, and the timer is
 *   armed for the earliest deadline without looking at the rest.
 */

#define MAX_STORE_INFLIGHT 8
#define MAX_ALERT_INFLIGHT 4
#define MAX_DLQ_INFLIGHT 2
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
_Static_assert(BUSY_SLOTS >= 2 * MAX_STORE_INFLIGHT * MAX_BATCH && (BUSY_SLOTS & (BUSY_SLOTS - 1)) == 0,
               "BUSY_SLOTS: a power of two over twice the puts in flight");

enum job_kind { JOB_STORE, JOB_ALERT, JOB_DLQ, JOB_KINDS };

/* A journaled transaction's jobs share one: delivered when all are done. */
struct origin {
	uint64_t seq;
	unsigned pending;
	bool failed; /* a job of it was dropped or left undelivered */
};

struct job {
	struct job *next;
	struct origin *origin; /* NULL when not journaled */
	enum job_kind kind;
	uint8_t alert_kind;   /* TXP_ALERT_KIND_* for alerts */
	uint8_t severity;
	bool failed_alert;    /* DLQ jobs: what failed */
	unsigned attempts;
	uint64_t due_ms;      /* retry heap: when to send again */
	uint64_t order;       /* retry heap: ties on due_ms leave in the order they failed */
	char *payload;        /* item, alert message, or DLQ body */
	uint32_t len;
	char error_code[64];  /* DLQ jobs: the final error */
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
	bool probe; /* sent while its service was unreachable */
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

	struct queue q[JOB_KINDS]; /* waiting to be sent */
	uint64_t deadline[JOB_KINDS]; /* when a partial batch of q[k] leaves; 0: none */
	struct txp_heap retry;     /* waiting for their backoff, earliest due first */
	size_t retrying[JOB_KINDS]; /* of them, per kind */
	uint64_t retry_order;
	struct queue held;         /* DLQ messages SQS did not take */
	struct txp_queue calls;    /* struct call, in flight */
	unsigned inflight[JOB_KINDS];
	size_t alive;              /* jobs anywhere in here */
	struct busy busy[BUSY_SLOTS]; /* ids of the puts in flight */

	struct txp_retry_policy policy;
	struct txp_retry_budget budget;
	uint64_t held_due, held_backoff;
	uint64_t held_logged_ms;
	/* Services that could not be reached (see above; for the DLQ only
	 * noted, for the flush). */
	bool unreachable[JOB_KINDS];
	uint64_t probe_due[JOB_KINDS], probe_backoff[JOB_KINDS];
	bool congested_logged;

	bool flushing, closing;
	void (*flush_done)(void *arg);
	void *flush_arg;
	txp_delivery_done_fn on_delivered;
	void *delivered_arg;

	struct txp_delivery_stats st;
};

static void pump(struct txp_delivery *d);

static uint64_t now_ms(const struct txp_delivery *d)
{
	return uv_now(d->loop);
}

static void q_push(struct queue *q, struct job *j)
{
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

/* Removes and returns the head, or NULL. */
static struct job *q_pop(struct queue *q)
{
	struct job *j = q->head;

	if (j == NULL)
		return NULL;
	q->head = j->next;
	if (q->tail == j)
		q->tail = NULL;
	j->next = NULL;
	q->n--;
	return j;
}

/* Moves all of `from`, in order, in front of `q`. */
static void q_prepend(struct queue *q, struct queue *from)
{
	if (from->head == NULL)
		return;
	from->tail->next = q->head;
	q->head = from->head;
	if (q->tail == NULL)
		q->tail = from->tail;
	q->n += from->n;
	*from = (struct queue){0};
}

static bool retry_less(const void *a, const void *b, void *arg)
{
	const struct job *x = a, *y = b;

	(void)arg;
	return x->due_ms < y->due_ms || (x->due_ms == y->due_ms && x->order < y->order);
}

static void origin_release(struct txp_delivery *d, struct origin *o, bool delivered)
{
	if (o == NULL)
		return;
	if (!delivered)
		o->failed = true;
	if (--o->pending > 0)
		return;
	if (!o->failed && d->on_delivered != NULL)
		d->on_delivered(d->delivered_arg, o->seq);
	free(o);
}

/* Frees a job that is done with: `delivered` when AWS took it (stored,
 * published, or dead-lettered). */
static void job_done(struct txp_delivery *d, struct job *j, bool delivered)
{
	origin_release(d, j->origin, delivered);
	free(j->payload);
	free(j);
	d->alive--;
}

static const char *kind_name(enum job_kind k)
{
	return k == JOB_STORE ? "store" : k == JOB_ALERT ? "alert" : "dlq";
}

/* A job that will not reach AWS in this run (shutdown): said once each.
 * A journaled one is kept in the journal and delivered at the next start;
 * any other is lost, and said loudly. */
static void job_lost(struct txp_delivery *d, struct job *j, const char *why)
{
	const char *what = j->kind == JOB_DLQ ? (j->failed_alert ? "alert_dlq" : "store_dlq") : kind_name(j->kind);

	if (j->origin != NULL) {
		txp_log_warn("delivery_kept", "transaction_id=\"%s\" what=%s reason=%s journal_seq=%llu", j->id, what,
		             why, (unsigned long long)j->origin->seq);
		d->st.kept++;
	} else {
		txp_log_err("delivery_lost", "transaction_id=\"%s\" what=%s reason=%s", j->id, what, why);
		d->st.lost++;
	}
	job_done(d, j, false);
}

static uint64_t random64(void)
{
	return ((uint64_t)randombytes_random() << 32) | randombytes_random();
}

/* ---- dead letters --------------------------------------------------- */

static void hold(struct txp_delivery *d, struct job *j, const char *code)
{
	uint64_t now = now_ms(d);

	if (d->held.n >= d->cfg->sqs.max_held) {
		txp_log_err("dlq_dropped", "transaction_id=\"%s\" what=%s held=%zu max_held=%llu error=%s", j->id,
		            j->failed_alert ? "alert" : "store", d->held.n, (unsigned long long)d->cfg->sqs.max_held,
		            j->error_code);
		d->st.dlq_dropped++;
		job_done(d, j, false);
		return;
	}
	if (d->held.n == 0)
		d->held_due = now + d->held_backoff;
	q_push(&d->held, j);
	/* Loud but rate-limited: an SQS outage would otherwise log per item. */
	if (d->held_logged_ms == 0 || now - d->held_logged_ms >= HELD_LOG_EVERY_MS) {
		d->held_logged_ms = now;
		txp_log_err("dlq_unavailable", "held=%zu max_held=%llu queue_url_set=%s last_error=%s",
		            d->held.n, (unsigned long long)d->cfg->sqs.max_held,
		            d->cfg->sqs.queue_url[0] != '\0' ? "yes" : "no", code);
	}
}

/* Turns a store or alert job that failed for good into a DLQ message. */
static void dead_letter(struct txp_delivery *d, struct job *j, const char *code, const char *message)
{
	struct txp_dlq_info info = {
		.failed = j->kind == JOB_STORE ? "store" : "alert",
		.transaction_id = j->id,
		.alert_type = j->kind == JOB_ALERT ? txp_alert_kind_name(j->alert_kind) : NULL,
		.error_code = code,
		.error_message = message,
		.attempts = j->attempts,
		.dead_lettered_ms = txp_wall_ms(),
		.payload = j->payload,
		.payload_len = j->len,
	};
	size_t len = 0;
	char *body = txp_dlq_message(&info, &len);

	txp_log_warn("dead_letter", "transaction_id=\"%s\" what=%s error=%s attempts=%u", j->id, info.failed,
	             code, j->attempts);
	if (body == NULL) {
		/* Keep the raw payload: better an unwrapped message than none. */
		txp_log_err("dlq_build_failed", "transaction_id=\"%s\" reason=out_of_memory", j->id);
	} else {
		free(j->payload);
		j->payload = body;
		j->len = (uint32_t)len;
	}
	j->failed_alert = j->kind == JOB_ALERT;
	snprintf(j->error_code, sizeof(j->error_code), "%s", code[0] != '\0' ? code : "unknown");
	j->kind = JOB_DLQ;
	j->attempts = 0;
	if (d->cfg->sqs.queue_url == NULL || d->cfg->sqs.queue_url[0] == '\0') {
		hold(d, j, "no_queue_url");
		return;
	}
	if (d->q[JOB_DLQ].n == 0)
		d->deadline[JOB_DLQ] = now_ms(d) + d->cfg->dynamodb.flush_delay_ms;
	q_push(&d->q[JOB_DLQ], j);
}

/* [retry] is reloadable: read it where it is used. */
static void policy_refresh(struct txp_delivery *d)
{
	const struct txp_config *cfg = d->cfg;

	d->policy.max_attempts = (uint32_t)cfg->retry.max_attempts;
	d->policy.base_delay_ms = cfg->retry.base_delay_ms;
	d->policy.max_delay_ms = cfg->retry.max_delay_ms;
	d->policy.jitter = cfg->retry.jitter;
	if (d->policy.max_delay_ms < d->policy.base_delay_ms)
		d->policy.max_delay_ms = d->policy.base_delay_ms;
	d->budget.percent = (uint32_t)cfg->retry.budget_percent;
}

/* A store or alert attempt failed: retry it, or dead-letter it. */
static void job_failed(struct txp_delivery *d, struct job *j, bool retryable, const char *code,
                       const char *message)
{
	uint64_t now = now_ms(d), delay;

	policy_refresh(d);
	if (retryable && txp_retry_attempts_left(&d->policy, j->attempts)) {
		if (txp_retry_budget_take(&d->budget, now)) {
			delay = txp_retry_delay_ms(&d->policy, j->attempts - 1, random64());
			j->due_ms = now + delay;
			j->order = d->retry_order++;
			if (txp_heap_push(&d->retry, j) < 0) {
				job_lost(d, j, "out_of_memory");
				return;
			}
			d->retrying[j->kind]++;
			if (j->kind == JOB_STORE)
				d->st.store_retries++;
			else
				d->st.alert_retries++;
			txp_log_debug("delivery_retry",
			              "transaction_id=\"%s\" what=%s attempt=%u error=%s delay_ms=%llu t_ms=%llu", j->id,
			              kind_name(j->kind), j->attempts, code, (unsigned long long)delay,
			              (unsigned long long)now);
			return;
		}
		d->st.retry_budget_exhausted++;
		txp_log_warn("retry_budget_exhausted", "transaction_id=\"%s\" what=%s error=%s", j->id,
		             kind_name(j->kind), code);
		dead_letter(d, j, code, "retry budget exhausted");
		return;
	}
	dead_letter(d, j, code, message);
}

/* ---- completions ---------------------------------------------------- */

static void call_unlink(struct txp_delivery *d, struct call *c)
{
	txp_queue_remove(&c->link);
	d->inflight[c->kind]--;
}

static bool cancelled(const struct txp_delivery *d, const struct txp_aws_result *r)
{
	return d->closing || (r->kind == TXP_AWS_FATAL && strcmp(r->code, "cancelled") == 0);
}

struct unprocessed {
	struct call *c;
	bool redo[MAX_BATCH];
};

static void on_unprocessed(void *arg, const char *id)
{
	struct unprocessed *u = arg;

	for (size_t i = 0; i < u->c->n; i++)
		if (!u->redo[i] && strcmp(u->c->jobs[i]->id, id) == 0) {
			u->redo[i] = true;
			return;
		}
}

static void store_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	struct unprocessed u = {.c = c};
	bool ok = r->kind == TXP_AWS_OK;

	if (ok && r->body != NULL && txp_ddb_unprocessed(r->body, r->body_len, d->cfg->dynamodb.table,
	                                                 on_unprocessed, &u) < 0)
		txp_log_warn("dynamodb_response", "reason=\"BatchWriteItem answer without UnprocessedItems\"");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		if (ok && !u.redo[i]) {
			d->st.stored++;
			job_done(d, j, true);
		} else if (ok) {
			/* DynamoDB's own advice: retry unprocessed items with
			 * exponential backoff. */
			job_failed(d, j, true, "UnprocessedItems", "left unprocessed by BatchWriteItem");
		} else {
			job_failed(d, j, r->kind != TXP_AWS_FATAL, r->code, r->message);
		}
	}
}

static void alert_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	struct txp_batch_failure f[MAX_BATCH];
	int nf = 0;
	bool done[MAX_BATCH] = {false};

	if (r->kind == TXP_AWS_OK) {
		nf = r->body != NULL ? txp_sns_batch_failures(r->body, r->body_len, f, MAX_BATCH) : 0;
		if (nf < 0) {
			txp_log_warn("sns_response", "reason=\"PublishBatch answer without PublishBatchResult\"");
			nf = 0;
		}
		for (int i = 0; i < nf; i++) {
			if (f[i].index >= c->n || done[f[i].index])
				continue;
			done[f[i].index] = true;
			job_failed(d, c->jobs[f[i].index], !f[i].sender_fault, f[i].code, f[i].message);
		}
		for (size_t i = 0; i < c->n; i++)
			if (!done[i]) {
				d->st.alerts_published++;
				job_done(d, c->jobs[i], true);
			}
		return;
	}
	for (size_t i = 0; i < c->n; i++)
		job_failed(d, c->jobs[i], r->kind != TXP_AWS_FATAL, r->code, r->message);
}

static void dlq_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	struct txp_batch_failure f[MAX_BATCH];
	int nf = 0;
	bool done[MAX_BATCH] = {false};

	if (r->kind == TXP_AWS_OK) {
		nf = r->body != NULL ? txp_sqs_batch_failures(r->body, r->body_len, f, MAX_BATCH) : 0;
		if (nf < 0)
			nf = 0;
		for (int i = 0; i < nf; i++) {
			if (f[i].index >= c->n || done[f[i].index])
				continue;
			done[f[i].index] = true;
			d->st.dlq_failures++;
			hold(d, c->jobs[f[i].index], f[i].code);
		}
		for (size_t i = 0; i < c->n; i++)
			if (!done[i]) {
				d->st.dead_lettered++;
				job_done(d, c->jobs[i], true);
			}
		if (nf == 0)
			d->held_backoff = HELD_RETRY_MIN_MS;
		return;
	}
	d->st.dlq_failures += c->n;
	for (size_t i = 0; i < c->n; i++)
		hold(d, c->jobs[i], r->code);
}

static void maybe_flushed(struct txp_delivery *d);
static void maybe_free(struct txp_delivery *d);
static void release_ids(struct txp_delivery *d, const struct call *c);

static const char *const service_name_of[JOB_KINDS] = {"dynamodb", "sns", "sqs"};

/* No HTTP answer at all: the service is down or cut off, not just failing. */
static bool no_answer(const struct txp_aws_result *r)
{
	return r->kind == TXP_AWS_RETRYABLE && r->http_status == 0 &&
	       (strcmp(r->code, "connection_refused") == 0 || strcmp(r->code, "timeout") == 0 ||
	        strcmp(r->code, "transport_error") == 0);
}

/* Marks the service of a store or alert call unreachable, or reachable
 * again, from how the call ended (see the top of the file). */
static void note_reachability(struct txp_delivery *d, const struct call *c, const struct txp_aws_result *r)
{
	enum job_kind k = c->kind;

	if (!no_answer(r)) {
		if (d->unreachable[k]) {
			d->unreachable[k] = false;
			txp_log_notice("aws_reachable", "service=%s backlog=%zu", service_name_of[k], d->q[k].n);
		}
		return;
	}
	if (k == JOB_DLQ) {
		/* Held rounds already pace it. */
		d->unreachable[k] = true;
	} else if (!d->unreachable[k]) {
		d->unreachable[k] = true;
		d->probe_backoff[k] = PROBE_MIN_MS;
		d->probe_due[k] = now_ms(d) + PROBE_MIN_MS;
		txp_log_warn("aws_unreachable", "service=%s error=%s backlog=%zu action=\"one probe batch at a time, "
		             "the rest waits\"", service_name_of[k], r->code, d->q[k].n);
	} else if (c->probe) {
		d->probe_backoff[k] = d->probe_backoff[k] * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : d->probe_backoff[k] * 2;
		d->probe_due[k] = now_ms(d) + d->probe_backoff[k];
	}
}

static void on_call_done(void *arg, const struct txp_aws_result *r)
{
	struct call *c = arg;
	struct txp_delivery *d = c->d;

	call_unlink(d, c);
	release_ids(d, c);
	if (!cancelled(d, r))
		note_reachability(d, c, r);
	if (cancelled(d, r)) {
		for (size_t i = 0; i < c->n; i++)
			job_lost(d, c->jobs[i], "cancelled");
	} else if (c->kind == JOB_STORE) {
		store_done(d, c, r);
	} else if (c->kind == JOB_ALERT) {
		alert_done(d, c, r);
	} else {
		dlq_done(d, c, r);
	}
	free(c);
	if (d->closing) {
		maybe_free(d);
		return;
	}
	pump(d);
	maybe_flushed(d);
}

/* ---- sending -------------------------------------------------------- */

/* ---- ids of the puts in flight ---------------------------------------- */

static size_t busy_home(const char *id)
{
	return txp_shard_hash(id) & (BUSY_SLOTS - 1);
}

/* The slot holding `id`, or the free slot where it would go (linear
 * probing; the table is never more than half full). */
static size_t busy_slot(const struct txp_delivery *d, const char *id)
{
	size_t i = busy_home(id);

	while (d->busy[i].j != NULL && strcmp(d->busy[i].j->id, id) != 0)
		i = (i + 1) & (BUSY_SLOTS - 1);
	return i;
}

/* Frees slot i and closes the gap behind it (backward-shift deletion, so
 * lookups need no tombstones): an entry further along the probe run moves
 * into the hole unless its home lies cyclically in (hole, entry]. */
static void busy_remove(struct txp_delivery *d, size_t i)
{
	for (size_t k = (i + 1) & (BUSY_SLOTS - 1); d->busy[k].j != NULL; k = (k + 1) & (BUSY_SLOTS - 1)) {
		size_t h = busy_home(d->busy[k].j->id);
		bool stays = i <= k ? (i < h && h <= k) : (i < h || h <= k);
		if (!stays) {
			d->busy[i] = d->busy[k];
			i = k;
		}
	}
	d->busy[i] = (struct busy){0};
}

/* A store call came back (or never left): its ids are free again, and
 * puts parked behind them go to the front of the queue, in order (they
 * have waited their turn already). */
static void release_ids(struct txp_delivery *d, const struct call *c)
{
	if (c->kind != JOB_STORE)
		return;
	for (size_t n = 0; n < c->n; n++) {
		size_t i = busy_slot(d, c->jobs[n]->id);
		if (d->busy[i].j != c->jobs[n])
			continue;
		struct queue parked = d->busy[i].parked;
		busy_remove(d, i);
		if (parked.n > 0) {
			q_prepend(&d->q[JOB_STORE], &parked);
			d->deadline[JOB_STORE] = now_ms(d);
		}
	}
}

static size_t batch_max(const struct txp_delivery *d, enum job_kind k)
{
	size_t n = k == JOB_STORE   ? d->cfg->dynamodb.batch_size
	           : k == JOB_ALERT ? d->cfg->sns.batch_size
	                            : DLQ_BATCH;
	return n < 1 ? 1 : n > MAX_BATCH ? MAX_BATCH : n;
}

static unsigned inflight_max(const struct txp_delivery *d, enum job_kind k)
{
	unsigned m = k == JOB_STORE ? MAX_STORE_INFLIGHT : k == JOB_ALERT ? MAX_ALERT_INFLIGHT : MAX_DLQ_INFLIGHT;
	return d->cfg->aws.max_connections < m ? (unsigned)d->cfg->aws.max_connections : m;
}

static char *call_body(const struct txp_delivery *d, const struct call *c, size_t *len)
{
	if (c->kind == JOB_STORE) {
		const char *items[MAX_BATCH];
		uint32_t lens[MAX_BATCH];
		for (size_t i = 0; i < c->n; i++) {
			items[i] = c->jobs[i]->payload;
			lens[i] = c->jobs[i]->len;
		}
		return txp_ddb_batch_body(d->cfg->dynamodb.table, items, lens, c->n, len);
	}
	if (c->kind == JOB_ALERT) {
		struct txp_sns_entry e[MAX_BATCH];
		for (size_t i = 0; i < c->n; i++) {
			e[i].message = c->jobs[i]->payload;
			e[i].len = c->jobs[i]->len;
			e[i].alert_type = txp_alert_kind_name(c->jobs[i]->alert_kind);
			e[i].severity = txp_severity_name(c->jobs[i]->severity);
		}
		return txp_sns_batch_body(d->cfg->sns.topic_arn, e, c->n, len);
	}
	struct txp_sqs_entry e[MAX_BATCH];
	for (size_t i = 0; i < c->n; i++) {
		e[i].body = c->jobs[i]->payload;
		e[i].len = c->jobs[i]->len;
		e[i].failed = c->jobs[i]->failed_alert ? "alert" : "store";
		e[i].error_code = c->jobs[i]->error_code;
	}
	return txp_sqs_batch_body(d->cfg->sqs.queue_url, e, c->n, len);
}

static const enum txp_aws_service service_of[JOB_KINDS] = {TXP_AWS_DYNAMODB, TXP_AWS_SNS, TXP_AWS_SQS};
static const char *const op_of[JOB_KINDS] = {"BatchWriteItem", "PublishBatch", "SendMessageBatch"};

/* Takes up to one batch of q[k] and sends it.  Returns false when nothing
 * could be sent. */
static bool send_batch(struct txp_delivery *d, enum job_kind k, bool probe)
{
	struct queue *q = &d->q[k];
	struct call *c = calloc(1, sizeof(*c));
	struct job *j;
	size_t max = batch_max(d, k), len = 0;
	uint64_t now = now_ms(d);
	char *body;
	int rc;

	if (c == NULL)
		return false;
	c->d = d;
	c->kind = k;
	c->probe = probe;
	while (c->n < max && (j = q_pop(q)) != NULL) {
		if (k == JOB_STORE) {
			/* A put of this id is in flight or in this batch:
			 * park it behind that one (see release_ids). */
			size_t i = busy_slot(d, j->id);
			if (d->busy[i].j != NULL) {
				q_push(&d->busy[i].parked, j);
				continue;
			}
			d->busy[i].j = j;
		}
		c->jobs[c->n++] = j;
	}
	if (c->n == 0) {
		free(c);
		return false;
	}
	body = call_body(d, c, &len);
	for (size_t i = 0; i < c->n; i++) {
		struct job *b = c->jobs[i];
		if (k != JOB_DLQ) {
			if (b->attempts == 0)
				txp_retry_budget_first(&d->budget, now, 1);
			b->attempts++;
		}
		if (txp_log_enabled(TXP_LOG_DEBUG))
			txp_log_debug("delivery_attempt", "transaction_id=\"%s\" what=%s attempt=%u batch=%zu t_ms=%llu",
			              b->id, kind_name(k), b->attempts, c->n, (unsigned long long)now);
	}
	txp_queue_insert_tail(&d->calls, &c->link);
	d->inflight[k]++;
	rc = -ENOMEM;
	if (body != NULL)
		rc = txp_aws_call(d->client, service_of[k], op_of[k], body, len, on_call_done, c);
	free(body);
	if (rc < 0) {
		/* Report it as the call's own failure, so every path through
		 * retry and the DLQ stays the same. */
		struct txp_aws_result r = {.kind = TXP_AWS_RETRYABLE};
		snprintf(r.code, sizeof(r.code), "call_failed");
		snprintf(r.message, sizeof(r.message), "could not start the request: %s", strerror(-rc));
		call_unlink(d, c);
		release_ids(d, c);
		if (k == JOB_STORE)
			store_done(d, c, &r);
		else if (k == JOB_ALERT)
			alert_done(d, c, &r);
		else
			dlq_done(d, c, &r);
		free(c);
		return false;
	}
	return true;
}

static void on_wake(uv_timer_t *h);

static bool has_queue_url(const struct txp_delivery *d)
{
	return d->cfg->sqs.queue_url != NULL && d->cfg->sqs.queue_url[0] != '\0';
}

/* A new round of held DLQ messages starts only when the last one is over
 * (nothing of the DLQ queued or in flight).  Until then the round's due
 * time is no deadline: the DLQ calls coming back pump again. */
static bool held_round_may_start(const struct txp_delivery *d)
{
	return d->held.n > 0 && has_queue_url(d) && d->inflight[JOB_DLQ] == 0 && d->q[JOB_DLQ].n == 0;
}

/* Arms the timer for the earliest deadline: O(1), whatever the backlog. */
static void rearm(struct txp_delivery *d)
{
	uint64_t next = UINT64_MAX, now = now_ms(d), delay;
	const struct job *top = txp_heap_peek(&d->retry);

	for (int k = 0; k < JOB_KINDS; k++) {
		if (d->q[k].n == 0)
			continue;
		if (d->unreachable[k] && k != JOB_DLQ) {
			/* The next probe; none while one is out. */
			if (d->inflight[k] == 0 && d->probe_due[k] < next)
				next = d->probe_due[k];
		} else if (d->inflight[k] < inflight_max(d, (enum job_kind)k) && d->deadline[k] < next) {
			next = d->deadline[k];
		}
	}
	if (top != NULL && top->due_ms < next)
		next = top->due_ms;
	if (held_round_may_start(d) && d->held_due < next)
		next = d->held_due;
	if (next == UINT64_MAX) {
		uv_timer_stop(&d->wake);
		return;
	}
	/*
	 * Never 0 ms.  pump() leaves every deadline it could act on in the
	 * future, so a past one here means nothing can be done before some
	 * I/O completes; and libuv up to 1.44 (Debian 12) runs a timer
	 * restarted at 0 ms from its own callback again in the same pass of
	 * uv__run_timers (its due time equals the cached loop time, which does
	 * not advance there), so the loop would never poll for I/O again.
	 * 1 ms puts the due time past the cached time: the pass ends and I/O
	 * gets its turn.
	 */
	delay = next > now ? next - now : 0;
	uv_timer_start(&d->wake, on_wake, delay > 0 ? delay : 1, 0);
}

/* Moves due retries and (when due) held DLQ messages back to their queues,
 * sends what is ready, and sets the timer for the next deadline.  Costs
 * O(log n) per retry that falls due and O(1) otherwise. */
static void pump(struct txp_delivery *d)
{
	uint64_t now = now_ms(d);
	struct job *j;

	if (d->closing)
		return;
	while ((j = txp_heap_peek(&d->retry)) != NULL && j->due_ms <= now) {
		(void)txp_heap_pop(&d->retry);
		d->retrying[j->kind]--;
		/* A retry leaves at once: its wait is the backoff. */
		q_push(&d->q[j->kind], j);
		d->deadline[j->kind] = now;
	}
	if (held_round_may_start(d) && now >= d->held_due) {
		/* One round of held messages at a time; the backoff doubles
		 * until SQS takes them again. */
		while (d->q[JOB_DLQ].n < DLQ_BATCH * MAX_DLQ_INFLIGHT && (j = q_pop(&d->held)) != NULL)
			q_push(&d->q[JOB_DLQ], j);
		d->deadline[JOB_DLQ] = now;
		d->held_backoff = d->held_backoff * 2 > HELD_RETRY_MAX_MS ? HELD_RETRY_MAX_MS : d->held_backoff * 2;
		d->held_due = now + d->held_backoff;
	}
	for (int k = 0; k < JOB_KINDS; k++) {
		if (d->unreachable[k] && k != JOB_DLQ) {
			if (d->q[k].n > 0 && d->inflight[k] == 0 && now >= d->probe_due[k]) {
				d->probe_due[k] = now + d->probe_backoff[k];
				(void)send_batch(d, (enum job_kind)k, true);
			}
			continue;
		}
		while (d->q[k].n > 0 && d->inflight[k] < inflight_max(d, (enum job_kind)k)) {
			bool full = d->q[k].n >= batch_max(d, (enum job_kind)k);
			if (!full && !d->flushing && now < d->deadline[k])
				break;
			if (!send_batch(d, (enum job_kind)k, false))
				break;
		}
		/* What stays waits for a new flush delay, or for a call to
		 * come back (for puts whose id is in flight). */
		if (d->q[k].n > 0 && now >= d->deadline[k])
			d->deadline[k] = now + d->cfg->dynamodb.flush_delay_ms;
	}
	rearm(d);
	if (!d->congested_logged && txp_delivery_congested(d)) {
		d->congested_logged = true;
		txp_log_warn("delivery_congested", "backlog=%zu max_pending=%llu held=%zu", d->alive,
		             (unsigned long long)d->cfg->dynamodb.max_pending, d->held.n);
	} else if (d->congested_logged && !txp_delivery_congested(d)) {
		d->congested_logged = false;
		txp_log_notice("delivery_uncongested", "backlog=%zu", d->alive);
	}
}

static void on_wake(uv_timer_t *h)
{
	pump(h->data);
}

/* ---- public --------------------------------------------------------- */

int txp_delivery_create(struct txp_delivery **out, uv_loop_t *loop, struct txp_aws_client *client,
                        const struct txp_config *cfg, char *err, size_t errlen)
{
	struct txp_delivery *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "out of memory for the delivery layer");
		return -ENOMEM;
	}
	if (cfg->dynamodb.table == NULL || cfg->dynamodb.table[0] == '\0') {
		snprintf(err, errlen, "[dynamodb] table is empty");
		free(d);
		return -EINVAL;
	}
	d->loop = loop;
	txp_queue_init(&d->calls);
	d->client = client;
	d->cfg = cfg;
	txp_retry_budget_init(&d->budget, (uint32_t)cfg->retry.budget_percent, RETRY_FLOOR_PER_MINUTE);
	policy_refresh(d);
	d->held_backoff = HELD_RETRY_MIN_MS;
	txp_heap_init(&d->retry, retry_less, NULL);
	uv_timer_init(loop, &d->wake);
	uv_timer_init(loop, &d->flush_timer);
	d->wake.data = d->flush_timer.data = d;
	d->handles_open = 2;
	*out = d;
	return 0;
}

static struct job *job_new(struct txp_delivery *d, enum job_kind k, const char *id, char *payload,
                           uint32_t len)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = k;
	j->payload = payload;
	j->len = len;
	snprintf(j->id, sizeof(j->id), "%s", id);
	d->alive++;
	return j;
}

static void enqueue(struct txp_delivery *d, struct job *j)
{
	if (d->q[j->kind].n == 0)
		d->deadline[j->kind] = now_ms(d) + d->cfg->dynamodb.flush_delay_ms;
	q_push(&d->q[j->kind], j);
}

int txp_delivery_resubmit(struct txp_delivery *d, const char *failed, const char *alert_type,
                          const char *transaction_id, const char *payload, size_t len)
{
	bool alert = strcmp(failed, "alert") == 0;
	unsigned kind = TXP_ALERT_KIND_FRAUD;
	struct job *j;
	char *copy;

	if (!alert && strcmp(failed, "store") != 0)
		return -EINVAL;
	if (alert) {
		if (alert_type == NULL)
			return -EINVAL;
		if (strcmp(alert_type, txp_alert_kind_name(TXP_ALERT_KIND_COMPLIANCE)) == 0)
			kind = TXP_ALERT_KIND_COMPLIANCE;
		else if (strcmp(alert_type, txp_alert_kind_name(TXP_ALERT_KIND_FRAUD)) != 0)
			return -EINVAL;
	}
	if (d->closing)
		return -ESHUTDOWN;
	if (txp_delivery_congested(d))
		return -EAGAIN;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, payload, len);
	copy[len] = '\0';
	j = job_new(d, alert ? JOB_ALERT : JOB_STORE, transaction_id, copy, (uint32_t)len);
	if (j == NULL) {
		free(copy);
		return -ENOMEM;
	}
	j->alert_kind = (uint8_t)kind;
	if (alert) {
		/* The message attribute comes from the message itself. */
		json_t *msg = json_loadb(payload, len, 0, NULL);
		const char *sev = json_string_value(json_object_get(msg, "severity"));
		for (int k = 0; sev != NULL && k < TXP_SEVERITY_COUNT; k++)
			if (strcmp(sev, txp_severity_name((enum txp_severity)k)) == 0)
				j->severity = (uint8_t)k;
		json_decref(msg);
	}
	enqueue(d, j);
	pump(d);
	return 0;
}

/* Queues a job of `o` (which may be NULL), counting it there. */
static void enqueue_for(struct txp_delivery *d, struct job *j, struct origin *o)
{
	if (o != NULL) {
		j->origin = o;
		o->pending++;
	}
	enqueue(d, j);
}

void txp_delivery_take(struct txp_delivery *d, struct txp_txn *t)
{
	struct origin *o = NULL;
	struct job *j;
	bool alerts_on = d->cfg->sns.topic_arn != NULL && d->cfg->sns.topic_arn[0] != '\0';

	if (d->closing) {
		txp_log_err("delivery_lost", "transaction_id=\"%s\" what=store reason=closed",
		            t->has_id ? t->transaction_id : "");
		d->st.lost++;
		return;
	}
	/* The item and alerts are built here, from the decided fields. */
	if (t->item == NULL && t->has_id && txp_item_build(t, PACKAGE_VERSION) < 0)
		txp_log_err("item_build_failed", "transaction_id=\"%s\" reason=out_of_memory", t->transaction_id);
	if (t->item == NULL) {
		/* No valid id, or no memory: nothing to store under a key. */
		d->st.not_stored++;
		return;
	}
	if (t->journal_seq != 0) {
		o = calloc(1, sizeof(*o));
		if (o == NULL) {
			/* Not lost: the journal redelivers it at the next start. */
			txp_log_err("delivery_deferred", "transaction_id=\"%s\" reason=out_of_memory journal_seq=%llu",
			            t->transaction_id, (unsigned long long)t->journal_seq);
			d->st.kept++;
			return;
		}
		o->seq = t->journal_seq;
		/* Held until every job is queued, so an early failure cannot
		 * finish it. */
		o->pending = 1;
	}
	j = job_new(d, JOB_STORE, t->transaction_id, t->item, t->item_len);
	if (j == NULL) {
		txp_log_err("delivery_lost", "transaction_id=\"%s\" what=store reason=out_of_memory",
		            t->transaction_id);
		d->st.lost++;
		origin_release(d, o, false);
		return;
	}
	t->item = NULL;
	enqueue_for(d, j, o);
	for (unsigned k = 0; k < TXP_ALERT_KINDS; k++) {
		if (t->alert[k] == NULL || !alerts_on)
			continue;
		j = job_new(d, JOB_ALERT, t->transaction_id, t->alert[k], t->alert_len[k]);
		if (j == NULL) {
			txp_log_err("delivery_lost", "transaction_id=\"%s\" what=alert reason=out_of_memory",
			            t->transaction_id);
			d->st.lost++;
			if (o != NULL)
				o->failed = true;
			continue;
		}
		t->alert[k] = NULL;
		j->alert_kind = (uint8_t)k;
		j->severity = k == TXP_ALERT_KIND_FRAUD ? t->fraud_severity : t->compliance_severity;
		enqueue_for(d, j, o);
	}
	origin_release(d, o, true);
	pump(d);
}

void txp_delivery_submit(struct txp_delivery *d, struct txp_txn *t)
{
	txp_delivery_take(d, t);
	txp_txn_free(t);
}

void txp_delivery_on_delivered(struct txp_delivery *d, txp_delivery_done_fn cb, void *arg)
{
	d->on_delivered = cb;
	d->delivered_arg = arg;
}

bool txp_delivery_congested(const struct txp_delivery *d)
{
	return d != NULL && d->alive > d->cfg->dynamodb.max_pending;
}

void txp_delivery_stats(const struct txp_delivery *d, struct txp_delivery_stats *s)
{
	*s = d->st;
	s->retrying = txp_heap_count(&d->retry);
	s->held_for_dlq = d->held.n;
	s->pending = d->alive - s->retrying - d->held.n;
	s->inflight_calls = (uint64_t)d->inflight[JOB_STORE] + d->inflight[JOB_ALERT] + d->inflight[JOB_DLQ];
	s->retry_budget_left = txp_retry_budget_left(&d->budget, now_ms(d));
}

static void flush_finish(struct txp_delivery *d)
{
	void (*done)(void *) = d->flush_done;

	uv_timer_stop(&d->flush_timer);
	d->flush_done = NULL;
	if (done != NULL)
		done(d->flush_arg);
}

/* Nothing left can be delivered before the services return: no call is
 * out, and every job waits for a service that cannot be reached. */
static bool only_unreachable_left(const struct txp_delivery *d)
{
	for (int k = 0; k < JOB_KINDS; k++) {
		if (d->inflight[k] > 0)
			return false;
		if ((d->q[k].n > 0 || d->retrying[k] > 0) && !d->unreachable[k])
			return false;
	}
	for (size_t i = 0; i < BUSY_SLOTS; i++)
		if (d->busy[i].parked.n > 0)
			return false;
	return d->held.n == 0 || d->unreachable[JOB_DLQ] || !has_queue_url(d);
}

/* A flush ends when everything is delivered, or when what is left waits
 * for services that cannot be reached: the journal keeps it for the next
 * start, and a stopping daemon need not sit out its timeout. */
static void maybe_flushed(struct txp_delivery *d)
{
	if (d->flush_done == NULL)
		return;
	if (d->alive > 0 && !only_unreachable_left(d))
		return;
	if (d->alive > 0) {
		char names[32] = "";
		for (int k = 0; k < JOB_KINDS; k++)
			if (d->unreachable[k])
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				         names[0] != '\0' ? "," : "", service_name_of[k]);
		txp_log_warn("delivery_flush_unreachable", "left=%zu unreachable=%s", d->alive, names);
	}
	flush_finish(d);
}

static void on_flush_timeout(uv_timer_t *h)
{
	struct txp_delivery *d = h->data;

	txp_log_err("delivery_flush_timeout", "left=%zu retrying=%zu held=%zu inflight_calls=%u", d->alive,
	            txp_heap_count(&d->retry), d->held.n,
	            d->inflight[JOB_STORE] + d->inflight[JOB_ALERT] + d->inflight[JOB_DLQ]);
	flush_finish(d);
}

void txp_delivery_flush(struct txp_delivery *d, uint64_t timeout_ms, void (*done)(void *arg), void *arg)
{
	d->flushing = true;
	d->flush_done = done;
	d->flush_arg = arg;
	if (d->alive == 0) {
		flush_finish(d);
		return;
	}
	txp_log_notice("delivery_flushing", "pending=%zu timeout_ms=%llu", d->alive,
	               (unsigned long long)timeout_ms);
	uv_timer_start(&d->flush_timer, on_flush_timeout, timeout_ms, 0);
	pump(d);
	maybe_flushed(d);
}

static void maybe_free(struct txp_delivery *d)
{
	if (d->handles_open == 0 && txp_queue_empty(&d->calls)) {
		txp_heap_free(&d->retry);
		free(d);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct txp_delivery *d = h->data;

	d->handles_open--;
	maybe_free(d);
}

void txp_delivery_close(struct txp_delivery *d)
{
	struct job *j;

	if (d == NULL)
		return;
	d->closing = true;
	d->flush_done = NULL;
	for (int k = 0; k < JOB_KINDS; k++)
		while ((j = q_pop(&d->q[k])) != NULL)
			job_lost(d, j, "shutdown");
	while ((j = txp_heap_pop(&d->retry)) != NULL)
		job_lost(d, j, "shutdown");
	while ((j = q_pop(&d->held)) != NULL)
		job_lost(d, j, "shutdown");
	/* Puts parked behind one in flight; the slots themselves are freed
	 * when the cancelled calls come back (release_ids). */
	for (size_t i = 0; i < BUSY_SLOTS; i++)
		while ((j = q_pop(&d->busy[i].parked)) != NULL)
			job_lost(d, j, "shutdown");
	if (d->st.lost > 0)
		txp_log_err("delivery_closed", "lost=%llu stored=%llu dead_lettered=%llu",
		            (unsigned long long)d->st.lost, (unsigned long long)d->st.stored,
		            (unsigned long long)d->st.dead_lettered);
	uv_timer_stop(&d->wake);
	uv_timer_stop(&d->flush_timer);
	uv_close((uv_handle_t *)&d->wake, on_handle_closed);
	uv_close((uv_handle_t *)&d->flush_timer, on_handle_closed);
	/* Calls still in flight end when the client cancels them; the last
	 * of their callbacks or handle closes frees the struct. */
}
