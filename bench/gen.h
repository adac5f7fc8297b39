/* gen.h: txpbench's transaction generator: a pool of JSON-line templates built before timing starts. */
#ifndef TXPBENCH_GEN_H
#define TXPBENCH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum txpb_kind {
	TXPB_GOOD = 0, /* ordinary domestic purchase */
	TXPB_RISKY,    /* valid, but with fraud or compliance signals */
	TXPB_INVALID,  /* must be rejected by validation */
	TXPB_KIND_COUNT
};

/* What the reply's transaction_id must be for a template. */
enum txpb_id_check {
	TXPB_ID_MATCH = 0,     /* the line's id */
	TXPB_ID_MATCH_OR_NULL, /* malformed JSON: the daemon may not have found the id */
	TXPB_ID_NULL           /* the line has no usable id */
};

struct txpb_mix {
	unsigned weight[TXPB_KIND_COUNT];
};

/* The id is "<prefix>-<12 digits>"; the digits are the run-wide sequence
 * number, written into a copy of the template at send time. */
#define TXPB_SEQ_DIGITS 12
#define TXPB_PREFIX_MAX 24
/* The timestamp is written at send time too, as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
#define TXPB_TS_LEN 24

struct txpb_template {
	uint32_t off;     /* first byte in pool->text */
	uint32_t len;     /* bytes including the final '\n' */
	int32_t id_off;   /* offset of the id's first character in the line, or -1 */
	int32_t ts_off;   /* offset of the timestamp placeholder in the line, or -1 */
	uint8_t kind;     /* enum txpb_kind */
	uint8_t id_check; /* enum txpb_id_check */
};

struct txpb_gen_params {
	uint64_t seed;
	uint32_t customers; /* customer key space, >= 1 */
	uint32_t merchants; /* merchant key space, >= 1 */
	uint32_t pool_size; /* templates to build, >= 1 */
	struct txpb_mix mix;
	const char *prefix; /* run prefix, [A-Za-z0-9._:]{1,TXPB_PREFIX_MAX} */
};

struct txpb_pool {
	char *text;
	size_t text_len;
	struct txpb_template *t;
	uint32_t n;
	uint32_t max_len; /* longest line, bytes */
	uint32_t id_len;  /* length of every id: prefix, '-', digits */
	uint64_t by_kind[TXPB_KIND_COUNT];
};

/*
 * Parses "good=90,risky=8,invalid=2" (any subset, any order; weights are
 * relative and need not sum to 100, at least one must be non-zero).  Kinds
 * not named get weight 0.  Returns 0, or -EINVAL with a message in err.
 */
int txpb_mix_parse(const char *s, struct txpb_mix *mix, char *err, size_t errlen);

/*
 * Builds params->pool_size templates, deterministically from the parameters.
 * Returns 0, or -EINVAL/-ENOMEM with a message in err.  The pool owns its
 * memory; release it with txpb_pool_free().
 */
int txpb_pool_generate(struct txpb_pool *pool, const struct txpb_gen_params *params, char *err, size_t errlen);

/* Frees the pool's memory; safe on a zeroed pool. */
void txpb_pool_free(struct txpb_pool *pool);

/* Writes `seq` as TXPB_SEQ_DIGITS decimal digits (modulo 10^12), no NUL. */
void txpb_put_seq(char *out, uint64_t seq);

/* Writes the UTC time `unix_ms` as RFC 3339 "YYYY-MM-DDTHH:MM:SS.mmmZ",
 * TXPB_TS_LEN bytes, no NUL. */
void txpb_put_timestamp(char *out, int64_t unix_ms);

/* True when the n digits pass the Luhn check (ISO/IEC 7812-1 annex B). */
bool txpb_luhn_ok(const char *digits, size_t n);

/* True when s is a valid id: [A-Za-z0-9._:-]{1,64}. */
bool txpb_id_ok(const char *s, size_t n);

#endif
