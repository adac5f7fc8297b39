/* ack.c: after a decision: duplicates, the journal hand-off, delivery, and when each reply may leave. */
#include "txpipe/ack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/item.h"
#include "txpipe/log.h"
#include "txpipe/record.h"

/* Replies waiting for their record: (sequence number, transaction), in
 * increasing sequence order.  A released entry has t == NULL. */
struct hold {
	uint64_t seq;
	struct txp_txn *t;
};

struct holdq {
	struct hold *v;
	size_t head, len, cap;
};

struct txp_ack {
	struct txp_ack_options o;
	struct txp_ack_ops ops;
	struct holdq wait_durable, wait_stored;
	uint64_t *delivered; /* sequence numbers to mark delivered at the next flush */
	size_t n_delivered, cap_delivered;
	struct txp_ack_stats st;
};

static void *ack_realloc(const struct txp_ack *a, void *p, size_t size)
{
	return a->ops.realloc != NULL ? a->ops.realloc(p, size) : realloc(p, size);
}

static bool is_decision(const struct txp_txn *t)
{
	return t->status == TXP_STATUS_APPROVED || t->status == TXP_STATUS_REVIEW || t->status == TXP_STATUS_DECLINED;
}

/* ---- hold queues ------------------------------------------------------- */

/* Makes room for one more entry, so the push after the record is appended
 * cannot fail.  Returns 0 or -ENOMEM. */
static int holdq_reserve(struct txp_ack *a, struct holdq *q)
{
	if (q->head + q->len == q->cap && q->head > 0) {
		memmove(q->v, q->v + q->head, q->len * sizeof(*q->v));
		q->head = 0;
	}
	if (q->len == q->cap) {
		size_t cap = q->cap > 0 ? q->cap * 2 : 1024;
		struct hold *nv = ack_realloc(a, q->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		q->v = nv;
		q->cap = cap;
	}
	return 0;
}

/* Drops released entries from the front. */
static void holdq_trim(struct holdq *q)
{
	while (q->len > 0 && q->v[q->head].t == NULL) {
		q->head++;
		q->len--;
	}
	if (q->len == 0)
		q->head = 0;
}

/* Forgets every entry (the transactions belong to the server). */
static void holdq_clear(struct holdq *q)
{
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* Holds t's reply until `seq` is durable (wait_durable) or delivered
 * (wait_stored).  Keys are pushed in increasing order, after
 * holdq_reserve() made room. */
static void hold(struct txp_ack *a, struct holdq *q, uint64_t seq, struct txp_txn *t)
{
	q->v[q->head + q->len++] = (struct hold){ .seq = seq, .t = t };
	t->held = true;
	a->st.held_now++;
}

static void release(struct txp_ack *a, struct hold *h)
{
	if (h->t == NULL)
		return;
	a->st.held_now--;
	a->ops.release(a->ops.arg, h->t);
	h->t = NULL;
}

/* Answers t with error "overloaded": it was not kept, so the producer must
 * send it again. */
static void refuse(struct txp_txn *t, const char *message)
{
	txp_txn_fail(t, TXP_STATUS_ERROR, "overloaded", NULL, "%s", message);
	t->duplicate = false;
	if (txp_txn_build_reply(t) < 0)
		txp_log_err("reply_build_failed", "reason=out_of_memory");
}

/* Makes room in q for t's reply, or answers t overloaded (it is then
 * neither kept nor held) and returns false.  `until` says what the reply
 * would have waited for. */
static bool hold_reserved(struct txp_ack *a, struct holdq *q, struct txp_txn *t, const char *until)
{
	char message[128];

	if (holdq_reserve(a, q) == 0)
		return true;
	a->st.hold_failures++;
	txp_log_err("reply_hold_failed", "reason=out_of_memory transaction_id=\"%s\"", t->transaction_id);
	snprintf(message, sizeof(message), "no memory to hold the reply until %s; retry later", until);
	refuse(t, message);
	return false;
}

/* ---- DELIVERED marks ----------------------------------------------------- */

/* Queues `seq` for a DELIVERED record; one record per loop turn names every
 * sequence number delivered in it. */
static void mark_delivered(struct txp_ack *a, uint64_t seq)
{
	if (a->n_delivered == a->cap_delivered) {
		size_t cap = a->cap_delivered > 0 ? a->cap_delivered * 2 : 1024;
		uint64_t *nv = ack_realloc(a, a->delivered, cap * sizeof(*nv));
		if (nv == NULL) {
			/* Not lost: the record is delivered again at the next start. */
			txp_log_err("journal_deliver_failed", "records=1 error=\"out of memory\"");
			return;
		}
		a->delivered = nv;
		a->cap_delivered = cap;
	}
	a->delivered[a->n_delivered++] = seq;
	if (a->n_delivered == 1 && a->ops.schedule_flush != NULL)
		a->ops.schedule_flush(a->ops.arg);
}

void txp_ack_flush(struct txp_ack *a)
{
	int rc;

	if (a == NULL || a->n_delivered == 0)
		return;
	rc = a->ops.mark_delivered(a->ops.arg, a->delivered, a->n_delivered);
	if (rc < 0)
		/* Not lost: the records are delivered again at the next start. */
		txp_log_err("journal_deliver_failed", "records=%zu error=\"%s\"", a->n_delivered, strerror(-rc));
	a->n_delivered = 0;
}

/* ---- public -------------------------------------------------------------- */

int txp_ack_create(struct txp_ack **out, const struct txp_ack_options *opts, const struct txp_ack_ops *ops)
{
	struct txp_ack *a;

	if (opts->dedup == NULL || ops->append == NULL || ops->mark_delivered == NULL || ops->release == NULL)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->o = *opts;
	a->ops = *ops;
	*out = a;
	return 0;
}

void txp_ack_destroy(struct txp_ack *a)
{
	if (a == NULL)
		return;
	holdq_clear(&a->wait_durable);
	holdq_clear(&a->wait_stored);
	free(a->delivered);
	free(a);
}

void txp_ack_start(struct txp_ack *a, uint64_t durable_seq)
{
	a->st.durable_seq = a->st.last_seq = durable_seq;
}

/* A resubmission: answered with the first decision (already in t->reply),
 * never ahead of that decision's own acknowledgement. */
static void completed_duplicate(struct txp_ack *a, struct txp_txn *t)
{
	a->st.duplicates++;
	if (a->o.mode == TXP_JOURNAL_ACK_DECIDED || t->journal_seq <= a->st.durable_seq)
		return;
	/* Everything appended so far includes the first submission's record. */
	if (!hold_reserved(a, &a->wait_durable, t, "the first submission is durable"))
		return;
	hold(a, &a->wait_durable, a->st.last_seq, t);
}

void txp_ack_completed(struct txp_ack *a, struct txp_txn *t)
{
	struct holdq *q = NULL;
	int rc;

	/* Scored while the first submission was still in flight: it is
	 * answered as a duplicate (or a conflict) all the same, neither kept
	 * nor stored.  (Not with inline stages: nothing is in flight.) */
	if (!t->duplicate && !t->dedup_final && is_decision(t))
		(void)txp_dedup_check(a->o.dedup, t);
	if (t->duplicate) {
		completed_duplicate(a, t);
		return;
	}
	if (!t->has_id || t->transaction_id[0] == '\0') {
		/* No valid id: answered, never stored, nothing to keep. */
		if (a->ops.deliver != NULL)
			a->ops.deliver(a->ops.arg, t); /* counts it as not stored */
		return;
	}
	if (a->o.mode == TXP_JOURNAL_ACK_STORED && a->ops.deliver != NULL)
		q = &a->wait_stored;
	else if (a->o.mode != TXP_JOURNAL_ACK_DECIDED)
		q = &a->wait_durable;
	/* Room to hold the reply first: once the record is appended the reply
	 * must wait for it, and an acknowledgement ahead of the record is the
	 * one thing this module must never send. */
	if (q != NULL && !hold_reserved(a, q, t, "the record is kept"))
		return;
	rc = a->ops.append(a->ops.arg, t);
	if (rc < 0) {
		/* Not kept, so not acknowledged: the producer retries. */
		a->st.append_failures++;
		txp_log_err("journal_append_failed", "transaction_id=\"%s\" error=\"%s\"", t->transaction_id,
		            strerror(-rc));
		refuse(t, "the journal cannot take it; retry later");
		return;
	}
	a->st.last_seq = t->journal_seq;
	if (is_decision(t) && t->reply != NULL &&
	    txp_dedup_put(a->o.dedup, t->transaction_id, t->fingerprint, t->status, t->journal_seq, t->reply,
	                  t->reply_len, t->received_ms, NULL) < 0)
		txp_log_warn("duplicate_window_full", "transaction_id=\"%s\" reason=out_of_memory", t->transaction_id);
	if (q != NULL)
		hold(a, q, t->journal_seq, t);
	if (a->ops.deliver != NULL)
		a->ops.deliver(a->ops.arg, t);
	else
		mark_delivered(a, t->journal_seq); /* nowhere to deliver to */
}

void txp_ack_durable(struct txp_ack *a, uint64_t durable_seq)
{
	struct holdq *q = &a->wait_durable;

	a->st.durable_seq = durable_seq;
	while (q->len > 0 && q->v[q->head].seq <= durable_seq) {
		release(a, &q->v[q->head]);
		q->head++;
		q->len--;
	}
	holdq_trim(q);
}

void txp_ack_dropped(struct txp_ack *a, uint64_t first_seq, uint64_t last_seq)
{
	struct holdq *q = &a->wait_durable;

	for (size_t i = 0; i < q->len && q->v[q->head + i].seq <= last_seq; i++) {
		struct hold *h = &q->v[q->head + i];

		if (h->seq < first_seq || h->t == NULL)
			continue;
		/* Never kept, so never decided as far as a resubmission goes:
		 * the producer's retry is screened and journaled anew. */
		if (!h->t->duplicate && h->t->has_id)
			txp_dedup_forget(a->o.dedup, h->t->transaction_id, h->seq);
		a->st.dropped_replies++;
		refuse(h->t, "the journal could not write it; retry later");
		release(a, h);
	}
	holdq_trim(q);
}

/* The hold of record `seq` in wait_stored, or NULL.  wait_stored is
 * sorted by sequence number: binary search. */
static struct hold *stored_hold(struct txp_ack *a, uint64_t seq)
{
	struct holdq *q = &a->wait_stored;
	size_t lo = 0, hi = q->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->v[q->head + mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->len && q->v[q->head + lo].seq == seq ? &q->v[q->head + lo] : NULL;
}

/* The status a reply line names ("status":"..."), error when none. */
static enum txp_status reply_status(const char *reply)
{
	const char *p = strstr(reply, "\"status\":\"");

	if (p != NULL) {
		p += strlen("\"status\":\"");
		for (int i = 0; i < TXP_STATUS_COUNT; i++) {
			const char *n = txp_status_name((enum txp_status)i);
			size_t k = strlen(n);
			if (strncmp(p, n, k) == 0 && p[k] == '"')
				return (enum txp_status)i;
		}
	}
	return TXP_STATUS_ERROR;
}

void txp_ack_stored_elsewhere(struct txp_ack *a, uint64_t seq, char *reply, size_t len)
{
	struct hold *h = stored_hold(a, seq);

	if (h == NULL || h->t == NULL || reply == NULL || len > UINT32_MAX) {
		free(reply);
		return;
	}
	/* The producer is told what is stored, not what this host decided. */
	free(h->t->reply);
	h->t->reply = reply;
	h->t->reply_len = (uint32_t)len;
	/* And so is a resubmission within the duplicate window: the entry
	 * this host's decision made gives way to the stored decision. */
	if (h->t->has_id && !h->t->duplicate) {
		txp_dedup_forget(a->o.dedup, h->t->transaction_id, seq);
		if (txp_dedup_put(a->o.dedup, h->t->transaction_id, h->t->fingerprint, reply_status(reply), seq, reply,
		                  len, h->t->received_ms, NULL) < 0)
			txp_log_warn("duplicate_window_full", "transaction_id=\"%s\" reason=out_of_memory",
			             h->t->transaction_id);
	}
}

void txp_ack_delivered(struct txp_ack *a, uint64_t seq)
{
	struct holdq *q = &a->wait_stored;
	struct hold *h;

	mark_delivered(a, seq);
	h = stored_hold(a, seq);
	if (h != NULL) {
		release(a, h);
		holdq_trim(q);
	}
}

/* ---- replay -------------------------------------------------------------- */

/* The decided transaction of an ACCEPTED record, or NULL (logged) when the
 * record does not decode.  Its reason codes point into rec->record: see
 * txp_record_decode(). */
static struct txp_txn *replay_txn(uint64_t seq, const struct txp_journal_accepted *rec,
                                  char version[TXP_RECORD_VERSION_MAX + 1])
{
	struct txp_txn *t = txp_txn_new();

	if (t == NULL || txp_record_decode(rec, t, version) < 0) {
		txp_log_err("replay_skipped", "journal_seq=%llu reason=\"%s\"", (unsigned long long)seq,
		            t == NULL ? "out of memory" : "the record does not decode");
		txp_txn_free(t);
		return NULL;
	}
	t->journal_seq = seq;
	return t;
}

/* Frees a replayed transaction, whose reasons point into the record. */
static void replay_free(struct txp_txn *t)
{
	t->n_reasons = 0;
	txp_txn_free(t);
}

void txp_ack_replay_recent(struct txp_ack *a, uint64_t seq, const struct txp_journal_accepted *rec, int64_t now_ms)
{
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_txn *t;

	a->st.replayed_recent++;
	if (a->o.velocity_rebuild && rec->customer_key_len > 0 && a->ops.rebuild != NULL) {
		a->ops.rebuild(a->ops.arg, rec);
		a->st.velocity_rebuilt++;
	}
	if (now_ms - rec->received_ms > (int64_t)a->o.dedup_window_ms)
		return;
	/* A resubmission after the restart gets the reply the first one got,
	 * rebuilt from the same fields. */
	t = replay_txn(seq, rec, version);
	if (t == NULL)
		return;
	if (t->has_id && is_decision(t) && txp_txn_build_reply(t) == 0 &&
	    txp_dedup_put(a->o.dedup, t->transaction_id, t->fingerprint, t->status, seq, t->reply, t->reply_len,
	                  rec->received_ms, NULL) == 0)
		a->st.replay_dedup++;
	replay_free(t);
}

/* An ACCEPTED record without a DELIVERED one: delivered again, under the
 * same key with the same content (the item and alerts are rebuilt from the
 * same fields by the same builder, with the version that decided it). */
void txp_ack_replay_undelivered(struct txp_ack *a, uint64_t seq, const struct txp_journal_accepted *rec)
{
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_txn *t;

	a->st.replayed_undelivered++;
	if (a->ops.deliver == NULL)
		return; /* kept in the journal until delivery is enabled */
	t = replay_txn(seq, rec, version);
	if (t == NULL)
		return;
	if (txp_item_build(t, version) < 0 || t->item == NULL) {
		txp_log_err("replay_skipped", "journal_seq=%llu reason=\"%s\"", (unsigned long long)seq,
		            t->item == NULL && t->has_id ? "out of memory" : "the record has no transaction_id");
		replay_free(t);
		return;
	}
	a->ops.deliver(a->ops.arg, t);
	replay_free(t);
}

void txp_ack_forget_held(struct txp_ack *a)
{
	if (a == NULL)
		return;
	holdq_clear(&a->wait_durable);
	holdq_clear(&a->wait_stored);
	a->st.held_now = 0;
}

void txp_ack_stats(const struct txp_ack *a, struct txp_ack_stats *out)
{
	*out = a->st;
}

const char *txp_ack_mode_name(enum txp_journal_ack mode)
{
	return mode == TXP_JOURNAL_ACK_JOURNALED ? "journaled" : mode == TXP_JOURNAL_ACK_STORED ? "stored" : "decided";
}
