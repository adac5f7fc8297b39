/* rulelists.c: parsing and lookup of USD rates, country sets and identifier list files. */
#include "txpipe/rulelists.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "txpipe/file.h"

/* Highest accepted rate: 10^12 micro-USD (1,000,000 USD) per major unit,
 * far above any real currency, and low enough that amount * rate stays in
 * range for amounts up to ~9.2 million major units before saturating. */
#define RATE_MAX UINT64_C(1000000000000)

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *trim_end(const char *start, const char *end)
{
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end;
}

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Calls `fn` on each trimmed, non-empty comma-separated item of `spec`.
 * Stops at the first non-zero return. */
static int for_each_item(const char *spec, int (*fn)(const char *s, size_t n, void *arg), void *arg)
{
	const char *p = spec != NULL ? spec : "";
	bool after_comma = false;

	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma != NULL ? comma : p + strlen(p);
		const char *s = skip_space(p, end);
		const char *e = trim_end(s, end);
		int rc;

		if (e > s) {
			rc = fn(s, (size_t)(e - s), arg);
			if (rc != 0)
				return rc;
		} else if (comma != NULL || after_comma) {
			/* "A,,B" or a trailing comma: an empty item is a typo. */
			return -EINVAL;
		}
		if (comma == NULL)
			return 0;
		p = comma + 1;
		after_comma = true;
	}
}

struct rates_parse {
	struct txp_rates *out;
	size_t cap;
	char *err;
	size_t errlen;
};

static int rate_cmp(const void *a, const void *b)
{
	return strcmp(((const struct txp_rate *)a)->currency, ((const struct txp_rate *)b)->currency);
}

static int rates_item(const char *s, size_t n, void *arg)
{
	struct rates_parse *rp = arg;
	struct txp_rate r = { { 0 }, 0 };
	size_t i;

	if (n < 5 || !is_alpha(s[0]) || !is_alpha(s[1]) || !is_alpha(s[2]) || s[3] != ':') {
		snprintf(rp->err, rp->errlen, "\"%.*s\": expected CODE:MICRO_USD, e.g. EUR:1080000", (int)n, s);
		return -EINVAL;
	}
	for (i = 0; i < 3; i++)
		r.currency[i] = upper(s[i]);
	for (i = 4; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || r.micro_usd > RATE_MAX) {
			snprintf(rp->err, rp->errlen, "\"%.*s\": the rate must be an integer 1..%llu (micro-USD)",
			         (int)n, s, (unsigned long long)RATE_MAX);
			return -EINVAL;
		}
		r.micro_usd = r.micro_usd * 10 + (uint64_t)(s[i] - '0');
	}
	if (r.micro_usd == 0 || r.micro_usd > RATE_MAX) {
		snprintf(rp->err, rp->errlen, "\"%.*s\": the rate must be an integer 1..%llu (micro-USD)", (int)n, s,
		         (unsigned long long)RATE_MAX);
		return -EINVAL;
	}
	for (i = 0; i < rp->out->n; i++) {
		if (strcmp(rp->out->items[i].currency, r.currency) == 0) {
			snprintf(rp->err, rp->errlen, "\"%.*s\": %s is listed twice", (int)n, s, r.currency);
			return -EINVAL;
		}
	}
	if (rp->out->n == rp->cap) {
		size_t ncap = rp->cap ? rp->cap * 2 : 16;
		struct txp_rate *ni = realloc(rp->out->items, ncap * sizeof(*ni));
		if (ni == NULL) {
			snprintf(rp->err, rp->errlen, "out of memory");
			return -ENOMEM;
		}
		rp->out->items = ni;
		rp->cap = ncap;
	}
	rp->out->items[rp->out->n++] = r;
	return 0;
}

int txp_rates_parse(const char *spec, struct txp_rates *out, char *err, size_t errlen)
{
	struct rates_parse rp = { out, 0, err, errlen };
	int rc;

	out->n = 0;
	out->items = NULL;
	out->date = 0;
	if (errlen > 0)
		err[0] = '\0';
	rc = for_each_item(spec, rates_item, &rp);
	if (rc != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "empty item in the rate list");
		txp_rates_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(out->items[0]), rate_cmp);
	return 0;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian), by
 * counting whole 400-year eras from year 0 shifted to start in March, so
 * the leap day falls at the end of the year. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" (exactly) to Unix seconds at 00:00 UTC; -1 when malformed. */
static int64_t parse_date(const char *s, size_t n)
{
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned v[3] = { 0, 0, 0 }, y, m, d;
	const unsigned width[3] = { 4, 2, 2 };
	size_t pos = 0;

	if (n != 10)
		return -1;
	for (unsigned f = 0; f < 3; f++) {
		for (unsigned i = 0; i < width[f]; i++, pos++) {
			if (s[pos] < '0' || s[pos] > '9')
				return -1;
			v[f] = v[f] * 10 + (unsigned)(s[pos] - '0');
		}
		if (f < 2 && s[pos++] != '-')
			return -1;
	}
	y = v[0];
	m = v[1];
	d = v[2];
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	return days_from_civil(y, m, d) * 86400;
}

int txp_rates_parse_file(const char *text, size_t len, const char *name, struct txp_rates *out, char *err,
                         size_t errlen)
{
	struct rates_parse rp = { out, 0, err, errlen };
	const char *p = text, *end = text + len;
	unsigned line = 0;
	bool dated = false;
	char sub[160];
	int rc = 0;

	out->n = 0;
	out->items = NULL;
	out->date = 0;
	rp.err = sub;
	rp.errlen = sizeof(sub);
	while (p < end && rc == 0) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *a, *b, *c, *e;
		char item[64];

		if (eol == NULL)
			eol = end;
		line++;
		a = skip_space(p, eol);
		e = trim_end(a, eol);
		if (e > a && e[-1] == '\r')
			e = trim_end(a, e - 1);
		p = eol < end ? eol + 1 : end;
		/* A comment runs from '#' to the end of the line. */
		if ((b = memchr(a, '#', (size_t)(e - a))) != NULL)
			e = trim_end(a, b);
		if (a == e)
			continue;
		/* Two fields: a word, then a value. */
		for (b = a; b < e && *b != ' ' && *b != '\t'; b++)
			;
		c = skip_space(b, e);
		if (c == e || memchr(c, ' ', (size_t)(e - c)) != NULL || memchr(c, '\t', (size_t)(e - c)) != NULL) {
			snprintf(err, errlen, "%s:%u: expected \"CODE MICRO_USD\" or \"date YYYY-MM-DD\"", name, line);
			rc = -EINVAL;
		} else if (b - a == 4 && memcmp(a, "date", 4) == 0) {
			if (dated) {
				snprintf(err, errlen, "%s:%u: a second date line", name, line);
				rc = -EINVAL;
			} else if ((out->date = parse_date(c, (size_t)(e - c))) < 0) {
				snprintf(err, errlen, "%s:%u: \"%.*s\": expected a date YYYY-MM-DD from 1970 on", name,
				         line, (int)(e - c) > 40 ? 40 : (int)(e - c), c);
				rc = -EINVAL;
			}
			dated = true;
		} else if (b - a != 3 || (size_t)(e - c) > sizeof(item) - 5) {
			snprintf(err, errlen, "%s:%u: \"%.*s\": expected a three-letter currency code and a rate", name,
			         line, (int)(e - a) > 40 ? 40 : (int)(e - a), a);
			rc = -EINVAL;
		} else {
			/* The same checks as the inline list: "CODE:RATE". */
			snprintf(item, sizeof(item), "%.3s:%.*s", a, (int)(e - c), c);
			rc = rates_item(item, strlen(item), &rp);
			if (rc != 0)
				snprintf(err, errlen, "%s:%u: %s", name, line, sub);
		}
	}
	if (rc == 0 && !dated) {
		snprintf(err, errlen, "%s: no \"date YYYY-MM-DD\" line: say which day the rates are from", name);
		rc = -EINVAL;
	}
	if (rc != 0) {
		txp_rates_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(out->items[0]), rate_cmp);
	return 0;
}

/* Reads the whole regular file `path` (at most `max` bytes) into a malloc'd
 * buffer (caller frees) with a NUL after its `*len` bytes. */
static int read_whole(const char *path, uint64_t max, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	fd = txp_file_open_regular(path, true, (size_t)max, &st, err, errlen);
	if (fd < 0)
		return fd;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto err_after_open;
	}
	/* Read up to the size fstat saw; a file growing meanwhile is read at
	 * the next reload. */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(buf);
			goto err_after_open;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;

err_after_open:
	close(fd);
	return rc;
}

int txp_rates_load(const char *path, struct txp_rates *out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	out->n = 0;
	out->items = NULL;
	out->date = 0;
	rc = read_whole(path, TXP_RATES_FILE_MAX, &buf, &len, err, errlen);
	if (rc != 0)
		return rc;
	rc = txp_rates_parse_file(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

int txp_rates_merge(struct txp_rates *dst, const struct txp_rates *over)
{
	struct txp_rate *items;
	size_t n = dst->n;

	if (over->n == 0)
		return 0;
	items = malloc((dst->n + over->n) * sizeof(*items));
	if (items == NULL)
		return -ENOMEM;
	if (dst->n > 0)
		memcpy(items, dst->items, dst->n * sizeof(*items));
	for (size_t i = 0; i < over->n; i++) {
		size_t j;

		for (j = 0; j < dst->n && strcmp(items[j].currency, over->items[i].currency) != 0; j++)
			;
		if (j < dst->n)
			items[j] = over->items[i];
		else
			items[n++] = over->items[i];
	}
	qsort(items, n, sizeof(*items), rate_cmp);
	free(dst->items);
	dst->items = items;
	dst->n = n;
	return 0;
}

int txp_rates_copy(struct txp_rates *dst, const struct txp_rates *src)
{
	dst->n = 0;
	dst->items = NULL;
	dst->date = src->date;
	if (src->n == 0)
		return 0;
	dst->items = malloc(src->n * sizeof(src->items[0]));
	if (dst->items == NULL)
		return -ENOMEM;
	memcpy(dst->items, src->items, src->n * sizeof(src->items[0]));
	dst->n = src->n;
	return 0;
}

void txp_rates_free(struct txp_rates *r)
{
	free(r->items);
	r->items = NULL;
	r->n = 0;
	r->date = 0;
}

uint64_t txp_rates_find(const struct txp_rates *r, const char *currency)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->items[mid].currency, currency);
		if (c == 0)
			return r->items[mid].micro_usd;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int txp_rates_to_usd_cents(const struct txp_rates *r, const char *currency, unsigned exponent, int64_t amount,
                           int64_t *cents)
{
	static const int64_t pow10[19] = { 1,
		                           10,
		                           100,
		                           1000,
		                           10000,
		                           100000,
		                           1000000,
		                           10000000,
		                           100000000,
		                           1000000000,
		                           10000000000,
		                           100000000000,
		                           1000000000000,
		                           10000000000000,
		                           100000000000000,
		                           1000000000000000,
		                           10000000000000000,
		                           100000000000000000,
		                           1000000000000000000 };
	uint64_t rate = txp_rates_find(r, currency);
	int64_t prod;
	unsigned shift;

	if (rate == 0)
		return -ENOENT;
	if (exponent > 18)
		return -EINVAL;
	/* micro-USD per major unit -> cents per minor unit is a division by
	 * 10^(exponent) (minor to major) and by 10^4 (micro-USD to cents). */
	if (__builtin_mul_overflow(amount, (int64_t)rate, &prod)) {
		*cents = amount < 0 ? INT64_MIN : INT64_MAX;
		return 0;
	}
	shift = exponent + 4;
	/* C division truncates toward zero, and truncating twice equals
	 * truncating once, so the split division is exact. */
	while (shift > 18) {
		prod /= pow10[18];
		shift -= 18;
	}
	*cents = prod / pow10[shift];
	return 0;
}

static int country_item(const char *s, size_t n, void *arg)
{
	struct txp_country_set *set = arg;
	unsigned idx;

	if (n != 2 || !is_alpha(s[0]) || !is_alpha(s[1]))
		return -EINVAL;
	idx = (unsigned)(upper(s[0]) - 'A') * 26 + (unsigned)(upper(s[1]) - 'A');
	set->bits[idx / 8] |= (uint8_t)(1u << (idx % 8));
	return 0;
}

/* Finds the first bad item again, for the message. */
static int country_bad_item(const char *s, size_t n, void *arg)
{
	const char **bad = arg;

	if (n != 2 || !is_alpha(s[0]) || !is_alpha(s[1])) {
		*bad = s;
		return -EINVAL;
	}
	return 0;
}

int txp_country_set_parse(const char *spec, struct txp_country_set *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = for_each_item(spec, country_item, out);
	if (rc != 0) {
		const char *bad = NULL;
		for_each_item(spec, country_bad_item, &bad);
		if (bad != NULL)
			snprintf(err, errlen, "\"%.*s\": not an ISO 3166-1 alpha-2 code", (int)strcspn(bad, ","), bad);
		else
			snprintf(err, errlen, "empty item in the country list");
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

bool txp_country_set_has(const struct txp_country_set *s, const char *cc)
{
	unsigned idx;

	if (cc == NULL || !is_alpha(cc[0]) || !is_alpha(cc[1]) || cc[2] != '\0')
		return false;
	idx = (unsigned)(upper(cc[0]) - 'A') * 26 + (unsigned)(upper(cc[1]) - 'A');
	return (s->bits[idx / 8] >> (idx % 8)) & 1u;
}

/* Open addressing over pointers into one arena of NUL-terminated entries.
 * The contents come from the operator, so a plain FNV-1a hash is enough:
 * lookups of attacker-chosen keys can only be as slow as the longest run of
 * occupied slots, which a load factor of at most 1/2 keeps short. */
struct txp_idset {
	size_t n;
	size_t mask;
	const char **slots;
	char *arena;
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static bool idset_insert(struct txp_idset *set, const char *s, size_t n)
{
	size_t i = (size_t)fnv1a(s, n) & set->mask;

	while (set->slots[i] != NULL) {
		if (strncmp(set->slots[i], s, n) == 0 && set->slots[i][n] == '\0')
			return false;
		i = (i + 1) & set->mask;
	}
	set->slots[i] = s;
	set->n++;
	return true;
}

int txp_idset_parse(const char *buf, size_t len, const char *name, struct txp_idset **out, char *err, size_t errlen)
{
	struct txp_idset *set;
	size_t lines = 1, cap = 2, lineno = 0;
	const char *p = buf, *end = buf + len;
	char *a;
	int rc = -ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	while (cap < lines * 2)
		cap *= 2;
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		goto err_msg;
	set->slots = calloc(cap, sizeof(set->slots[0]));
	set->arena = malloc(len + 1);
	if (set->slots == NULL || set->arena == NULL)
		goto err_after_set;
	set->mask = cap - 1;
	a = set->arena;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		const char *s, *e;

		lineno++;
		s = p;
		while (s < le && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		e = le;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		p = nl != NULL ? nl + 1 : end;
		if (e == s || *s == '#')
			continue;
		if ((size_t)(e - s) > TXP_IDSET_ENTRY_MAX) {
			snprintf(err, errlen, "%s:%zu: entry longer than %d bytes", name, lineno, TXP_IDSET_ENTRY_MAX);
			rc = -EINVAL;
			goto err_after_set;
		}
		for (const char *q = s; q < e; q++) {
			if ((unsigned char)*q < 0x20 || *q == 0x7f) {
				snprintf(err, errlen, "%s:%zu: control character in entry", name, lineno);
				rc = -EINVAL;
				goto err_after_set;
			}
		}
		memcpy(a, s, (size_t)(e - s));
		a[e - s] = '\0';
		if (idset_insert(set, a, (size_t)(e - s)))
			a += (e - s) + 1;
	}
	*out = set;
	return 0;

err_after_set:
	txp_idset_free(set);
err_msg:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	return rc;
}

int txp_idset_load(const char *path, struct txp_idset **out, char *err, size_t errlen)
{
	char *buf;
	size_t got;
	int rc;

	*out = NULL;
	rc = read_whole(path, TXP_IDSET_FILE_MAX, &buf, &got, err, errlen);
	if (rc != 0)
		return rc;
	rc = txp_idset_parse(buf, got, path, out, err, errlen);
	free(buf);
	return rc;
}

bool txp_idset_has(const struct txp_idset *set, const char *s)
{
	size_t n, i;

	if (set == NULL || s == NULL || s[0] == '\0' || set->n == 0)
		return false;
	n = strlen(s);
	i = (size_t)fnv1a(s, n) & set->mask;
	while (set->slots[i] != NULL) {
		if (strcmp(set->slots[i], s) == 0)
			return true;
		i = (i + 1) & set->mask;
	}
	return false;
}

size_t txp_idset_count(const struct txp_idset *set)
{
	return set != NULL ? set->n : 0;
}

void txp_idset_free(struct txp_idset *set)
{
	if (set == NULL)
		return;
	free(set->slots);
	free(set->arena);
	free(set);
}
