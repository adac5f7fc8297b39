/* record.h: the decided transaction in the journal: a compact binary form the stored item is rebuilt from. */
#ifndef TXPIPE_RECORD_H
#define TXPIPE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "txpipe/journal.h"
#include "txpipe/txn.h"

/*
 * Why a binary record and not the DynamoDB item: the journal must hold
 * everything needed to redeliver a transaction exactly as it was decided,
 * but building the ~1 KB item JSON and its alerts for every transaction
 * cost more than the three stages together, and most of the time the
 * item is only needed once, by delivery.  The record holds the decided
 * fields themselves; txp_item_build() turns them into the same item and
 * alerts at delivery, on replay too, and txp_txn_build_reply() into the
 * same reply (a resubmission's answer after a restart).
 *
 * What struct txp_journal_accepted already carries (received_ms, amount,
 * currency, amount_usd, customer_key, merchant_id, card_token) is not
 * repeated here.  Never in it: the raw line, the card number, the raw
 * customer_id, ip_address or device_id (only their pseudonyms), or the
 * party names (only their pseudonyms and, on a sanctions hit, the list
 * entry: see the names section in record.c).
 */

/* An upper bound on txp_record_encode()'s output. */
#define TXP_RECORD_MAX 8192
/* The longest daemon version a record keeps. */
#define TXP_RECORD_VERSION_MAX 63

/*
 * Encodes the decided fields of `t`, and `version` (the daemon version the
 * item names), into buf[0, cap).  Returns the length written, or 0 when it
 * does not fit or a string is too long for the format (255 bytes).  Pure.
 */
size_t txp_record_encode(const struct txp_txn *t, const char *version, uint8_t *buf, size_t cap);

/*
 * Fills the ACCEPTED record `a` for `t`: the fields the journal itself
 * reads (velocity windows are rebuilt from them) point into `t`, and the
 * rest is encoded into buf[0, cap) (TXP_RECORD_MAX always suffices).
 * Returns 0, or -EINVAL when txp_record_encode() fails.  Pure.
 */
int txp_record_accepted(const struct txp_txn *t, const char *version, uint8_t *buf, size_t cap,
                        struct txp_journal_accepted *a);

/*
 * Fills `t` (zeroed by the caller, e.g. from txp_txn_new()) from an
 * ACCEPTED journal record: `a`'s own fields and its encoded record, and
 * `version` with the daemon version it was decided by.  Reason codes point
 * into a->record: they are valid only as long as that buffer, so build
 * what needs them (txp_item_build(), txp_txn_build_reply()) before it
 * goes, then clear t->n_reasons.  Returns 0, or -EINVAL when the record
 * does not decode (unknown version, lengths that do not add up, a value
 * out of range, a string too long for its field).
 */
int txp_record_decode(const struct txp_journal_accepted *a, struct txp_txn *t,
                      char version[TXP_RECORD_VERSION_MAX + 1]);

#endif
