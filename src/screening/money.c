/* money.c: exact conversions between decimal amounts (strings or JSON number text) and integer minor units. */
#include "txpipe/money.h"

#include <errno.h>
#include <stdbool.h>

#include "txpipe/ascii.h"

static const int64_t pow10_tab[TXP_MONEY_MAX_EXPONENT + 1] = { 1, 10, 100, 1000, 10000 };

/*
 * The decimal whose digits are `ip` (ni of them) then `fp` (nf), with the
 * point after the first ni + shift digits, as an integer: the digits past
 * that point must all be zero.  `shift` is the power-of-ten scaling (the
 * currency exponent plus any 'e' exponent of the text).
 */
static int scale_digits(const char *ip, size_t ni, const char *fp, size_t nf, int64_t shift, int64_t *out)
{
	int64_t keep = (int64_t)ni + shift;
	size_t n = ni + nf;
	int64_t v = 0;

	for (size_t k = 0; k < n; k++) {
		int d = (k < ni ? ip[k] : fp[k - ni]) - '0';
		if ((int64_t)k >= keep) {
			if (d != 0)
				return TXP_MONEY_EPRECISION;
			continue;
		}
		if (v > (INT64_MAX - d) / 10)
			return TXP_MONEY_ERANGE;
		v = v * 10 + d;
	}
	for (int64_t k = (int64_t)n; k < keep && v != 0; k++) {
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
	while (i < len && txp_is_digit(s[i]))
		i++;
	ni = i;
	if (ni == 0 || (ni > 1 && s[0] == '0'))
		return TXP_MONEY_ESYNTAX;
	fstart = i;
	if (i < len) {
		if (s[i] != '.')
			return TXP_MONEY_ESYNTAX;
		fstart = ++i;
		while (i < len && txp_is_digit(s[i]))
			i++;
		nf = i - fstart;
		if (nf == 0 || i != len)
			return TXP_MONEY_ESYNTAX;
	}
	return scale_digits(s, ni, s + fstart, nf, (int64_t)exponent, minor);
}

int txp_money_parse_number(const char *s, size_t len, unsigned exponent, int64_t *minor)
{
	size_t i = 0, ni, istart, fstart, nf = 0;
	int64_t e10 = 0;
	bool neg = false;
	int rc;

	if (exponent > TXP_MONEY_MAX_EXPONENT)
		return TXP_MONEY_ERANGE;
	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	istart = i;
	while (i < len && txp_is_digit(s[i]))
		i++;
	ni = i - istart;
	if (ni == 0 || (ni > 1 && s[istart] == '0'))
		return TXP_MONEY_ESYNTAX;
	fstart = i;
	if (i < len && s[i] == '.') {
		fstart = ++i;
		while (i < len && txp_is_digit(s[i]))
			i++;
		nf = i - fstart;
		if (nf == 0)
			return TXP_MONEY_ESYNTAX;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		bool eneg = false;
		size_t e0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		e0 = i;
		/* Saturating at 2^40 keeps the result exact: the text cannot have
		 * that many digits, so past it every non-zero digit is either far
		 * above int64 or far below the minor unit either way. */
		while (i < len && txp_is_digit(s[i])) {
			if (e10 < (INT64_C(1) << 40))
				e10 = e10 * 10 + (s[i] - '0');
			i++;
		}
		if (i == e0)
			return TXP_MONEY_ESYNTAX;
		if (eneg)
			e10 = -e10;
	}
	if (i != len)
		return TXP_MONEY_ESYNTAX;
	rc = scale_digits(s + istart, ni, s + fstart, nf, e10 + (int64_t)exponent, minor);
	if (rc == 0 && neg)
		*minor = -*minor;
	return rc;
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
	default:
		return "unknown error";
	}
}
