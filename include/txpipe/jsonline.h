/* jsonline.h: a strict, single-pass, allocation-free reader for one JSON object per line (RFC 8259). */
#ifndef TXPIPE_JSONLINE_H
#define TXPIPE_JSONLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The reader walks the members of the top-level object of a line one at a
 * time.  Member values that are objects or arrays are checked and skipped,
 * not decoded: transaction fields are flat.
 *
 * Strings (keys and values) are decoded in place: an escape never decodes
 * to more bytes than it occupies, so each string is rewritten inside its
 * own quotes and terminated with a NUL over (or before) its closing quote.
 * The buffer is therefore modified, and the decoded strings live in it: the
 * caller owns the buffer and wipes it (it may hold a card number).  The
 * reader itself keeps only pointers and short fingerprints of the keys,
 * which txp_jsonline_wipe() clears.
 *
 * What is accepted is RFC 8259 JSON, with these limits and refusals, all
 * chosen to match what jansson's json_loadb(JSON_REJECT_DUPLICATES), which
 * this reader replaced, refuses:
 *  - the top-level value must be an object;
 *  - a top-level key may not appear twice (TXP_JSONLINE_EDUPLICATE); keys of
 *    nested objects are not compared, since nested values are never read;
 *  - strings may not contain \u0000 (TXP_JSONLINE_ENUL), in keys or values;
 *  - raw text must be UTF-8 per RFC 3629 (no overlong forms, no surrogates,
 *    nothing above U+10FFFF) and \u escapes must not leave a lone surrogate;
 *  - numbers without fraction or exponent must fit in int64, other numbers
 *    must round to a finite double (TXP_JSONLINE_ERANGE); numbers are not
 *    converted, their text is handed out;
 *  - values nest at most TXP_JSONLINE_MAX_DEPTH deep, counting the top-level
 *    object as 1 and a scalar as one level (jansson's rule and limit);
 *  - at most TXP_JSONLINE_MAX_MEMBERS top-level members (jansson has no
 *    such limit; the protocol has 14 fields).
 * Only whitespace (space, tab, CR, LF) may follow the closing brace.
 */

#define TXP_JSONLINE_MAX_DEPTH 2048
#define TXP_JSONLINE_MAX_MEMBERS 256

enum txp_jsonline_type {
	TXP_JSONLINE_STRING = 1,
	TXP_JSONLINE_NUMBER,
	TXP_JSONLINE_TRUE,
	TXP_JSONLINE_FALSE,
	TXP_JSONLINE_NULL,
	TXP_JSONLINE_OBJECT,
	TXP_JSONLINE_ARRAY
};

/* Failures, all negative. */
enum txp_jsonline_error {
	TXP_JSONLINE_ESYNTAX = -1,    /* not JSON: grammar, UTF-8, escapes, trailing text */
	TXP_JSONLINE_ENOTOBJECT = -2, /* JSON-looking, but the top-level value is not an object */
	TXP_JSONLINE_ENUL = -3,       /* a string holds \u0000 */
	TXP_JSONLINE_ERANGE = -4,     /* a number too large to represent (see above) */
	TXP_JSONLINE_EDUPLICATE = -5, /* a top-level key appears twice */
	TXP_JSONLINE_EDEPTH = -6,     /* nesting deeper than TXP_JSONLINE_MAX_DEPTH */
	TXP_JSONLINE_ELIMIT = -7      /* more than TXP_JSONLINE_MAX_MEMBERS members, or a line over 4 GiB */
};

struct txp_jsonline_value {
	enum txp_jsonline_type type;
	/* STRING: the decoded UTF-8 bytes, NUL-terminated, inside the buffer.
	 * NUMBER: the number's JSON text, inside the buffer, not terminated.
	 * Other types: NULL and 0. */
	const char *text;
	size_t len;
	bool is_integer; /* NUMBER: no fraction and no exponent */
};

struct txp_jsonline_member {
	const char *key; /* decoded, NUL-terminated, inside the buffer */
	size_t key_len;
	struct txp_jsonline_value value;
};

/* Reader state, on the caller's stack.  After a failure, `error`, `column`
 * and `what` describe it; the other fields are private. */
struct txp_jsonline {
	int error;           /* 0 or an enum txp_jsonline_error */
	size_t column;       /* 1-based byte offset where reading stopped */
	const char *what;    /* short static description; never quotes input */
	const char *dup_key; /* EDUPLICATE: the repeated key, inside the buffer */
	size_t dup_key_len;

	char *buf;
	size_t len;
	size_t pos;
	int state;
	unsigned n_keys;
	uint64_t bloom[4];
	struct {
		const char *key;
		uint32_t len;
		uint32_t fp;
	} keys[TXP_JSONLINE_MAX_MEMBERS];
};

/* Starts reading the `len` bytes at `buf` (no NUL needed), which the reader
 * will modify as described above.  Cannot fail. */
void txp_jsonline_init(struct txp_jsonline *r, char *buf, size_t len);

/*
 * Reads the next top-level member into *m.  Returns 1 with *m filled, 0
 * once the closing brace and the whitespace after it have been read (the
 * whole line is then valid), or a negative enum txp_jsonline_error, which
 * is also kept in r->error and returned again by later calls.  Members come
 * in line order; `m` points into the buffer and stays valid until the
 * buffer is changed.
 */
int txp_jsonline_next(struct txp_jsonline *r, struct txp_jsonline_member *m);

/* Clears the reader's key pointers and fingerprints.  The buffer is the
 * caller's to wipe. */
void txp_jsonline_wipe(struct txp_jsonline *r);

/* "a string", "a number", "a boolean", "null", "an object", "an array". */
const char *txp_jsonline_type_name(enum txp_jsonline_type type);

#endif
