/* item.h: pure helpers behind txp_item_build(): times, names, and the AWS request bodies of delivery. */
#ifndef TXPIPE_ITEM_H
#define TXPIPE_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txpipe/txn.h"

/* "2026-01-02T03:04:05.678Z" plus the NUL. */
#define TXP_ISO8601_MS_SIZE 25

/* Formats Unix milliseconds as ISO 8601 UTC with milliseconds.  Returns
 * the length (24), or 0 (and "") for a year outside 0000-9999. */
size_t txp_iso8601_ms(int64_t unix_ms, char out[TXP_ISO8601_MS_SIZE]);

/* When the transaction was decided, Unix ms: received_ms plus the
 * monotonic time to its last stage. */
int64_t txp_item_decided_ms(const struct txp_txn *t);

/* "fraud" or "compliance" for TXP_ALERT_KIND_*. */
const char *txp_alert_kind_name(unsigned kind);

#endif
