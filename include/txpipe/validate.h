/* validate.h: the validation stage: one JSON line in, a typed transaction (or a precise rejection) out. */
#ifndef TXPIPE_VALIDATE_H
#define TXPIPE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "txpipe/config.h"
#include "txpipe/txn.h"

struct txp_rates;

/* The card-token key: 32 bytes for keyed BLAKE2b (txpipe/blake2b.h, the same as crypto_generichash). */
#define TXP_CARD_KEY_BYTES 32

/* Longest accepted texts, in bytes. */
#define TXP_AMOUNT_TEXT_MAX 40 /* amount sent as a string */
#define TXP_TIMESTAMP_MAX 40   /* RFC 3339 with nanoseconds is 35 */
#define TXP_CARD_TEXT_MAX 40   /* 19 digits with separators is 37 */
#define TXP_CARD_MIN_DIGITS 12
#define TXP_CARD_MAX_DIGITS 19

/* Immutable after creation: shared read-only by every worker thread. */
struct txp_validator;

/*
 * Installs, process-wide, jansson allocation functions that wipe every
 * block before freeing it, so that nothing jansson parses (control
 * commands, replies read by txpipectl) lingers in freed heap memory;
 * validation itself reads lines with txp_jsonline and never calls jansson.
 * Also initialises libsodium.  Call once at start-up, before any thread
 * uses jansson.
 * Returns 0, or -EIO when libsodium cannot be initialised.
 */
int txp_validate_global_init(void);

/*
 * Creates a validator from the [validation] section of `cfg` (max_amount,
 * unknown_fields) and the card-token `key`, which is copied into guarded,
 * read-only memory (the caller may wipe its copy).  Initialises libsodium
 * if needed.  Returns the validator (free with txp_validator_free()) or
 * NULL when memory is short or libsodium fails.
 */
struct txp_validator *txp_validator_new(const struct txp_config *cfg, const unsigned char key[TXP_CARD_KEY_BYTES]);

/*
 * From now on max_amount is in US dollars for every currency `rates` has
 * (a copy is kept), converted at its rate; a currency without one keeps the
 * limit in its own major units.  Without this call, every currency does.
 * 0 or -ENOMEM (the validator unchanged).
 */
int txp_validator_set_rates(struct txp_validator *v, const struct txp_rates *rates);

/* Wipes the key and frees the validator.  NULL is safe. */
void txp_validator_free(struct txp_validator *v);

/*
 * Validates t->line (t->line_len bytes) and fills the parsed fields of `t`
 * (transaction_id, amount in minor units, currency and its exponent, ids,
 * countries, optional fields, card_bin/card_last4/card_token, shard).
 *
 * The line is read in place (txp_jsonline decodes strings inside it), then
 * wiped and freed (t->line becomes NULL) in every case, so the card number
 * and every other decoded value go with it; nothing is allocated.  JSON
 * number amounts are read exactly from their text, exponents included
 * (1.2e2 is 120), never through a double.  Sets t->has_id as soon as
 * transaction_id is a valid string, even when another field fails, so that
 * the reply can carry it.  A transaction_id holding a card number
 * (txp_pan_find()) is replaced by its token, "tok_" and 26 base32
 * characters (a-z, 2-7) of a keyed BLAKE2b of the id under the card-token
 * key, and t->id_tokenised set.  t->shard is a 32-bit hash of customer_id; the
 * pipeline reduces it to a shard index.
 *
 * Returns 0 when the transaction is valid.  Otherwise calls txp_txn_fail():
 * TXP_STATUS_ERROR with code "malformed_json" when the line is not a JSON
 * object, TXP_STATUS_REJECTED with a field-level code otherwise (see
 * man/fields.inc), and returns -EINVAL; or TXP_STATUS_ERROR with code
 * "internal_error" and -EINVAL when t->line is NULL.  Thread-safe for
 * distinct transactions: `v` is only read.
 */
int txp_validate(const struct txp_validator *v, struct txp_txn *t);

#endif
