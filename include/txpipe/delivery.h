/* delivery.h: decided transactions to DynamoDB, alerts to SNS, failures to the SQS DLQ. */
#ifndef TXPIPE_DELIVERY_H
#define TXPIPE_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/aws/client.h"
#include "txpipe/config.h"
#include "txpipe/txn.h"

struct txp_delivery;

/* Loop thread.  `client` is shared, not owned; `cfg` is read live (its
 * reloadable rows take effect) and must outlive the delivery.  Returns 0,
 * or -ENOMEM / -EINVAL with the reason in err. */
int txp_delivery_create(struct txp_delivery **out, uv_loop_t *loop, struct txp_aws_client *client,
                        const struct txp_config *cfg, char *err, size_t errlen);

/*
 * Takes t->item and t->alert[] of a decided transaction (loop thread,
 * leaving them NULL; the transaction stays the caller's; the stages built
 * them, and when they did not, as for a replayed record, they are built
 * here from the decided fields): stores the item,
 * publishes the alerts, dead-letters what fails for good.  The same
 * transaction_id submitted again overwrites the record (last writer wins;
 * puts of one id are sent one after the other, in order), except in fleet
 * mode (txp_delivery_set_fleet), where the first record stored stays.  When
 * t->journal_seq is set, the on_delivered callback gets it once the store
 * and every alert were stored, published or taken by the DLQ; never when a
 * part was dropped or left at shutdown (the journal keeps the record).
 */
void txp_delivery_take(struct txp_delivery *d, struct txp_txn *t);

/* txp_delivery_take(), then frees the transaction. */
void txp_delivery_submit(struct txp_delivery *d, struct txp_txn *t);

/* Called on the loop thread with the journal_seq of a transaction whose
 * delivery finished (see txp_delivery_take).  Replaces any earlier one. */
typedef void (*txp_delivery_done_fn)(void *arg, uint64_t journal_seq);
void txp_delivery_on_delivered(struct txp_delivery *d, txp_delivery_done_fn cb, void *arg);

/*
 * Fleet mode ([fleet] enabled; call before the first take): a record is
 * stored by a conditional PutItem, one per request with many in flight,
 * only if its transaction_id has none, with `decided_by` (this host's
 * instance id, or the lost host's when adopting its journal; copied) and
 * the record's fingerprint added (txp_fleet_put_body).  When the
 * condition fails, the stored record is read back (consistent GetItem):
 * with our fingerprint it was stored already (counted in already_stored);
 * otherwise another decision won (conditional_conflicts, logged with both
 * instance ids), the on_conflict callback gets the stored decision's reply
 * for a journaled one, and the record counts as delivered all the same.
 * Returns 0, or -EINVAL for an invalid instance id.
 */
int txp_delivery_set_fleet(struct txp_delivery *d, const char *decided_by);

/* Called on the loop thread, before on_delivered for the same record,
 * when another host's decision of a journaled transaction was stored
 * first: `reply` (malloc'd, one JSON line with its '\n'; the callee owns
 * it) says the stored decision.  Replaces any earlier one. */
typedef void (*txp_delivery_conflict_fn)(void *arg, uint64_t journal_seq, char *reply, size_t len);
void txp_delivery_on_conflict(struct txp_delivery *d, txp_delivery_conflict_fn cb, void *arg);

/*
 * Queues a dead-lettered payload again (txpipectl dlq redrive): `failed` is
 * "store" (payload: the item JSON) or "alert" (payload: the alert message,
 * `alert_type` "fraud" or "compliance").  The payload is copied.  Returns 0,
 * -EINVAL for a bad kind, -EAGAIN while congested, -ESHUTDOWN when closing,
 * or -ENOMEM.  Loop thread.
 */
int txp_delivery_resubmit(struct txp_delivery *d, const char *failed, const char *alert_type,
                          const char *transaction_id, const char *payload, size_t len);

/* True while the backlog (pending + retrying + held for the DLQ) is over
 * its bound: the server stops admitting new transactions meanwhile. */
bool txp_delivery_congested(const struct txp_delivery *d);

struct txp_delivery_stats {
	uint64_t already_stored;        /* fleet: records found stored with our fingerprint (a retry, a replay) */
	uint64_t conditional_conflicts; /* fleet: records another host's decision had stored first */
	uint64_t stored, store_retries, alerts_published, alert_retries, dead_lettered, dlq_failures;
	uint64_t pending, retrying, held_for_dlq, retry_budget_exhausted;
	uint64_t dlq_dropped; /* over [sqs] max_held: logged at err, per transaction */
	uint64_t lost;        /* never delivered (shutdown, out of memory): logged at err */
	uint64_t kept;        /* journaled but left undelivered (shutdown): the next start delivers them */
	uint64_t not_stored;  /* no valid transaction_id: nothing to key a record on */
	uint64_t inflight_calls;
	uint64_t retry_budget_left; /* retries the budget still allows this minute */
};
void txp_delivery_stats(const struct txp_delivery *d, struct txp_delivery_stats *s);

/* Flushes batches now and calls `done` when nothing is pending or when
 * `timeout_ms` has passed (what is left is logged). */
void txp_delivery_flush(struct txp_delivery *d, uint64_t timeout_ms, void (*done)(void *arg), void *arg);

/* Closes timers and frees (after flush).  What is still queued is logged
 * per transaction: at warning as kept when it is journaled (the next start
 * delivers it), at err as lost otherwise.  Calls still in flight are
 * freed from their callbacks: close the delivery before the client (whose
 * close cancels them), then run the loop.  NULL is safe. */
void txp_delivery_close(struct txp_delivery *d);

#endif
