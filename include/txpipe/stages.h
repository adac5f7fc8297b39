/* stages.h: the screening stages as the daemon runs them: validator, per-shard fraud and compliance state. */
#ifndef TXPIPE_STAGES_H
#define TXPIPE_STAGES_H

#include <stddef.h>

#include "txpipe/compliance.h"
#include "txpipe/config.h"
#include "txpipe/dedup.h"
#include "txpipe/journal.h"
#include "txpipe/pipeline.h"
#include "txpipe/rulelists.h"
#include "txpipe/txn.h"

struct txp_stages;

/*
 * Builds the stages from `cfg`: the validator and its card-token key, and
 * the rules the fraud and compliance stages apply.  Returns 0, or a
 * negative errno (-EINVAL for a configuration problem) with the reason in
 * err.  Free with txp_stages_destroy().
 */
int txp_stages_create(struct txp_stages **out, const struct txp_config *cfg, char *err, size_t errlen);

/*
 * Fills `fns` for a pipeline of `workers` workers (0: inline), creating one
 * context per validation thread and one fraud and compliance state per
 * shard.  Call once, before the pipeline starts.  Returns 0 or -ENOMEM.
 */
int txp_stages_setup(struct txp_stages *st, unsigned workers, struct txp_stage_fns *fns, char *err, size_t errlen);

/*
 * Swaps in the rules of `cfg` (thresholds, lists) without losing velocity
 * state; a config that does not build leaves the running rules in place and
 * returns a negative errno with the reason.  `cfg` must carry the running
 * values of every non-reloadable key (txp_config_keep_nonreloadable).
 * Worker threads adopt the new rules before their next transaction.  Loop
 * thread.
 */
int txp_stages_reload(struct txp_stages *st, const struct txp_config *cfg, char *err, size_t errlen);

/*
 * The rules version of `cfg`: 12 hex digits of a BLAKE2b hash over the
 * effective values of every key of [validation], [fraud] and [compliance]
 * and the content of the list files they name (not the key files' content,
 * which is secret), so two configs that decide alike share it whatever
 * their layout, and an edited deny list changes it.  Returns 0, or a
 * negative errno with the reason in err when a list file cannot be read.
 */
int txp_rules_version(const struct txp_config *cfg, char out[TXP_RULES_VERSION_SIZE], char *err, size_t errlen);

/* The running rules' version and when they were loaded (Unix ms): the
 * values every decision made with them carries.  Loop thread. */
void txp_stages_rules(const struct txp_stages *st, char version[TXP_RULES_VERSION_SIZE], int64_t *loaded_ms);

/*
 * Makes the validation stage answer a transaction_id found in `dedup`
 * with its earlier decision (see dedup.h).  Not owned.  Call before the
 * pipeline starts.
 */
void txp_stages_set_dedup(struct txp_stages *st, struct txp_dedup *dedup);

/*
 * Adds a transaction journaled before a restart to the velocity history of
 * the shard its customer key routes to, without scoring it (the rebuild).
 * Records without a customer key (rejected lines) are skipped.  Call after
 * txp_stages_setup() and before the pipeline starts, in journal order.
 */
void txp_stages_rebuild(struct txp_stages *st, const struct txp_journal_accepted *rec);

/*
 * [fleet]: whether decisions are made on a stale shared state (fleet.h)
 * and what that does: each screened decision then gets the reason
 * fleet_state_stale (0 points) and, with STALE_REVIEW, an approved one
 * becomes review.  Loop thread; the stages see it within a transaction.
 */
enum txp_stages_fleet_stale {
	TXP_STAGES_FLEET_FRESH = 0,
	TXP_STAGES_FLEET_STALE_NONE,
	TXP_STAGES_FLEET_STALE_REVIEW,
};
void txp_stages_fleet_stale(struct txp_stages *st, enum txp_stages_fleet_stale state);

/* Fleet events left out of a window as older than it (txp_fraud_late),
 * over every shard.  Loop thread. */
uint64_t txp_stages_fleet_late(const struct txp_stages *st);

/* A decided transaction whose reply is queued: ownership passes here.
 * NULL only does the housekeeping (when delivery took the transaction). */
void txp_stages_decided(struct txp_stages *st, struct txp_txn *t);

/*
 * The USD rates every stage converts with: [compliance] usd_rates_file (or
 * the built-in table when it is empty) with usd_rates added on top.  Fills
 * `out` (free with txp_rates_free()) and returns 0, or a negative errno with
 * the key, file and line in err.  Reads the file: start-up, reload and
 * txp_config_validate() only.
 */
int txp_stages_load_rates(const struct txp_compliance_config *c, struct txp_rates *out, char *err, size_t errlen);

/* The date of the rates in use (Unix seconds at 00:00 UTC; 0 unknown).
 * Loop thread. */
int64_t txp_stages_rates_date(const struct txp_stages *st);

/*
 * The memory max_tracked_keys = 0 sizes the screening state from: physical
 * memory (MemTotal), or the daemon's cgroup memory limit when lower
 * (systemd's MemoryMax=, a container's limit); 0 when the system cannot
 * say.  Reads /proc and /sys: start-up and reload only.
 */
uint64_t txp_stages_host_memory(void);

/* Frees everything.  NULL is safe.  The pipeline must be stopped. */
void txp_stages_destroy(struct txp_stages *st);

#endif
