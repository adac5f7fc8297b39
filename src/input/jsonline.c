/* jsonline.c: a strict, single-pass, allocation-free reader for one JSON object per line (RFC 8259). */
#include "txpipe/jsonline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/ascii.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum state { S_START, S_FIRST, S_NEXT, S_DONE, S_FAILED };

/* Byte classes inside a string: C_PLAIN is a byte copied as is (RFC 8259
 * section 7 "unescaped", ASCII part); the others need a look. */
enum { C_PLAIN = 0, C_QUOTE, C_BACKSLASH, C_CONTROL, C_HIGH };

#define ROW(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const unsigned char str_class[256] = {
	ROW(C_CONTROL),
	ROW(C_CONTROL), /* 0x00-0x1f */
	0,
	0,
	C_QUOTE,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0, /* 0x20-0x2f */
	ROW(0),
	ROW(0), /* 0x30-0x4f */
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	C_BACKSLASH,
	0,
	0,
	0, /* 0x50-0x5f */
	ROW(0),
	ROW(0), /* 0x60-0x7f */
	ROW(C_HIGH),
	ROW(C_HIGH),
	ROW(C_HIGH),
	ROW(C_HIGH), /* 0x80-0xbf */
	ROW(C_HIGH),
	ROW(C_HIGH),
	ROW(C_HIGH),
	ROW(C_HIGH), /* 0xc0-0xff */
};
#undef ROW

static int fail(struct txp_jsonline *r, int err, size_t pos, const char *what)
{
	r->error = err;
	r->column = pos + 1;
	r->what = what;
	r->state = S_FAILED;
	return err;
}

static bool is_ws(unsigned char c)
{
	/* One test for the usual case, a token right after the last. */
	return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

static size_t skip_ws(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && is_ws(p[i]))
		i++;
	return i;
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20; /* ASCII lower case */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Four hex digits at p[i..i+3] (the caller checked they exist); -1 if not hex. */
static long hex4(const unsigned char *p, size_t i)
{
	long v = 0;

	for (size_t k = 0; k < 4; k++) {
		int d = hex_digit(p[i + k]);
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/*
 * Length of the well-formed UTF-8 sequence starting at p[i] (a byte >=
 * 0x80), or 0.  RFC 3629 section 4: the second byte's range depends on the
 * first so that overlong forms, surrogates (ED A0..BF) and code points
 * above U+10FFFF (F4 90.., F5..FF) are all refused.
 */
static size_t utf8_len(const unsigned char *p, size_t i, size_t n)
{
	unsigned char c = p[i], lo = 0x80, hi = 0xbf;
	size_t k;

	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n - i < k || p[i + 1] < lo || p[i + 1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if (p[i + j] < 0x80 || p[i + j] > 0xbf)
			return 0;
	return k;
}

static size_t utf8_put(unsigned char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Returns the index of the first byte at or after p[i] that is not
 * C_PLAIN, or n.  Most of a line is string bytes, so with SSE2 (always
 * there on x86-64) 16 bytes are classified at once: a signed compare below
 * 0x20 catches both control bytes and bytes >= 0x80.
 */
static size_t plain_run(const unsigned char *p, size_t i, size_t n)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);

	while (n - i >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
		                           _mm_cmplt_epi8(v, space));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);
		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
		i += 16;
	}
#endif
	while (i < n && str_class[p[i]] == C_PLAIN)
		i++;
	return i;
}

/*
 * Reads the string whose opening quote is at r->pos, decoding it in place
 * (the write index w never passes the read index i, and the decoded form is
 * never longer).  On success sets *s, *len, r->pos past the closing quote,
 * and *nul_at to the position of the first \u0000 escape or 0 when there is
 * none: like jansson, a NUL is reported only once the string is otherwise
 * well-formed, so that syntax errors take precedence.
 */
static int read_string(struct txp_jsonline *r, const char **s, size_t *len, size_t *nul_at)
{
	unsigned char *p = (unsigned char *)r->buf;
	size_t n = r->len, start = r->pos + 1, i = start, w = start;

	*nul_at = 0;
	for (;;) {
		unsigned char c;

		/* The common case: a run of plain bytes, copied only once an
		 * escape has shifted the output. */
		if (w == i) {
			i = w = plain_run(p, i, n);
		} else {
			while (i < n && str_class[p[i]] == C_PLAIN)
				p[w++] = p[i++];
		}
		if (i >= n)
			return fail(r, TXP_JSONLINE_ESYNTAX, n, "unterminated string");
		c = p[i];
		switch (str_class[c]) {
		case C_QUOTE:
			p[w] = '\0';
			*s = (const char *)p + start;
			*len = w - start;
			r->pos = i + 1;
			return 0;
		case C_CONTROL:
			return fail(r, TXP_JSONLINE_ESYNTAX, i, "control character in a string");
		case C_HIGH: {
			size_t k = utf8_len(p, i, n);
			if (k == 0)
				return fail(r, TXP_JSONLINE_ESYNTAX, i, "invalid UTF-8");
			if (w != i)
				memmove(p + w, p + i, k);
			i += k;
			w += k;
			break;
		}
		default: /* C_BACKSLASH */
			if (i + 1 >= n)
				return fail(r, TXP_JSONLINE_ESYNTAX, n, "unterminated string");
			switch (p[i + 1]) {
			case '"':
			case '\\':
			case '/':
				p[w++] = p[i + 1];
				break;
			case 'b':
				p[w++] = '\b';
				break;
			case 'f':
				p[w++] = '\f';
				break;
			case 'n':
				p[w++] = '\n';
				break;
			case 'r':
				p[w++] = '\r';
				break;
			case 't':
				p[w++] = '\t';
				break;
			case 'u': {
				long cp, lo;
				if (n - i < 6 || (cp = hex4(p, i + 2)) < 0)
					return fail(r, TXP_JSONLINE_ESYNTAX, i, "invalid \\u escape");
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return fail(r, TXP_JSONLINE_ESYNTAX, i,
					            "unpaired UTF-16 surrogate in \\u escape");
				if (cp >= 0xd800 && cp <= 0xdbff) {
					/* RFC 8259 section 7: a character outside the BMP is
					 * a high then a low surrogate, both escaped. */
					if (n - i < 12 || p[i + 6] != '\\' || p[i + 7] != 'u')
						return fail(r, TXP_JSONLINE_ESYNTAX, i,
						            "unpaired UTF-16 surrogate in \\u escape");
					lo = hex4(p, i + 8);
					if (lo < 0)
						return fail(r, TXP_JSONLINE_ESYNTAX, i + 6, "invalid \\u escape");
					if (lo < 0xdc00 || lo > 0xdfff)
						return fail(r, TXP_JSONLINE_ESYNTAX, i,
						            "unpaired UTF-16 surrogate in \\u escape");
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					w += utf8_put(p + w, (unsigned long)cp);
					i += 12;
					continue;
				}
				if (cp == 0) {
					if (*nul_at == 0)
						*nul_at = i;
				} else {
					w += utf8_put(p + w, (unsigned long)cp);
				}
				i += 6;
				continue;
			}
			default:
				return fail(r, TXP_JSONLINE_ESYNTAX, i, "invalid escape");
			}
			i += 2;
			break;
		}
	}
}

/*
 * Whether a number with more than an integer part rounds to infinity as a
 * double, as jansson's strtod call would find.  Only called when the
 * leading digit has weight 10^308, the one decade where DBL_MAX lies.  The
 * first 400 significant digits, plus a sticky 1 when any later digit is
 * non-zero, round exactly like the whole number: the threshold (2^1024 -
 * 2^970) has 309 digits, so no tie can hide past the 400th.  The text has
 * no decimal point, so the locale does not matter.
 */
static bool overflows_double(const unsigned char *p, size_t i0, size_t i1, size_t f0, size_t f1)
{
	char text[400 + 2 + 8];
	size_t n = 0;
	bool sticky = false, started = false;

	for (size_t k = i0; k < f1; k++) {
		unsigned char c = p[k];
		if (k >= i1 && k < f0)
			continue; /* the '.' */
		if (!started && c == '0')
			continue;
		started = true;
		if (n < 400)
			text[n++] = (char)c;
		else if (c != '0')
			sticky = true;
	}
	if (sticky)
		text[n++] = '1';
	/* The leading digit stands for 10^308: the integer of n digits is
	 * scaled by 10^(308 - (n - 1)). */
	n += (size_t)snprintf(text + n, sizeof(text) - n, "e%d", 308 - (int)n + 1);
	return isinf(strtod(text, NULL));
}

/*
 * Reads the number at r->pos: RFC 8259 section 6, exactly.  Refuses (as
 * jansson does) integers outside int64 and other numbers whose magnitude
 * rounds to infinity as a double.
 */
static int read_number(struct txp_jsonline *r, struct txp_jsonline_value *v)
{
	const unsigned char *p = (const unsigned char *)r->buf;
	size_t n = r->len, start = r->pos, i = start, i0, i1, f0 = 0, f1 = 0;
	bool neg = false, integer = true;
	long long e = 0;

	if (p[i] == '-') {
		neg = true;
		i++;
	}
	i0 = i;
	if (i < n && p[i] == '0') {
		i++;
		if (i < n && txp_is_digit(p[i]))
			return fail(r, TXP_JSONLINE_ESYNTAX, i, "number with a leading zero");
	} else if (i < n && txp_is_digit(p[i])) {
		while (i < n && txp_is_digit(p[i]))
			i++;
	} else {
		return fail(r, TXP_JSONLINE_ESYNTAX, i < n ? i : n, "invalid number");
	}
	i1 = f0 = f1 = i;
	if (i < n && p[i] == '.') {
		integer = false;
		f0 = ++i;
		while (i < n && txp_is_digit(p[i]))
			i++;
		f1 = i;
		if (f1 == f0)
			return fail(r, TXP_JSONLINE_ESYNTAX, i < n ? i : n, "invalid number: no digit after '.'");
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		bool eneg = false;
		size_t e0;
		integer = false;
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		e0 = i;
		while (i < n && txp_is_digit(p[i])) {
			if (e < 1000000000)
				e = e * 10 + (p[i] - '0');
			i++;
		}
		if (i == e0)
			return fail(r, TXP_JSONLINE_ESYNTAX, i < n ? i : n, "invalid number: no digit in the exponent");
		if (eneg)
			e = -e;
	}

	/* jansson decodes the byte after a number before converting it, so
	 * invalid UTF-8 there is its first error, even for a huge number. */
	if (i < n && p[i] >= 0x80 && utf8_len(p, i, n) == 0)
		return fail(r, TXP_JSONLINE_ESYNTAX, i, "invalid UTF-8");
	if (integer) {
		/* int64: at most 19 digits, at most 9223372036854775807, or
		 * 9223372036854775808 after a '-'. */
		size_t nd = i1 - i0;
		if (nd > 19 ||
		    (nd == 19 && memcmp(p + i0, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0))
			return fail(r, TXP_JSONLINE_ERANGE, i - 1, "a number is too large to be represented");
	} else {
		/* Weight of the leading non-zero digit: 10^order. */
		long long order;
		size_t k = i0;
		if (p[k] != '0') {
			order = (long long)(i1 - i0) - 1 + e;
		} else {
			for (k = f0; k < f1 && p[k] == '0'; k++)
				;
			order = k < f1 ? e - (long long)(k - f0) - 1 : -1000000000000LL;
		}
		if (order > 308 || (order == 308 && overflows_double(p, i0, i1, f0, f1)))
			return fail(r, TXP_JSONLINE_ERANGE, i - 1, "a number is too large to be represented");
	}
	v->type = TXP_JSONLINE_NUMBER;
	v->text = (const char *)p + start;
	v->len = i - start;
	v->is_integer = integer;
	r->pos = i;
	return 0;
}

/*
 * A syntax error at `pos`, where a different token was expected.  jansson
 * lexes the token there before reporting, and refuses an unrepresentable
 * number while lexing; doing the same keeps the two in agreement about the
 * kind of error ("1e999" where ',' belongs is ERANGE in both).
 */
static int fail_unexpected(struct txp_jsonline *r, size_t pos, const char *what)
{
	if (pos < r->len && (r->buf[pos] == '-' || txp_is_digit((unsigned char)r->buf[pos]))) {
		struct txp_jsonline_value v;
		r->pos = pos;
		if (read_number(r, &v) == TXP_JSONLINE_ERANGE)
			return r->error;
	}
	return fail(r, TXP_JSONLINE_ESYNTAX, pos, what);
}

/* Reads true, false or null.  Like jansson, takes the whole run of letters
 * as the token, so "tru}" fails at the 'u'. */
static int read_literal(struct txp_jsonline *r, struct txp_jsonline_value *v)
{
	const unsigned char *p = (const unsigned char *)r->buf;
	size_t n = r->len, i = r->pos, k;

	for (k = i; k < n && is_alpha(p[k]); k++)
		;
	if (k == i)
		return fail(r, TXP_JSONLINE_ESYNTAX, i, "unexpected character where a value should be");
	if (k - i == 4 && memcmp(p + i, "true", 4) == 0)
		v->type = TXP_JSONLINE_TRUE;
	else if (k - i == 5 && memcmp(p + i, "false", 5) == 0)
		v->type = TXP_JSONLINE_FALSE;
	else if (k - i == 4 && memcmp(p + i, "null", 4) == 0)
		v->type = TXP_JSONLINE_NULL;
	else
		return fail(r, TXP_JSONLINE_ESYNTAX, k - 1, "invalid literal");
	v->text = NULL;
	v->len = 0;
	r->pos = k;
	return 0;
}

/*
 * Reads a scalar at r->pos that sits at nesting depth `depth`.  The order
 * of checks follows jansson's, so that the same line fails for the same
 * kind of reason: the token first, then the depth, then a NUL in a string.
 */
static int read_scalar(struct txp_jsonline *r, size_t depth, struct txp_jsonline_value *v)
{
	unsigned char c = (unsigned char)r->buf[r->pos];
	size_t at = r->pos, nul_at = 0;
	int rc;

	if (c == '"') {
		rc = read_string(r, &v->text, &v->len, &nul_at);
		v->type = TXP_JSONLINE_STRING;
	} else if (c == '-' || txp_is_digit(c)) {
		rc = read_number(r, v);
	} else {
		rc = read_literal(r, v);
	}
	if (rc != 0)
		return rc;
	if (depth > TXP_JSONLINE_MAX_DEPTH)
		return fail(r, TXP_JSONLINE_EDEPTH, at, "nesting too deep");
	if (nul_at != 0)
		return fail(r, TXP_JSONLINE_ENUL, nul_at, "a string holds \\u0000");
	return 0;
}

/* A key inside a nested object: checked, never compared or returned. */
static int read_nested_key(struct txp_jsonline *r)
{
	const char *s;
	size_t len, nul_at;
	int rc;

	if (r->buf[r->pos] != '"')
		return fail_unexpected(r, r->pos, "expected a field name or '}'");
	rc = read_string(r, &s, &len, &nul_at);
	if (rc != 0)
		return rc;
	if (nul_at != 0)
		return fail(r, TXP_JSONLINE_ENUL, nul_at, "a field name holds \\u0000");
	r->pos = skip_ws((const unsigned char *)r->buf, r->pos, r->len);
	if (r->pos >= r->len || r->buf[r->pos] != ':')
		return fail_unexpected(r, r->pos, "expected ':'");
	return 0;
}

static bool bit_get(const uint64_t *bits, size_t k)
{
	return bits[k / 64] >> (k % 64) & 1;
}

static void bit_set(uint64_t *bits, size_t k, bool on)
{
	if (on)
		bits[k / 64] |= UINT64_C(1) << (k % 64);
	else
		bits[k / 64] &= ~(UINT64_C(1) << (k % 64));
}

/* Positions r->pos at the value of the next element of a nested container,
 * reading the key and ':' first in an object. */
static int begin_element(struct txp_jsonline *r, bool obj)
{
	if (r->pos >= r->len)
		return fail(r, TXP_JSONLINE_ESYNTAX, r->len, "unexpected end of line");
	if (!obj)
		return 0;
	if (read_nested_key(r) != 0)
		return r->error;
	r->pos = skip_ws((const unsigned char *)r->buf, r->pos + 1, r->len);
	if (r->pos >= r->len)
		return fail(r, TXP_JSONLINE_ESYNTAX, r->len, "unexpected end of line");
	return 0;
}

/*
 * Checks and skips the object or array opening at r->pos, at depth `depth`.
 * One bit per open level records whether it is an object, so the matching
 * closer is known without recursion.
 */
static int skip_nested(struct txp_jsonline *r, size_t depth)
{
	uint64_t is_obj[TXP_JSONLINE_MAX_DEPTH / 64 + 1];
	const unsigned char *p = (const unsigned char *)r->buf;
	size_t n = r->len, open = 0;
	struct txp_jsonline_value v;

	for (;;) {
		/* r->pos is at a value: the container itself when open == 0,
		 * else an element of the innermost open container. */
		unsigned char c = p[r->pos];
		if (c == '{' || c == '[') {
			/* Its depth is depth + open, like jansson's count. */
			if (depth + open > TXP_JSONLINE_MAX_DEPTH)
				return fail(r, TXP_JSONLINE_EDEPTH, r->pos, "nesting too deep");
			bit_set(is_obj, open++, c == '{');
			r->pos = skip_ws(p, r->pos + 1, n);
			if (r->pos >= n)
				return fail(r, TXP_JSONLINE_ESYNTAX, n, "unexpected end of line");
			if (p[r->pos] != (c == '{' ? '}' : ']')) {
				if (begin_element(r, c == '{') != 0)
					return r->error;
				continue;
			}
			/* Empty: closed below. */
		} else {
			if (read_scalar(r, depth + open, &v) != 0)
				return r->error;
			r->pos = skip_ws(p, r->pos, n);
			if (r->pos >= n)
				return fail(r, TXP_JSONLINE_ESYNTAX, n, "unexpected end of line");
		}
		/* After a value: ',' starts the next element, closers end
		 * containers. */
		for (;;) {
			bool obj = bit_get(is_obj, open - 1);
			if (p[r->pos] == ',') {
				r->pos = skip_ws(p, r->pos + 1, n);
				if (begin_element(r, obj) != 0)
					return r->error;
				break;
			}
			if (p[r->pos] != (obj ? '}' : ']'))
				return fail_unexpected(r, r->pos, obj ? "expected ',' or '}'" : "expected ',' or ']'");
			r->pos++;
			if (--open == 0)
				return 0;
			r->pos = skip_ws(p, r->pos, n);
			if (r->pos >= n)
				return fail(r, TXP_JSONLINE_ESYNTAX, n, "unexpected end of line");
		}
	}
}

/* Reads the value of a top-level member (depth 2) at r->pos. */
static int read_value(struct txp_jsonline *r, struct txp_jsonline_value *v)
{
	unsigned char c = (unsigned char)r->buf[r->pos];
	int rc;

	if (c == '{' || c == '[') {
		rc = skip_nested(r, 2);
		if (rc != 0)
			return rc;
		v->type = c == '{' ? TXP_JSONLINE_OBJECT : TXP_JSONLINE_ARRAY;
		v->text = NULL;
		v->len = 0;
		return 0;
	}
	return read_scalar(r, 2, v);
}

/* A cheap fingerprint of a key, so that most duplicate checks compare one
 * word; equal fingerprints are confirmed with memcmp. */
static uint32_t key_fp(const char *k, size_t len)
{
	uint32_t a = 0, b = 0;

	if (len >= 4) {
		memcpy(&a, k, 4);
		memcpy(&b, k + len - 4, 4);
	} else {
		for (size_t i = 0; i < len; i++)
			a = a << 8 | (unsigned char)k[i];
	}
	return a * 0x9e3779b1u ^ (b + (uint32_t)len);
}

/* Reads `"key" :` at r->pos and records the key; refuses a repeat. */
static int read_key(struct txp_jsonline *r, struct txp_jsonline_member *m)
{
	size_t at = r->pos, nul_at;
	uint32_t fp;
	int rc;

	if (r->buf[at] != '"')
		return fail_unexpected(r, at, "expected a field name");
	rc = read_string(r, &m->key, &m->key_len, &nul_at);
	if (rc != 0)
		return rc;
	if (nul_at != 0)
		return fail(r, TXP_JSONLINE_ENUL, nul_at, "a field name holds \\u0000");
	fp = key_fp(m->key, m->key_len);
	/* A 256-bit Bloom filter of the fingerprints: a new key usually misses
	 * it, and only a hit walks the list. */
	if (r->bloom[fp >> 6 & 3] & UINT64_C(1) << (fp & 63)) {
		for (unsigned k = 0; k < r->n_keys; k++) {
			if (r->keys[k].fp == fp && r->keys[k].len == m->key_len &&
			    memcmp(r->keys[k].key, m->key, m->key_len) == 0) {
				r->dup_key = m->key;
				r->dup_key_len = m->key_len;
				return fail(r, TXP_JSONLINE_EDUPLICATE, at, "a field appears more than once");
			}
		}
	}
	r->bloom[fp >> 6 & 3] |= UINT64_C(1) << (fp & 63);
	if (r->n_keys == TXP_JSONLINE_MAX_MEMBERS)
		return fail(r, TXP_JSONLINE_ELIMIT, at, "more than 256 fields");
	r->keys[r->n_keys].key = m->key;
	r->keys[r->n_keys].len = (uint32_t)m->key_len;
	r->keys[r->n_keys].fp = fp;
	r->n_keys++;
	r->pos = skip_ws((const unsigned char *)r->buf, r->pos, r->len);
	if (r->pos >= r->len || r->buf[r->pos] != ':')
		return fail_unexpected(r, r->pos < r->len ? r->pos : r->len, "expected ':'");
	r->pos = skip_ws((const unsigned char *)r->buf, r->pos + 1, r->len);
	if (r->pos >= r->len)
		return fail(r, TXP_JSONLINE_ESYNTAX, r->len, "unexpected end of line");
	return 0;
}

/* The top-level value is not an object: say what it looks like, or that it
 * is not JSON at all. */
static int refuse_top(struct txp_jsonline *r)
{
	struct txp_jsonline_value v;
	unsigned char c = (unsigned char)r->buf[r->pos];

	if (c == '[')
		return fail(r, TXP_JSONLINE_ENOTOBJECT, r->pos, "an array");
	if (c == '"')
		return fail(r, TXP_JSONLINE_ENOTOBJECT, r->pos, "a string");
	if (c == '-' || txp_is_digit(c))
		return fail(r, TXP_JSONLINE_ENOTOBJECT, r->pos, "a number");
	if (read_literal(r, &v) != 0)
		return r->error;
	return fail(r, TXP_JSONLINE_ENOTOBJECT, r->pos, v.type == TXP_JSONLINE_NULL ? "null" : "a boolean");
}

void txp_jsonline_init(struct txp_jsonline *r, char *buf, size_t len)
{
	r->error = 0;
	r->column = 0;
	r->what = NULL;
	r->dup_key = NULL;
	r->dup_key_len = 0;
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->state = S_START;
	r->n_keys = 0;
	memset(r->bloom, 0, sizeof(r->bloom));
}

int txp_jsonline_next(struct txp_jsonline *r, struct txp_jsonline_member *m)
{
	const unsigned char *p = (const unsigned char *)r->buf;
	size_t n = r->len;
	int rc;

	switch (r->state) {
	case S_START:
		/* Key lengths and offsets are kept in 32 bits. */
		if (n > UINT32_MAX)
			return fail(r, TXP_JSONLINE_ELIMIT, 0, "line longer than 4 GiB");
		r->pos = skip_ws(p, 0, n);
		if (r->pos >= n)
			return fail(r, TXP_JSONLINE_ESYNTAX, n, "empty line");
		if (p[r->pos] != '{')
			return refuse_top(r);
		r->pos = skip_ws(p, r->pos + 1, n);
		if (r->pos < n && p[r->pos] == '}')
			goto end;
		if (r->pos >= n)
			return fail(r, TXP_JSONLINE_ESYNTAX, n, "unexpected end of line");
		break;
	case S_NEXT:
		r->pos = skip_ws(p, r->pos, n);
		if (r->pos >= n)
			return fail(r, TXP_JSONLINE_ESYNTAX, n, "unexpected end of line");
		if (p[r->pos] == '}')
			goto end;
		if (p[r->pos] != ',')
			return fail_unexpected(r, r->pos, "expected ',' or '}'");
		r->pos = skip_ws(p, r->pos + 1, n);
		if (r->pos >= n)
			return fail(r, TXP_JSONLINE_ESYNTAX, n, "unexpected end of line");
		break;
	case S_DONE:
		return 0;
	default:
		return r->error;
	}
	if ((rc = read_key(r, m)) != 0 || (rc = read_value(r, &m->value)) != 0)
		return rc;
	r->state = S_NEXT;
	return 1;

end:
	r->pos = skip_ws(p, r->pos + 1, n);
	if (r->pos != n)
		return fail_unexpected(r, r->pos, "text after the closing '}'");
	r->state = S_DONE;
	return 0;
}

void txp_jsonline_wipe(struct txp_jsonline *r)
{
	sodium_memzero(r->keys, r->n_keys * sizeof(r->keys[0]));
	sodium_memzero(r->bloom, sizeof(r->bloom));
	r->n_keys = 0;
	r->dup_key = NULL;
	r->dup_key_len = 0;
}

const char *txp_jsonline_type_name(enum txp_jsonline_type type)
{
	switch (type) {
	case TXP_JSONLINE_STRING:
		return "a string";
	case TXP_JSONLINE_NUMBER:
		return "a number";
	case TXP_JSONLINE_TRUE:
	case TXP_JSONLINE_FALSE:
		return "a boolean";
	case TXP_JSONLINE_NULL:
		return "null";
	case TXP_JSONLINE_OBJECT:
		return "an object";
	case TXP_JSONLINE_ARRAY:
	default:
		return "an array";
	}
}
