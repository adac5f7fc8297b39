/* base64.h: RFC 4648 base64 (standard alphabet, padded) for the fleet's feed items, and base16 (hex) decoding. */
#ifndef TXPIPE_BASE64_H
#define TXPIPE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "txpipe/sbuf.h"

/*
 * Not constant-time, unlike libsodium's sodium_bin2base64(): what goes
 * through here (a feed item's events: pseudonyms, amounts, times) is
 * already in the clear in the request it is part of, and libsodium's
 * encoder, one bit-sliced step per character, took a millisecond of the
 * loop thread for one 190 KB item (txpiped(8), FLEET).
 */

/* The encoded length of n bytes, without a NUL. */
#define TXP_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* Appends bin[0, n) in base64 to b (sbuf.h's oom rule applies). */
void txp_sbuf_base64(struct txp_sbuf *b, const void *bin, size_t n);

/*
 * Decodes in[0, n): a multiple of four characters of the standard
 * alphabet, '=' only as the last one or two, and the bits a padded
 * group leaves over zero (the one canonical spelling, as
 * sodium_base642bin() with sodium_base64_VARIANT_ORIGINAL accepts).
 * Writes at most `cap` bytes to out and their count to *outlen.
 * Returns 0, -EINVAL for input that is not such base64, or -ENOBUFS when
 * out is too small (TXP_BASE64_LEN(cap) >= n is always enough).
 */
int txp_base64_decode(const char *in, size_t n, void *out, size_t cap, size_t *outlen);

/*
 * Decodes the string `in`, exactly 2 * n hex digits (RFC 4648 section 8;
 * either case, as sodium_hex2bin() accepts them), into out[0, n).  Reads
 * no further than the first character that is not a hex digit (its NUL
 * included), so a shorter string is safe.  Returns 0, or -EINVAL for a
 * string that is not such digits, shorter or longer.  Not
 * constant-time either: it reads pseudonyms and tokens, keyed hashes
 * made to be stored and sent (libsodium's decoder took 60 ns for 32
 * digits, three times per transaction with [fleet]).
 */
int txp_hex_decode(const char *in, void *out, size_t n);

#endif
