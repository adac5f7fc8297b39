/* item.h: the stored DynamoDB item and SNS alerts of a decision, and the pure helpers behind them. */
#ifndef TXPIPE_ITEM_H
#define TXPIPE_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/txn.h"

/*
 * Builds what delivery sends, from the decided transaction (on the loop
 * thread, when delivery takes it, and again from the journal's record on
 * replay: the same fields give the same bytes): t->item is the DynamoDB
 * item as AttributeValue JSON
 * ({"transaction_id":{"S":"..."},...}) with every field the AWS issue
 * lists and nothing in clear that must not leave the process; t->alert
 * the SNS message JSON and attributes, when t->alerts is set.  Returns 0 or -ENOMEM.
 *
 * t->alert[TXP_ALERT_KIND_FRAUD / _COMPLIANCE] hold one message per raised
 * kind.  A transaction without a valid id gets neither (nothing to key a
 * record on: it is answered, never stored).  A rejected or failed one with
 * an id gets a record holding the id, status, error code/field/message and
 * timings, none of its unvalidated fields.  Only pseudonyms, the card BIN,
 * last four and token are taken: never the PAN or raw personal data.
 * Pure apart from allocation; previous outputs are replaced.
 */
int txp_item_build(struct txp_txn *t, const char *daemon_version);

/* "2026-01-02T03:04:05.678Z" plus the NUL. */
#define TXP_ISO8601_MS_SIZE 25

/* Formats Unix milliseconds as ISO 8601 UTC with milliseconds.  Returns
 * the length (24), or 0 (and "") for a year outside 0000-9999. */
size_t txp_iso8601_ms(int64_t unix_ms, char out[TXP_ISO8601_MS_SIZE]);

/* When the transaction was decided, Unix ms: received_ms plus the
 * monotonic time to its last stage. */
int64_t txp_item_decided_ms(const struct txp_txn *t);

/*
 * A stored record (plain JSON, as txp_ddb_unmarshal gives it) under the
 * names txpiped(8) STORED RECORD documents: each short attribute name
 * replaced by its long one, stage_us as a map of stage to microseconds,
 * event_time as ISO 8601, sanctions_match's members named.  A record of
 * the earlier layout (long names) comes back as it was.  Returns a new
 * reference, or NULL when out of memory.
 */
struct json_t *txp_item_readable(const struct json_t *plain);
/* "fraud" or "compliance" for TXP_ALERT_KIND_*. */
const char *txp_alert_kind_name(unsigned kind);

#endif
