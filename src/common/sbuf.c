/* sbuf.c: a growable byte buffer for building JSON and form-encoded request bodies. */
#include "txpipe/sbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void txp_sbuf_reserve(struct txp_sbuf *b, size_t more)
{
	char *np;
	size_t ncap;

	if (b->oom || b->len + more + 1 <= b->cap)
		return;
	/* Records and alerts are about a kilobyte: start there rather than
	 * growing through several reallocs on every transaction. */
	ncap = b->cap ? b->cap : 1024;
	while (ncap < b->len + more + 1)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (np == NULL) {
		b->oom = true;
		return;
	}
	b->p = np;
	b->cap = ncap;
}

void txp_sbuf_printf(struct txp_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	txp_sbuf_reserve(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Decimal digits of v, written backwards from the end of num[24]; returns
 * where they start.  snprintf's format parsing is most of the cost of a
 * record's numbers on the compliance thread. */
static char *u64_digits(unsigned long long v, char num[24])
{
	char *p = num + 24;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return p;
}

void txp_sbuf_int(struct txp_sbuf *b, long long v)
{
	char num[24];
	/* The magnitude as unsigned, also for LLONG_MIN. */
	unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	char *p = u64_digits(mag, num);

	if (v < 0)
		txp_sbuf_raw(b, "-", 1);
	txp_sbuf_raw(b, p, (size_t)(num + 24 - p));
}

void txp_sbuf_uint(struct txp_sbuf *b, unsigned long long v)
{
	char num[24];
	char *p = u64_digits(v, num);

	txp_sbuf_raw(b, p, (size_t)(num + 24 - p));
}

void txp_sbuf_json_strn(struct txp_sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o;

	/* At most six bytes out per byte in, plus the quotes: reserve once
	 * and write in place. */
	if (n > SIZE_MAX / 8)
		b->oom = true;
	txp_sbuf_reserve(b, 6 * n + 2);
	if (b->oom)
		return;
	o = b->p + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != '"' && c != '\\' && c >= 0x20) {
			*o++ = (char)c;
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

void txp_sbuf_json_str(struct txp_sbuf *b, const char *s)
{
	txp_sbuf_json_strn(b, s, strlen(s));
}

void txp_sbuf_urlencn(struct txp_sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o;

	/* At most three bytes out per byte in: reserve once and write in
	 * place (alert messages are encoded whole into SNS request bodies). */
	if (n > SIZE_MAX / 4)
		b->oom = true;
	txp_sbuf_reserve(b, 3 * n);
	if (b->oom)
		return;
	o = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

void txp_sbuf_urlenc(struct txp_sbuf *b, const char *s)
{
	txp_sbuf_urlencn(b, s, strlen(s));
}

char *txp_sbuf_finish(struct txp_sbuf *b, size_t *len)
{
	char *p;

	if (!b->oom && b->p == NULL)
		txp_sbuf_raw(b, "", 0);
	if (b->oom) {
		txp_sbuf_free(b);
		return NULL;
	}
	p = b->p;
	if (len != NULL)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void txp_sbuf_free(struct txp_sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void txp_sbuf_wipe(struct txp_sbuf *b)
{
	if (b->p != NULL)
		sodium_memzero(b->p, b->cap);
	txp_sbuf_free(b);
	b->oom = false;
}
