/* clock.c: the clocks every module reads, and the one RFC 3339 parser. */
#include "txpipe/clock.h"

#include <errno.h>
#include <time.h>

#include "txpipe/ascii.h"

int64_t txp_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d: the
 * days_from_civil algorithm published by Howard Hinnant ("chrono-Compatible
 * Low-Level Date Algorithms"), which counts in 400-year eras of 146097
 * days starting on March 1 so that the leap day falls at the end. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads n digits; -1 when one is not a digit. */
static int read_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!txp_is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int txp_time_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int year, mon, day, hour, min, sec, frac_ms = 0, off = 0;
	size_t p = 19;

	/* Fixed part: YYYY-MM-DDTHH:MM:SS, then [.frac] and Z or +HH:MM. */
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	year = read_digits(s, 4);
	mon = read_digits(s + 5, 2);
	day = read_digits(s + 8, 2);
	hour = read_digits(s + 11, 2);
	min = read_digits(s + 14, 2);
	sec = read_digits(s + 17, 2);
	if (year < 0 || mon < 1 || mon > 12 || day < 1 || hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 ||
	    sec > 60)
		return -EINVAL;
	if (day > mdays[mon - 1] + (mon == 2 && is_leap((unsigned)year)))
		return -EINVAL;
	if (s[p] == '.') {
		size_t start = ++p;
		while (p < len && txp_is_digit(s[p])) {
			if (p - start < 3)
				frac_ms = frac_ms * 10 + (s[p] - '0');
			p++;
		}
		if (p == start || p - start > 9)
			return -EINVAL;
		for (size_t k = p - start; k < 3; k++)
			frac_ms *= 10;
	}
	if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
		p++;
	} else if (p < len && (s[p] == '+' || s[p] == '-')) {
		int oh, om;
		if (len - p != 6 || s[p + 3] != ':')
			return -EINVAL;
		oh = read_digits(s + p + 1, 2);
		om = read_digits(s + p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		off = (oh * 60 + om) * 60;
		if (s[p] == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (p != len)
		return -EINVAL;
	if (sec == 60) {
		/* Unix time has no leap seconds. */
		sec = 59;
		frac_ms = 999;
	}
	*ms = ((days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hour * 3600 + min * 60 + sec) - off) *
	              1000 +
	      frac_ms;
	return 0;
}
