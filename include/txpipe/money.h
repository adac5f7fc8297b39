/* money.h: amounts as integer minor units, parsed from decimal text or JSON numbers without floating-point arithmetic. */
#ifndef TXPIPE_MONEY_H
#define TXPIPE_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* The largest minor-unit exponent of any ISO 4217 code (CLF, UYW). */
#define TXP_MONEY_MAX_EXPONENT 4

/* A JSON real is accepted only when its shortest round-trip decimal form has
 * at most this many significant digits (DBL_DIG): beyond it the double no
 * longer tells which decimal the producer meant. */
#define TXP_MONEY_MAX_SIG_DIGITS 15

/* Room for any formatted amount: sign, 19 digits, point, NUL. */
#define TXP_MONEY_FMT_MAX 24

/* Failures, all negative. */
enum txp_money_error {
	TXP_MONEY_ESYNTAX = -1,    /* not a plain decimal */
	TXP_MONEY_EPRECISION = -2, /* a non-zero digit below the currency's minor unit */
	TXP_MONEY_ERANGE = -3,     /* does not fit in int64 minor units */
	TXP_MONEY_EDIGITS = -4     /* a double needing more than 15 significant digits */
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
 * Converts a JSON integer amount in major units to minor units.
 * Returns 0 or TXP_MONEY_ERANGE on overflow.  Negative input gives a
 * negative result: the range check is the caller's.
 */
int txp_money_from_int(int64_t major, unsigned exponent, int64_t *minor);

/*
 * Converts a JSON real (as decoded by the JSON parser) to minor units.  The
 * double is turned back into the shortest decimal text that reads back as
 * the same double, and that text is parsed exactly: 19.99 gives 1999 and
 * 1.005 gives 1005/1000, never 1998 or 1004.  When that text needs more than
 * TXP_MONEY_MAX_SIG_DIGITS significant digits (0.1 + 0.2 =
 * 0.30000000000000004) it returns TXP_MONEY_EDIGITS: the producer must send
 * the amount as a decimal string.
 *
 * Returns 0, TXP_MONEY_ESYNTAX (NaN, infinity), TXP_MONEY_EDIGITS,
 * TXP_MONEY_EPRECISION or TXP_MONEY_ERANGE.  The result keeps the sign of
 * `value`.  Relies on the "C" LC_NUMERIC locale, which a program has unless
 * it calls setlocale(3).
 */
int txp_money_from_double(double value, unsigned exponent, int64_t *minor);

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
