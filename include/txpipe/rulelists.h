/* rulelists.h: the rule stages' reference data: USD rates, country sets and identifier lists. */
#ifndef TXPIPE_RULELISTS_H
#define TXPIPE_RULELISTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * USD conversion rates, as integer fixed point: micro-USD per one major unit
 * of the currency ("EUR:1080000" means 1 EUR = 1.080000 USD).  Money never
 * goes through a double.  Immutable once parsed.
 */
struct txp_rate {
	char currency[4];
	uint64_t micro_usd; /* per major unit, > 0 */
};

struct txp_rates {
	size_t n;
	struct txp_rate *items; /* sorted by currency */
};

/*
 * Parses "USD:1000000,EUR:1080000" (spaces around items are ignored; an empty
 * spec gives an empty table).  Codes are three ASCII letters, upper-cased;
 * duplicates are an error.  On success fills `out` (free with
 * txp_rates_free) and returns 0; on error returns -EINVAL (or -ENOMEM) and
 * writes the offending item and the reason into `err`.
 */
int txp_rates_parse(const char *spec, struct txp_rates *out, char *err, size_t errlen);

/* Deep copy of `src` into `dst`.  Returns 0 or -ENOMEM. */
int txp_rates_copy(struct txp_rates *dst, const struct txp_rates *src);

/* Frees what `r` owns.  Safe on a zeroed struct. */
void txp_rates_free(struct txp_rates *r);

/* The rate of `currency`, or 0 when the table has none. */
uint64_t txp_rates_find(const struct txp_rates *r, const char *currency);

/*
 * Converts `amount` minor units of `currency` (with `exponent` decimals) to
 * USD minor units (cents), rounding toward zero:
 *   cents = amount * micro_usd / 10^(exponent + 4).
 * Saturates at INT64_MAX/INT64_MIN on overflow (far above any threshold).
 * Returns 0 and stores the result in *cents, or -ENOENT when the currency has
 * no rate, or -EINVAL when the exponent is above 18.
 */
int txp_rates_to_usd_cents(const struct txp_rates *r, const char *currency, unsigned exponent,
                           int64_t amount, int64_t *cents);

/* A set of ISO 3166-1 alpha-2 codes, one bit per possible code. */
struct txp_country_set {
	uint8_t bits[(26 * 26 + 7) / 8];
};

/*
 * Parses "CU,IR,KP" into `out` (cleared first; an empty spec is the empty
 * set).  Codes are two ASCII letters, upper-cased.  Returns 0, or -EINVAL
 * with the offending item in `err`.
 */
int txp_country_set_parse(const char *spec, struct txp_country_set *out, char *err, size_t errlen);

/* Whether `cc` (two letters, any case) is in the set.  False for "" or junk. */
bool txp_country_set_has(const struct txp_country_set *s, const char *cc);

/*
 * A set of identifiers (customer ids, merchant ids, card tokens, device ids)
 * read from a list file: one entry per line, surrounding whitespace trimmed,
 * blank lines and lines starting with '#' ignored.  Matching is exact and
 * case-sensitive.  Immutable once built, so any number of threads may query
 * it.
 */
struct txp_idset;

#define TXP_IDSET_ENTRY_MAX 128 /* longest entry (device ids) */

/*
 * Builds a set from the text `buf` of `len` bytes.  `name` names the source
 * in error messages ("/etc/txpipe/deny-customers.txt:12: ...").  Returns 0
 * and a new set in *out (free with txp_idset_free), or -EINVAL for an entry
 * longer than TXP_IDSET_ENTRY_MAX or holding a control character, or
 * -ENOMEM; the message goes to `err`.
 */
int txp_idset_parse(const char *buf, size_t len, const char *name, struct txp_idset **out, char *err,
                    size_t errlen);

/* The largest list file read: 256 MiB, millions of ids; a bound on memory. */
#define TXP_IDSET_FILE_MAX (UINT64_C(256) << 20)

/*
 * Reads the list file at `path` and builds a set as txp_idset_parse() does.
 * A symbolic link is followed (lists are often managed by tooling), but
 * anything that is not a regular file, or is larger than
 * TXP_IDSET_FILE_MAX, is refused without reading (txp_file_open_regular()).
 * Returns 0, a parse error, or the negative errno of the failed open/read
 * (with the reason in `err`).
 */
int txp_idset_load(const char *path, struct txp_idset **out, char *err, size_t errlen);

/* Whether `s` is in the set.  A NULL set or an empty `s` never matches. */
bool txp_idset_has(const struct txp_idset *set, const char *s);

/* Number of distinct entries. */
size_t txp_idset_count(const struct txp_idset *set);

/* Frees the set.  NULL is safe. */
void txp_idset_free(struct txp_idset *set);

#endif
