/* send.c: batches and their calls, the ids of puts in flight, completions, unreachable services (loop thread). */
#include "delivery_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/aws/dynamodb.h"
#include "txpipe/aws/sns.h"
#include "txpipe/aws/sqs.h"
#include "txpipe/fleet.h"
#include "txpipe/item.h"
#include "txpipe/log.h"
#include "txpipe/pipeline.h"

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
	struct unprocessed u = { .c = c };
	bool ok = r->kind == TXP_AWS_OK;

	if (ok && r->body != NULL &&
	    txp_ddb_unprocessed(r->body, r->body_len, d->cfg->dynamodb.table, on_unprocessed, &u) < 0)
		txp_log_warn("dynamodb_response", "reason=\"BatchWriteItem answer without UnprocessedItems\"");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		if (ok && !u.redo[i]) {
			d->st.stored++;
			delivery__job_done(d, j, true);
		} else if (ok) {
			/* DynamoDB's own advice: retry unprocessed items with
			 * exponential backoff. */
			delivery__job_failed(d, j, true, "UnprocessedItems", "left unprocessed by BatchWriteItem");
		} else {
			delivery__job_failed(d, j, r->kind != TXP_AWS_FATAL, r->code, r->message);
		}
	}
}

/* ---- fleet mode: first decision wins -------------------------------- */

/* Fleet records go as TransactWriteItems of conditional puts, or as one
 * conditional PutItem each ([fleet] record_writes). */
static bool fleet_transact(const struct txp_delivery *d)
{
	return d->fleet && d->cfg->fleet.record_writes == TXP_FLEET_WRITES_TRANSACTION;
}

static bool fleet_put(const struct txp_delivery *d)
{
	return d->fleet && !fleet_transact(d);
}

/* The conditional put of c's one record failed its condition: a record of
 * that transaction_id exists.  Whether it is ours is read back. */
static bool condition_failed(const struct txp_delivery *d, const struct call *c, const struct txp_aws_result *r)
{
	return fleet_put(d) && c->kind == JOB_STORE && !c->checking && c->n == 1 &&
	       strcmp(r->code, "ConditionalCheckFailedException") == 0;
}

static void on_call_done(void *arg, const struct txp_aws_result *r);

/* Starts the consistent GetItem of c's record, keeping c in flight (and
 * its id busy, so a later put of the same id waits).  Returns 0 or a
 * negative errno. */
static int check_start(struct txp_delivery *d, struct call *c)
{
	size_t len = 0;
	char *body = txp_fleet_get_body(d->cfg->dynamodb.table, c->jobs[0]->id, &len);
	int rc = -ENOMEM;

	c->checking = true;
	if (body != NULL)
		rc = txp_aws_call(d->client, TXP_AWS_DYNAMODB, "GetItem", body, len, on_call_done, c);
	free(body);
	return rc;
}

/* Settles j from the stored record of its transaction_id (`body`, a
 * GetItem answer: the read-back, or the item a cancelled transaction
 * returned): ours already, another host's decision that wins, or gone. */
static void settle_stored(struct txp_delivery *d, struct job *j, const char *body, size_t body_len)
{
	char winner[TXP_FLEET_INSTANCE_ID_MAX + 1];
	char *reply = NULL;
	size_t reply_len = 0;
	int v;

	v = txp_fleet_stored_verdict(body, body_len, j->payload, j->len, winner, sizeof(winner), &reply, &reply_len);
	if (v == TXP_FLEET_OURS) {
		/* Our own earlier attempt (an answer lost to a timeout) or a
		 * replayed record: stored, and only once. */
		d->st.already_stored++;
		delivery__job_done(d, j, true);
		return;
	}
	if (v != TXP_FLEET_CONFLICT) {
		/* Gone again (TTL) or unreadable: put it again, with the
		 * retry policy's backoff. */
		delivery__job_failed(d, j, v != -EINVAL, "ConditionalCheckFailedException",
		                     v == TXP_FLEET_MISSING ? "the stored record vanished before it was read back"
		                                            : "the stored record could not be read back");
		return;
	}
	/* Another decision was stored first and stays: ours is not a failure
	 * to retry or dead-letter, it lost. */
	d->st.conditional_conflicts++;
	txp_log_warn("fleet_conflict",
	             "transaction_id=\"%s\" instance=\"%s\" winner=\"%s\" action=\"the stored decision stays\"", j->id,
	             d->decided_by, winner[0] != '\0' ? winner : "-");
	if (j->origin != NULL && d->on_conflict != NULL)
		d->on_conflict(d->conflict_arg, j->origin->seq, reply, reply_len);
	else
		free(reply);
	delivery__job_done(d, j, true);
}

/* The read-back after a failed condition came back. */
static void check_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	if (r->kind != TXP_AWS_OK) {
		delivery__job_failed(d, c->jobs[0], r->kind != TXP_AWS_FATAL, r->code, r->message);
		return;
	}
	settle_stored(d, c->jobs[0], r->body, r->body_len);
}

/*
 * A TransactWriteItems of fleet records came back.  Written: all stored.
 * Cancelled (TransactionCanceledException), nothing was written, and each
 * put has its reason: a failed condition comes with the stored record,
 * settled at once; "None" (refused only because another put was) goes
 * back to the queue as it was, spending no attempt; any other reason
 * (TransactionConflict, throttling) is retried with backoff.
 */
static void transact_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	struct txp_fleet_cancel why[MAX_BATCH];

	if (r->kind == TXP_AWS_OK) {
		for (size_t i = 0; i < c->n; i++) {
			d->st.stored++;
			delivery__job_done(d, c->jobs[i], true);
		}
		return;
	}
	if (strcmp(r->code, "TransactionCanceledException") != 0) {
		for (size_t i = 0; i < c->n; i++)
			delivery__job_failed(d, c->jobs[i], r->kind != TXP_AWS_FATAL, r->code, r->message);
		return;
	}
	if (txp_fleet_cancellations(r->body, r->body_len, why, c->n) < 0) {
		for (size_t i = 0; i < c->n; i++)
			delivery__job_failed(d, c->jobs[i], true, r->code, "cancelled, without a reason per put");
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];

		if (strcmp(why[i].code, "None") == 0) {
			j->attempts--;
			delivery__q_push(&d->q[JOB_STORE], j);
			d->deadline[JOB_STORE] = delivery__now_ms(d);
		} else if (strcmp(why[i].code, "ConditionalCheckFailed") == 0 && why[i].old != NULL) {
			settle_stored(d, j, why[i].old, why[i].old_len);
		} else {
			delivery__job_failed(d, j, strcmp(why[i].code, "ValidationError") != 0, why[i].code,
			                     "refused within TransactWriteItems");
		}
		free(why[i].old);
	}
}

static void alert_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	struct txp_batch_failure f[MAX_BATCH];
	int nf = 0;
	bool done[MAX_BATCH] = { false };

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
			delivery__job_failed(d, c->jobs[f[i].index], !f[i].sender_fault, f[i].code, f[i].message);
		}
		for (size_t i = 0; i < c->n; i++)
			if (!done[i]) {
				d->st.alerts_published++;
				delivery__job_done(d, c->jobs[i], true);
			}
		return;
	}
	for (size_t i = 0; i < c->n; i++)
		delivery__job_failed(d, c->jobs[i], r->kind != TXP_AWS_FATAL, r->code, r->message);
}

static void release_ids(struct txp_delivery *d, const struct call *c);

const char *const delivery__service_name_of[JOB_KINDS] = { "dynamodb", "sns", "sqs" };

/* No HTTP answer at all: the service is down or cut off, not just failing. */
static bool no_answer(const struct txp_aws_result *r)
{
	return r->kind == TXP_AWS_RETRYABLE && r->http_status == 0 &&
	       (strcmp(r->code, "connection_refused") == 0 || strcmp(r->code, "timeout") == 0 ||
	        strcmp(r->code, "transport_error") == 0);
}

/* Marks the service of a store or alert call unreachable, or reachable
 * again, from how the call ended (see the top of delivery.c). */
static void note_reachability(struct txp_delivery *d, const struct call *c, const struct txp_aws_result *r)
{
	enum job_kind k = c->kind;

	if (!no_answer(r)) {
		if (d->unreachable[k]) {
			d->unreachable[k] = false;
			txp_log_notice("aws_reachable", "service=%s backlog=%zu", delivery__service_name_of[k],
			               d->q[k].n);
		}
		return;
	}
	if (k == JOB_DLQ) {
		/* Held rounds already pace it. */
		d->unreachable[k] = true;
	} else if (!d->unreachable[k]) {
		d->unreachable[k] = true;
		d->probe_backoff[k] = PROBE_MIN_MS;
		d->probe_due[k] = delivery__now_ms(d) + PROBE_MIN_MS;
		txp_log_warn("aws_unreachable",
		             "service=%s error=%s backlog=%zu action=\"one probe batch at a time, "
		             "the rest waits\"",
		             delivery__service_name_of[k], r->code, d->q[k].n);
	} else if (c->probe) {
		d->probe_backoff[k] = d->probe_backoff[k] * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : d->probe_backoff[k] * 2;
		d->probe_due[k] = delivery__now_ms(d) + d->probe_backoff[k];
	}
}

static void on_call_done(void *arg, const struct txp_aws_result *r)
{
	struct call *c = arg;
	struct txp_delivery *d = c->d;
	struct txp_aws_result failed;
	int rc;

	if (!cancelled(d, r) && condition_failed(d, c, r)) {
		/* Still in flight, as the read-back. */
		note_reachability(d, c, r);
		rc = check_start(d, c);
		if (rc == 0)
			return;
		/* Report it as the read-back's own failure: the put is retried. */
		failed = (struct txp_aws_result){ .kind = TXP_AWS_RETRYABLE };
		snprintf(failed.code, sizeof(failed.code), "call_failed");
		snprintf(failed.message, sizeof(failed.message), "could not start the read-back: %s", strerror(-rc));
		r = &failed;
	}
	call_unlink(d, c);
	release_ids(d, c);
	if (!cancelled(d, r))
		note_reachability(d, c, r);
	if (cancelled(d, r)) {
		for (size_t i = 0; i < c->n; i++)
			delivery__job_lost(d, c->jobs[i], "cancelled");
	} else if (c->checking) {
		check_done(d, c, r);
	} else if (c->kind == JOB_STORE && fleet_transact(d)) {
		transact_done(d, c, r);
	} else if (c->kind == JOB_STORE) {
		store_done(d, c, r);
	} else if (c->kind == JOB_ALERT) {
		alert_done(d, c, r);
	} else {
		delivery__dlq_done(d, c, r);
	}
	free(c);
	if (d->closing) {
		delivery__maybe_free(d);
		return;
	}
	delivery__pump(d);
	delivery__maybe_flushed(d);
}

/* ---- sending -------------------------------------------------------- */

/* ---- ids of the puts in flight ---------------------------------------- */

static size_t busy_home(const struct job *j)
{
	return j->id_hash & (BUSY_SLOTS - 1);
}

/* The slot holding j's id, or the free slot where it would go (linear
 * probing; the table is never more than half full). */
static size_t busy_slot(const struct txp_delivery *d, const struct job *j)
{
	size_t i = busy_home(j);

	while (d->busy[i].j != NULL && (d->busy[i].j->id_hash != j->id_hash || strcmp(d->busy[i].j->id, j->id) != 0))
		i = (i + 1) & (BUSY_SLOTS - 1);
	return i;
}

/* Frees slot i and closes the gap behind it (backward-shift deletion, so
 * lookups need no tombstones): an entry further along the probe run moves
 * into the hole unless its home lies cyclically in (hole, entry]. */
static void busy_remove(struct txp_delivery *d, size_t i)
{
	for (size_t k = (i + 1) & (BUSY_SLOTS - 1); d->busy[k].j != NULL; k = (k + 1) & (BUSY_SLOTS - 1)) {
		size_t h = busy_home(d->busy[k].j);
		bool stays = i <= k ? (i < h && h <= k) : (i < h || h <= k);
		if (!stays) {
			d->busy[i] = d->busy[k];
			i = k;
		}
	}
	d->busy[i] = (struct busy){ 0 };
}

/* A store call came back (or never left): its ids are free again, and
 * puts parked behind them go to the front of the queue, in order (they
 * have waited their turn already). */
static void release_ids(struct txp_delivery *d, const struct call *c)
{
	if (c->kind != JOB_STORE)
		return;
	for (size_t n = 0; n < c->n; n++) {
		size_t i = busy_slot(d, c->jobs[n]);
		if (d->busy[i].j != c->jobs[n])
			continue;
		struct queue parked = d->busy[i].parked;
		busy_remove(d, i);
		if (parked.n > 0) {
			delivery__q_prepend(&d->q[JOB_STORE], &parked);
			d->deadline[JOB_STORE] = delivery__now_ms(d);
		}
	}
}

static size_t batch_max(const struct txp_delivery *d, enum job_kind k)
{
	/* A conditional PutItem carries one item (BatchWriteItem takes no
	 * conditions); a transaction as many as a BatchWriteItem. */
	if (k == JOB_STORE && fleet_put(d))
		return 1;
	size_t n = k == JOB_STORE ? d->cfg->dynamodb.batch_size : k == JOB_ALERT ? d->cfg->sns.batch_size : DLQ_BATCH;
	return n < 1 ? 1 : n > MAX_BATCH ? MAX_BATCH : n;
}

static unsigned inflight_max(const struct txp_delivery *d, enum job_kind k)
{
	unsigned m = k == JOB_STORE   ? (fleet_put(d) ? MAX_FLEET_STORE_INFLIGHT : MAX_STORE_INFLIGHT)
	             : k == JOB_ALERT ? MAX_ALERT_INFLIGHT
	                              : MAX_DLQ_INFLIGHT;
	return d->cfg->aws.max_connections < m ? (unsigned)d->cfg->aws.max_connections : m;
}

static char *call_body(const struct txp_delivery *d, const struct call *c, size_t *len)
{
	if (c->kind == JOB_STORE && fleet_put(d))
		return txp_fleet_put_body(d->cfg->dynamodb.table, c->jobs[0]->payload, c->jobs[0]->len, d->decided_by,
		                          len);
	if (c->kind == JOB_STORE) {
		const char *items[MAX_BATCH];
		uint32_t lens[MAX_BATCH];
		for (size_t i = 0; i < c->n; i++) {
			items[i] = c->jobs[i]->payload;
			lens[i] = c->jobs[i]->len;
		}
		return fleet_transact(d)
		               ? txp_fleet_transact_body(d->cfg->dynamodb.table, items, lens, c->n, d->decided_by, len)
		               : txp_ddb_batch_body(d->cfg->dynamodb.table, items, lens, c->n, len);
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

static const enum txp_aws_service service_of[JOB_KINDS] = { TXP_AWS_DYNAMODB, TXP_AWS_SNS, TXP_AWS_SQS };
static const char *const op_of[JOB_KINDS] = { "BatchWriteItem", "PublishBatch", "SendMessageBatch" };

/* Takes up to one batch of q[k] and sends it.  Returns false when nothing
 * could be sent. */
static bool send_batch(struct txp_delivery *d, enum job_kind k, bool probe)
{
	struct queue *q = &d->q[k];
	struct call *c = calloc(1, sizeof(*c));
	struct job *j;
	size_t max = batch_max(d, k), len = 0;
	uint64_t now = delivery__now_ms(d);
	char *body;
	int rc;

	if (c == NULL)
		return false;
	c->d = d;
	c->kind = k;
	c->probe = probe;
	while (c->n < max && (j = delivery__q_pop(q)) != NULL) {
		if (k == JOB_STORE) {
			/* A put of this id is in flight or in this batch:
			 * park it behind that one (see release_ids). */
			size_t i = busy_slot(d, j);
			if (d->busy[i].j != NULL) {
				delivery__q_push(&d->busy[i].parked, j);
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
			txp_log_debug("delivery_attempt",
			              "transaction_id=\"%s\" what=%s attempt=%u batch=%zu t_ms=%llu", b->id,
			              delivery__kind_name(k), b->attempts, c->n, (unsigned long long)now);
	}
	txp_queue_insert_tail(&d->calls, &c->link);
	d->inflight[k]++;
	rc = -ENOMEM;
	if (body != NULL)
		rc = txp_aws_call_take(d->client, service_of[k],
		                       k == JOB_STORE && fleet_transact(d) ? "TransactWriteItems"
		                       : k == JOB_STORE && fleet_put(d)    ? "PutItem"
		                                                           : op_of[k],
		                       body, len, on_call_done, c);
	if (rc < 0) {
		/* Report it as the call's own failure, so every path through
		 * retry and the DLQ stays the same. */
		struct txp_aws_result r = { .kind = TXP_AWS_RETRYABLE };
		snprintf(r.code, sizeof(r.code), "call_failed");
		snprintf(r.message, sizeof(r.message), "could not start the request: %s", strerror(-rc));
		call_unlink(d, c);
		release_ids(d, c);
		if (k == JOB_STORE)
			store_done(d, c, &r);
		else if (k == JOB_ALERT)
			alert_done(d, c, &r);
		else
			delivery__dlq_done(d, c, &r);
		free(c);
		return false;
	}
	return true;
}

static void on_wake(uv_timer_t *h);

/* Arms the timer for the earliest deadline: O(1), whatever the backlog. */
static void rearm(struct txp_delivery *d)
{
	uint64_t next = UINT64_MAX, now = delivery__now_ms(d), delay;
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
	if (delivery__held_round_may_start(d) && d->held_due < next)
		next = d->held_due;
	if (next == UINT64_MAX) {
		uv_timer_stop(&d->wake);
		return;
	}
	/*
	 * Never 0 ms.  delivery__pump() leaves every deadline it could act on in the
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
void delivery__pump(struct txp_delivery *d)
{
	uint64_t now = delivery__now_ms(d);
	struct job *j;

	if (d->closing)
		return;
	while ((j = txp_heap_peek(&d->retry)) != NULL && j->due_ms <= now) {
		(void)txp_heap_pop(&d->retry);
		d->retrying[j->kind]--;
		/* A retry leaves at once: its wait is the backoff. */
		delivery__q_push(&d->q[j->kind], j);
		d->deadline[j->kind] = now;
	}
	if (delivery__held_round_may_start(d) && now >= d->held_due) {
		/* One round of held messages at a time; the backoff doubles
		 * until SQS takes them again. */
		while (d->q[JOB_DLQ].n < DLQ_BATCH * MAX_DLQ_INFLIGHT && (j = delivery__q_pop(&d->held)) != NULL)
			delivery__q_push(&d->q[JOB_DLQ], j);
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
	delivery__pump(h->data);
}
