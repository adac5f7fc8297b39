/* dedup.h: recently decided transaction ids and their replies, to answer a resubmission without re-scoring. */
#ifndef TXPIPE_DEDUP_H
#define TXPIPE_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/blake2b.h"
#include "txpipe/txn.h"

/*
 * Why: a producer that lost its connection (or saw the daemon restart)
 * cannot know whether its transaction was decided, so it sends it again.
 * Scoring it twice would count it twice in the velocity windows and
 * overwrite the stored record with a second, possibly different, decision.
 * The window remembers every decision (approved, review, declined; not
 * rejected lines, which a producer resubmits once it fixed them) of the
 * last `window_ms`, at most `max_entries` of them, oldest forgotten first.
 *
 * The identity is the transaction_id as validation leaves it: an id
 * holding a card number is its token by then (txn.h, id_tokenised), never
 * the masked form, which made different ids one.  A resubmission must also
 * repeat the first one's content (struct txp_txn's fingerprint: amount,
 * currency, parties, countries): one that does not is a conflict, answered
 * with an error, like an idempotency key reused for another request;
 * otherwise whoever sent an id first would decide the answer to every
 * later transaction under it.
 *
 * The loop thread inserts; worker threads look up (the validation stage,
 * before anything is scored).  The table is split in stripes, each with
 * its own lock, so lookups from several workers rarely meet.
 */
struct txp_dedup;

/* The daemon's duplicate window (and txpipectl replay's): a resubmission
 * within this long of the first decision, among the last TXP_DEDUP_MAX
 * decisions, gets that decision again.  Ten minutes covers a producer's
 * retries across a restart; 262144 entries of about 300 bytes keep it
 * near 80 MB at most. */
#define TXP_DEDUP_WINDOW_MS (10u * 60u * 1000u)
#define TXP_DEDUP_MAX 262144u

/* Returns a new empty window, or NULL when out of memory.  max_entries >= 1. */
struct txp_dedup *txp_dedup_create(size_t max_entries, uint64_t window_ms);

/* Frees it.  NULL is safe.  No other thread may use it any more. */
void txp_dedup_destroy(struct txp_dedup *d);

/* What a lookup finds. */
struct txp_dedup_hit {
	bool conflict;          /* the content differs: no reply (NULL) */
	enum txp_status status; /* the earlier decision */
	uint64_t journal_seq;   /* its ACCEPTED record, 0 when not journaled */
	char *reply;            /* the reply to send (malloc'd, caller frees), ending in '\n' */
	size_t reply_len;
};

/*
 * Remembers `id` with content fingerprint `fp` (all zero: unknown, which
 * matches any), decided at `now_ms` with `status` and `reply` (one reply
 * line as the first submission got it): the reply kept is that line with
 * "duplicate":true added, which is what a resubmission gets.  When `id` is
 * already remembered (and not expired) nothing changes and 1 is returned
 * with *hit filled as txp_dedup_get() fills it (hit may be NULL);
 * otherwise 0, or -ENOMEM.  Evicts entries older than the window or beyond
 * max_entries.  Loop thread.
 */
int txp_dedup_put(struct txp_dedup *d, const char *id, const uint8_t fp[TXP_FINGERPRINT_BYTES], enum txp_status status,
                  uint64_t journal_seq, const char *reply, size_t reply_len, int64_t now_ms, struct txp_dedup_hit *hit);

/* Looks `id` up (any thread).  Returns true with *hit filled when it was
 * decided within the window before `now_ms`: hit->conflict when both
 * fingerprints are known and differ (then hit->reply is NULL), else the
 * reply to replay; false when not found (or when the reply cannot be
 * copied). */
bool txp_dedup_get(struct txp_dedup *d, const char *id, const uint8_t fp[TXP_FINGERPRINT_BYTES], int64_t now_ms,
                   struct txp_dedup_hit *hit);

/*
 * Sets t->fingerprint: a keyed BLAKE2b (16 bytes) under `k` of t's amount,
 * currency, customer_key, merchant_id, card_token and both countries; `k`
 * made for 16-byte output (TXP_FINGERPRINT_BYTES), such as the pseudonym
 * key from txp_compliance_pseudonym_key().  Keyed because merchant_id is
 * raw (it may even hold a card number until the compliance stage masks it)
 * and the journal keeps the fingerprint.  Call once those fields are final
 * (the validation stage).  Pure.
 */
void txp_dedup_fingerprint(const struct txp_blake2b_key *k, struct txp_txn *t);

/*
 * Looks t->transaction_id up with t->fingerprint (d NULL or no id: not
 * found).  A duplicate gets the earlier reply, status and journal_seq
 * and t->duplicate; a conflict gets t->duplicate too (nothing is scored,
 * kept or stored) with status rejected, error "duplicate_id_conflict" on
 * field transaction_id and its reply built.  Returns whether it was
 * either.  Any thread, for a transaction it owns.
 */
bool txp_dedup_check(struct txp_dedup *d, struct txp_txn *t);

/* Forgets `id` when it is remembered with `journal_seq`: its record could
 * not be journaled, the producer was answered with an error, and its
 * resubmission must be screened and journaled anew, not answered as a
 * duplicate.  Loop thread. */
void txp_dedup_forget(struct txp_dedup *d, const char *id, uint64_t journal_seq);

/* Entries held now (any thread; a snapshot). */
size_t txp_dedup_count(struct txp_dedup *d);

#endif
