/* delivery.c: decided transactions to DynamoDB, alerts to SNS, failures to the SQS DLQ (loop thread). */
#include "delivery_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "txpipe/heap.h"
#include "txpipe/item.h"
#include "txpipe/log.h"
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
	delivery__policy_refresh(d);
	d->held_backoff = HELD_RETRY_MIN_MS;
	txp_heap_init(&d->retry, delivery__retry_less, NULL);
	uv_timer_init(loop, &d->wake);
	uv_timer_init(loop, &d->flush_timer);
	d->wake.data = d->flush_timer.data = d;
	d->handles_open = 2;
	*out = d;
	return 0;
}

static struct job *job_new(struct txp_delivery *d, enum job_kind k, const char *id, char *payload, uint32_t len)
{
	struct job *j = delivery__job_alloc(d);

	if (j == NULL)
		return NULL;
	j->kind = k;
	j->payload = payload;
	j->len = len;
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (k == JOB_STORE)
		j->id_hash = txp_shard_hash(j->id);
	d->alive++;
	return j;
}

static void enqueue(struct txp_delivery *d, struct job *j)
{
	if (d->q[j->kind].n == 0)
		d->deadline[j->kind] = delivery__now_ms(d) + d->cfg->dynamodb.flush_delay_ms;
	delivery__q_push(&d->q[j->kind], j);
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
	delivery__pump(d);
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
	char *payload;
	bool alerts_on = d->cfg->sns.topic_arn != NULL && d->cfg->sns.topic_arn[0] != '\0';

	if (d->closing) {
		txp_log_err("delivery_lost", "transaction_id=\"%s\" what=store reason=closed",
		            t->has_id ? t->transaction_id : "");
		d->st.lost++;
		return;
	}
	/* The stages build the item and alerts on the thread that decided
	 * (stages.c, stage_finish); a replayed record gets them here, from
	 * its decided fields. */
	if (t->item == NULL && t->has_id && txp_item_build(t, PACKAGE_VERSION) < 0)
		txp_log_err("item_build_failed", "transaction_id=\"%s\" reason=out_of_memory", t->transaction_id);
	if (t->item == NULL) {
		/* No valid id, or no memory: nothing to store under a key. */
		d->st.not_stored++;
		return;
	}
	if (t->journal_seq != 0) {
		o = delivery__origin_alloc(d);
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
	/* Into a pooled block, and the stages' buffer freed at once (see
	 * spare_items); when there is no block, the buffer itself. */
	payload = t->item_len < ITEM_BLOCK ? delivery__item_block(d) : NULL;
	if (payload != NULL)
		memcpy(payload, t->item, (size_t)t->item_len + 1);
	j = job_new(d, JOB_STORE, t->transaction_id, payload != NULL ? payload : t->item, t->item_len);
	if (j == NULL) {
		txp_log_err("delivery_lost", "transaction_id=\"%s\" what=store reason=out_of_memory",
		            t->transaction_id);
		d->st.lost++;
		if (payload != NULL)
			delivery__item_block_put(d, payload);
		delivery__origin_release(d, o, false);
		return;
	}
	j->pooled = payload != NULL;
	if (j->pooled)
		free(t->item);
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
	delivery__origin_release(d, o, true);
	delivery__pump(d);
}

void txp_delivery_submit(struct txp_delivery *d, struct txp_txn *t)
{
	txp_delivery_take(d, t);
	txp_txn_free(t);
}

int txp_delivery_set_fleet(struct txp_delivery *d, const char *decided_by)
{
	if (decided_by == NULL || !txp_fleet_instance_id_valid(decided_by))
		return -EINVAL;
	snprintf(d->decided_by, sizeof(d->decided_by), "%s", decided_by);
	d->fleet = true;
	return 0;
}

void txp_delivery_on_conflict(struct txp_delivery *d, txp_delivery_conflict_fn cb, void *arg)
{
	d->on_conflict = cb;
	d->conflict_arg = arg;
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
	s->retry_budget_left = txp_retry_budget_left(&d->budget, delivery__now_ms(d));
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
	return d->held.n == 0 || d->unreachable[JOB_DLQ] || !delivery__has_queue_url(d);
}

/* A flush ends when everything is delivered, or when what is left waits
 * for services that cannot be reached: the journal keeps it for the next
 * start, and a stopping daemon need not sit out its timeout. */
void delivery__maybe_flushed(struct txp_delivery *d)
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
				         names[0] != '\0' ? "," : "", delivery__service_name_of[k]);
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
	txp_log_notice("delivery_flushing", "pending=%zu timeout_ms=%llu", d->alive, (unsigned long long)timeout_ms);
	uv_timer_start(&d->flush_timer, on_flush_timeout, timeout_ms, 0);
	delivery__pump(d);
	delivery__maybe_flushed(d);
}

void delivery__maybe_free(struct txp_delivery *d)
{
	if (d->handles_open == 0 && txp_queue_empty(&d->calls)) {
		txp_heap_free(&d->retry);
		delivery__spares_free(d);
		free(d);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct txp_delivery *d = h->data;

	d->handles_open--;
	delivery__maybe_free(d);
}

void txp_delivery_close(struct txp_delivery *d)
{
	struct job *j;

	if (d == NULL)
		return;
	d->closing = true;
	d->flush_done = NULL;
	for (int k = 0; k < JOB_KINDS; k++)
		while ((j = delivery__q_pop(&d->q[k])) != NULL)
			delivery__job_lost(d, j, "shutdown");
	while ((j = txp_heap_pop(&d->retry)) != NULL)
		delivery__job_lost(d, j, "shutdown");
	while ((j = delivery__q_pop(&d->held)) != NULL)
		delivery__job_lost(d, j, "shutdown");
	/* Puts parked behind one in flight; the slots themselves are freed
	 * when the cancelled calls come back (release_ids). */
	for (size_t i = 0; i < BUSY_SLOTS; i++)
		while ((j = delivery__q_pop(&d->busy[i].parked)) != NULL)
			delivery__job_lost(d, j, "shutdown");
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
