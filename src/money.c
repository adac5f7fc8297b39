/* money.c: exact conversions between decimal amounts and integer minor units. */
#include "txpipe/money.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t pow10_tab[TXP_MONEY_MAX_EXPONENT + 1] = {1, 10, 100, 1000, 10000};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The decimal whose digits are `ip` (ni of them) then `fp` (nf), with the
 * point after the first ni + shift digits, as an integer: the digits past
 * that point must all be zero.  `shift` is the power-of-ten scaling (the
 * currency exponent plus any 'e' exponent of the text).
 */
static int scale_digits(const char *ip, size_t ni, const char *fp, size_t nf, long shift, int64_t *out)
{
	long keep = (long)ni + shift;
	size_t n = ni + nf;
	int64_t v = 0;

	for (size_t k = 0; k < n; k++) {
		int d = (k < ni ? ip[k] : fp[k - ni]) - '0';
		if ((long)k >= keep) {
			if (d != 0)
				return TXP_MONEY_EPRECISION;
			continue;
		}
		if (v > (INT64_MAX - d) / 10)
			return TXP_MONEY_ERANGE;
		v = v * 10 + d;
	}
	for (long k = (long)n; k < keep && v != 0; k++) {
		if (v > INT64_MAX / 10)
			return TXP_MONEY_ERANGE;
		v *= 10;
	}
	*out = v;
	return 0;
}

int txp_money_parse(const char *s, size_t len, unsigned exponent, int64_t *minor)
{
	size_t i = 0, ni, fstart, nf = 0;

	if (exponent > TXP_MONEY_MAX_EXPONENT)
		return TXP_MONEY_ERANGE;
	while (i < len && is_digit(s[i]))
		i++;
	ni = i;
	if (ni == 0 || (ni > 1 && s[0] == '0'))
		return TXP_MONEY_ESYNTAX;
	fstart = i;
	if (i < len) {
		if (s[i] != '.')
			return TXP_MONEY_ESYNTAX;
		fstart = ++i;
		while (i < len && is_digit(s[i]))
			i++;
		nf = i - fstart;
		if (nf == 0 || i != len)
			return TXP_MONEY_ESYNTAX;
	}
	return scale_digits(s, ni, s + fstart, nf, (long)exponent, minor);
}

int txp_money_from_int(int64_t major, unsigned exponent, int64_t *minor)
{
	int64_t p;

	if (exponent > TXP_MONEY_MAX_EXPONENT)
		return TXP_MONEY_ERANGE;
	p = pow10_tab[exponent];
	if (major > INT64_MAX / p || major < INT64_MIN / p)
		return TXP_MONEY_ERANGE;
	*minor = major * p;
	return 0;
}

/*
 * Parses the text printf's %g produced: [-] digits [. digits] [e (+|-) digits].
 * Only ever sees that output, so it is lenient where %g cannot vary.
 */
static int parse_g_text(const char *s, unsigned exponent, int64_t *minor)
{
	const char *ip, *fp = "";
	size_t ni, nf = 0;
	long e10 = 0;
	bool neg = false;
	int rc;

	if (*s == '-') {
		neg = true;
		s++;
	}
	ip = s;
	while (is_digit(*s))
		s++;
	ni = (size_t)(s - ip);
	if (*s == '.') {
		fp = ++s;
		while (is_digit(*s))
			s++;
		nf = (size_t)(s - fp);
	}
	if (*s == 'e' || *s == 'E') {
		bool eneg = false;
		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		/* A double's decimal exponent is within +-324. */
		while (is_digit(*s) && e10 < 100000)
			e10 = e10 * 10 + (*s++ - '0');
		if (eneg)
			e10 = -e10;
	}
	if (*s != '\0' || ni + nf == 0)
		return TXP_MONEY_ESYNTAX;
	rc = scale_digits(ip, ni, fp, nf, e10 + (long)exponent, minor);
	if (rc == 0 && neg)
		*minor = -*minor;
	return rc;
}

int txp_money_from_double(double value, unsigned exponent, int64_t *minor)
{
	char text[40];

	if (exponent > TXP_MONEY_MAX_EXPONENT)
		return TXP_MONEY_ERANGE;
	if (!isfinite(value))
		return TXP_MONEY_ESYNTAX;
	/*
	 * The shortest decimal that reads back as `value` is what the producer
	 * wrote (or what any JSON encoder prints for it).  Trying %.1g..%.17g
	 * until strtod returns `value` finds it, but one step is enough here:
	 * we only accept it with at most 15 significant digits, and DBL_DIG = 15
	 * guarantees that any decimal of at most 15 significant digits survives
	 * decimal -> double -> %.15g unchanged (C11 5.2.4.2.2).  So if a short
	 * form D exists, %.15g prints D padded with zeros, which %g strips; and
	 * if %.15g does not read back as `value`, the shortest form needs 16 or
	 * 17 digits.  The test suite checks this against the full search.
	 */
	snprintf(text, sizeof(text), "%.*g", TXP_MONEY_MAX_SIG_DIGITS, value);
	if (strtod(text, NULL) != value)
		return TXP_MONEY_EDIGITS;
	return parse_g_text(text, exponent, minor);
}

int64_t txp_money_max_minor(uint64_t max_major, unsigned exponent)
{
	int64_t p = pow10_tab[exponent <= TXP_MONEY_MAX_EXPONENT ? exponent : TXP_MONEY_MAX_EXPONENT];

	if (max_major > (uint64_t)(INT64_MAX / p))
		return INT64_MAX;
	return (int64_t)max_major * p;
}

int txp_money_format(int64_t minor, unsigned exponent, char *buf, size_t size)
{
	char rev[TXP_MONEY_FMT_MAX];
	size_t n = 0, out = 0;
	/* Magnitude in unsigned arithmetic so INT64_MIN has one too. */
	uint64_t mag = minor < 0 ? 0 - (uint64_t)minor : (uint64_t)minor;

	if (exponent > TXP_MONEY_MAX_EXPONENT)
		return -EINVAL;
	do {
		rev[n++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag != 0);
	while (n < exponent + 1u)
		rev[n++] = '0';
	if ((minor < 0 ? 1 : 0) + n + (exponent > 0 ? 1 : 0) + 1 > size)
		return -ENOSPC;
	if (minor < 0)
		buf[out++] = '-';
	while (n > 0) {
		if (n == exponent)
			buf[out++] = '.';
		buf[out++] = rev[--n];
	}
	buf[out] = '\0';
	return (int)out;
}

const char *txp_money_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case TXP_MONEY_ESYNTAX:
		return "not a plain decimal number";
	case TXP_MONEY_EPRECISION:
		return "more fraction digits than the currency has";
	case TXP_MONEY_ERANGE:
		return "out of range";
	case TXP_MONEY_EDIGITS:
		return "more than 15 significant digits";
	default:
		return "unknown error";
	}
}
