/* blake2b.c: keyed BLAKE2b (RFC 7693), the key's block compressed once per key. */
#include "txpipe/blake2b.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

/* RFC 7693, section 2.6: the initialisation vector (SHA-512's). */
static const uint64_t iv[8] = {
	UINT64_C(0x6a09e667f3bcc908), UINT64_C(0xbb67ae8584caa73b), UINT64_C(0x3c6ef372fe94f82b),
	UINT64_C(0xa54ff53a5f1d36f1), UINT64_C(0x510e527fade682d1), UINT64_C(0x9b05688c2b3e6c1f),
	UINT64_C(0x1f83d9abfb41bd6b), UINT64_C(0x5be0cd19137e2179),
};

/* RFC 7693, section 2.7: the message word schedule of each round (rounds
 * 10 and 11 use rows 0 and 1 again). */
static const uint8_t sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static uint64_t rotr64(uint64_t x, unsigned n)
{
	return (x >> n) | (x << (64 - n));
}

static uint64_t load64_le(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* RFC 7693, section 3.1: the mixing function G. */
#define G(a, b, c, d, x, y)            \
	do {                           \
		a = a + b + (x);       \
		d = rotr64(d ^ a, 32); \
		c = c + d;             \
		b = rotr64(b ^ c, 24); \
		a = a + b + (y);       \
		d = rotr64(d ^ a, 16); \
		c = c + d;             \
		b = rotr64(b ^ c, 63); \
	} while (0)

/* RFC 7693, section 3.2: compresses `block` into h, `t` bytes hashed so far
 * (this block included; messages here stay far below 2^64 bytes, so the
 * counter's high word is 0), `last` for the final block.  The rounds are
 * unrolled, so the schedule's indices are constants. */
static void compress(uint64_t h[8], const uint8_t block[TXP_BLAKE2B_BLOCK], uint64_t t, int last)
{
	uint64_t v[16], m[16];

	for (int i = 0; i < 16; i++)
		m[i] = load64_le(block + 8 * i);
	for (int i = 0; i < 8; i++) {
		v[i] = h[i];
		v[i + 8] = iv[i];
	}
	v[12] ^= t;
	if (last)
		v[14] = ~v[14];
#pragma GCC unroll 12
	for (int r = 0; r < 12; r++) {
		const uint8_t *s = sigma[r % 10];

		G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
		G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
		G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
		G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
		G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
		G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
		G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
		G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
	}
	for (int i = 0; i < 8; i++)
		h[i] ^= v[i] ^ v[i + 8];
	sodium_memzero(v, sizeof(v));
	sodium_memzero(m, sizeof(m));
}

int txp_blake2b_key_init(struct txp_blake2b_key *k, const uint8_t *key, size_t keylen, size_t outlen)
{
	if (keylen == 0 || keylen > TXP_BLAKE2B_KEY_MAX || outlen == 0 || outlen > TXP_BLAKE2B_OUT_MAX)
		return -EINVAL;
	/* Section 2.5: the parameter block, digest and key length, fan-out
	 * and depth 1, folded into the first word. */
	memcpy(k->h0, iv, sizeof(k->h0));
	k->h0[0] ^= UINT64_C(0x01010000) ^ ((uint64_t)keylen << 8) ^ (uint64_t)outlen;
	memset(k->block, 0, sizeof(k->block));
	memcpy(k->block, key, keylen);
	/* Section 3.3: the key block comes first; it is the last block only
	 * of an empty message (txp_blake2b_final() handles that one). */
	memcpy(k->h, k->h0, sizeof(k->h));
	compress(k->h, k->block, TXP_BLAKE2B_BLOCK, 0);
	k->outlen = outlen;
	return 0;
}

void txp_blake2b_key_wipe(struct txp_blake2b_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

void txp_blake2b_start(struct txp_blake2b *s, const struct txp_blake2b_key *k)
{
	memcpy(s->h, k->h, sizeof(s->h));
	s->t = TXP_BLAKE2B_BLOCK;
	s->buflen = 0;
	s->key = k;
}

void txp_blake2b_update(struct txp_blake2b *s, const void *in, size_t len)
{
	const uint8_t *p = in;

	while (len > 0) {
		size_t n;

		/* A full buffer is compressed only once more input arrives:
		 * the last block, full or not, is compressed as the last. */
		if (s->buflen == TXP_BLAKE2B_BLOCK) {
			s->t += TXP_BLAKE2B_BLOCK;
			compress(s->h, s->buf, s->t, 0);
			s->buflen = 0;
		}
		n = TXP_BLAKE2B_BLOCK - s->buflen;
		if (n > len)
			n = len;
		memcpy(s->buf + s->buflen, p, n);
		s->buflen += n;
		p += n;
		len -= n;
	}
}

void txp_blake2b_final(struct txp_blake2b *s, uint8_t *out)
{
	const struct txp_blake2b_key *k = s->key;
	uint8_t bytes[64];

	if (s->t == TXP_BLAKE2B_BLOCK && s->buflen == 0) {
		/* An empty message: the key block is the last. */
		memcpy(s->h, k->h0, sizeof(s->h));
		compress(s->h, k->block, TXP_BLAKE2B_BLOCK, 1);
	} else {
		memset(s->buf + s->buflen, 0, TXP_BLAKE2B_BLOCK - s->buflen);
		s->t += s->buflen;
		compress(s->h, s->buf, s->t, 1);
	}
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			bytes[8 * i + j] = (uint8_t)(s->h[i] >> (8 * j));
	memcpy(out, bytes, k->outlen);
	sodium_memzero(bytes, sizeof(bytes));
	sodium_memzero(s, sizeof(*s));
}

void txp_blake2b(const struct txp_blake2b_key *k, uint8_t *out, const void *in, size_t len)
{
	struct txp_blake2b s;

	txp_blake2b_start(&s, k);
	txp_blake2b_update(&s, in, len);
	txp_blake2b_final(&s, out);
}

void txp_blake2b_labelled(const struct txp_blake2b_key *k, uint8_t *out, const char *label, const void *value,
                          size_t len)
{
	struct txp_blake2b s;

	txp_blake2b_start(&s, k);
	txp_blake2b_update(&s, label, strlen(label) + 1);
	txp_blake2b_update(&s, value, len);
	txp_blake2b_final(&s, out);
}
