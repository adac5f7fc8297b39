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
	int64_t date;           /* the rates' date, Unix seconds at 00:00 UTC; 0 unknown */
};

/*
 * Parses "USD:1000000,EUR:1080000" (spaces around items are ignored; an empty
 * spec gives an empty table).  Codes are three ASCII letters, upper-cased;
 * duplicates are an error.  On success fills `out` (free with
 * txp_rates_free) and returns 0; on error returns -EINVAL (or -ENOMEM) and
 * writes the offending item and the reason into `err`.
 */
int txp_rates_parse(const char *spec, struct txp_rates *out, char *err, size_t errlen);

/*
 * A rates file: one rate per line, "CODE MICRO_USD" (micro-USD per major
 * unit, as in txp_rates_parse()), exactly one "date YYYY-MM-DD" line giving
 * the day the rates are from, blank lines, and comments from '#' to the end
 * of a line.
 * Codes are three ASCII letters, upper-cased; a code listed twice is an
 * error.  For example:
 *
 *   # ECB reference rates, converted to USD
 *   date 2026-12-04
 *   USD 1000000
 *   EUR 1160000
 *
 * txp_rates_parse_file() parses `len` bytes of `text` named `name` (for
 * messages); txp_rates_load() reads the regular file `path` (at most
 * TXP_RATES_FILE_MAX bytes) and parses it.  Both fill `out` (free with
 * txp_rates_free()) and return 0, or -EINVAL with "name:line: reason" in
 * `err` (the errno of a file that cannot be read, or -ENOMEM).
 */
#define TXP_RATES_FILE_MAX (UINT64_C(1) << 20)
int txp_rates_parse_file(const char *text, size_t len, const char *name, struct txp_rates *out, char *err,
                         size_t errlen);
int txp_rates_load(const char *path, struct txp_rates *out, char *err, size_t errlen);

/*
 * The table the daemon uses when [compliance] usd_rates_file is empty, in
 * the rates-file format: indicative rates for the 38 currencies most traded
 * (BIS Triennial Survey) and a few pegged ones, dated; conf/usd-rates.txt
 * holds the same text.  NUL-terminated.
 */
extern const char txp_rates_builtin[];

/*
 * Adds the rates of `over` to `dst`, replacing those `dst` already has for
 * the same currency; `dst` keeps its date.  Returns 0 or -ENOMEM (`dst`
 * unchanged).
 */
int txp_rates_merge(struct txp_rates *dst, const struct txp_rates *over);

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
int txp_rates_to_usd_cents(const struct txp_rates *r, const char *currency, unsigned exponent, int64_t amount,
                           int64_t *cents);

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
int txp_idset_parse(const char *buf, size_t len, const char *name, struct txp_idset **out, char *err, size_t errlen);

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
