/* sha256.c: SHA-256 on the x86 SHA extensions when present, libsodium's otherwise. */
#include "txp_build_config.h"

#include "txpipe/sha256.h"

#include <sodium.h>
#include <string.h>

void txp_sha256_portable(uint8_t out[TXP_SHA256_BYTES], const void *data, size_t len)
{
	crypto_hash_sha256(out, len > 0 ? data : (const void *)"", len);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* FIPS 180-4, 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/*
 * The compression function on SHA256RNDS2/SHA256MSG1/SHA256MSG2 (Intel 64
 * and IA-32 Architectures Software Developer's Manual, vol. 2; Gulley et
 * al., "Intel SHA Extensions", Intel, 2013).  The instructions keep the
 * working variables as two registers, ABEF and CDGH; each SHA256RNDS2 does
 * two rounds and returns the new ABEF, the old ABEF becoming CDGH.  The
 * message schedule is four registers of four words, W[t] computed from
 * W[t-16..t-1] as msg2(msg1(W[t-16..], W[t-12..]) + W[t-7..], W[t-4..]).
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_ni(uint32_t state[8], const uint8_t *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i abef, cdgh, tmp;

	/* state is A..H in order; the instructions want ABEF and CDGH. */
	tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1); /* CDAB */
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B); /* EFGH */
	abef = _mm_alignr_epi8(tmp, cdgh, 8);
	cdgh = _mm_blend_epi16(cdgh, tmp, 0xF0);

	for (; n > 0; n--, p += 64) {
		__m128i w[4], wk;
		__m128i abef0 = abef, cdgh0 = cdgh;

		for (unsigned g = 0; g < 16; g++) {
			if (g < 4) {
				w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
			} else {
				tmp = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
				tmp = _mm_add_epi32(tmp, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
				w[g & 3] = _mm_sha256msg2_epu32(tmp, w[(g + 3) & 3]);
			}
			wk = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&K[4 * g]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}

	tmp = _mm_shuffle_epi32(abef, 0x1B);  /* FEBA */
	cdgh = _mm_shuffle_epi32(cdgh, 0xB1); /* DCHG */
	_mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(tmp, cdgh, 0xF0)); /* DCBA: A..D */
	_mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(cdgh, tmp, 8));    /* HGFE: E..H */
}

/* CPUID leaf 7 EBX bit 29 (SHA), leaf 1 ECX bits 19 (SSE4.1) and 9 (SSSE3). */
static bool cpu_has_sha(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9)))
		return false;
	if (__get_cpuid_max(0, NULL) < 7)
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	return (b & (1u << 29)) != 0;
}

bool txp_sha256_accelerated(void)
{
	/* Racing first calls compute the same answer; int stores are atomic
	 * on x86-64, and the value never changes once set. */
	static _Atomic int known; /* 0 unknown, 1 no, 2 yes */
	int k = known;

	if (k == 0) {
		k = cpu_has_sha() ? 2 : 1;
		known = k;
	}
	return k == 2;
}

void txp_sha256(uint8_t out[TXP_SHA256_BYTES], const void *data, size_t len)
{
	/* FIPS 180-4, 5.3.3: the initial hash value. */
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	const uint8_t *p = data;
	uint8_t last[128];
	size_t full = len / 64, rest = len % 64, tail;
	uint64_t bits = (uint64_t)len * 8;

	if (!txp_sha256_accelerated()) {
		txp_sha256_portable(out, data, len);
		return;
	}
	if (full > 0)
		blocks_ni(h, p, full);
	/* 5.1.1: a 1 bit, zeros, and the length in bits, to a block boundary. */
	memset(last, 0, sizeof(last));
	if (rest > 0)
		memcpy(last, p + full * 64, rest);
	last[rest] = 0x80;
	tail = rest + 1 + 8 <= 64 ? 64 : 128;
	for (unsigned i = 0; i < 8; i++)
		last[tail - 1 - i] = (uint8_t)(bits >> (8 * i));
	blocks_ni(h, last, tail / 64);
	for (unsigned i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

#else

bool txp_sha256_accelerated(void)
{
	return false;
}

void txp_sha256(uint8_t out[TXP_SHA256_BYTES], const void *data, size_t len)
{
	txp_sha256_portable(out, data, len);
}

#endif
