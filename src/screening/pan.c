/* pan.c: a scanner for Luhn-valid card numbers in free text, and masking them. */
#include "txpipe/pan.h"

#include <string.h>

#include "txpipe/ascii.h"

static bool is_alnum(char c)
{
	return txp_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Any printable ASCII character that is not a letter or a digit may join
 * digit groups: producers write "4111.1111.1111.1111", "4111_1111_...",
 * "4111:1111:..." or "4111/1111/..." as readily as spaces and dashes. */
static bool is_sep(char c)
{
	return c >= ' ' && c <= '~' && !is_alnum(c);
}

/* Whether separator `c` may follow `first` in one run: the same character,
 * or spaces and dashes mixed, as card numbers are printed and typed. */
static bool same_sep(char first, char c)
{
	return c == first || ((c == ' ' || c == '-') && (first == ' ' || first == '-'));
}

bool txp_pan_luhn(const char *d, size_t n)
{
	unsigned sum = 0;
	bool dbl = false;

	if (n == 0)
		return false;
	/* From the rightmost (check) digit leftwards, double every second
	 * digit and add the digits of the product (ISO/IEC 7812-1 Annex B). */
	for (size_t i = n; i-- > 0;) {
		unsigned v = (unsigned)(d[i] - '0');
		if (dbl) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

/* A group of consecutive digits. */
struct group {
	size_t start, end;
};

/* Reads the run of digit groups starting at `i` (a digit): groups joined
 * by exactly one separator, the same one throughout (same_sep()).  Fills up
 * to `max` groups and returns how many, with the end of the whole run in
 * *run_end. */
static size_t read_run(const char *s, size_t len, size_t i, struct group *g, size_t max, size_t *run_end)
{
	size_t n = 0;
	char sep = 0;

	for (;;) {
		size_t st = i;
		while (i < len && txp_is_digit(s[i]))
			i++;
		if (n < max) {
			g[n].start = st;
			g[n].end = i;
			n++;
		}
		if (i + 1 < len && is_sep(s[i]) && txp_is_digit(s[i + 1]) && n < max &&
		    (sep == 0 || same_sep(sep, s[i]))) {
			if (sep == 0)
				sep = s[i];
			i++;
			continue;
		}
		*run_end = i;
		return n;
	}
}

/*
 * Card numbers are printed ungrouped, in fours with a shorter last group
 * (4-4-4-4, 4-4-4-4-3, 4-4-4-1: ISO/IEC 7812 and the networks' card
 * layouts), or as American Express 4-6-5 and Diners Club 4-6-4, or in
 * two halves of eight (8-8, as some systems split a 16-digit number).
 * Other groupings are identifiers ("ord-666943-000000000297"), not card
 * numbers: treating them as cards masked producers' ids.
 */
static bool card_grouping(const struct group *g, size_t first, size_t last)
{
	size_t ngroups = last - first + 1;
	size_t len[3];

	if (ngroups == 1)
		return true;
	if (ngroups == 2 && g[first].end - g[first].start == 8 && g[last].end - g[last].start == 8)
		return true;
	if (ngroups == 3) {
		for (size_t k = 0; k < 3; k++)
			len[k] = g[first + k].end - g[first + k].start;
		if (len[0] == 4 && len[1] == 6 && (len[2] == 4 || len[2] == 5))
			return true;
	}
	for (size_t k = first; k < last; k++)
		if (g[k].end - g[k].start != 4)
			return false;
	return g[last].end - g[last].start <= 4;
}

/* Checks the groups first..last as one candidate. */
static bool candidate(const char *s, const struct group *g, size_t first, size_t last)
{
	char buf[TXP_PAN_MAX_DIGITS];
	const char *digits = buf;
	size_t n = 0;

	if (!card_grouping(g, first, last))
		return false;

	for (size_t k = first; k <= last; k++) {
		size_t len = g[k].end - g[k].start;
		if (n + len > sizeof(buf))
			return false;
		memcpy(buf + n, s + g[k].start, len);
		n += len;
	}
	/* Zeros in front (a number padded to a fixed width of at most 19,
	 * "0004111...") change neither the number nor its Luhn sum. */
	while (n > 0 && digits[0] == '0') {
		digits++;
		n--;
	}
	if (n < TXP_PAN_MIN_DIGITS)
		return false;
	/* Major industry identifiers 0 and 1 are not card networks' (1 is
	 * UATP, airline cards), and excluding them keeps Unix timestamps in
	 * milliseconds (13 digits starting "1" until 2033) out.  Only Visa and
	 * Maestro issued 13-digit numbers, so 13 digits must start with 4-6,
	 * which keeps millisecond timestamps out until 2096. */
	if (digits[0] < '2' || (n == 13 && (digits[0] < '4' || digits[0] > '6')))
		return false;
	/* Halves of eight are no printed card layout, and "YYYYMMDD-NNNNNNNN"
	 * is a common id of that shape (one in ten would pass Luhn).  No
	 * card range starts with 20 or 21 (MII 2 holds Mir, 2200-2204, and
	 * Mastercard, 2221-2720), so those are taken for dates. */
	if (last == first + 1 && digits[0] == '2' && (digits[1] == '0' || digits[1] == '1'))
		return false;
	return txp_pan_luhn(digits, n);
}

bool txp_pan_find(const char *s, size_t len, size_t from, size_t *start, size_t *end)
{
	/* A run longer than this many groups is split; every group holds at
	 * least one digit, so 19 groups are enough for any candidate and the
	 * window slides over longer runs. */
	struct group g[64];
	size_t i = from;

	while (i < len) {
		size_t n, run_end;

		if (!txp_is_digit(s[i])) {
			i++;
			continue;
		}
		n = read_run(s, len, i, g, sizeof(g) / sizeof(g[0]), &run_end);
		for (size_t a = 0; a < n; a++) {
			size_t digits = 0;
			for (size_t b = a; b < n; b++) {
				digits += g[b].end - g[b].start;
				if (digits > TXP_PAN_MAX_DIGITS)
					break;
				if (digits >= TXP_PAN_MIN_DIGITS && candidate(s, g, a, b)) {
					*start = g[a].start;
					*end = g[b].end;
					return true;
				}
			}
		}
		/* When the group array filled up before the run ended, resume
		 * 19 groups back so candidates spanning the cut are still seen;
		 * when another separator ended it ("2024.4111-1111-1111-1111"),
		 * resume at its last group, which may start a run of its own. */
		if (run_end + 1 < len && is_sep(s[run_end]) && txp_is_digit(s[run_end + 1]))
			i = n == sizeof(g) / sizeof(g[0]) ? g[n - TXP_PAN_MAX_DIGITS].start : g[n - 1].start;
		else
			i = run_end;
	}
	return false;
}

size_t txp_pan_mask(char *s)
{
	size_t len = strlen(s), from = 0, start, end, found = 0;

	while (txp_pan_find(s, len, from, &start, &end)) {
		for (size_t k = start; k < end; k++) {
			if (txp_is_digit(s[k]))
				s[k] = '*';
		}
		found++;
		from = end;
	}
	return found;
}
