/* journal.c: the journal's public calls on the loop thread: append, deliver, reports, stats, close. */
#include "journal_int.h"
#include "txpipe/config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Runs the reports the writer posted: durable progress, then error changes. */
static void report(struct txp_journal *j)
{
	uint64_t durable, gen;
	int err, last;
	struct drop *drops;
	size_t ndrops;

	pthread_mutex_lock(&j->mu);
	durable = j->durable_seq;
	gen = j->error_gen;
	err = j->error;
	last = j->last_error;
	drops = j->drops;
	ndrops = j->ndrops;
	j->drops = NULL;
	j->ndrops = j->dropcap = 0;
	pthread_mutex_unlock(&j->mu);

	/* Drops first: a durable report past a dropped record must not
	 * acknowledge it. */
	for (size_t i = 0; i < ndrops; i++)
		if (j->dropped_cb != NULL)
			j->dropped_cb(j->dropped_arg, drops[i].first, drops[i].last);
	free(drops);
	if (durable > j->reported_durable) {
		j->reported_durable = durable;
		if (j->durable_cb != NULL)
			j->durable_cb(j->durable_arg, durable);
	}
	if (gen != j->reported_gen) {
		j->reported_gen = gen;
		if (j->error_cb != NULL) {
			/* An error and its recovery may both have happened since
			 * the last report: the caller still hears of the error. */
			if (err == 0 && j->reported_error == 0)
				j->error_cb(j->error_arg, last);
			if (err != j->reported_error || err == 0)
				j->error_cb(j->error_arg, err);
		}
		j->reported_error = err;
	}
}

void journal__on_async(uv_async_t *h)
{
	report(h->data);
}
/* Reserves room for a record in `pending` and assigns its sequence number;
 * mu held.  Returns the record's place or NULL with *rc set. */
static uint8_t *reserve_locked(struct txp_journal *j, size_t len, uint64_t *seq, int *rc)
{
	uint8_t *p;

	if (j->stopping) {
		*rc = -EPIPE;
		return NULL;
	}
	*rc = journal__buf_reserve(&j->pending, txp_journal_record_size(len));
	if (*rc < 0)
		return NULL;
	p = j->pending.p + j->pending.len;
	*seq = j->next_seq++;
	return p;
}

/* Makes the reserved record part of `pending` and wakes the writer when it
 * has something new to wait for; mu held. */
static void commit_locked(struct txp_journal *j, size_t len)
{
	size_t was = j->pending.len;

	j->pending.len += txp_journal_record_size(len);
	if (was == 0) {
		pthread_cond_signal(&j->cond);
	} else if (was < j->opt.commit_bytes && j->pending.len >= j->opt.commit_bytes) {
		pthread_cond_signal(&j->cond);
	}
}

int txp_journal_append(struct txp_journal *j, enum txp_journal_type type, const void *payload, size_t len,
                       uint64_t *seq_out)
{
	struct txp_journal_accepted a;
	uint64_t seq;
	uint8_t *p;
	int rc;

	if (len > TXP_JOURNAL_MAX_PAYLOAD || (len > 0 && payload == NULL))
		return -EINVAL;
	if (type == TXP_JOURNAL_ACCEPTED) {
		if (txp_journal_accepted_decode(payload, len, &a) != 0)
			return -EINVAL;
	} else if (type != TXP_JOURNAL_DELIVERED || len == 0 || len % 8 != 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&j->mu);
	p = reserve_locked(j, len, &seq, &rc);
	if (p != NULL) {
		txp_journal_record_encode(p, type, seq, payload, (uint32_t)len);
		commit_locked(j, len);
	}
	pthread_mutex_unlock(&j->mu);
	if (p != NULL && seq_out != NULL)
		*seq_out = seq;
	return rc;
}

int txp_journal_append_accepted(struct txp_journal *j, const struct txp_journal_accepted *a, uint64_t *seq_out)
{
	size_t len = txp_journal_accepted_size(a);
	uint64_t seq;
	uint8_t *p;
	int rc;

	if (len == 0)
		return -EINVAL;
	pthread_mutex_lock(&j->mu);
	p = reserve_locked(j, len, &seq, &rc);
	if (p != NULL) {
		txp_journal_accepted_encode(a, p + TXP_JOURNAL_HEADER_BYTES, len);
		txp_journal_record_encode(p, TXP_JOURNAL_ACCEPTED, seq, p + TXP_JOURNAL_HEADER_BYTES, (uint32_t)len);
		commit_locked(j, len);
	}
	pthread_mutex_unlock(&j->mu);
	if (p != NULL && seq_out != NULL)
		*seq_out = seq;
	return rc;
}

int txp_journal_deliver(struct txp_journal *j, const uint64_t *seqs, size_t n, uint64_t *seq_out)
{
	size_t len = n * 8;
	uint64_t seq;
	uint8_t *p;
	int rc;

	if (n == 0 || n > TXP_JOURNAL_MAX_PAYLOAD / 8)
		return -EINVAL;
	pthread_mutex_lock(&j->mu);
	p = reserve_locked(j, len, &seq, &rc);
	if (p != NULL) {
		uint8_t *q = p + TXP_JOURNAL_HEADER_BYTES;

		for (size_t i = 0; i < n; i++)
			for (int b = 0; b < 8; b++)
				*q++ = (uint8_t)(seqs[i] >> (8 * b));
		txp_journal_record_encode(p, TXP_JOURNAL_DELIVERED, seq, p + TXP_JOURNAL_HEADER_BYTES, (uint32_t)len);
		commit_locked(j, len);
	}
	pthread_mutex_unlock(&j->mu);
	if (p != NULL && seq_out != NULL)
		*seq_out = seq;
	return rc;
}

void txp_journal_on_durable(struct txp_journal *j, txp_journal_durable_fn cb, void *arg)
{
	j->durable_cb = cb;
	j->durable_arg = arg;
}

void txp_journal_on_error(struct txp_journal *j, txp_journal_error_fn cb, void *arg)
{
	j->error_cb = cb;
	j->error_arg = arg;
}

void txp_journal_on_dropped(struct txp_journal *j, txp_journal_dropped_fn cb, void *arg)
{
	j->dropped_cb = cb;
	j->dropped_arg = arg;
}

bool txp_journal_full(struct txp_journal *j)
{
	bool full;

	pthread_mutex_lock(&j->mu);
	full = j->error != 0 || j->low_space || j->disk_bytes + j->inflight_bytes + j->pending.len > j->opt.max_bytes;
	pthread_mutex_unlock(&j->mu);
	return full;
}

void txp_journal_stats(struct txp_journal *j, struct txp_journal_stats *s)
{
	pthread_mutex_lock(&j->mu);
	*s = (struct txp_journal_stats){
		.next_seq = j->next_seq,
		.durable_seq = j->durable_seq,
		.disk_bytes = j->disk_bytes,
		.queued_bytes = j->inflight_bytes + j->pending.len,
		.segments = j->pub_segments,
		.undelivered = j->pub_undelivered,
		.syncs = j->syncs,
		.write_errors = j->write_errors,
		.dropped_records = j->dropped_records,
		.skipped_records = j->skipped_records,
		.damaged_segments = j->damaged_segments,
		.low_space = j->low_space,
		.error = j->error,
	};
	pthread_mutex_unlock(&j->mu);
}

void txp_journal_close(struct txp_journal *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_cond_signal(&j->cond);
	pthread_cond_signal(&j->prep_cond);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	j->thread_started = false;
	if (j->prep_started) {
		pthread_join(j->prep_thread, NULL);
		j->prep_started = false;
	}
	report(j);
	uv_close((uv_handle_t *)&j->async, journal__on_closed);
}

void txp_journal_options_from_config(struct txp_journal_options *o, const struct txp_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->segment_bytes = cfg->journal.segment_bytes;
	o->max_bytes = cfg->journal.max_bytes;
	o->commit_bytes = cfg->journal.commit_bytes;
	o->commit_interval_ms = cfg->journal.commit_interval_ms;
	o->reserve_bytes = cfg->journal.reserve_bytes;
	o->preallocate = cfg->journal.preallocate;
}
