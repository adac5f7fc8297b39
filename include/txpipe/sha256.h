/* sha256.h: SHA-256 of a buffer, with the x86 SHA extensions when the CPU has them. */
#ifndef TXPIPE_SHA256_H
#define TXPIPE_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXP_SHA256_BYTES 32

/*
 * out = SHA-256(data[0..len)) (FIPS 180-4).  On x86-64 CPUs with the SHA
 * extensions (SHA-NI: most server CPUs since 2017-2019) the compression
 * runs on them, several times faster than libsodium's portable code, which
 * is used everywhere else.  SigV4 hashes every request body with it, so it
 * is on the delivery path once per batch.  Thread-safe.
 */
void txp_sha256(uint8_t out[TXP_SHA256_BYTES], const void *data, size_t len);

/* Whether txp_sha256() uses the SHA extensions on this CPU. */
bool txp_sha256_accelerated(void);

/* The portable path alone (libsodium), for tests that compare the two. */
void txp_sha256_portable(uint8_t out[TXP_SHA256_BYTES], const void *data, size_t len);

#endif
