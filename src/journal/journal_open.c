/* journal_open.c: opening the journal: listing, validating and repairing its segments, then replay. */
#include "journal_int.h"
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
#include <time.h>
#include <unistd.h>

#define LOCK_NAME "journal.lock"
#define DEFAULT_SEGMENT_BYTES (UINT64_C(64) << 20)
#define DEFAULT_MAX_BYTES (UINT64_C(4) << 30)
#define DEFAULT_COMMIT_BYTES (UINT64_C(256) << 10)
#define DEFAULT_RETRY_MS 1000

static int read_segment(struct txp_journal *j, const char *name, uint8_t **data, size_t *len, int64_t *mtime_ms)
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
	return journal__account(c->j, c->si, rec);
}

/* Cuts the torn or corrupt tail of the last segment, synced and logged;
 * why = TXP_JOURNAL_OK: the unused zeros of a preallocated segment (a
 * crash before it was full or closed), any segment, not damage, so no sync
 * (zeros found again are cut again) and only a debug line. */
static int truncate_tail(struct txp_journal *j, const char *name, size_t valid, size_t len, enum txp_journal_damage why,
                         char *err, size_t errlen)
{
	int fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC), rc = 0;
	bool zeros = why == TXP_JOURNAL_OK;

	if (fd < 0 || ftruncate(fd, (off_t)valid) != 0 || (!zeros && fdatasync(fd) != 0)) {
		rc = -errno;
		snprintf(err, errlen, "journal %s/%s: cannot truncate the %s at offset %zu: %s", j->dir, name,
		         zeros ? "unused preallocated end" : "damaged tail", valid, strerror(errno));
	} else if (zeros) {
		txp_log_debug("journal_preallocation_trimmed", "dir=%s segment=%s offset=%zu bytes=%zu", j->dir, name,
		              valid, len - valid);
	} else {
		txp_log_warn("journal_tail_truncated", "dir=%s segment=%s offset=%zu bytes_cut=%zu reason=%s", j->dir,
		             name, valid, len - valid, txp_journal_damage_name(why));
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
	rc = journal__write_all(fd, data, valid, 0);
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
	txp_log_err("journal_segment_corrupt", "dir=%s segment=%s offset=%zu bytes_lost=%zu reason=%s kept_as=%s",
	            j->dir, name, valid, len - valid, txp_journal_damage_name(why), bad);
	return 0;

fail_unlink:
	unlinkat(j->dirfd, tmp, 0);
fail:
	snprintf(err, errlen,
	         "journal %s/%s is damaged at offset %zu (%s) and keeping its valid prefix failed (%s): %s", j->dir,
	         name, valid, txp_journal_damage_name(why), step, strerror(-rc));
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
	rc = journal__write_all(fd, data, len, 0);
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
		txp_log_err("journal_copy_failed", "dir=%s segment=%s error=\"%s\"", j->dir, name, strerror(-rc));
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
	struct scan_ctx ctx = { j, i };
	struct seg *s = &j->segs[i];
	uint64_t end = i + 1 < j->nsegs ? j->segs[i + 1].first_seq : UINT64_MAX;
	char name[SEG_NAME_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	journal__seg_name(name, s->first_seq, "");
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
		if (i + 1 == j->nsegs || res.stop == TXP_JOURNAL_OK)
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
	struct replay_ctx ctx = { .j = j };

	if (o->on_recent == NULL && o->on_undelivered == NULL)
		return 0;
	ctx.recent_from = o->recent_ms >= (uint64_t)INT64_MAX / 2 ? INT64_MIN : o->now_ms - (int64_t)o->recent_ms;
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
		journal__seg_name(name, s->first_seq, "");
		rc = read_segment(j, name, &data, &len, &mtime);
		if (rc < 0) {
			snprintf(err, errlen, "journal %s/%s: cannot read: %s", j->dir, name, strerror(-rc));
			return rc;
		}
		ctx.si = i;
		txp_journal_scan(data, len < s->size ? len : (size_t)s->size, s->first_seq, UINT64_MAX, replay_record,
		                 &ctx, &res);
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
			rc = journal__seg_push(j, seq, 0);
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
	journal__seg_close_active(j);
	for (size_t i = 0; i < j->nsegs; i++)
		journal__seg_free(&j->segs[i]);
	free(j->segs);
	free(j->pending.p);
	free(j->batch.p);
	free(j->drops);
	if (j->lockfd >= 0)
		close(j->lockfd); /* releases the flock */
	if (j->dirfd >= 0)
		close(j->dirfd);
	if (j->sync_init) {
		pthread_cond_destroy(&j->prep_cond);
		pthread_cond_destroy(&j->cond);
		pthread_mutex_destroy(&j->mu);
	}
	free(j->dir);
	free(j);
}

void journal__on_closed(uv_handle_t *h)
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
	if (rc == 0) {
		rc = pthread_cond_init(&j->prep_cond, &ca);
		if (rc != 0)
			pthread_cond_destroy(&j->cond);
	}
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		pthread_mutex_destroy(&j->mu);
		return -rc;
	}
	j->sync_init = true;
	return 0;
}

int txp_journal_open(struct txp_journal **out, uv_loop_t *loop, const char *dir, const struct txp_journal_options *opt,
                     char *err, size_t errlen)
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
	/* A spare of an earlier run may be half written: made again. */
	if (unlinkat(j->dirfd, SPARE_NAME, 0) != 0 && errno != ENOENT)
		txp_log_warn("journal_spare_failed", "dir=%s op=unlink error=\"%s\"", dir, strerror(errno));
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

		journal__seg_name(name, j->segs[j->nsegs - 1].first_seq, "");
		j->active_fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC);
		rc = j->active_fd < 0 ? -errno : 0;
	} else {
		rc = journal__seg_create(j, j->next_seq);
	}
	if (rc < 0) {
		snprintf(err, errlen, "journal %s: cannot open a segment for writing: %s", dir, strerror(-rc));
		goto err_free;
	}
	journal__publish_locked(j); /* no other thread yet */

	rc = uv_async_init(loop, &j->async, journal__on_async);
	if (rc < 0) {
		snprintf(err, errlen, "journal %s: uv_async_init: %s", dir, uv_strerror(rc));
		goto err_free;
	}
	j->async.data = j;
	/* Logged before the writer starts: from then on it owns these fields. */
	txp_log_info("journal_open", "dir=%s segments=%zu next_seq=%" PRIu64 " undelivered=%" PRIu64 " bytes=%" PRIu64,
	             dir, j->nsegs, j->next_seq, j->pub_undelivered, j->disk_bytes);
	rc = pthread_create(&j->thread, NULL, journal__writer_main, j);
	if (rc != 0) {
		snprintf(err, errlen, "journal %s: cannot start the writer thread: %s", dir, strerror(rc));
		uv_close((uv_handle_t *)&j->async, journal__on_closed);
		return -rc;
	}
	j->thread_started = true;
	if (j->opt.preallocate) {
		rc = pthread_create(&j->prep_thread, NULL, journal__prep_main, j);
		if (rc == 0)
			j->prep_started = true;
		else /* segments grow as without preallocation */
			txp_log_warn("journal_spare_failed", "dir=%s op=thread error=\"%s\"", dir, strerror(rc));
	}
	*out = j;
	return 0;

err_free:
	journal_free(j);
	return rc;
}
