/* journal_int.h: what the journal's files share: its structs and internal calls (not part of the API). */
#ifndef TXP_JOURNAL_INT_H
#define TXP_JOURNAL_INT_H

#include "txpipe/journal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* The next segment, zeroed ahead ([journal] preallocate); not a segment
 * name, so a scan at open never takes it for one. */
#define SPARE_NAME SEG_PREFIX "spare.prealloc"
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
	pthread_t prep_thread; /* zeroes the spare segment ([journal] preallocate) */
	bool sync_init, thread_started, prep_started;

	pthread_mutex_t mu;
	pthread_cond_t cond;      /* the writer sleeps on it */
	pthread_cond_t prep_cond; /* the preparer sleeps on it */
	/* Under mu. */
	bool spare_ready; /* SPARE_NAME is zeroed to segment_bytes and synced */
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
	bool active_prealloc; /* it was the spare: segment_bytes long, zeros after `size` */
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

/* journal_segs.c */

/* Writes out the segment file name for first_seq, followed by extra, into out[SEG_NAME_MAX]. */
void journal__seg_name(char *out, uint64_t first_seq, const char *extra);
/* Grows b so that `more` bytes fit after b->len; 0 or -ENOMEM (b unchanged). */
int journal__buf_reserve(struct buf *b, size_t more);
/* pwrite()s all of p[0, len) at offset off, retrying short writes; 0 or a negative errno. */
int journal__write_all(int fd, const uint8_t *p, size_t len, uint64_t off);
/* Applies one durable record of segment si to the bookkeeping; 0 or -ENOMEM (segment pinned). */
int journal__account(struct txp_journal *j, size_t si, const struct txp_journal_record *rec);
/* Clears in memory the bits the DELIVERED records in b[off, len) name, before they are durable. */
void journal__settle_marks(struct txp_journal *j, const struct buf *b, size_t off);
/* Frees what a segment entry owns (its bits), not the entry. */
void journal__seg_free(struct seg *s);
/* Frees segment entry i and closes the gap in j->segs (the file is the caller's business). */
void journal__seg_remove(struct txp_journal *j, size_t i);
/* Appends an empty segment entry starting at first_seq; 0 or -ENOMEM. */
int journal__seg_push(struct txp_journal *j, uint64_t first_seq, int64_t mtime_ms);
/* Deletes the segments whose ACCEPTED records are all delivered; writer thread. */
void journal__housekeeping(struct txp_journal *j);
/* Updates the figures other threads read from the segment list; mu held. */
void journal__publish_locked(struct txp_journal *j);
/* Creates, syncs and opens for appending the segment for first_seq; 0 or a negative errno. */
int journal__seg_create(struct txp_journal *j, uint64_t first_seq);
/* Cuts back and closes the active segment after a failed write or fdatasync. */
void journal__seg_failed(struct txp_journal *j);
/* Closes the active segment (if open), first cutting a preallocated one to
 * its records. */
void journal__seg_close_active(struct txp_journal *j);
/* Whether the spare is ready to become the next segment; takes mu. */
bool journal__spare_ready(struct txp_journal *j);
/* Deletes a ready spare (space is low); takes mu.  The preparer makes no
 * other while space stays low. */
void journal__spare_drop(struct txp_journal *j);
/* The preparer thread's body (arg is the journal). */
void *journal__prep_main(void *arg);

/* journal_writer.c */

/* The writer thread's body (pthread_create's start routine; arg is the journal). */
void *journal__writer_main(void *arg);

/* journal.c */

/* The async handle's callback: runs the reports the writer posted, on the loop thread. */
void journal__on_async(uv_async_t *h);

/* journal_open.c */

/* The async handle's close callback: frees the journal and everything it owns. */
void journal__on_closed(uv_handle_t *h);

#endif
