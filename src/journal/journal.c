/* journal.c: the journal's segment files, replay at open and the group-commit writer thread. */
#include "txpipe/journal.h"
#include "txpipe/clock.h"
#include "txpipe/config.h"
#include "txpipe/le.h"
#include "txpipe/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/*
 * Threads.  The loop thread appends (encoding into `pending` under `mu`)
 * and receives reports through `async`.  One dedicated writer thread owns
 * the segment files and their bookkeeping: it swaps `pending` for an empty
 * buffer, writes the batch, fdatasync()s it and publishes the highest
 * durable sequence number.  A dedicated thread rather than uv_queue_work():
 * writes must happen one batch at a time and in order, which the threadpool
 * does not promise; an fsync that stalls for seconds on a sick disk would
 * hold one of libuv's four shared threads (file system and DNS work); and
 * the writer needs its own timed waits (commit interval, retry after an
 * error, segment retention).  The loop never touches a file after open.
 */

#define SEG_PREFIX "journal-"
#define SEG_SUFFIX ".seg"
#define SEG_NAME_MAX 48
#define LOCK_NAME "journal.lock"
#define DEFAULT_SEGMENT_BYTES (UINT64_C(64) << 20)
#define DEFAULT_MAX_BYTES (UINT64_C(4) << 30)
#define DEFAULT_COMMIT_BYTES (UINT64_C(256) << 10)
#define DEFAULT_RETRY_MS 1000

struct buf {
	uint8_t *p;
	size_t len, cap;
};

/* A live segment file. */
struct seg {
	uint64_t first_seq;   /* from the name */
	uint64_t last_seq;    /* the last record's, 0 when empty */
	uint64_t size;        /* valid and durable bytes */
	uint64_t min_ref;     /* lowest sequence number its DELIVERED records cleared, or UINT64_MAX */
	uint64_t undelivered; /* bits set below */
	int64_t mtime_ms;     /* wall clock of the last durable write */
	uint64_t *bits;       /* bit (seq - first_seq): an ACCEPTED record not yet delivered */
	size_t nwords;
	bool pinned; /* its bookkeeping ran out of memory: never deleted */
	bool unlink_warned;
};

/* Sequence numbers whose ACCEPTED records will never be durable. */
struct drop {
	uint64_t first, last;
};

struct txp_journal {
	char *dir;
	int dirfd;
	int lockfd;
	struct txp_journal_options opt;
	uv_async_t async;
	pthread_t thread;
	bool sync_init, thread_started;

	pthread_mutex_t mu;
	pthread_cond_t cond; /* the writer sleeps on it */
	/* Under mu. */
	struct buf pending; /* encoded records not yet taken by the writer */
	uint64_t next_seq;
	bool stopping;
	uint64_t durable_seq;
	int error;               /* the writer's current error, 0 when healthy */
	int last_error;          /* the most recent nonzero one */
	uint64_t error_gen;      /* bumped on every change of `error` */
	uint64_t inflight_bytes; /* taken by the writer, not yet durable */
	uint64_t disk_bytes, pub_segments, pub_undelivered, syncs, write_errors;
	bool low_space;           /* the file system has less than reserve_bytes free */
	uint64_t dropped_records; /* ACCEPTED records dropped after a failed write */
	struct drop *drops;       /* dropped ranges not yet reported, in order */
	size_t ndrops, dropcap;
	uint64_t skipped_records; /* lost to damage found at open; set before the writer starts */
	uint64_t damaged_segments;

	/* Writer thread only (the loop thread before it starts and after it is joined). */
	struct seg *segs; /* ordered by first_seq */
	size_t nsegs, segcap;
	int active_fd;    /* open on the last segment for appending, or -1 */
	struct buf batch; /* being written; after an error, what still must be */
	size_t batch_off;
	int64_t retain_due_ms; /* wall clock when a retained segment may go, 0: none */
	int logged_error;      /* the error last logged at err: retries repeat it at debug */
	bool low;              /* low_space as the writer last computed it */

	/* Loop thread only. */
	txp_journal_durable_fn durable_cb;
	void *durable_arg;
	txp_journal_error_fn error_cb;
	void *error_arg;
	txp_journal_dropped_fn dropped_cb;
	void *dropped_arg;
	uint64_t reported_durable, reported_gen;
	int reported_error;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void seg_name(char *out, uint64_t first_seq, const char *extra)
{
	snprintf(out, SEG_NAME_MAX, SEG_PREFIX "%016" PRIx64 SEG_SUFFIX "%s", first_seq, extra);
}

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The segment holding sequence number `seq`, or -1. */
static ssize_t seg_find(const struct txp_journal *j, uint64_t seq)
{
	size_t lo = 0, hi = j->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->segs[mid].first_seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || j->segs[lo - 1].last_seq < seq)
		return -1;
	return (ssize_t)(lo - 1);
}

/* Marks ACCEPTED record `target` delivered by the DELIVERED record `by`;
 * returns whether `target` lies in a live segment. */
static bool clear_bit(struct txp_journal *j, uint64_t target, uint64_t by)
{
	ssize_t ti;
	struct seg *t;
	uint64_t i;

	/* A record can only deliver what was accepted before it. */
	if (target >= by || (ti = seg_find(j, target)) < 0)
		return false;
	t = &j->segs[ti];
	i = target - t->first_seq;
	if (i / 64 < t->nwords && (t->bits[i / 64] & (UINT64_C(1) << (i % 64)))) {
		t->bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
		t->undelivered--;
	}
	return true;
}

/*
 * Applies one durable record of segment `si` to the bookkeeping: an
 * ACCEPTED record sets its bit, a DELIVERED record clears the bits it names
 * wherever they live.  The same code runs at replay and after each commit,
 * so a restart recomputes exactly what the running journal knew.
 */
static int account(struct txp_journal *j, size_t si, const struct txp_journal_record *rec)
{
	struct seg *s = &j->segs[si];

	s->last_seq = rec->seq;
	if (rec->type == TXP_JOURNAL_ACCEPTED) {
		uint64_t i = rec->seq - s->first_seq;
		size_t w = (size_t)(i / 64);

		if (w >= s->nwords) {
			size_t n = s->nwords ? s->nwords * 2 : 16;
			uint64_t *bits;

			while (n <= w)
				n *= 2;
			bits = realloc(s->bits, n * sizeof(*bits));
			if (bits == NULL) {
				s->pinned = true;
				return -ENOMEM;
			}
			memset(bits + s->nwords, 0, (n - s->nwords) * sizeof(*bits));
			s->bits = bits;
			s->nwords = n;
		}
		if (!(s->bits[w] & (UINT64_C(1) << (i % 64)))) {
			s->bits[w] |= UINT64_C(1) << (i % 64);
			s->undelivered++;
		}
		return 0;
	}
	for (uint32_t k = 0; k + 8 <= rec->len; k += 8) {
		uint64_t target = txp_le_get64(rec->payload + k);

		/* Even when settle_marks() cleared the bit already: this
		 * record is what keeps the target delivered across a restart
		 * while the target's segment lives. */
		if (clear_bit(j, target, rec->seq) && target < s->min_ref)
			s->min_ref = target;
	}
	return 0;
}

/*
 * Clears, in memory, the bits that the DELIVERED records in b[off, len)
 * name, before those records are durable.  Why that is safe: a segment is
 * only deleted once every ACCEPTED record in it is delivered, and deleting
 * it makes that fact durable as surely as a DELIVERED record would; if the
 * segment is not deleted before a crash, the record is delivered again, a
 * duplicate and not a loss.  Why it matters: on a full disk the DELIVERED
 * records cannot be written, and this is what still lets the journal free
 * the segments that delivery has emptied.  account() repeats the work (and
 * records min_ref) once the records are durable.
 */
static void settle_marks(struct txp_journal *j, const struct buf *b, size_t off)
{
	while (off < b->len) {
		uint32_t len = txp_le_get32(b->p + off + 8);

		if (txp_le_get16(b->p + off + 4) == TXP_JOURNAL_DELIVERED) {
			uint64_t seq = txp_le_get64(b->p + off + 16);

			const uint8_t *targets = b->p + off + TXP_JOURNAL_HEADER_BYTES;

			for (uint32_t k = 0; k + 8 <= len; k += 8)
				(void)clear_bit(j, txp_le_get64(targets + k), seq);
		}
		off += txp_journal_record_size(len);
	}
}

static void seg_free(struct seg *s)
{
	free(s->bits);
	s->bits = NULL;
}

static void seg_remove(struct txp_journal *j, size_t i)
{
	seg_free(&j->segs[i]);
	memmove(&j->segs[i], &j->segs[i + 1], (j->nsegs - i - 1) * sizeof(*j->segs));
	j->nsegs--;
}

static int seg_push(struct txp_journal *j, uint64_t first_seq, int64_t mtime_ms)
{
	if (j->nsegs == j->segcap) {
		size_t cap = j->segcap ? j->segcap * 2 : 16;
		struct seg *s = realloc(j->segs, cap * sizeof(*s));

		if (s == NULL)
			return -ENOMEM;
		j->segs = s;
		j->segcap = cap;
	}
	j->segs[j->nsegs++] =
	    (struct seg){.first_seq = first_seq, .min_ref = UINT64_MAX, .mtime_ms = mtime_ms};
	return 0;
}

/*
 * Deletes segments whose ACCEPTED records are all delivered.  A segment is
 * kept while an earlier live segment may hold a record one of its DELIVERED
 * records cleared: deleting it first would resurrect that record at the
 * next replay.  Segments are examined oldest first, so a deletion can only
 * free later ones.  The newest segment is always kept: its name carries the
 * sequence numbers forward across restarts.
 */
static void housekeeping(struct txp_journal *j)
{
	uint64_t total = 0;
	int64_t now = txp_wall_ms();
	bool removed = false, retain;

	for (size_t i = 0; i < j->nsegs; i++)
		total += j->segs[i].size;
	retain = j->opt.retain_ms > 0 && total <= j->opt.max_bytes / 2 && !j->low;
	j->retain_due_ms = 0;
	for (size_t i = 0; i + 1 < j->nsegs;) {
		struct seg *s = &j->segs[i];
		bool ok = s->undelivered == 0 && !s->pinned;
		char name[SEG_NAME_MAX];

		if (ok && retain && now - s->mtime_ms < (int64_t)j->opt.retain_ms) {
			int64_t due = s->mtime_ms + (int64_t)j->opt.retain_ms;

			if (j->retain_due_ms == 0 || due < j->retain_due_ms)
				j->retain_due_ms = due;
			ok = false;
		}
		for (size_t k = 0; ok && k < i; k++)
			if (j->segs[k].last_seq != 0 && j->segs[k].last_seq >= s->min_ref)
				ok = false;
		if (ok) {
			seg_name(name, s->first_seq, "");
			if (unlinkat(j->dirfd, name, 0) == 0 || errno == ENOENT) {
				seg_remove(j, i);
				removed = true;
				continue;
			}
			if (!s->unlink_warned)
				txp_log_warn("journal_unlink_failed", "dir=%s segment=%s error=\"%s\"",
				             j->dir, name, strerror(errno));
			s->unlink_warned = true;
		}
		i++;
	}
	/* Without this a crash could bring back a segment whose DELIVERED
	 * partner is already gone: a duplicate delivery, not a loss, but
	 * avoidable. */
	if (removed && fsync(j->dirfd) != 0)
		txp_log_warn("journal_dir_sync_failed", "dir=%s error=\"%s\"", j->dir, strerror(errno));
}

/* Updates what other threads read; called with mu held. */
static void publish_locked(struct txp_journal *j)
{
	uint64_t bytes = 0, undelivered = 0;

	for (size_t i = 0; i < j->nsegs; i++) {
		bytes += j->segs[i].size;
		undelivered += j->segs[i].undelivered;
	}
	j->disk_bytes = bytes;
	j->pub_segments = j->nsegs;
	j->pub_undelivered = undelivered;
}

/* Creates the next segment, named after the first record it will hold, and
 * makes its directory entry durable before anything in it is reported. */
static int seg_create(struct txp_journal *j, uint64_t first_seq)
{
	char name[SEG_NAME_MAX];
	int fd, rc;

	seg_name(name, first_seq, "");
	/* O_TRUNC: a file of this name can only be an earlier failed attempt
	 * at the same records, none of them durable. */
	fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fsync(j->dirfd) != 0) {
		rc = -errno;
		goto err_after_open;
	}
	rc = seg_push(j, first_seq, txp_wall_ms());
	if (rc < 0)
		goto err_after_open;
	j->active_fd = fd;
	return 0;

err_after_open:
	close(fd);
	unlinkat(j->dirfd, name, 0);
	return rc;
}

/*
 * After a failed write or fdatasync on the active segment.  Linux may have
 * dropped the dirty pages and will not report the error again, so the fd is
 * never synced again: the file is cut back to its last durable size (best
 * effort; replay stops at anything left) and closed, and the data is
 * rewritten from memory into a new segment.  A segment with nothing durable
 * is removed so the retry can take its name.
 */
static void seg_failed(struct txp_journal *j)
{
	struct seg *s = &j->segs[j->nsegs - 1];
	char name[SEG_NAME_MAX];

	seg_name(name, s->first_seq, "");
	if (s->size == 0) {
		close(j->active_fd);
		unlinkat(j->dirfd, name, 0);
		seg_remove(j, j->nsegs - 1);
	} else {
		if (ftruncate(j->active_fd, (off_t)s->size) != 0)
			txp_log_warn("journal_truncate_failed",
			             "dir=%s segment=%s offset=%" PRIu64 " error=\"%s\"", j->dir, name,
			             s->size, strerror(errno));
		close(j->active_fd);
	}
	j->active_fd = -1;
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
		             "dir=%s free_bytes=%" PRIu64 " reserve_bytes=%" PRIu64
		             " action=refusing_new_transactions",
		             j->dir, room, r);
	else
		txp_log_notice("journal_space_ok", "dir=%s free_bytes=%" PRIu64 " reserve_bytes=%" PRIu64,
		               j->dir, room, r);
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

	housekeeping(j);
	check_space(j);
	if (!j->low || j->nsegs == 0 || j->active_fd < 0)
		return;
	s = &j->segs[j->nsegs - 1];
	if (s->size == 0 || s->undelivered > 0)
		return;
	close(j->active_fd);
	j->active_fd = -1;
	if (seg_create(j, s->last_seq + 1) < 0)
		return; /* the next write creates it */
	housekeeping(j);
	check_space(j);
}

/* Appends one DELIVERED record with seq `seq` naming targets[0, n). */
static int put_delivered(struct buf *b, uint64_t seq, const uint8_t *targets, size_t n)
{
	int rc = buf_reserve(b, txp_journal_record_size(n * 8));

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
	struct buf nb = {0}, targets = {0};
	uint64_t first = 0, last = 0, dropped = 0, mark_seq = 0;
	size_t off;

	pthread_mutex_lock(&j->mu);
	if (j->pending.len > 0 && buf_reserve(&j->batch, j->pending.len) == 0) {
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
			if (buf_reserve(&targets, rec.len) < 0)
				break;
			memcpy(targets.p + targets.len, rec.payload, rec.len);
			targets.len += rec.len;
			mark_seq = rec.seq;
		}
		off += txp_journal_record_size(rec.len);
	}
	if (off < j->batch.len ||
	    (targets.len > 0 && put_delivered(&nb, mark_seq, targets.p, targets.len / 8) < 0)) {
		/* Out of memory: leave the queue as it is, to be retried whole. */
		free(nb.p);
		free(targets.p);
		return;
	}
	free(targets.p);
	free(j->batch.p);
	j->batch = nb;
	j->batch_off = 0;
	settle_marks(j, &j->batch, 0);
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
			j->drops[j->ndrops++] = (struct drop){first, last};
		else if (j->ndrops > 0)
			/* No memory: widen the last range.  A durable record it
			 * now covers is answered overloaded too: its producer's
			 * retry is a duplicate, answered with the decision. */
			j->drops[j->ndrops - 1].last = last;
		j->dropped_records += dropped;
	}
	publish_locked(j);
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
		if (j->active_fd < 0) {
			rc = seg_create(j, rec.seq);
			if (rc < 0) {
				txp_log(rc == j->logged_error ? TXP_LOG_DEBUG : TXP_LOG_ERR,
				        "journal_write_failed",
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
			close(j->active_fd);
			j->active_fd = -1;
			if (s->size == 0) {
				char name[SEG_NAME_MAX];

				seg_name(name, s->first_seq, "");
				unlinkat(j->dirfd, name, 0);
				seg_remove(j, j->nsegs - 1);
			}
			continue;
		}
		op = "write";
		rc = write_all(j->active_fd, p, chunk, s->size);
		if (rc == 0) {
			op = "fdatasync";
			if (fdatasync(j->active_fd) != 0)
				rc = -errno;
		}
		if (rc < 0) {
			char name[SEG_NAME_MAX];

			seg_name(name, s->first_seq, "");
			txp_log(rc == j->logged_error ? TXP_LOG_DEBUG : TXP_LOG_ERR, "journal_write_failed",
			        "dir=%s segment=%s op=%s offset=%" PRIu64 " bytes=%zu error=\"%s\"", j->dir,
			        name, op, s->size, chunk, strerror(-rc));
			j->logged_error = rc;
			seg_failed(j);
			return rc;
		}
		for (size_t off = 0; off < chunk; off += txp_journal_record_size(rec.len)) {
			parse_own(p + off, &rec);
			if (account(j, j->nsegs - 1, &rec) < 0)
				txp_log_err("journal_no_memory", "dir=%s seq=%" PRIu64 " action=segment_kept",
				            j->dir, rec.seq);
		}
		s->size += chunk;
		s->mtime_ms = txp_wall_ms();
		j->batch_off += chunk;
		tidy(j);
		pthread_mutex_lock(&j->mu);
		j->durable_seq = rec.seq;
		j->inflight_bytes -= chunk;
		j->syncs++;
		publish_locked(j);
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
	struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
	                      .tv_nsec = (long)(deadline_ns % 1000000000u)};

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

static void *writer_main(void *arg)
{
	struct txp_journal *j = arg;
	bool failing = false, retried_while_stopping = false;
	uint64_t last_take_ns = 0; /* when the latest batch was taken */

	tidy(j);
	pthread_mutex_lock(&j->mu);
	publish_locked(j);
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
					publish_locked(j);
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
					housekeeping(j);
					pthread_mutex_lock(&j->mu);
					publish_locked(j);
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
			settle_marks(j, &j->batch, 0);
		rc = write_batch(j);
		if (rc < 0)
			drop_accepted(j, rc);
		else if (failing)
			tidy(j); /* nothing may have been written to trigger it */
		pthread_mutex_lock(&j->mu);
		if (rc < 0) {
			j->write_errors++;
			set_error_locked(j, rc);
			publish_locked(j);
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
			txp_log_notice("journal_recovered", "dir=%s durable_seq=%" PRIu64, j->dir,
			               j->durable_seq);
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

static void on_async(uv_async_t *h)
{
	report(h->data);
}

/* ---- Open and replay ---- */

static int read_segment(struct txp_journal *j, const char *name, uint8_t **data, size_t *len,
                        int64_t *mtime_ms)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	p = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (p == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, p + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break; /* shrank meanwhile: take what was read */
		}
		got += (size_t)n;
	}
	if (rc == 0) {
		*data = p;
		*len = got;
		*mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		p = NULL;
	}
out:
	free(p);
	close(fd);
	return rc;
}

struct scan_ctx {
	struct txp_journal *j;
	size_t si;
};

static int scan_account(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	struct scan_ctx *c = arg;

	(void)offset;
	return account(c->j, c->si, rec);
}

/* Cuts the torn or corrupt tail of the last segment. */
static int truncate_tail(struct txp_journal *j, const char *name, size_t valid, size_t len,
                         enum txp_journal_damage why, char *err, size_t errlen)
{
	int fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0 || ftruncate(fd, (off_t)valid) != 0 || fdatasync(fd) != 0) {
		rc = -errno;
		snprintf(err, errlen, "journal %s/%s: cannot truncate the damaged tail at offset %zu: %s",
		         j->dir, name, valid, strerror(errno));
	} else {
		txp_log_warn("journal_tail_truncated", "dir=%s segment=%s offset=%zu bytes_cut=%zu reason=%s",
		             j->dir, name, valid, len - valid, txp_journal_damage_name(why));
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * A damaged segment that is not the last one: what follows the damage
 * cannot be trusted, but the valid prefix must not be lost.  The prefix is
 * written to a temporary file and synced, the original kept as *.corrupt
 * (a hard link, so it exists under one name or the other at every
 * instant), then the prefix renamed over the segment.  A crash anywhere in
 * between leaves either the original or the prefix as the segment.
 */
static int quarantine(struct txp_journal *j, const char *name, const uint8_t *data, size_t valid, size_t len,
                      enum txp_journal_damage why, char *err, size_t errlen)
{
	char tmp[SEG_NAME_MAX + 8], bad[SEG_NAME_MAX + 8];
	const char *step = "create";
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	snprintf(bad, sizeof(bad), "%s.corrupt", name);
	fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	step = "write";
	rc = write_all(fd, data, valid, 0);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc < 0)
		goto fail_unlink;
	step = "link";
	if (linkat(j->dirfd, name, j->dirfd, bad, 0) != 0 && errno != EEXIST) {
		rc = -errno;
		goto fail_unlink;
	}
	step = "rename";
	if (renameat(j->dirfd, tmp, j->dirfd, name) != 0) {
		rc = -errno;
		goto fail_unlink;
	}
	step = "sync directory";
	if (fsync(j->dirfd) != 0) {
		rc = -errno;
		goto fail;
	}
	txp_log_err("journal_segment_corrupt",
	            "dir=%s segment=%s offset=%zu bytes_lost=%zu reason=%s kept_as=%s", j->dir, name, valid,
	            len - valid, txp_journal_damage_name(why), bad);
	return 0;

fail_unlink:
	unlinkat(j->dirfd, tmp, 0);
fail:
	snprintf(err, errlen,
	         "journal %s/%s is damaged at offset %zu (%s) and keeping its valid prefix failed (%s): %s",
	         j->dir, name, valid, txp_journal_damage_name(why), step, strerror(-rc));
	return rc;
}

/*
 * Keeps a copy of a damaged segment as <name>.corrupt before anything in it
 * is cut or rewritten, for whoever investigates: the damaged bytes are
 * evidence, and a record that failed its checksum may still be readable
 * by hand.  A copy (not a link): the last segment is appended to later.
 * An existing copy is left alone: it was taken when the damage was first
 * found, before any repair.  Returns 1 when it already existed, 0 when
 * made, or a negative errno.
 */
static int keep_copy(struct txp_journal *j, const char *name, const uint8_t *data, size_t len)
{
	char tmp[SEG_NAME_MAX + 16], bad[SEG_NAME_MAX + 8];
	int fd, rc;

	snprintf(bad, sizeof(bad), "%s.corrupt", name);
	snprintf(tmp, sizeof(tmp), "%s.corrupt.tmp", name);
	if (faccessat(j->dirfd, bad, F_OK, 0) == 0)
		return 1;
	fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len, 0);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(j->dirfd, tmp, j->dirfd, bad) != 0)
		rc = -errno;
	if (rc == 0 && fsync(j->dirfd) != 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(j->dirfd, tmp, 0);
	return rc;
}

/*
 * Damage inside a segment with valid records after it (bit rot, a bad
 * sector, a stray write; not a crash, which only tears the tail): the scan
 * skipped it and kept those records.  The segment is left as it is (its
 * records after the damage stay readable, and the segment goes once they
 * are delivered), a copy is kept, and the loss is counted and logged: at
 * err when first found, at warning at later opens.
 */
static void report_holes(struct txp_journal *j, const char *name, const uint8_t *data, size_t len,
                         const struct txp_journal_scan_result *res)
{
	int rc = keep_copy(j, name, data, len);

	j->skipped_records += res->skipped_seqs;
	j->damaged_segments++;
	if (rc < 0)
		txp_log_err("journal_copy_failed", "dir=%s segment=%s error=\"%s\"", j->dir, name,
		            strerror(-rc));
	txp_log(rc == 1 ? TXP_LOG_WARNING : TXP_LOG_ERR, "journal_segment_damaged",
	        "dir=%s segment=%s offset=%zu holes=%zu bytes_skipped=%zu records_skipped=%" PRIu64
	        " reason=%s kept_as=%s%s action=resynchronised",
	        j->dir, name, res->first_hole, res->holes, res->skipped_bytes, res->skipped_seqs,
	        txp_journal_damage_name(res->hole_reason), rc < 0 ? "none" : name, rc < 0 ? "" : ".corrupt");
}

/* Pass one over segment i: validate, repair, recompute its bookkeeping. */
static int load_segment(struct txp_journal *j, size_t i, char *err, size_t errlen)
{
	struct txp_journal_scan_result res;
	struct scan_ctx ctx = {j, i};
	struct seg *s = &j->segs[i];
	uint64_t end = i + 1 < j->nsegs ? j->segs[i + 1].first_seq : UINT64_MAX;
	char name[SEG_NAME_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	seg_name(name, s->first_seq, "");
	rc = read_segment(j, name, &data, &len, &s->mtime_ms);
	if (rc < 0) {
		snprintf(err, errlen, "journal %s/%s: cannot read: %s", j->dir, name, strerror(-rc));
		return rc;
	}
	txp_journal_scan(data, len, s->first_seq, end, scan_account, &ctx, &res);
	if (res.cb_error != 0) {
		rc = res.cb_error;
		snprintf(err, errlen, "journal %s/%s: %s", j->dir, name, strerror(-rc));
		goto out;
	}
	s->size = res.valid_bytes;
	if (res.holes > 0)
		report_holes(j, name, data, len, &res);
	if (res.valid_bytes < len) {
		if (i + 1 == j->nsegs)
			rc = truncate_tail(j, name, res.valid_bytes, len, res.stop, err, errlen);
		else
			rc = quarantine(j, name, data, res.valid_bytes, len, res.stop, err, errlen);
	}
out:
	free(data);
	return rc;
}

struct replay_ctx {
	struct txp_journal *j;
	size_t si;
	int64_t recent_from;
};

static int replay_record(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	struct replay_ctx *c = arg;
	const struct txp_journal_options *o = &c->j->opt;
	struct seg *s = &c->j->segs[c->si];
	struct txp_journal_accepted a;
	uint64_t i;

	(void)offset;
	if (rec->type != TXP_JOURNAL_ACCEPTED || txp_journal_accepted_decode(rec->payload, rec->len, &a) != 0)
		return 0; /* the scan already rejected undecodable ACCEPTED payloads */
	i = rec->seq - s->first_seq;
	if (o->on_recent != NULL && a.received_ms >= c->recent_from)
		o->on_recent(o->replay_arg, rec->seq, &a);
	if (o->on_undelivered != NULL && i / 64 < s->nwords && (s->bits[i / 64] & (UINT64_C(1) << (i % 64))))
		o->on_undelivered(o->replay_arg, rec->seq, &a);
	return 0;
}

/* Pass two: the callbacks, in sequence order, over the repaired segments. */
static int replay(struct txp_journal *j, char *err, size_t errlen)
{
	const struct txp_journal_options *o = &j->opt;
	struct replay_ctx ctx = {.j = j};

	if (o->on_recent == NULL && o->on_undelivered == NULL)
		return 0;
	ctx.recent_from =
	    o->recent_ms >= (uint64_t)INT64_MAX / 2 ? INT64_MIN : o->now_ms - (int64_t)o->recent_ms;
	for (size_t i = 0; i < j->nsegs; i++) {
		struct seg *s = &j->segs[i];
		struct txp_journal_scan_result res;
		char name[SEG_NAME_MAX];
		uint8_t *data;
		size_t len;
		int64_t mtime;
		int rc;

		if (s->size == 0 || (o->on_recent == NULL && s->undelivered == 0))
			continue;
		seg_name(name, s->first_seq, "");
		rc = read_segment(j, name, &data, &len, &mtime);
		if (rc < 0) {
			snprintf(err, errlen, "journal %s/%s: cannot read: %s", j->dir, name, strerror(-rc));
			return rc;
		}
		ctx.si = i;
		txp_journal_scan(data, len < s->size ? len : (size_t)s->size, s->first_seq, UINT64_MAX,
		                 replay_record, &ctx, &res);
		free(data);
	}
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

/* Parses "journal-<16 hex>.seg" exactly; returns the sequence number or 0. */
static uint64_t parse_seg_name(const char *n, const char *suffix)
{
	size_t pl = strlen(SEG_PREFIX);
	uint64_t v = 0;

	if (strlen(n) != pl + 16 + strlen(suffix) || strncmp(n, SEG_PREFIX, pl) != 0 ||
	    strcmp(n + pl + 16, suffix) != 0)
		return 0;
	for (size_t i = pl; i < pl + 16; i++) {
		char c = n[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	return v;
}

static int list_segments(struct txp_journal *j, char *err, size_t errlen)
{
	int fd = dup(j->dirfd), rc = 0;
	struct dirent *e;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "journal %s: cannot list: %s", j->dir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		uint64_t seq;

		if ((seq = parse_seg_name(e->d_name, SEG_SUFFIX)) != 0) {
			rc = seg_push(j, seq, 0);
			if (rc < 0) {
				snprintf(err, errlen, "journal %s: out of memory", j->dir);
				break;
			}
		} else if (parse_seg_name(e->d_name, SEG_SUFFIX ".tmp") != 0) {
			/* An interrupted quarantine: the segment itself is intact. */
			unlinkat(j->dirfd, e->d_name, 0);
		}
	}
	closedir(d);
	if (j->nsegs > 1)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), cmp_seg);
	return rc;
}

static void journal_free(struct txp_journal *j)
{
	for (size_t i = 0; i < j->nsegs; i++)
		seg_free(&j->segs[i]);
	free(j->segs);
	free(j->pending.p);
	free(j->batch.p);
	free(j->drops);
	if (j->active_fd >= 0)
		close(j->active_fd);
	if (j->lockfd >= 0)
		close(j->lockfd); /* releases the flock */
	if (j->dirfd >= 0)
		close(j->dirfd);
	if (j->sync_init) {
		pthread_cond_destroy(&j->cond);
		pthread_mutex_destroy(&j->mu);
	}
	free(j->dir);
	free(j);
}

static void on_closed(uv_handle_t *h)
{
	journal_free(h->data);
}

static int sync_init(struct txp_journal *j)
{
	pthread_condattr_t ca;
	int rc;

	rc = pthread_mutex_init(&j->mu, NULL);
	if (rc != 0)
		return -rc;
	/* Timed waits are deadlines on the monotonic clock, immune to
	 * wall-clock steps. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		pthread_mutex_destroy(&j->mu);
		return -rc;
	}
	j->sync_init = true;
	return 0;
}

int txp_journal_open(struct txp_journal **out, uv_loop_t *loop, const char *dir,
                     const struct txp_journal_options *opt, char *err, size_t errlen)
{
	struct txp_journal *j;
	int rc;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->dir = strdup(dir)) == NULL) {
		free(j);
		snprintf(err, errlen, "journal %s: out of memory", dir);
		return -ENOMEM;
	}
	j->dirfd = j->lockfd = j->active_fd = -1;
	j->opt = *opt;
	if (j->opt.segment_bytes == 0)
		j->opt.segment_bytes = DEFAULT_SEGMENT_BYTES;
	if (j->opt.max_bytes == 0)
		j->opt.max_bytes = DEFAULT_MAX_BYTES;
	if (j->opt.commit_bytes == 0)
		j->opt.commit_bytes = DEFAULT_COMMIT_BYTES;
	if (j->opt.retry_interval_ms == 0)
		j->opt.retry_interval_ms = DEFAULT_RETRY_MS;

	rc = sync_init(j);
	if (rc < 0) {
		snprintf(err, errlen, "journal %s: cannot create a mutex: %s", dir, strerror(-rc));
		goto err_free;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "journal %s: cannot create the directory: %s", dir, strerror(errno));
		goto err_free;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "journal %s: cannot open the directory: %s", dir, strerror(errno));
		goto err_free;
	}
	j->lockfd = openat(j->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lockfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "journal %s/%s: cannot open: %s", dir, LOCK_NAME, strerror(errno));
		goto err_free;
	}
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "journal %s is in use by another process (%s)", dir, strerror(errno));
		goto err_free;
	}
	rc = list_segments(j, err, errlen);
	if (rc < 0)
		goto err_free;
	j->next_seq = 1;
	for (size_t i = 0; i < j->nsegs; i++) {
		rc = load_segment(j, i, err, errlen);
		if (rc < 0)
			goto err_free;
		if (j->segs[i].first_seq > j->next_seq)
			j->next_seq = j->segs[i].first_seq;
		if (j->segs[i].last_seq >= j->next_seq)
			j->next_seq = j->segs[i].last_seq + 1;
	}
	j->durable_seq = j->reported_durable = j->next_seq - 1;
	rc = replay(j, err, errlen);
	if (rc < 0)
		goto err_free;

	/* An empty last segment (the previous run's, unused) is reused;
	 * otherwise a new one is created now, so its name records next_seq
	 * even if every older segment is deleted. */
	if (j->nsegs > 0 && j->segs[j->nsegs - 1].size == 0) {
		char name[SEG_NAME_MAX];

		seg_name(name, j->segs[j->nsegs - 1].first_seq, "");
		j->active_fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC);
		rc = j->active_fd < 0 ? -errno : 0;
	} else {
		rc = seg_create(j, j->next_seq);
	}
	if (rc < 0) {
		snprintf(err, errlen, "journal %s: cannot open a segment for writing: %s", dir,
		         strerror(-rc));
		goto err_free;
	}
	publish_locked(j); /* no other thread yet */

	rc = uv_async_init(loop, &j->async, on_async);
	if (rc < 0) {
		snprintf(err, errlen, "journal %s: uv_async_init: %s", dir, uv_strerror(rc));
		goto err_free;
	}
	j->async.data = j;
	/* Logged before the writer starts: from then on it owns these fields. */
	txp_log_info("journal_open",
	             "dir=%s segments=%zu next_seq=%" PRIu64 " undelivered=%" PRIu64 " bytes=%" PRIu64, dir,
	             j->nsegs, j->next_seq, j->pub_undelivered, j->disk_bytes);
	rc = pthread_create(&j->thread, NULL, writer_main, j);
	if (rc != 0) {
		snprintf(err, errlen, "journal %s: cannot start the writer thread: %s", dir, strerror(rc));
		uv_close((uv_handle_t *)&j->async, on_closed);
		return -rc;
	}
	j->thread_started = true;
	*out = j;
	return 0;

err_free:
	journal_free(j);
	return rc;
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
	*rc = buf_reserve(&j->pending, txp_journal_record_size(len));
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

int txp_journal_append_accepted(struct txp_journal *j, const struct txp_journal_accepted *a,
                                uint64_t *seq_out)
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
		txp_journal_record_encode(p, TXP_JOURNAL_ACCEPTED, seq, p + TXP_JOURNAL_HEADER_BYTES,
		                          (uint32_t)len);
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
		txp_journal_record_encode(p, TXP_JOURNAL_DELIVERED, seq, p + TXP_JOURNAL_HEADER_BYTES,
		                          (uint32_t)len);
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
	full = j->error != 0 || j->low_space ||
	       j->disk_bytes + j->inflight_bytes + j->pending.len > j->opt.max_bytes;
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
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	j->thread_started = false;
	report(j);
	uv_close((uv_handle_t *)&j->async, on_closed);
}

void txp_journal_options_from_config(struct txp_journal_options *o, const struct txp_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->segment_bytes = cfg->journal.segment_bytes;
	o->max_bytes = cfg->journal.max_bytes;
	o->commit_bytes = cfg->journal.commit_bytes;
	o->commit_interval_ms = cfg->journal.commit_interval_ms;
	o->reserve_bytes = cfg->journal.reserve_bytes;
}
