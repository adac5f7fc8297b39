/* journal_writer.c: the journal's group-commit writer thread: batches, fdatasync, failures and disk space. */
#include "journal_int.h"
#include "txpipe/clock.h"
#include "txpipe/le.h"
#include "txpipe/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads a record header the writer itself encoded (no checksum needed). */
static void parse_own(const uint8_t *p, struct txp_journal_record *rec)
{
	rec->type = (uint16_t)(p[4] | p[5] << 8);
	rec->flags = 0;
	rec->len = txp_le_get32(p + 8);
	rec->seq = txp_le_get64(p + 16);
	rec->payload = p + TXP_JOURNAL_HEADER_BYTES;
}

/*
 * The headroom check: below reserve_bytes free on the journal's file system
 * the journal refuses new transactions (txp_journal_full()), so the records
 * already in flight and the DELIVERED records that free segments still find
 * room; it accepts again at twice that, so a journal at the edge does not
 * flip on every commit.  statvfs and not our own byte count: other files
 * share the file system.  Writer thread.
 */
static void check_space(struct txp_journal *j)
{
	uint64_t r = j->opt.reserve_bytes, room;
	struct statvfs sv;
	bool low;

	if (r == 0 || fstatvfs(j->dirfd, &sv) != 0)
		return; /* no reserve asked for, or no answer: keep the last verdict */
	room = (uint64_t)sv.f_bavail * sv.f_frsize;
	low = room < (j->low ? 2 * r : r);
	if (low == j->low)
		return;
	j->low = low;
	if (low)
		txp_log_warn("journal_space_low",
		             "dir=%s free_bytes=%" PRIu64 " reserve_bytes=%" PRIu64 " action=refusing_new_transactions",
		             j->dir, room, r);
	else
		txp_log_notice("journal_space_ok", "dir=%s free_bytes=%" PRIu64 " reserve_bytes=%" PRIu64, j->dir, room,
		               r);
	pthread_mutex_lock(&j->mu);
	j->low_space = low;
	pthread_mutex_unlock(&j->mu);
}

/*
 * After a commit, and while space is low: deletes what is delivered, and
 * when space is low and the active segment holds nothing undelivered,
 * starts a new (empty) one so the full one can go too: the newest segment
 * is never deleted, and on a small disk one segment may be most of it.
 * Writer thread.
 */
static void tidy(struct txp_journal *j)
{
	struct seg *s;

	journal__housekeeping(j);
	check_space(j);
	if (j->low)
		journal__spare_drop(j); /* its segment_bytes are worth more as records */
	if (!j->low || j->nsegs == 0 || j->active_fd < 0)
		return;
	s = &j->segs[j->nsegs - 1];
	if (s->size == 0 || s->undelivered > 0)
		return;
	journal__seg_close_active(j);
	if (journal__seg_create(j, s->last_seq + 1) < 0)
		return; /* the next write creates it */
	journal__housekeeping(j);
	check_space(j);
}

/* Appends one DELIVERED record with seq `seq` naming targets[0, n). */
static int put_delivered(struct buf *b, uint64_t seq, const uint8_t *targets, size_t n)
{
	int rc = journal__buf_reserve(b, txp_journal_record_size(n * 8));

	if (rc == 0) {
		memcpy(b->p + b->len + TXP_JOURNAL_HEADER_BYTES, targets, n * 8);
		txp_journal_record_encode(b->p + b->len, TXP_JOURNAL_DELIVERED, seq,
		                          b->p + b->len + TXP_JOURNAL_HEADER_BYTES, (uint32_t)(n * 8));
		b->len += txp_journal_record_size(n * 8);
	}
	return rc;
}

/*
 * After a failed write: what is queued and not durable (the rest of the
 * batch and everything pending) loses its ACCEPTED records, which are
 * reported dropped so their producers get an error instead of waiting
 * (they were never acknowledged: a retry is safe), and keeps its DELIVERED
 * records, merged into as few as fit (one record, one segment: the gaps the
 * drops leave would otherwise cost a segment each), to be retried.  Their
 * marks are settled in memory at once, so the segments they empty can go
 * and a full disk frees itself.  Writer thread, mu not held.
 */
static void drop_accepted(struct txp_journal *j, int err)
{
	struct buf nb = { 0 }, targets = { 0 };
	uint64_t first = 0, last = 0, dropped = 0, mark_seq = 0;
	size_t off;

	pthread_mutex_lock(&j->mu);
	if (j->pending.len > 0 && journal__buf_reserve(&j->batch, j->pending.len) == 0) {
		memcpy(j->batch.p + j->batch.len, j->pending.p, j->pending.len);
		j->batch.len += j->pending.len;
		j->pending.len = 0;
	}
	pthread_mutex_unlock(&j->mu);
	for (off = j->batch_off; off < j->batch.len;) {
		struct txp_journal_record rec;

		parse_own(j->batch.p + off, &rec);
		if (first == 0)
			first = rec.seq;
		last = rec.seq;
		if (rec.type == TXP_JOURNAL_ACCEPTED) {
			dropped++;
		} else {
			if (targets.len + rec.len > TXP_JOURNAL_MAX_PAYLOAD) {
				if (put_delivered(&nb, mark_seq, targets.p, targets.len / 8) < 0)
					break;
				targets.len = 0;
			}
			if (journal__buf_reserve(&targets, rec.len) < 0)
				break;
			memcpy(targets.p + targets.len, rec.payload, rec.len);
			targets.len += rec.len;
			mark_seq = rec.seq;
		}
		off += txp_journal_record_size(rec.len);
	}
	if (off < j->batch.len || (targets.len > 0 && put_delivered(&nb, mark_seq, targets.p, targets.len / 8) < 0)) {
		/* Out of memory: leave the queue as it is, to be retried whole. */
		free(nb.p);
		free(targets.p);
		return;
	}
	free(targets.p);
	free(j->batch.p);
	j->batch = nb;
	j->batch_off = 0;
	journal__settle_marks(j, &j->batch, 0);
	tidy(j);
	pthread_mutex_lock(&j->mu);
	j->inflight_bytes = j->batch.len;
	if (dropped > 0) {
		if (j->ndrops == j->dropcap) {
			size_t cap = j->dropcap ? j->dropcap * 2 : 8;
			struct drop *d = realloc(j->drops, cap * sizeof(*d));

			if (d != NULL) {
				j->drops = d;
				j->dropcap = cap;
			}
		}
		if (j->ndrops < j->dropcap)
			j->drops[j->ndrops++] = (struct drop){ first, last };
		else if (j->ndrops > 0)
			/* No memory: widen the last range.  A durable record it
			 * now covers is answered overloaded too: its producer's
			 * retry is a duplicate, answered with the decision. */
			j->drops[j->ndrops - 1].last = last;
		j->dropped_records += dropped;
	}
	journal__publish_locked(j);
	pthread_mutex_unlock(&j->mu);
	if (dropped > 0)
		txp_log_err("journal_records_dropped",
		            "dir=%s records=%" PRIu64 " first_seq=%" PRIu64 " last_seq=%" PRIu64
		            " error=\"%s\" action=\"reported dropped: never durable\"",
		            j->dir, dropped, first, last, strerror(-err));
	uv_async_send(&j->async);
}

/*
 * Writes the batch from batch_off on: as many whole records as fit in the
 * active segment, fdatasync, bookkeeping, report; rotate; repeat.  Returns
 * 0 when all of it is durable, or the negative errno of the failure with
 * batch_off at the first record not durable.
 */
static int write_batch(struct txp_journal *j)
{
	while (j->batch_off < j->batch.len) {
		const uint8_t *p = j->batch.p + j->batch_off;
		size_t avail = j->batch.len - j->batch_off, chunk = 0;
		struct txp_journal_record rec;
		const char *op;
		struct seg *s;
		int rc;

		parse_own(p, &rec);
		/* A segment begun before the spare was ready gives way to it as
		 * soon as it is (everything in it is synced already). */
		if (j->active_fd >= 0 && !j->active_prealloc && j->opt.preallocate && j->nsegs > 0 &&
		    j->segs[j->nsegs - 1].size > 0 && journal__spare_ready(j))
			journal__seg_close_active(j);
		if (j->active_fd < 0) {
			rc = journal__seg_create(j, rec.seq);
			if (rc < 0) {
				txp_log(rc == j->logged_error ? TXP_LOG_DEBUG : TXP_LOG_ERR, "journal_write_failed",
				        "dir=%s op=create seq=%" PRIu64 " error=\"%s\"", j->dir, rec.seq,
				        strerror(-rc));
				j->logged_error = rc;
				return rc;
			}
		}
		s = &j->segs[j->nsegs - 1];
		/* A segment holds consecutive sequence numbers: records dropped
		 * after a failed write leave a gap, which starts a new one. */
		uint64_t next = s->size == 0 ? s->first_seq : s->last_seq + 1;

		while (chunk < avail) {
			size_t rs = txp_journal_record_size(txp_le_get32(p + chunk + 8));

			if (s->size + chunk > 0 && s->size + chunk + rs > j->opt.segment_bytes)
				break;
			if (txp_le_get64(p + chunk + 16) != next++)
				break;
			chunk += rs;
		}
		if (chunk == 0) {
			/* The active segment is full and already synced, or the
			 * next record does not follow on; an empty one gives way
			 * to a segment named after that record. */
			journal__seg_close_active(j);
			if (s->size == 0) {
				char name[SEG_NAME_MAX];

				journal__seg_name(name, s->first_seq, "");
				unlinkat(j->dirfd, name, 0);
				journal__seg_remove(j, j->nsegs - 1);
			}
			continue;
		}
		op = "write";
		rc = journal__write_all(j->active_fd, p, chunk, s->size);
		if (rc == 0) {
			op = "fdatasync";
			if (fdatasync(j->active_fd) != 0)
				rc = -errno;
		}
		if (rc < 0) {
			char name[SEG_NAME_MAX];

			journal__seg_name(name, s->first_seq, "");
			txp_log(rc == j->logged_error ? TXP_LOG_DEBUG : TXP_LOG_ERR, "journal_write_failed",
			        "dir=%s segment=%s op=%s offset=%" PRIu64 " bytes=%zu error=\"%s\"", j->dir, name, op,
			        s->size, chunk, strerror(-rc));
			j->logged_error = rc;
			journal__seg_failed(j);
			return rc;
		}
		for (size_t off = 0; off < chunk; off += txp_journal_record_size(rec.len)) {
			parse_own(p + off, &rec);
			if (journal__account(j, j->nsegs - 1, &rec) < 0)
				txp_log_err("journal_no_memory", "dir=%s seq=%" PRIu64 " action=segment_kept", j->dir,
				            rec.seq);
		}
		s->size += chunk;
		s->mtime_ms = txp_wall_ms();
		j->batch_off += chunk;
		tidy(j);
		pthread_mutex_lock(&j->mu);
		j->durable_seq = rec.seq;
		j->inflight_bytes -= chunk;
		j->syncs++;
		journal__publish_locked(j);
		pthread_mutex_unlock(&j->mu);
		uv_async_send(&j->async);
	}
	j->batch.len = 0;
	j->batch_off = 0;
	return 0;
}

/* Waits on the condition until the monotonic deadline; mu held. */
static void wait_until(struct txp_journal *j, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
		               .tv_nsec = (long)(deadline_ns % 1000000000u) };

	pthread_cond_timedwait(&j->cond, &j->mu, &ts);
}

static void set_error_locked(struct txp_journal *j, int err)
{
	if (j->error == err)
		return;
	j->error = err;
	if (err != 0)
		j->last_error = err;
	j->error_gen++;
}

void *journal__writer_main(void *arg)
{
	struct txp_journal *j = arg;
	bool failing = false, retried_while_stopping = false;
	uint64_t last_take_ns = 0; /* when the latest batch was taken */

	tidy(j);
	pthread_mutex_lock(&j->mu);
	journal__publish_locked(j);
	for (;;) {
		int rc;

		if (failing) {
			uint64_t deadline = mono_ns() + j->opt.retry_interval_ms * 1000000u;

			while (!j->stopping && mono_ns() < deadline)
				wait_until(j, deadline);
			if (j->stopping) {
				if (retried_while_stopping)
					break;
				retried_while_stopping = true;
			}
		} else {
			while (!j->stopping && j->pending.len == 0) {
				if (j->low) {
					/* Space may come back without a commit of ours
					 * (another file deleted): look again. */
					wait_until(j, mono_ns() + j->opt.retry_interval_ms * 1000000u);
					pthread_mutex_unlock(&j->mu);
					tidy(j);
					pthread_mutex_lock(&j->mu);
					journal__publish_locked(j);
					continue;
				}
				if (j->retain_due_ms == 0) {
					pthread_cond_wait(&j->cond, &j->mu);
					continue;
				}
				int64_t wait_ms = j->retain_due_ms - txp_wall_ms();

				if (wait_ms > 0)
					wait_until(j, mono_ns() + (uint64_t)wait_ms * 1000000u);
				else {
					pthread_mutex_unlock(&j->mu);
					journal__housekeeping(j);
					pthread_mutex_lock(&j->mu);
					journal__publish_locked(j);
				}
			}
			if (j->pending.len == 0)
				break; /* stopping, nothing left */
			/* Group commit: at most one batch per commit interval (or
			 * per commit_bytes), so syncs, and the CPU and IOPS each one
			 * costs, stay bounded under load; but the interval counts
			 * from the previous batch, not from the oldest record, so
			 * a record after a quiet spell is synced at once.  No
			 * record waits longer than the interval: it was queued
			 * after the previous batch was taken. */
			uint64_t deadline = last_take_ns + j->opt.commit_interval_ms * 1000000u;

			while (!j->stopping && j->pending.len < j->opt.commit_bytes && mono_ns() < deadline)
				wait_until(j, deadline);
			last_take_ns = mono_ns();
			struct buf t = j->batch;

			j->batch = j->pending;
			j->pending = t;
			j->pending.len = 0;
			j->batch_off = 0;
			j->inflight_bytes = j->batch.len;
		}
		pthread_mutex_unlock(&j->mu);
		if (!failing)
			journal__settle_marks(j, &j->batch, 0);
		rc = write_batch(j);
		if (rc < 0)
			drop_accepted(j, rc);
		else if (failing)
			tidy(j); /* nothing may have been written to trigger it */
		pthread_mutex_lock(&j->mu);
		if (rc < 0) {
			j->write_errors++;
			set_error_locked(j, rc);
			journal__publish_locked(j);
			pthread_mutex_unlock(&j->mu);
			uv_async_send(&j->async);
			pthread_mutex_lock(&j->mu);
			failing = true;
			continue;
		}
		if (failing) {
			failing = false;
			j->logged_error = 0;
			set_error_locked(j, 0);
			txp_log_notice("journal_recovered", "dir=%s durable_seq=%" PRIu64, j->dir, j->durable_seq);
			pthread_mutex_unlock(&j->mu);
			uv_async_send(&j->async);
			pthread_mutex_lock(&j->mu);
		}
	}
	if (failing || j->pending.len > 0) {
		uint64_t lost = j->batch.len - j->batch_off + j->pending.len;

		/* drop_accepted() reports the ACCEPTED records among them (never
		 * acknowledged); the DELIVERED ones are delivered again at the
		 * next start. */
		txp_log_warn("journal_records_lost",
		             "dir=%s bytes=%" PRIu64 " first_seq=%" PRIu64
		             " reason=\"writer failing at shutdown; never reported durable\"",
		             j->dir, lost, j->durable_seq + 1);
		pthread_mutex_unlock(&j->mu);
		drop_accepted(j, j->error != 0 ? j->error : -EIO);
		pthread_mutex_lock(&j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}
