/* ack.h: after a decision: duplicates, the journal hand-off, delivery, and when each reply may leave. */
#ifndef TXPIPE_ACK_H
#define TXPIPE_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/dedup.h"
#include "txpipe/journal.h"
#include "txpipe/txn.h"

/*
 * The product's central promise lives here: a reply that acknowledges a
 * transaction never leaves before the transaction is kept as [journal] ack
 * says (journaled: its ACCEPTED record is durable; stored: DynamoDB took
 * it; decided: at once), and everything kept is delivered exactly once,
 * across restarts.
 *
 * A decided transaction comes back from the pipeline (txp_ack_completed):
 *   - a resubmission within the duplicate window is answered with the first
 *     decision, never ahead of that decision's own acknowledgement;
 *   - otherwise its record is appended to the journal, it enters the
 *     duplicate window, its reply is held until the record is durable
 *     (txp_ack_durable) or delivered (txp_ack_delivered), and it is handed
 *     to delivery;
 *   - a delivered record gets a DELIVERED mark, batched per loop turn
 *     (txp_ack_flush), so a restart does not deliver it again.
 * At start the journal replays its records through txp_ack_replay_recent
 * (duplicate window, velocity windows) and txp_ack_replay_undelivered
 * (delivery again).
 *
 * The journal, delivery and the server are reached through struct
 * txp_ack_ops only, so the module runs, and is tested, without a loop.
 * Every function runs on the loop thread.
 */

struct txp_ack;

struct txp_ack_ops {
	/* Appends t's redacted ACCEPTED record and sets t->journal_seq.
	 * Returns 0 or a negative errno (t is then not kept). */
	int (*append)(void *arg, struct txp_txn *t);
	/* Queues one DELIVERED record naming seqs[0, n).  Returns 0 or a
	 * negative errno (those records are delivered again at the next
	 * start: not lost). */
	int (*mark_delivered)(void *arg, const uint64_t *seqs, size_t n);
	/* Asks for txp_ack_flush() once the current loop turn's events are
	 * handled (the daemon uses a uv_check handle). */
	void (*schedule_flush)(void *arg);
	/* Takes t's item and alerts for delivery; t stays the caller's.  NULL
	 * when delivery is off: records are then marked delivered at once. */
	void (*deliver)(void *arg, struct txp_txn *t);
	/* Lets t's held reply leave (txp_server_release). */
	void (*release)(void *arg, struct txp_txn *t);
	/* Rebuilds velocity windows from a replayed record.  May be NULL. */
	void (*rebuild)(void *arg, const struct txp_journal_accepted *rec);
	/* realloc(3) for the hold queues and the DELIVERED batch; NULL uses
	 * realloc.  Tests inject failures through it. */
	void *(*realloc)(void *p, size_t size);
	void *arg;
};

struct txp_ack_options {
	enum txp_journal_ack mode; /* [journal] ack */
	struct txp_dedup *dedup;   /* the duplicate window; not owned */
	uint64_t dedup_window_ms;  /* how far back a replayed decision enters it */
	bool velocity_rebuild;     /* [journal] velocity_rebuild */
};

struct txp_ack_stats {
	uint64_t duplicates;      /* resubmissions answered with the first decision */
	uint64_t append_failures; /* records the journal could not take: answered overloaded */
	uint64_t hold_failures;   /* replies that could not be held: answered overloaded */
	uint64_t dropped_replies; /* held replies whose record the journal dropped: answered overloaded */
	uint64_t held_now;        /* replies waiting for durability or delivery */
	uint64_t replayed_recent, replayed_undelivered, velocity_rebuilt, replay_dedup;
	uint64_t durable_seq; /* every record up to this one is durable */
	uint64_t last_seq;    /* the latest ACCEPTED record appended */
};

/* Returns 0 with *out set, or -ENOMEM / -EINVAL (no dedup, no append).
 * `ops` is copied.  Free with txp_ack_destroy(). */
int txp_ack_create(struct txp_ack **out, const struct txp_ack_options *opts, const struct txp_ack_ops *ops);

/* Frees it; held transactions belong to the server and are not touched.
 * NULL is safe. */
void txp_ack_destroy(struct txp_ack *a);

/* The journal was opened: every record up to `seq` is durable. */
void txp_ack_start(struct txp_ack *a, uint64_t durable_seq);

/*
 * A transaction back from the pipeline, before its reply is queued (the
 * server's completed hook).  May replace t->reply (duplicates, errors) and
 * set t->held, in which case ops.release(t) follows later.  When the reply
 * could not be held until the record is kept (no memory), the transaction
 * is neither journaled nor delivered and is answered with error code
 * "overloaded": the producer retries, and nothing unkept is acknowledged.
 */
void txp_ack_completed(struct txp_ack *a, struct txp_txn *t);

/* The journal's durability callback: every record up to `durable_seq` is on disk. */
void txp_ack_durable(struct txp_ack *a, uint64_t durable_seq);

/* The journal's drop callback: records first_seq..last_seq could not be
 * written and never will be.  Their held replies are answered with error
 * "overloaded" instead of waiting for a durability that will not come
 * (they were never acknowledged, so the producer's retry is safe), and
 * their ids leave the duplicate window so that retry is screened anew. */
void txp_ack_dropped(struct txp_ack *a, uint64_t first_seq, uint64_t last_seq);

/* Delivery's callback: the record `seq` was stored, its alerts published
 * or dead-lettered. */
void txp_ack_delivered(struct txp_ack *a, uint64_t seq);

/* Delivery's conflict callback (fleet mode): another host's decision of
 * the transaction of record `seq` was stored first.  With ack = stored its
 * held reply becomes `reply` (the stored decision; taken, freed here when
 * nothing holds it), released by txp_ack_delivered() as usual. */
void txp_ack_stored_elsewhere(struct txp_ack *a, uint64_t seq, char *reply, size_t len);

/* Writes the DELIVERED marks gathered since the last flush as one record. */
void txp_ack_flush(struct txp_ack *a);

/* Replay at journal open (txp_journal_options' callbacks, with the wall
 * clock passed in): velocity windows and the duplicate window... */
void txp_ack_replay_recent(struct txp_ack *a, uint64_t seq, const struct txp_journal_accepted *rec, int64_t now_ms);
/* ...and delivery again of what was not delivered. */
void txp_ack_replay_undelivered(struct txp_ack *a, uint64_t seq, const struct txp_journal_accepted *rec);

/* Shutdown: forgets every held reply (the server closes their
 * connections; the records stay in the journal, unacknowledged). */
void txp_ack_forget_held(struct txp_ack *a);

void txp_ack_stats(const struct txp_ack *a, struct txp_ack_stats *out);

/* "journaled", "stored" or "decided". */
const char *txp_ack_mode_name(enum txp_journal_ack mode);

#endif
