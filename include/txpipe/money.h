/* money.h: amounts as integer minor units, parsed from decimal text or JSON number text without floating point. */
#ifndef TXPIPE_MONEY_H
#define TXPIPE_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* The largest minor-unit exponent of any ISO 4217 code (CLF, UYW). */
#define TXP_MONEY_MAX_EXPONENT 4

/* Room for any formatted amount: sign, 19 digits, point, NUL. */
#define TXP_MONEY_FMT_MAX 24

/* Failures, all negative. */
enum txp_money_error {
	TXP_MONEY_ESYNTAX = -1,    /* not a plain decimal */
	TXP_MONEY_EPRECISION = -2, /* a non-zero digit below the currency's minor unit */
	TXP_MONEY_ERANGE = -3      /* does not fit in int64 minor units */
};

/*
 * Parses the `len` bytes at `s` (no NUL needed) as a decimal amount and
 * stores it in *minor as integer minor units of a currency with `exponent`
 * minor digits (0..TXP_MONEY_MAX_EXPONENT).
 *
 * Grammar: int-part [ "." 1*DIGIT ], int-part = "0" / %x31-39 *DIGIT.  No
 * sign, exponent, spaces or '+'; "", ".", "1.", ".5" and leading zeros
 * ("007", "00.5") are refused, the same integer-part rule as a JSON number.
 * Fraction digits past `exponent` are accepted only when they are zeros
 * ("1500.00" JPY is exactly 1500), since they do not change the value.
 *
 * Returns 0, TXP_MONEY_ESYNTAX, TXP_MONEY_EPRECISION or TXP_MONEY_ERANGE.
 * *minor is written only on success and is then >= 0.
 */
int txp_money_parse(const char *s, size_t len, unsigned exponent, int64_t *minor);

/*
 * Parses the `len` bytes at `s` as a JSON number (RFC 8259 section 6:
 * [ "-" ] int [ "." 1*DIGIT ] [ ("e" / "E") [ "+" / "-" ] 1*DIGIT ]) and
 * stores its exact value in *minor as minor units of a currency with
 * `exponent` minor digits.  No floating point is involved: the digits are
 * shifted by the exponents, so 19.99 is 1999, 1.2e2 is 12000 and
 * 0.30000000000000004 is a precision error, not 30.  As with
 * txp_money_parse(), further zero digits below the minor unit are accepted.
 *
 * Returns 0, TXP_MONEY_ESYNTAX, TXP_MONEY_EPRECISION or TXP_MONEY_ERANGE
 * (magnitude above INT64_MAX minor units).  *minor is written only on
 * success and keeps the sign of the text ("-0" gives 0): the range check
 * is the caller's.
 */
int txp_money_parse_number(const char *s, size_t len, unsigned exponent, int64_t *minor);

/*
 * The largest amount in minor units that `max_major` major units allow,
 * saturating at INT64_MAX.
 */
int64_t txp_money_max_minor(uint64_t max_major, unsigned exponent);

/*
 * Writes `minor` as a decimal with exactly `exponent` fraction digits
 * ("12.34", "0.005", "1000") into `buf`.  Returns the length written
 * (without the NUL), or -ENOSPC when `size` is too small
 * (TXP_MONEY_FMT_MAX always suffices).
 */
int txp_money_format(int64_t minor, unsigned exponent, char *buf, size_t size);

/* A short English description of a txp_money_error, for messages. */
const char *txp_money_strerror(int err);

#endif
