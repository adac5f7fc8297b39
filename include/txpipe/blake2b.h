/* blake2b.h: keyed BLAKE2b with the key's block compressed once per key, not once per hash. */
#ifndef TXPIPE_BLAKE2B_H
#define TXPIPE_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

#define TXP_BLAKE2B_BLOCK 128
#define TXP_BLAKE2B_KEY_MAX 64
#define TXP_BLAKE2B_OUT_MAX 64

/*
 * Keyed BLAKE2b (RFC 7693) gives the key a block of its own, compressed
 * before the message's.  Every token and pseudonym txpipe makes is a keyed
 * BLAKE2b of a message shorter than a block under one of two fixed keys, so
 * libsodium's crypto_generichash() spent two compressions on each, one of
 * them on the same key block every time.  A txp_blake2b_key holds the state
 * after that block; each hash then costs one compression.  The output is
 * exactly crypto_generichash()'s with the same key and output length
 * (test_blake2b compares them), so every stored token and pseudonym stays
 * the same.
 *
 * The chaining value after the key block is as secret as the key: keep a
 * txp_blake2b_key where the key would be kept and wipe it with
 * txp_blake2b_key_wipe().
 */
struct txp_blake2b_key {
	uint64_t h[8];                    /* the state after the key block */
	uint64_t h0[8];                   /* the state before it */
	uint8_t block[TXP_BLAKE2B_BLOCK]; /* the key, zero padded: for an empty message */
	size_t outlen;
};

/* One hash in progress. */
struct txp_blake2b {
	uint64_t h[8];
	uint64_t t; /* bytes hashed so far, the key block included */
	uint8_t buf[TXP_BLAKE2B_BLOCK];
	size_t buflen;
	const struct txp_blake2b_key *key;
};

/*
 * Prepares `k` for hashes of `outlen` bytes (1 to 64) under `key` (1 to 64
 * bytes).  Returns 0, or -EINVAL for a length out of range.
 */
int txp_blake2b_key_init(struct txp_blake2b_key *k, const uint8_t *key, size_t keylen, size_t outlen);

/* Zeroes `k`. */
void txp_blake2b_key_wipe(struct txp_blake2b_key *k);

void txp_blake2b_start(struct txp_blake2b *s, const struct txp_blake2b_key *k);
void txp_blake2b_update(struct txp_blake2b *s, const void *in, size_t len);

/* Writes the key's outlen bytes to `out` and wipes `s`. */
void txp_blake2b_final(struct txp_blake2b *s, uint8_t *out);

/* The three above at once. */
void txp_blake2b(const struct txp_blake2b_key *k, uint8_t *out, const void *in, size_t len);

/*
 * The hash of `label` with its NUL, then `len` bytes of `value`: the form of
 * txpipe's id tokens and pseudonyms, where the label ("transaction_id",
 * "customer_id", ...) keeps equal values of different fields apart.
 */
void txp_blake2b_labelled(const struct txp_blake2b_key *k, uint8_t *out, const char *label, const void *value,
                          size_t len);

#endif
