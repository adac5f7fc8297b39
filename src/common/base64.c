/* base64.c: RFC 4648 base64 (standard alphabet, padded) for the fleet's feed items, and base16 (hex) decoding. */
#include "txpipe/base64.h"

#include <errno.h>

/* RFC 4648, section 4, table 1. */
static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A character's six bits, or 0x80 for one outside the alphabet ('='
 * included: padding is handled apart, at the end only).  Sixteen a row,
 * so a character's row and column are its code's two hex digits. */
/* clang-format off */
static const uint8_t value[256] = {
#define X 0x80
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, 62,  X,  X,  X, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61,  X,  X,  X,  X,  X,  X,
	 X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,  X,  X,  X,  X,  X,
	 X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
	 X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
#undef X
};
/* clang-format on */

void txp_sbuf_base64(struct txp_sbuf *b, const void *bin, size_t n)
{
	const uint8_t *s = bin;
	size_t need = TXP_BASE64_LEN(n), i = 0;
	char *o;

	txp_sbuf_reserve(b, need);
	if (b->oom)
		return;
	o = b->p + b->len;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = alphabet[v >> 6 & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	b->len += need;
	b->p[b->len] = '\0';
}

int txp_base64_decode(const char *in, size_t n, void *out, size_t cap, size_t *outlen)
{
	const uint8_t *s = (const uint8_t *)in;
	uint8_t *o = out;
	size_t groups, pad = 0, len;

	*outlen = 0;
	if (n % 4 != 0)
		return -EINVAL;
	if (n == 0)
		return 0;
	pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
	len = n / 4 * 3 - pad;
	if (len > cap)
		return -ENOBUFS;
	groups = n / 4 - (pad > 0);
	for (size_t g = 0; g < groups; g++, s += 4) {
		uint32_t a = value[s[0]], b = value[s[1]], c = value[s[2]], d = value[s[3]];
		uint32_t v = a << 18 | b << 12 | c << 6 | d;

		/* 0x80 in any of them: a character outside the alphabet. */
		if ((a | b | c | d) & 0x80)
			return -EINVAL;
		*o++ = (uint8_t)(v >> 16);
		*o++ = (uint8_t)(v >> 8);
		*o++ = (uint8_t)v;
	}
	if (pad > 0) {
		uint32_t a = value[s[0]], b = value[s[1]], c = pad == 1 ? value[s[2]] : 0;
		uint32_t v = a << 18 | b << 12 | c << 6;

		/* The bits past the last whole byte must be zero: otherwise
		 * two spellings would decode alike. */
		if ((a | b | c) & 0x80 || (v & (pad == 1 ? 0xffu : 0xffffu)) != 0)
			return -EINVAL;
		*o++ = (uint8_t)(v >> 16);
		if (pad == 1)
			*o++ = (uint8_t)(v >> 8);
	}
	*outlen = len;
	return 0;
}

/* A hex digit's value, or -1. */
static int hex_value(unsigned char c)
{
	if ((unsigned)(c - '0') < 10u)
		return c - '0';
	c |= 0x20; /* 'A'..'F' to 'a'..'f'; nothing else lands there */
	if ((unsigned)(c - 'a') < 6u)
		return c - 'a' + 10;
	return -1;
}

int txp_hex_decode(const char *in, void *out, size_t n)
{
	uint8_t *o = out;

	for (size_t i = 0; i < n; i++) {
		int hi = hex_value((unsigned char)in[2 * i]), lo;

		if (hi < 0 || (lo = hex_value((unsigned char)in[2 * i + 1])) < 0)
			return -EINVAL;
		o[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * n] == '\0' ? 0 : -EINVAL;
}
