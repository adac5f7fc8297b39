/* sbuf.h: a growable byte buffer for building JSON and form-encoded request bodies. */
#ifndef TXPIPE_SBUF_H
#define TXPIPE_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Zero-initialise (`struct txp_sbuf b = {0};`).  An allocation failure
 * sets `oom` and turns every later append into a no-op, so a builder
 * checks once at the end (txp_sbuf_finish).  The content is always
 * NUL-terminated once something was appended.
 */
struct txp_sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Grows the buffer for `more` bytes and its NUL; sets oom on failure. */
void txp_sbuf_reserve(struct txp_sbuf *b, size_t more);

/* Appends n bytes.  Inline: records and request bodies are built from
 * many short pieces, and the common case is a copy into room there is. */
static inline void txp_sbuf_raw(struct txp_sbuf *b, const char *s, size_t n)
{
	if (b->oom || b->len + n + 1 > b->cap) {
		txp_sbuf_reserve(b, n);
		if (b->oom)
			return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void txp_sbuf_str(struct txp_sbuf *b, const char *s)
{
	txp_sbuf_raw(b, s, strlen(s));
}

void txp_sbuf_int(struct txp_sbuf *b, long long v);
void txp_sbuf_uint(struct txp_sbuf *b, unsigned long long v);
/* printf(3) formatting, for text that is not on a per-transaction path. */
__attribute__((format(printf, 2, 3))) void txp_sbuf_printf(struct txp_sbuf *b, const char *fmt, ...);
/* `s` (n bytes, UTF-8) as a JSON string literal with its quotes; '"', '\\'
 * and control characters are escaped, so the result is one line. */
void txp_sbuf_json_strn(struct txp_sbuf *b, const char *s, size_t n);
void txp_sbuf_json_str(struct txp_sbuf *b, const char *s);
/* `s` percent-encoded for an application/x-www-form-urlencoded body:
 * every byte except A-Z a-z 0-9 - _ . ~ becomes %XX (RFC 3986 unreserved,
 * as SigV4 canonicalisation expects). */
void txp_sbuf_urlencn(struct txp_sbuf *b, const char *s, size_t n);
void txp_sbuf_urlenc(struct txp_sbuf *b, const char *s);

/*
 * Returns the buffer (caller frees) and its length in *len (when len is
 * not NULL), or NULL when an allocation failed (the buffer is freed then).
 * An empty buffer returns an allocated "".
 */
char *txp_sbuf_finish(struct txp_sbuf *b, size_t *len);

/* Frees the content.  Safe on a zeroed buffer. */
void txp_sbuf_free(struct txp_sbuf *b);

/* Zeroes the whole allocation, then frees it, for content that held a
 * secret (a session token, a signature).  Safe on a zeroed buffer. */
void txp_sbuf_wipe(struct txp_sbuf *b);

#endif
