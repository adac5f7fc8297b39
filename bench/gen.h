/* gen.h: txpbench's transaction generator: named load profiles, a stream of JSON lines, and pools cut from it. */
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

/*
 * A named load: who transacts, where, in which currencies, and how the
 * lines reach the sender.
 *  - small: the original mix, 10,000 customers and 1,000 merchants in 12
 *    countries, a pool of pre-built lines cycled (kept byte for byte: the
 *    same seed and options give the same lines as before profiles existed).
 *  - retail: millions of customers with their own cards, tens of thousands
 *    of merchants with Zipf-like popularity, 26 countries and 22 currencies
 *    in realistic shares, amounts sized in each currency, a few percent
 *    cross-border, alerts in the low single-digit percent; generated on the
 *    fly, since a cycled pool cannot hold millions of customers.
 */
enum txpb_profile { TXPB_PROFILE_SMALL = 0, TXPB_PROFILE_RETAIL, TXPB_PROFILE_COUNT };

/* What a profile uses for the options a run does not give. */
struct txpb_profile_defaults {
	uint32_t customers;
	uint32_t merchants;
	const char *mix; /* a txpb_mix_parse() spec */
	bool on_the_fly; /* no pool unless --pool is given */
};

/* The longest line the generator writes, '\n' included. */
#define TXPB_LINE_MAX 2048

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
	enum txpb_profile profile;
};

/* The population a generator draws from, for the run's summary. */
struct txpb_population {
	const char *profile;       /* its name */
	uint64_t customers;        /* customer key space */
	uint64_t cards;            /* distinct cards those customers hold */
	uint64_t merchants;        /* merchant key space */
	bool merchants_zipf;       /* popularity skewed (rank k weighs 1/k) */
	unsigned countries;        /* home countries of customers and merchants */
	unsigned currencies;       /* distinct currencies of those countries */
	char currency_list[128];   /* "USD,EUR,...", most frequent first */
	unsigned cross_border_pct; /* of good lines, merchant abroad */
	unsigned two_card_pct;     /* of customers (retail) */
};

struct txpb_gen; /* the stream; opaque */

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

/* The profile named s ("small" or "retail"); -EINVAL for another name. */
int txpb_profile_parse(const char *s, enum txpb_profile *out);

/* The profile's name, a static string. */
const char *txpb_profile_name(enum txpb_profile p);

/* Fills *d with what the profile uses by default. */
void txpb_profile_defaults(enum txpb_profile p, struct txpb_profile_defaults *d);

/*
 * Creates the stream of lines the parameters describe (pool_size is not
 * used).  The n-th line depends on the parameters and n alone: the same
 * seed and options give the same lines.  Returns 0 and *out, which the
 * caller frees with txpb_gen_free(), or -EINVAL/-ENOMEM with a message in err.
 */
int txpb_gen_create(struct txpb_gen **out, const struct txpb_gen_params *params, char *err, size_t errlen);

/*
 * Writes the next line into out (room for TXPB_LINE_MAX bytes), its id
 * and timestamp placeholders unstamped as in a pool's text, and describes
 * it in *meta (off is 0).  Returns the line's length, '\n' included.
 */
uint32_t txpb_gen_next(struct txpb_gen *g, char *out, struct txpb_template *meta);

/* Lines of each kind produced so far. */
void txpb_gen_counts(const struct txpb_gen *g, uint64_t by_kind[TXPB_KIND_COUNT]);

/* Describes the population the stream draws from. */
void txpb_gen_population(const struct txpb_gen *g, struct txpb_population *pop);

/* Frees the stream; NULL is safe. */
void txpb_gen_free(struct txpb_gen *g);

/*
 * Fills the pool with the stream's next n lines.  Returns 0, or -ENOMEM
 * with a message in err.  Release the pool with txpb_pool_free().
 */
int txpb_pool_fill(struct txpb_pool *pool, struct txpb_gen *g, uint32_t n, char *err, size_t errlen);

/*
 * Builds params->pool_size templates, deterministically from the parameters:
 * the first pool_size lines of their stream.
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
