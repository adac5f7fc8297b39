/* journal_segs.c: the journal's segment list and its bookkeeping: undelivered bits, DELIVERED marks, deletion. */
#include "journal_int.h"
#include "txpipe/clock.h"
#include "txpipe/le.h"
#include "txpipe/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

void journal__seg_name(char *out, uint64_t first_seq, const char *extra)
{
	snprintf(out, SEG_NAME_MAX, SEG_PREFIX "%016" PRIx64 SEG_SUFFIX "%s", first_seq, extra);
}

int journal__buf_reserve(struct buf *b, size_t more)
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

int journal__write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
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
int journal__account(struct txp_journal *j, size_t si, const struct txp_journal_record *rec)
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

		/* Even when journal__settle_marks() cleared the bit already: this
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
 * the segments that delivery has emptied.  journal__account() repeats the work (and
 * records min_ref) once the records are durable.
 */
void journal__settle_marks(struct txp_journal *j, const struct buf *b, size_t off)
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

void journal__seg_free(struct seg *s)
{
	free(s->bits);
	s->bits = NULL;
}

void journal__seg_remove(struct txp_journal *j, size_t i)
{
	journal__seg_free(&j->segs[i]);
	memmove(&j->segs[i], &j->segs[i + 1], (j->nsegs - i - 1) * sizeof(*j->segs));
	j->nsegs--;
}

int journal__seg_push(struct txp_journal *j, uint64_t first_seq, int64_t mtime_ms)
{
	if (j->nsegs == j->segcap) {
		size_t cap = j->segcap ? j->segcap * 2 : 16;
		struct seg *s = realloc(j->segs, cap * sizeof(*s));

		if (s == NULL)
			return -ENOMEM;
		j->segs = s;
		j->segcap = cap;
	}
	j->segs[j->nsegs++] = (struct seg){ .first_seq = first_seq, .min_ref = UINT64_MAX, .mtime_ms = mtime_ms };
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
void journal__housekeeping(struct txp_journal *j)
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
			journal__seg_name(name, s->first_seq, "");
			if (unlinkat(j->dirfd, name, 0) == 0 || errno == ENOENT) {
				journal__seg_remove(j, i);
				removed = true;
				continue;
			}
			if (!s->unlink_warned)
				txp_log_warn("journal_unlink_failed", "dir=%s segment=%s error=\"%s\"", j->dir, name,
				             strerror(errno));
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
void journal__publish_locked(struct txp_journal *j)
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
bool journal__spare_ready(struct txp_journal *j)
{
	bool ready;

	pthread_mutex_lock(&j->mu);
	ready = j->spare_ready && !j->low_space;
	pthread_mutex_unlock(&j->mu);
	return ready;
}

void journal__spare_drop(struct txp_journal *j)
{
	pthread_mutex_lock(&j->mu);
	if (j->spare_ready) {
		if (unlinkat(j->dirfd, SPARE_NAME, 0) != 0)
			txp_log_warn("journal_spare_failed", "dir=%s op=unlink error=\"%s\"", j->dir, strerror(errno));
		j->spare_ready = false;
		pthread_cond_signal(&j->prep_cond);
	}
	pthread_mutex_unlock(&j->mu);
}

/* Renames the spare to `name` when one is ready; true when it did.  The
 * preparer is told to make the next one either way. */
static bool take_spare(struct txp_journal *j, const char *name)
{
	bool taken = false;

	if (!j->opt.preallocate || !journal__spare_ready(j))
		return false;
	/* Over a file of this name: an earlier failed attempt, as below. */
	if (renameat(j->dirfd, SPARE_NAME, j->dirfd, name) == 0)
		taken = true;
	else
		txp_log_warn("journal_spare_failed", "dir=%s op=rename error=\"%s\"", j->dir, strerror(errno));
	pthread_mutex_lock(&j->mu);
	j->spare_ready = false;
	pthread_cond_signal(&j->prep_cond);
	pthread_mutex_unlock(&j->mu);
	return taken;
}

int journal__seg_create(struct txp_journal *j, uint64_t first_seq)
{
	char name[SEG_NAME_MAX];
	bool prealloc;
	int fd, rc;

	journal__seg_name(name, first_seq, "");
	prealloc = take_spare(j, name);
	/* O_TRUNC: a file of this name can only be an earlier failed attempt
	 * at the same records, none of them durable. */
	fd = prealloc ? openat(j->dirfd, name, O_WRONLY | O_CLOEXEC)
	              : openat(j->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* Makes the name durable: the file's zeros are synced already. */
	if (fsync(j->dirfd) != 0) {
		rc = -errno;
		goto err_after_open;
	}
	rc = journal__seg_push(j, first_seq, txp_wall_ms());
	if (rc < 0)
		goto err_after_open;
	j->active_fd = fd;
	j->active_prealloc = prealloc;
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
void journal__seg_failed(struct txp_journal *j)
{
	struct seg *s = &j->segs[j->nsegs - 1];
	char name[SEG_NAME_MAX];

	journal__seg_name(name, s->first_seq, "");
	if (s->size == 0) {
		close(j->active_fd);
		unlinkat(j->dirfd, name, 0);
		journal__seg_remove(j, j->nsegs - 1);
	} else {
		if (ftruncate(j->active_fd, (off_t)s->size) != 0)
			txp_log_warn("journal_truncate_failed", "dir=%s segment=%s offset=%" PRIu64 " error=\"%s\"",
			             j->dir, name, s->size, strerror(errno));
		close(j->active_fd);
	}
	j->active_fd = -1;
	j->active_prealloc = false;
}

void journal__seg_close_active(struct txp_journal *j)
{
	if (j->active_fd < 0)
		return;
	/* No sync: after a crash the zeros left are cut at open all the same. */
	if (j->active_prealloc && j->nsegs > 0 && ftruncate(j->active_fd, (off_t)j->segs[j->nsegs - 1].size) != 0)
		txp_log_warn("journal_truncate_failed", "dir=%s offset=%" PRIu64 " error=\"%s\"", j->dir,
		             j->segs[j->nsegs - 1].size, strerror(errno));
	close(j->active_fd);
	j->active_fd = -1;
	j->active_prealloc = false;
}

/* ---- the spare segment ([journal] preallocate) ---------------------------- */

#define SPARE_CHUNK (UINT64_C(256) << 10)
#define SPARE_PAUSE_MS 5     /* between chunks: at most 50 MB/s of zeros, commits keep the disk */
#define SPARE_RETRY_MS 10000 /* after a failure, or while space is short */

static const uint8_t zeros[SPARE_CHUNK];

/* Waits on prep_cond for ms, or until stopping; mu held. */
static void prep_wait(struct txp_journal *j, uint64_t ms)
{
	struct timespec ts;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ms * 1000000u;
	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	if (!j->stopping)
		pthread_cond_timedwait(&j->prep_cond, &j->mu, &ts);
}

/* Writes SPARE_NAME full of zeros, a chunk at a time, each written back
 * and flushed before the next: the disk never has a large flush of ours
 * in front of a commit.  Written back alone (sync_file_range, which
 * flushes no cache) the zeros waited in the disk's volatile cache, and the
 * commit after the last chunk paid for all of them: fdatasync took 20 to
 * 88 ms, seven times in a row, on a virtio disk with 64 MB segments.
 * mu held on entry and return.  0, -ECANCELED when stopping, or a
 * negative errno. */
static int make_spare(struct txp_journal *j)
{
	uint64_t size = j->opt.segment_bytes, need;
	struct statvfs sv;
	int fd, rc = 0;

	pthread_mutex_unlock(&j->mu);
	fd = openat(j->dirfd, SPARE_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* Not into the headroom the journal keeps for its records. */
	need = size + 2 * j->opt.reserve_bytes;
	if (statvfs(j->dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < need) {
		rc = -ENOSPC;
		goto out_close;
	}
	for (uint64_t off = 0; off < size && rc == 0; off += SPARE_CHUNK) {
		size_t n = size - off < SPARE_CHUNK ? (size_t)(size - off) : (size_t)SPARE_CHUNK;

		rc = journal__write_all(fd, zeros, n, off);
		if (rc == 0 && fdatasync(fd) != 0)
			rc = -errno;
		pthread_mutex_lock(&j->mu);
		if (j->stopping)
			rc = rc < 0 ? rc : -ECANCELED;
		else if (rc == 0)
			prep_wait(j, SPARE_PAUSE_MS);
		pthread_mutex_unlock(&j->mu);
	}
out_close:
	close(fd);
	if (rc < 0)
		unlinkat(j->dirfd, SPARE_NAME, 0);
out:
	pthread_mutex_lock(&j->mu);
	return rc;
}

void *journal__prep_main(void *arg)
{
	struct txp_journal *j = arg;
	int logged = 0;

	pthread_mutex_lock(&j->mu);
	while (!j->stopping) {
		int rc;

		if (j->spare_ready) {
			pthread_cond_wait(&j->prep_cond, &j->mu);
			continue;
		}
		rc = j->low_space ? -ENOSPC : make_spare(j);
		if (rc == 0) {
			j->spare_ready = true;
			logged = 0;
			continue;
		}
		if (rc == -ECANCELED)
			break;
		if (rc != logged) {
			/* Not an error: segments grow as without preallocation. */
			txp_log_warn("journal_spare_failed", "dir=%s op=prepare bytes=%" PRIu64 " error=\"%s\" retry_ms=%d",
			             j->dir, j->opt.segment_bytes, strerror(-rc), SPARE_RETRY_MS);
			logged = rc;
		}
		prep_wait(j, SPARE_RETRY_MS);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}
