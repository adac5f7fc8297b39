/* deadletter.c: failed jobs to the SQS DLQ, and the hold queue of messages SQS did not take (loop thread). */
#include "delivery_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "txpipe/aws/sqs.h"
#include "txpipe/clock.h"
#include "txpipe/dlq.h"
#include "txpipe/item.h"
#include "txpipe/log.h"

/* ---- dead letters --------------------------------------------------- */

static void hold(struct txp_delivery *d, struct job *j, const char *code)
{
	uint64_t now = delivery__now_ms(d);

	if (d->held.n >= d->cfg->sqs.max_held) {
		txp_log_err("dlq_dropped", "transaction_id=\"%s\" what=%s held=%zu max_held=%llu error=%s", j->id,
		            j->failed_alert ? "alert" : "store", d->held.n, (unsigned long long)d->cfg->sqs.max_held,
		            j->error_code);
		d->st.dlq_dropped++;
		delivery__job_done(d, j, false);
		return;
	}
	if (d->held.n == 0)
		d->held_due = now + d->held_backoff;
	delivery__q_push(&d->held, j);
	/* Loud but rate-limited: an SQS outage would otherwise log per item. */
	if (d->held_logged_ms == 0 || now - d->held_logged_ms >= HELD_LOG_EVERY_MS) {
		d->held_logged_ms = now;
		txp_log_err("dlq_unavailable", "held=%zu max_held=%llu queue_url_set=%s last_error=%s", d->held.n,
		            (unsigned long long)d->cfg->sqs.max_held, d->cfg->sqs.queue_url[0] != '\0' ? "yes" : "no",
		            code);
	}
}

/* Turns a store or alert job that failed for good into a DLQ message. */
void delivery__dead_letter(struct txp_delivery *d, struct job *j, const char *code, const char *message)
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

	txp_log_warn("dead_letter", "transaction_id=\"%s\" what=%s error=%s attempts=%u", j->id, info.failed, code,
	             j->attempts);
	if (body == NULL) {
		/* Keep the raw payload: better an unwrapped message than none. */
		txp_log_err("dlq_build_failed", "transaction_id=\"%s\" reason=out_of_memory", j->id);
	} else {
		delivery__payload_free(d, j);
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
		d->deadline[JOB_DLQ] = delivery__now_ms(d) + d->cfg->dynamodb.flush_delay_ms;
	delivery__q_push(&d->q[JOB_DLQ], j);
}

void delivery__dlq_done(struct txp_delivery *d, struct call *c, const struct txp_aws_result *r)
{
	struct txp_batch_failure f[MAX_BATCH];
	int nf = 0;
	bool done[MAX_BATCH] = { false };

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
				delivery__job_done(d, c->jobs[i], true);
			}
		if (nf == 0)
			d->held_backoff = HELD_RETRY_MIN_MS;
		return;
	}
	d->st.dlq_failures += c->n;
	for (size_t i = 0; i < c->n; i++)
		hold(d, c->jobs[i], r->code);
}

bool delivery__has_queue_url(const struct txp_delivery *d)
{
	return d->cfg->sqs.queue_url != NULL && d->cfg->sqs.queue_url[0] != '\0';
}

/* A new round of held DLQ messages starts only when the last one is over
 * (nothing of the DLQ queued or in flight).  Until then the round's due
 * time is no deadline: the DLQ calls coming back pump again. */
bool delivery__held_round_may_start(const struct txp_delivery *d)
{
	return d->held.n > 0 && delivery__has_queue_url(d) && d->inflight[JOB_DLQ] == 0 && d->q[JOB_DLQ].n == 0;
}
