/* replay.h: deciding a file of transactions offline under two configurations, and what changed between them. */
#ifndef TXPIPE_REPLAY_H
#define TXPIPE_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "txpipe/config.h"
#include "txpipe/txn.h"

/*
 * What a risk team runs before changing a threshold: every line of an
 * NDJSON file goes, in order, through the daemon's own stages
 * (txp_stages_create() and the inline setup, workers = 0) under a baseline
 * and a candidate configuration, and the two decisions are compared.
 * Nothing leaves the process: no socket, no journal, no AWS.
 *
 * The stages need a clock (velocity windows, the duplicate window, the
 * retention expiry).  The daemon uses the time a line arrived; a replay
 * uses the line's own "timestamp" once validated, and for a line without
 * one the time of the latest timestamp seen plus one millisecond per line
 * (the windows never move back either way).  Duplicates are found as the
 * daemon finds them (the same window size and length).
 */

struct txp_replayer;

/* Builds one side from `cfg` (not kept).  Returns 0, or a negative errno
 * with the reason in err.  Free with txp_replayer_destroy(). */
int txp_replayer_create(struct txp_replayer **out, const struct txp_config *cfg, char *err, size_t errlen);

/* The rules version of that side (stages.h). */
const char *txp_replayer_rules_version(const struct txp_replayer *r);

/*
 * Decides one line (`len` bytes, no newline needed) as the daemon would.
 * Returns the decided transaction, owned by the caller (txp_txn_free()),
 * or NULL when out of memory.  Its reason codes stay valid as long as `r`.
 */
struct txp_txn *txp_replayer_decide(struct txp_replayer *r, const char *line, size_t len);

/* Frees it.  NULL is safe. */
void txp_replayer_destroy(struct txp_replayer *r);

/* The outcome of txp_replay_run(). */
struct txp_replay_summary {
	uint64_t lines;                      /* decided (blank lines skipped) */
	uint64_t baseline[TXP_STATUS_COUNT]; /* per status */
	uint64_t candidate[TXP_STATUS_COUNT];
	uint64_t status_changed;  /* listed */
	uint64_t reasons_changed; /* same status, other reasons: listed too */
};

/*
 * Replays every line of `in` under both sides and writes to `out` one line
 * per transaction whose status or reasons differ, in file order:
 *   <transaction_id> <old status> -> <new status> score <old> -> <new> <+code:points|-code:points ...>
 * (the id as the daemon would store it: card-like ids are tokenised, and
 * "-" for a line without a valid one; a reason whose points changed shows
 * as removed and added), then the per-status counts.  Returns 0, or a
 * negative errno with the reason in err (a read error, no memory).
 */
int txp_replay_run(struct txp_replayer *baseline, struct txp_replayer *candidate, FILE *in, FILE *out,
                   struct txp_replay_summary *sum, char *err, size_t errlen);

#endif
