/* jobs.c: delivery jobs and their origins: the FIFO queues, a job's end, and a failed job's retry (loop thread). */
#include "delivery_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/log.h"

uint64_t delivery__now_ms(const struct txp_delivery *d)
{
	return uv_now(d->loop);
}

void delivery__q_push(struct queue *q, struct job *j)
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
struct job *delivery__q_pop(struct queue *q)
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
void delivery__q_prepend(struct queue *q, struct queue *from)
{
	if (from->head == NULL)
		return;
	from->tail->next = q->head;
	q->head = from->head;
	if (q->tail == NULL)
		q->tail = from->tail;
	q->n += from->n;
	*from = (struct queue){ 0 };
}

/* Spares kept at most: a few batches in flight of each kind, and more. */
#define SPARES_MAX 4096

struct job *delivery__job_alloc(struct txp_delivery *d)
{
	struct job *j = d->spare_jobs;

	if (j == NULL)
		return calloc(1, sizeof(*j));
	d->spare_jobs = j->next;
	d->nspare_jobs--;
	memset(j, 0, sizeof(*j));
	return j;
}

struct origin *delivery__origin_alloc(struct txp_delivery *d)
{
	struct origin *o = d->spare_origins;

	if (o == NULL)
		return calloc(1, sizeof(*o));
	d->spare_origins = o->next_spare;
	d->nspare_origins--;
	memset(o, 0, sizeof(*o));
	return o;
}

static void origin_free(struct txp_delivery *d, struct origin *o)
{
	if (d->nspare_origins >= SPARES_MAX) {
		free(o);
		return;
	}
	o->next_spare = d->spare_origins;
	d->spare_origins = o;
	d->nspare_origins++;
}

static void job_free(struct txp_delivery *d, struct job *j)
{
	if (d->nspare_jobs >= SPARES_MAX) {
		free(j);
		return;
	}
	j->next = d->spare_jobs;
	d->spare_jobs = j;
	d->nspare_jobs++;
}

char *delivery__item_block(struct txp_delivery *d)
{
	char *b = d->spare_items;

	if (b == NULL)
		return malloc(ITEM_BLOCK);
	memcpy(&d->spare_items, b, sizeof(char *));
	d->nspare_items--;
	return b;
}

void delivery__item_block_put(struct txp_delivery *d, char *b)
{
	if (d->nspare_items >= SPARES_MAX) {
		free(b);
		return;
	}
	memcpy(b, &d->spare_items, sizeof(char *));
	d->spare_items = b;
	d->nspare_items++;
}

void delivery__payload_free(struct txp_delivery *d, struct job *j)
{
	if (j->pooled)
		delivery__item_block_put(d, j->payload);
	else
		free(j->payload);
	j->payload = NULL;
	j->pooled = false;
}

void delivery__spares_free(struct txp_delivery *d)
{
	while (d->spare_jobs != NULL) {
		struct job *j = d->spare_jobs;
		d->spare_jobs = j->next;
		free(j);
	}
	while (d->spare_origins != NULL) {
		struct origin *o = d->spare_origins;
		d->spare_origins = o->next_spare;
		free(o);
	}
	while (d->spare_items != NULL)
		free(delivery__item_block(d));
	d->nspare_jobs = d->nspare_origins = d->nspare_items = 0;
}

bool delivery__retry_less(const void *a, const void *b, void *arg)
{
	const struct job *x = a, *y = b;

	(void)arg;
	return x->due_ms < y->due_ms || (x->due_ms == y->due_ms && x->order < y->order);
}

void delivery__origin_release(struct txp_delivery *d, struct origin *o, bool delivered)
{
	if (o == NULL)
		return;
	if (!delivered)
		o->failed = true;
	if (--o->pending > 0)
		return;
	if (!o->failed && d->on_delivered != NULL)
		d->on_delivered(d->delivered_arg, o->seq);
	origin_free(d, o);
}

/* Frees a job that is done with: `delivered` when AWS took it (stored,
 * published, or dead-lettered). */
void delivery__job_done(struct txp_delivery *d, struct job *j, bool delivered)
{
	delivery__origin_release(d, j->origin, delivered);
	delivery__payload_free(d, j);
	job_free(d, j);
	d->alive--;
}

const char *delivery__kind_name(enum job_kind k)
{
	return k == JOB_STORE ? "store" : k == JOB_ALERT ? "alert" : "dlq";
}

/* A job that will not reach AWS in this run (shutdown): said once each.
 * A journaled one is kept in the journal and delivered at the next start;
 * any other is lost, and said loudly. */
void delivery__job_lost(struct txp_delivery *d, struct job *j, const char *why)
{
	const char *what =
	        j->kind == JOB_DLQ ? (j->failed_alert ? "alert_dlq" : "store_dlq") : delivery__kind_name(j->kind);

	if (j->origin != NULL) {
		txp_log_warn("delivery_kept", "transaction_id=\"%s\" what=%s reason=%s journal_seq=%llu", j->id, what,
		             why, (unsigned long long)j->origin->seq);
		d->st.kept++;
	} else {
		txp_log_err("delivery_lost", "transaction_id=\"%s\" what=%s reason=%s", j->id, what, why);
		d->st.lost++;
	}
	delivery__job_done(d, j, false);
}

static uint64_t random64(void)
{
	return ((uint64_t)randombytes_random() << 32) | randombytes_random();
}

/* [retry] is reloadable: read it where it is used. */
void delivery__policy_refresh(struct txp_delivery *d)
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
void delivery__job_failed(struct txp_delivery *d, struct job *j, bool retryable, const char *code, const char *message)
{
	uint64_t now = delivery__now_ms(d), delay;

	delivery__policy_refresh(d);
	if (retryable && txp_retry_attempts_left(&d->policy, j->attempts)) {
		if (txp_retry_budget_take(&d->budget, now)) {
			delay = txp_retry_delay_ms(&d->policy, j->attempts - 1, random64());
			j->due_ms = now + delay;
			j->order = d->retry_order++;
			if (txp_heap_push(&d->retry, j) < 0) {
				delivery__job_lost(d, j, "out_of_memory");
				return;
			}
			d->retrying[j->kind]++;
			if (j->kind == JOB_STORE)
				d->st.store_retries++;
			else
				d->st.alert_retries++;
			txp_log_debug("delivery_retry",
			              "transaction_id=\"%s\" what=%s attempt=%u error=%s delay_ms=%llu t_ms=%llu",
			              j->id, delivery__kind_name(j->kind), j->attempts, code, (unsigned long long)delay,
			              (unsigned long long)now);
			return;
		}
		d->st.retry_budget_exhausted++;
		txp_log_warn("retry_budget_exhausted", "transaction_id=\"%s\" what=%s error=%s", j->id,
		             delivery__kind_name(j->kind), code);
		delivery__dead_letter(d, j, code, "retry budget exhausted");
		return;
	}
	delivery__dead_letter(d, j, code, message);
}
