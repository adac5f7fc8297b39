/* gen.c: txpbench's transaction generator: named load profiles, a stream of JSON lines, and pools cut from it. */
#include "txp_build_config.h"

#include "gen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* xoshiro256** seeded with splitmix64 (Blackman and Vigna,
 * https://prng.di.unimi.it/): fast, and the same seed gives the same pool. */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n); the modulo bias is irrelevant for load generation. */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return n > 0 ? (uint32_t)(rng_next(r) % n) : 0;
}

/* True with probability pct/100. */
static bool rng_pct(struct rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

/* A stable per-key hash, so a customer keeps one card, device and home. */
static uint64_t key_hash(uint64_t seed, uint64_t kind, uint64_t key)
{
	uint64_t x = seed ^ (kind * UINT64_C(0x9e3779b97f4a7c15)) ^ (key * UINT64_C(0xd1b54a32d192ed03));
	return splitmix64(&x);
}

struct country {
	const char *code;
	const char *currency;
	int exponent; /* ISO 4217 minor-unit digits */
};

/* Home countries of customers and merchants (small profile). */
static const struct country countries[] = {
	{ "US", "USD", 2 }, { "GB", "GBP", 2 }, { "DE", "EUR", 2 }, { "FR", "EUR", 2 },
	{ "NL", "EUR", 2 }, { "ES", "EUR", 2 }, { "IT", "EUR", 2 }, { "JP", "JPY", 0 },
	{ "CA", "CAD", 2 }, { "AU", "AUD", 2 }, { "CH", "CHF", 2 }, { "SE", "SEK", 2 },
};
#define N_COUNTRIES (sizeof(countries) / sizeof(countries[0]))

/* The retail profile's countries, most frequent first: currency shares
 * close to card spending in a large multi-currency acquirer (about 45% USD,
 * 22% EUR, 9% GBP, 5% JPY, 4% CAD, 3% AUD, 1.5% CHF, 10% others), every
 * currency one txpiped's built-in rates table knows.  The per-dollar rates
 * follow that table (src/screening/rates_builtin.c, 2026-12-04), so amounts
 * are sized alike in every currency; KRW has no minor unit, KWD three. */
struct retail_country {
	struct country k;
	unsigned weight;        /* share of customers and merchants, per mille */
	uint32_t milli_per_usd; /* major units per US dollar, times 1000 */
};

static const struct retail_country retail_countries[] = {
	{ { "US", "USD", 2 }, 450, 1000 },  { { "DE", "EUR", 2 }, 70, 862 },    { { "GB", "GBP", 2 }, 90, 752 },
	{ { "FR", "EUR", 2 }, 55, 862 },    { { "JP", "JPY", 0 }, 50, 155039 }, { { "CA", "CAD", 2 }, 40, 1399 },
	{ { "ES", "EUR", 2 }, 35, 862 },    { { "IT", "EUR", 2 }, 35, 862 },    { { "AU", "AUD", 2 }, 30, 1527 },
	{ { "NL", "EUR", 2 }, 25, 862 },    { { "CH", "CHF", 2 }, 15, 803 },    { { "SE", "SEK", 2 }, 12, 9434 },
	{ { "PL", "PLN", 2 }, 10, 3650 },   { { "MX", "MXN", 2 }, 10, 18349 },  { { "NO", "NOK", 2 }, 8, 10101 },
	{ { "DK", "DKK", 2 }, 8, 6431 },    { { "SG", "SGD", 2 }, 8, 1297 },    { { "HK", "HKD", 2 }, 8, 7782 },
	{ { "BR", "BRL", 2 }, 8, 5348 },    { { "IN", "INR", 2 }, 8, 89286 },   { { "NZ", "NZD", 2 }, 6, 1748 },
	{ { "KR", "KRW", 0 }, 6, 1470588 }, { { "CZ", "CZK", 2 }, 5, 20921 },   { { "HU", "HUF", 2 }, 5, 330033 },
	{ { "ZA", "ZAR", 2 }, 5, 17241 },   { { "KW", "KWD", 3 }, 1, 307 },
};
#define N_RETAIL (sizeof(retail_countries) / sizeof(retail_countries[0]))

/* Retail: the share of good lines bought abroad, and of customers with a
 * second card. */
#define RETAIL_CROSS_BORDER_PCT 3
#define RETAIL_TWO_CARD_PCT 8
/* Below txpiped's default max_amount (10^6 major units in any currency), so
 * large amounts in currencies worth little are scored rather than rejected. */
#define MAX_MAJOR 999999

/* Far from every home country above; used for cross-border risk. */
static const char *const foreign_countries[] = { "NG", "BR", "RU", "VN", "RO", "UA", "ID", "PH", "KH", "PA" };
/* Comprehensively sanctioned jurisdictions: a compliance stage should stop these. */
static const char *const sanctioned_countries[] = { "KP", "IR", "SY", "CU" };

/* ISO 18245 merchant category codes: everyday ones and riskier ones
 * (6011 ATM cash, 6051 quasi-cash, 7995 gambling, 4829 money transfer). */
static const char *const mcc_common[] = { "5411", "5812", "5999", "5732", "4121", "5541", "5311", "5691" };
static const char *const mcc_risky[] = { "6011", "6051", "7995", "4829" };

/* Published test-card prefixes (Visa 4111 11, Mastercard 5555 55, Amex
 * 3782 82), so no generated PAN can be a real card. */
static const struct {
	const char *bin;
	int len;
} test_bins[] = { { "411111", 16 }, { "555555", 16 }, { "378282", 15 } };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

bool txpb_luhn_ok(const char *digits, size_t n)
{
	unsigned sum = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = digits[n - 1 - i];
		if (c < '0' || c > '9')
			return false;
		unsigned d = (unsigned)(c - '0');
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

bool txpb_id_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
		          c == '_' || c == ':' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* Fills pan (len digits + NUL) with a test-BIN PAN whose last digit is the
 * Luhn check digit computed over the others. */
static void make_pan(char *pan, uint64_t h)
{
	int which = (int)(h % N_OF(test_bins));
	int len = test_bins[which].len;
	memcpy(pan, test_bins[which].bin, 6);
	h /= N_OF(test_bins);
	for (int i = 6; i < len - 1; i++) {
		pan[i] = (char)('0' + h % 10);
		h = h / 10 ? h / 10 : h * 7 + 3;
	}
	pan[len - 1] = '0';
	pan[len] = '\0';
	for (int d = 0; d <= 9; d++) {
		pan[len - 1] = (char)('0' + d);
		if (txpb_luhn_ok(pan, (size_t)len))
			break;
	}
}

void txpb_put_seq(char *out, uint64_t seq)
{
	for (int i = TXPB_SEQ_DIGITS - 1; i >= 0; i--) {
		out[i] = (char)('0' + seq % 10);
		seq /= 10;
	}
}

void txpb_put_timestamp(char *out, int64_t unix_ms)
{
	time_t secs = (time_t)(unix_ms / 1000);
	struct tm tm;
	char buf[40];
	gmtime_r(&secs, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
	memcpy(out, buf, TXPB_TS_LEN);
}

int txpb_mix_parse(const char *s, struct txpb_mix *mix, char *err, size_t errlen)
{
	static const char *const names[TXPB_KIND_COUNT] = { "good", "risky", "invalid" };
	unsigned total = 0;
	memset(mix, 0, sizeof(*mix));
	while (*s != '\0') {
		const char *eq = strchr(s, '=');
		size_t klen = eq != NULL ? (size_t)(eq - s) : 0;
		int k;
		for (k = 0; k < TXPB_KIND_COUNT; k++)
			if (eq != NULL && strlen(names[k]) == klen && strncmp(s, names[k], klen) == 0)
				break;
		if (k == TXPB_KIND_COUNT) {
			snprintf(err, errlen, "--mix: expected good=N, risky=N or invalid=N at \"%s\"", s);
			return -EINVAL;
		}
		char *end;
		errno = 0;
		unsigned long w = strtoul(eq + 1, &end, 10);
		if (end == eq + 1 || errno != 0 || w > 1000000 || (*end != ',' && *end != '\0')) {
			snprintf(err, errlen, "--mix: bad weight for %s", names[k]);
			return -EINVAL;
		}
		mix->weight[k] = (unsigned)w;
		total += (unsigned)w;
		if (*end == ',' && end[1] == '\0') {
			snprintf(err, errlen, "--mix: trailing comma");
			return -EINVAL;
		}
		s = *end == ',' ? end + 1 : end;
	}
	if (total == 0) {
		snprintf(err, errlen, "--mix: all weights are zero");
		return -EINVAL;
	}
	return 0;
}

/* One JSON member as it will be written; invalid variants edit these. */
struct field {
	const char *key;
	uint8_t klen; /* strlen(key) */
	char val[72];
	bool raw;         /* written without quotes (number) */
	bool placeholder; /* the id or timestamp, filled at send time */
};

enum malformed {
	MAL_NONE = 0,
	MAL_NO_CLOSE,       /* the closing brace is missing */
	MAL_TRAILING_COMMA, /* ",}" */
	MAL_UNQUOTED_KEY,   /* amount: ... */
	MAL_GARBAGE,        /* not JSON at all */
	MAL_COUNT
};

struct line {
	struct field f[16];
	int n;
	enum malformed mal;
};

static struct field *line_add(struct line *l, const char *key, bool raw, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static struct field *line_add(struct line *l, const char *key, bool raw, const char *fmt, ...)
{
	struct field *f = &l->f[l->n++];
	va_list ap;
	f->key = key;
	f->klen = (uint8_t)strlen(key);
	f->raw = raw;
	f->placeholder = false;
	va_start(ap, fmt);
	vsnprintf(f->val, sizeof(f->val), fmt, ap);
	va_end(ap);
	return f;
}

/* The same for a plain string or a zero-padded number, without printf's
 * cost (these make most of a line, generated at send time in retail). */
static struct field *line_add_str(struct line *l, const char *key, bool raw, const char *s)
{
	struct field *f = &l->f[l->n++];
	size_t n = strlen(s);
	if (n > sizeof(f->val) - 1) /* as vsnprintf would cut it */
		n = sizeof(f->val) - 1;
	f->key = key;
	f->klen = (uint8_t)strlen(key);
	f->raw = raw;
	f->placeholder = false;
	memcpy(f->val, s, n);
	f->val[n] = '\0';
	return f;
}

/* Writes v in decimal, at least `width` digits (as "%0*u"), then a NUL;
 * returns the digits written. */
static size_t put_u64(char *out, uint64_t v, int width)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n < (size_t)width)
		tmp[n++] = '0';
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

/* "<prefix><v as %0*u>" */
static void line_add_num(struct line *l, const char *key, const char *prefix, uint32_t v, int width)
{
	struct field *f = line_add_str(l, key, false, prefix);
	put_u64(f->val + strlen(f->val), v, width);
}

static struct field *line_find(struct line *l, const char *key)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->f[i].key, key) == 0)
			return &l->f[i];
	return NULL;
}

static void line_drop(struct line *l, const char *key)
{
	struct field *f = line_find(l, key);
	if (f == NULL)
		return;
	int i = (int)(f - l->f);
	memmove(&l->f[i], &l->f[i + 1], (size_t)(l->n - i - 1) * sizeof(l->f[0]));
	l->n--;
}

/* Growing output text of a pool. */
struct text {
	char *p;
	size_t len, cap;
};

static int text_put(struct text *t, const char *s, size_t n)
{
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap : 65536;
		while (cap < t->len + n)
			cap *= 2;
		char *p = realloc(t->p, cap);
		if (p == NULL)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	return 0;
}

/* Formats minor units as a decimal with `exp` fraction digits. */
static void fmt_amount(char *out, size_t outlen, int64_t minor, int exp)
{
	int64_t scale = 1;
	for (int i = 0; i < exp; i++)
		scale *= 10;
	/* 19 digits, the point, 4 fraction digits at most: printf below that
	 * size, or for a negative amount (neither happens here). */
	if (minor < 0 || outlen < 32) {
		if (exp == 0)
			snprintf(out, outlen, "%lld", (long long)minor);
		else
			snprintf(out, outlen, "%lld.%0*lld", (long long)(minor / scale), exp,
			         (long long)(minor % scale));
	} else if (exp == 0) {
		put_u64(out, (uint64_t)minor, 1);
	} else {
		size_t n = put_u64(out, (uint64_t)(minor / scale), 1);
		out[n] = '.';
		put_u64(out + n + 1, (uint64_t)(minor % scale), exp);
	}
}

/* Picks a key in [0, n) congruent to cls modulo N_COUNTRIES when there is
 * one, so a customer can be matched with a merchant of the same country. */
static uint32_t pick_in_class(struct rng *r, uint32_t n, uint32_t cls)
{
	if (n <= cls)
		return rng_below(r, n);
	uint32_t k = (n - cls + (uint32_t)N_COUNTRIES - 1) / (uint32_t)N_COUNTRIES;
	return cls + (uint32_t)N_COUNTRIES * rng_below(r, k);
}

/*
 * The retail population, built once per stream.  A customer's and a
 * merchant's country come from a hash of their number, weighted by the
 * country table, so they never change.  Merchants are listed per country
 * and drawn by rank with weight 1/(rank+1) (Zipf's law with exponent 1):
 * the first merchants of a country take a large share of its traffic, the
 * long tail little.  Integer weights keep the draw exact and portable.
 */
struct retail {
	uint64_t cum[N_RETAIL]; /* cumulative country weights */
	uint32_t *members;      /* merchant numbers grouped by country, ascending */
	uint32_t first[N_RETAIL + 1];
	uint64_t *zipf; /* zipf[k]: the summed weights of ranks 0..k */
	uint64_t cards;
};

/* Key kinds of key_hash(): 2-5 are the small profile's, kept as they were. */
enum { KH_CARD = 2, KH_IP = 3, KH_DEVICE = 4, KH_KYC = 5, KH_HOME = 6, KH_MERCHANT_HOME = 7, KH_MCC = 8, KH_CARDS = 9 };

static unsigned retail_country_of(const struct retail *rt, uint64_t h)
{
	uint64_t u = h % rt->cum[N_RETAIL - 1];
	unsigned i = 0;
	while (rt->cum[i] <= u)
		i++;
	return i;
}

static unsigned retail_cards_of(uint64_t seed, uint32_t c)
{
	return key_hash(seed, KH_CARDS, c) % 100 < RETAIL_TWO_CARD_PCT ? 2 : 1;
}

static void retail_free(struct retail *rt)
{
	if (rt == NULL)
		return;
	free(rt->zipf);
	free(rt->members);
	free(rt);
}

static int retail_create(struct retail **out, const struct txpb_gen_params *p)
{
	struct retail *rt = calloc(1, sizeof(*rt));
	uint32_t fill[N_RETAIL];
	uint64_t sum = 0;

	if (rt == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < N_RETAIL; i++) {
		sum += retail_countries[i].weight;
		rt->cum[i] = sum;
	}
	rt->members = malloc((size_t)p->merchants * sizeof(*rt->members));
	rt->zipf = malloc((size_t)p->merchants * sizeof(*rt->zipf));
	if (rt->members == NULL || rt->zipf == NULL)
		goto fail;
	/* Counting sort of the merchants by country. */
	memset(rt->first, 0, sizeof(rt->first));
	for (uint32_t m = 0; m < p->merchants; m++)
		rt->first[retail_country_of(rt, key_hash(p->seed, KH_MERCHANT_HOME, m)) + 1]++;
	for (size_t i = 0; i < N_RETAIL; i++) {
		rt->first[i + 1] += rt->first[i];
		fill[i] = rt->first[i];
	}
	for (uint32_t m = 0; m < p->merchants; m++)
		rt->members[fill[retail_country_of(rt, key_hash(p->seed, KH_MERCHANT_HOME, m))]++] = m;
	sum = 0;
	for (uint32_t k = 0; k < p->merchants; k++) {
		sum += (UINT64_C(1) << 32) / (k + 1);
		rt->zipf[k] = sum;
	}
	rt->cards = 0;
	for (uint32_t c = 0; c < p->customers; c++)
		rt->cards += retail_cards_of(p->seed, c);
	*out = rt;
	return 0;
fail:
	retail_free(rt);
	return -ENOMEM;
}

/* A rank in [0, n) drawn with weight 1/(rank+1). */
static uint32_t zipf_rank(struct rng *r, const uint64_t *zipf, uint32_t n)
{
	uint64_t u = rng_next(r) % zipf[n - 1];
	uint32_t lo = 0, hi = n - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (zipf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* A merchant of country ci by popularity; with none there, any merchant. */
static uint32_t retail_merchant(const struct retail *rt, struct rng *r, unsigned ci, uint32_t merchants)
{
	uint32_t n = rt->first[ci + 1] - rt->first[ci];
	if (n == 0)
		return zipf_rank(r, rt->zipf, merchants);
	return rt->members[rt->first[ci] + zipf_rank(r, rt->zipf, n)];
}

/* US cents as minor units of country ci's currency, at least one. */
static int64_t usd_to_local(unsigned ci, int64_t cents)
{
	const struct retail_country *rc = &retail_countries[ci];
	int64_t minor = cents * (int64_t)rc->milli_per_usd;
	/* cents * milli is in 10^-5 major units; scale to the currency's. */
	for (int e = rc->k.exponent; e < 5; e++)
		minor /= 10;
	return minor > 0 ? minor : 1;
}

/* The same, at most MAX_MAJOR major units. */
static int64_t clamp_major(int64_t minor, int exp)
{
	int64_t scale = 1;
	for (int i = 0; i < exp; i++)
		scale *= 10;
	return minor > MAX_MAJOR * scale ? MAX_MAJOR * scale : minor;
}

/*
 * A retail card number: a published test prefix, then the customer's
 * number through a bijection of [0, 10^8) (so numbers look scattered), the
 * card's index before it on 16-digit numbers, and the Luhn check digit.
 * Distinct (customer, card) pairs give distinct numbers: customers number
 * fewer than 10^8.  A second card is never an Amex, whose 15 digits leave
 * room for one card per customer.
 */
static void retail_pan(char *pan, uint64_t seed, uint32_t c, unsigned card)
{
	uint64_t h = key_hash(seed, KH_CARD, c);
	unsigned which = card == 0 ? (unsigned)(h % N_OF(test_bins)) : (unsigned)(h % 2);
	int len = test_bins[which].len;
	/* 12345677 is odd and not a multiple of 5, so it is invertible
	 * modulo 10^8 and the map is one to one. */
	uint64_t body = ((uint64_t)c * 12345677u + seed % 100000000u) % 100000000u;
	int i = len - 2;

	memcpy(pan, test_bins[which].bin, 6);
	for (int d = 0; d < 8; d++, i--) {
		pan[i] = (char)('0' + body % 10);
		body /= 10;
	}
	if (len == 16)
		pan[i] = (char)('0' + card);
	pan[len - 1] = '0';
	pan[len] = '\0';
	/* The check digit: the one digit that makes the Luhn sum a multiple of 10. */
	unsigned sum = 0;
	for (int k = len - 2, pos = 1; k >= 0; k--, pos++) {
		unsigned v = (unsigned)(pan[k] - '0');
		if (pos % 2 == 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	pan[len - 1] = (char)('0' + (10 - sum % 10) % 10);
}

struct gen_state {
	struct rng rng;
	const struct txpb_gen_params *p;
	const struct retail *rt; /* NULL for the small profile */
	uint32_t burst_customer; /* risky bursts reuse one customer */
	uint32_t burst_left;
};

/* An amount in minor units between lo and hi major units: a decade is
 * picked uniformly, then a value inside it, so small amounts dominate as in
 * card traffic; the minor digits are random, so the amount is not round. */
static int64_t amount_between(struct rng *r, int64_t lo, int64_t hi, int exp)
{
	int64_t scale = 1;
	int decades = 1;
	for (int i = 0; i < exp; i++)
		scale *= 10;
	for (int64_t d = lo * 10; d <= hi; d *= 10)
		decades++;
	int64_t start = lo;
	for (uint32_t k = rng_below(r, (uint32_t)decades); k > 0; k--)
		start *= 10;
	int64_t end = start * 10 < hi ? start * 10 : hi + 1;
	int64_t major = start + (end > start ? (int64_t)(rng_next(r) % (uint64_t)(end - start)) : 0);
	return major * scale + (scale > 1 ? (int64_t)rng_below(r, (uint32_t)scale) : 0);
}

/* Who buys from whom, where, and for how much. */
struct purchase {
	uint32_t m;
	const struct country *mc, *cc;
	const char *mcc;
	int64_t minor;
	unsigned mci; /* retail: the merchant country's index */
};

static void pick_small(struct gen_state *g, uint32_t c, bool domestic, struct purchase *pu)
{
	struct rng *r = &g->rng;
	uint32_t home = c % (uint32_t)N_COUNTRIES;
	uint32_t m = domestic ? pick_in_class(r, g->p->merchants, home) : rng_below(r, g->p->merchants);
	const struct country *mc = &countries[m % N_COUNTRIES];
	/* Yen amounts run a hundred times higher in major units. */
	bool yen = mc->exponent == 0;

	pu->m = m;
	pu->mc = mc;
	pu->cc = &countries[home];
	pu->mcc = mcc_common[(m / N_COUNTRIES) % N_OF(mcc_common)];
	pu->minor = amount_between(r, yen ? 100 : 1, yen ? 30000 : 300, mc->exponent);
	pu->mci = 0;
}

/* Everyday amounts are 1-300 US dollars' worth in the merchant's currency. */
static void pick_retail(struct gen_state *g, uint32_t c, bool domestic, struct purchase *pu)
{
	const struct retail *rt = g->rt;
	struct rng *r = &g->rng;
	uint64_t seed = g->p->seed;
	unsigned home = retail_country_of(rt, key_hash(seed, KH_HOME, c));
	unsigned ci = home;

	if (!domestic) {
		ci = retail_country_of(rt, rng_next(r));
		if (ci == home)
			ci = (ci + 1) % (unsigned)N_RETAIL;
	}
	pu->m = retail_merchant(rt, r, ci, g->p->merchants);
	/* An empty country falls back to any merchant: its own country counts. */
	pu->mci = retail_country_of(rt, key_hash(seed, KH_MERCHANT_HOME, pu->m));
	pu->mc = &retail_countries[pu->mci].k;
	pu->cc = &retail_countries[home].k;
	pu->mcc = mcc_common[key_hash(seed, KH_MCC, pu->m) % N_OF(mcc_common)];
	pu->minor = usd_to_local(pu->mci, amount_between(r, 1, 300, 2));
}

/* The fields every kind starts from: a plausible purchase by customer c. */
static void build_base(struct gen_state *g, struct line *l, uint32_t c, bool domestic, struct purchase *pu)
{
	struct rng *r = &g->rng;
	const struct txpb_gen_params *p = g->p;
	char amount[32];
	struct field *f;

	if (g->rt != NULL)
		pick_retail(g, c, domestic, pu);
	else
		pick_small(g, c, domestic, pu);
	fmt_amount(amount, sizeof(amount), pu->minor, pu->mc->exponent);
	f = line_add_str(l, "transaction_id", false, p->prefix);
	strcat(f->val, "-"); /* the prefix has at most TXPB_PREFIX_MAX characters */
	f->placeholder = true;
	/* Both encodings the protocol allows: a JSON number and a decimal string. */
	line_add_str(l, "amount", rng_pct(r, 50), amount);
	line_add_str(l, "currency", false, pu->mc->currency);
	line_add_num(l, "merchant_id", "merch-", pu->m, 5);
	line_add_num(l, "customer_id", "cust-", c, 7);
	line_add_str(l, "merchant_country", false, pu->mc->code);
	line_add_str(l, "customer_country", false, pu->cc->code);
	if (rng_pct(r, 70)) {
		f = line_add_str(l, "timestamp", false, "");
		f->placeholder = true;
	}
	static const char *const channels[] = { "online", "online", "online", "pos", "pos",
		                                "mobile", "mobile", "atm",    "moto" };
	const char *channel = channels[rng_below(r, N_OF(channels))];
	if (rng_pct(r, 85)) {
		char pan[20];
		if (g->rt != NULL) /* a customer with two cards uses the second now and then */
			retail_pan(pan, p->seed, c, retail_cards_of(p->seed, c) == 2 && rng_pct(r, 30) ? 1 : 0);
		else
			make_pan(pan, key_hash(p->seed, KH_CARD, c));
		line_add_str(l, "card_number", false, pan);
	}
	if (rng_pct(r, 80))
		line_add_str(l, "merchant_category", false, strcmp(channel, "atm") == 0 ? "6011" : pu->mcc);
	if (rng_pct(r, 90))
		line_add_str(l, "channel", false, channel);
	if (strcmp(channel, "online") == 0 || strcmp(channel, "mobile") == 0) {
		uint64_t ih = key_hash(p->seed, KH_IP, c);
		if (ih % 4 == 0)
			line_add(l, "ip_address", false, "2001:db8:%x::%x", (unsigned)(ih >> 8) & 0xffff,
			         (unsigned)(ih >> 24) & 0xffff);
		else /* TEST-NET-2 and -3 (RFC 5737) */
			line_add(l, "ip_address", false, "%s.%u", ih % 2 ? "198.51.100" : "203.0.113",
			         (unsigned)(ih >> 8) % 254 + 1);
		if (rng_pct(r, 60)) {
			static const char hex[] = "0123456789abcdef";
			uint64_t d = key_hash(p->seed, KH_DEVICE, c);
			f = line_add_str(l, "device_id", false, "dev-0123456789abcdef");
			for (int i = 19; i >= 4; i--, d >>= 4) /* "%016llx" */
				f->val[i] = hex[d & 15];
		}
	}
	if (rng_pct(r, 80))
		line_add_str(l, "customer_kyc_status", false,
		             key_hash(p->seed, KH_KYC, c) % 10 == 0 ? "pending" : "verified");
}

static void set_amount(struct line *l, int64_t minor, int exp)
{
	struct field *f = line_find(l, "amount");
	fmt_amount(f->val, sizeof(f->val), minor, exp);
}

static void set_or_add(struct line *l, const char *key, const char *val)
{
	struct field *f = line_find(l, key);
	if (f == NULL)
		f = line_add_str(l, key, false, "");
	snprintf(f->val, sizeof(f->val), "%s", val);
	f->raw = false;
}

/* A high amount: 5000-60000 major units (500000-999999 yen) in the small
 * profile, the same in US dollars' worth in retail. */
static int64_t risky_high(struct gen_state *g, const struct purchase *pu)
{
	struct rng *r = &g->rng;
	int exp = pu->mc->exponent;

	if (g->rt != NULL)
		return clamp_major(usd_to_local(pu->mci, amount_between(r, 5000, 60000, 2)), exp);
	/* Below txpiped's default max_amount (10^6 major units) so these are
	 * scored rather than rejected. */
	return amount_between(r, exp == 0 ? 500000 : 5000, exp == 0 ? 999999 : 60000, exp);
}

/* A round amount, often just under a reporting threshold: in major units
 * in the small profile (yen times 100), in retail the US dollar figure's
 * worth rounded to 100 major units. */
static int64_t risky_round(struct gen_state *g, const struct purchase *pu)
{
	static const int64_t round_major[] = { 1000, 2000, 5000, 9000, 9900, 10000 };
	int64_t major = round_major[rng_below(&g->rng, N_OF(round_major))];
	int exp = pu->mc->exponent;
	int64_t scale = exp == 2 ? 100 : exp == 3 ? 1000 : 1;

	if (g->rt != NULL) {
		major = major * (int64_t)retail_countries[pu->mci].milli_per_usd / 1000;
		major = major >= 100 ? major / 100 * 100 : major > 0 ? major : 1;
		return (major > MAX_MAJOR ? MAX_MAJOR / 100 * 100 : major) * scale;
	}
	if (exp == 0)
		major = major * 100 > 990000 ? 990000 : major * 100;
	return major * scale;
}

static void build_risky(struct gen_state *g, struct line *l)
{
	struct rng *r = &g->rng;
	struct purchase pu;
	bool burst = false;
	uint32_t c;

	/* A burst is a run of risky transactions by one customer, interleaved
	 * with the rest of the traffic; it trips velocity rules. */
	if (g->burst_left > 0) {
		c = g->burst_customer;
		g->burst_left--;
		burst = true;
	} else {
		c = rng_below(r, g->p->customers);
		if (rng_pct(r, 25)) {
			g->burst_customer = c;
			g->burst_left = 5 + rng_below(r, 16);
			burst = true;
		}
	}
	build_base(g, l, c, true, &pu);
	unsigned features = burst ? 1 : 0;
	while (features < 2 || (features < 4 && rng_pct(r, 40))) {
		features++;
		switch (rng_below(r, 6)) {
		case 0: /* high amount */
			set_amount(l, risky_high(g, &pu), pu.mc->exponent);
			break;
		case 1:
			set_amount(l, risky_round(g, &pu), pu.mc->exponent);
			break;
		case 2: /* customer abroad, far from home */
			set_or_add(l, "customer_country", foreign_countries[rng_below(r, N_OF(foreign_countries))]);
			break;
		case 3:
			set_or_add(l, "customer_kyc_status", rng_pct(r, 70) ? "unverified" : "failed");
			break;
		case 4:
			set_or_add(l, "merchant_category", mcc_risky[rng_below(r, N_OF(mcc_risky))]);
			set_or_add(l, "channel", rng_pct(r, 50) ? "moto" : "atm");
			break;
		default:
			/* Sanctioned jurisdictions only rarely, as in real traffic. */
			if (rng_pct(r, 15))
				set_or_add(l, rng_pct(r, 50) ? "customer_country" : "merchant_country",
				           sanctioned_countries[rng_below(r, N_OF(sanctioned_countries))]);
			else
				set_or_add(l, "merchant_country",
				           foreign_countries[rng_below(r, N_OF(foreign_countries))]);
			break;
		}
	}
}

static enum txpb_id_check build_invalid(struct gen_state *g, struct line *l)
{
	static const char *const required[] = { "transaction_id", "amount",           "currency",        "merchant_id",
		                                "customer_id",    "merchant_country", "customer_country" };
	static const char *const bad_currencies[] = { "XYZ", "usd", "US", "EURO", "12A" };
	static const char *const bad_countries[] = { "USA", "u1", "ZZZ", "D" };
	struct rng *r = &g->rng;
	struct purchase pu;
	struct field *f;

	build_base(g, l, rng_below(r, g->p->customers), true, &pu);
	switch (rng_below(r, 6)) {
	case 0: { /* a required field is missing */
		const char *key = required[rng_below(r, N_OF(required))];
		line_drop(l, key);
		return strcmp(key, "transaction_id") == 0 ? TXPB_ID_NULL : TXPB_ID_MATCH;
	}
	case 1:
		set_or_add(l, "currency", bad_currencies[rng_below(r, N_OF(bad_currencies))]);
		return TXPB_ID_MATCH;
	case 2: /* one more fraction digit than the currency has */
		f = line_find(l, "amount");
		fmt_amount(f->val, sizeof(f->val), pu.minor * 10 + 1 + rng_below(r, 9), pu.mc->exponent + 1);
		return TXPB_ID_MATCH;
	case 3:
		l->mal = (enum malformed)(1 + rng_below(r, MAL_COUNT - 1));
		return l->mal == MAL_GARBAGE ? TXPB_ID_NULL : TXPB_ID_MATCH_OR_NULL;
	case 4: { /* a PAN that fails the Luhn check */
		char pan[20];
		make_pan(pan, rng_next(r));
		size_t n = strlen(pan);
		pan[n - 1] = (char)('0' + (pan[n - 1] - '0' + 1 + (int)rng_below(r, 9)) % 10);
		set_or_add(l, "card_number", pan);
		return TXPB_ID_MATCH;
	}
	default:
		set_or_add(l, rng_pct(r, 50) ? "merchant_country" : "customer_country",
		           bad_countries[rng_below(r, N_OF(bad_countries))]);
		return TXPB_ID_MATCH;
	}
}
/* One line's output: the caller's buffer of cap bytes. */
struct out {
	char *p;
	size_t len, cap;
	bool over; /* something did not fit */
};

static inline void out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static inline void out_puts(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* Serialises one line into o and records its placeholders.  Returns 0, or
 * -ENOSPC when it did not fit. */
static int emit_line(struct out *o, const struct line *l, struct txpb_template *tp)
{
	tp->off = 0;
	tp->id_off = -1;
	tp->ts_off = -1;
	if (l->mal == MAL_GARBAGE) {
		out_puts(o, "this is not json {\n");
		goto out;
	}
	out_put(o, "{", 1);
	for (int i = 0; i < l->n; i++) {
		const struct field *f = &l->f[i];
		if (i > 0)
			out_put(o, ",", 1);
		if (l->mal == MAL_UNQUOTED_KEY && strcmp(f->key, "amount") == 0) {
			out_puts(o, "amount:");
		} else {
			out_put(o, "\"", 1);
			out_put(o, f->key, f->klen);
			out_put(o, "\":", 2);
		}
		if (!f->raw)
			out_put(o, "\"", 1);
		if (f->placeholder && strcmp(f->key, "timestamp") == 0) {
			tp->ts_off = (int32_t)o->len;
			out_put(o, "0000-00-00T00:00:00.000Z", TXPB_TS_LEN);
		} else if (f->placeholder) {
			tp->id_off = (int32_t)o->len;
			out_puts(o, f->val);
			out_put(o, "000000000000", TXPB_SEQ_DIGITS);
		} else {
			out_puts(o, f->val);
		}
		if (!f->raw)
			out_put(o, "\"", 1);
	}
	if (l->mal == MAL_TRAILING_COMMA)
		out_put(o, ",", 1);
	if (l->mal != MAL_NO_CLOSE)
		out_put(o, "}", 1);
	out_put(o, "\n", 1);
out:
	tp->len = (uint32_t)o->len;
	return o->over ? -ENOSPC : 0;
}

int txpb_profile_parse(const char *s, enum txpb_profile *out)
{
	for (int i = 0; i < TXPB_PROFILE_COUNT; i++) {
		if (strcmp(s, txpb_profile_name((enum txpb_profile)i)) == 0) {
			*out = (enum txpb_profile)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *txpb_profile_name(enum txpb_profile p)
{
	return p == TXPB_PROFILE_RETAIL ? "retail" : "small";
}

void txpb_profile_defaults(enum txpb_profile p, struct txpb_profile_defaults *d)
{
	if (p == TXPB_PROFILE_RETAIL)
		/* The risky share is what gives 1-4% review and declined
		 * decisions under txpiped's default rules (bench/README.md). */
		*d = (struct txpb_profile_defaults){ .customers = 5000000,
			                             .merchants = 50000,
			                             .mix = "good=965,risky=30,invalid=5",
			                             .on_the_fly = true };
	else
		*d = (struct txpb_profile_defaults){
			.customers = 10000, .merchants = 1000, .mix = "good=90,risky=8,invalid=2", .on_the_fly = false
		};
}

struct txpb_gen {
	struct txpb_gen_params p; /* prefix points at the copy below */
	char prefix[TXPB_PREFIX_MAX + 1];
	struct gen_state g;
	struct retail *rt;
	unsigned total; /* of the mix's weights */
	uint64_t by_kind[TXPB_KIND_COUNT];
};

int txpb_gen_create(struct txpb_gen **out, const struct txpb_gen_params *params, char *err, size_t errlen)
{
	struct txpb_gen *gen;
	unsigned total = 0;
	size_t plen = params->prefix != NULL ? strlen(params->prefix) : 0;

	*out = NULL;
	if (plen == 0 || plen > TXPB_PREFIX_MAX || !txpb_id_ok(params->prefix, plen)) {
		snprintf(err, errlen, "run prefix must be 1-%d characters of [A-Za-z0-9._:-]", TXPB_PREFIX_MAX);
		return -EINVAL;
	}
	if (params->customers == 0 || params->merchants == 0) {
		snprintf(err, errlen, "customers and merchants must be at least 1");
		return -EINVAL;
	}
	/* Retail card numbers hold the customer's number in 8 digits. */
	if (params->profile == TXPB_PROFILE_RETAIL && params->customers > 100000000) {
		snprintf(err, errlen, "the retail profile has at most 100000000 customers");
		return -EINVAL;
	}
	for (int k = 0; k < TXPB_KIND_COUNT; k++)
		total += params->mix.weight[k];
	if (total == 0) {
		snprintf(err, errlen, "the mix has no non-zero weight");
		return -EINVAL;
	}
	gen = calloc(1, sizeof(*gen));
	if (gen == NULL)
		goto nomem;
	gen->p = *params;
	memcpy(gen->prefix, params->prefix, plen + 1);
	gen->p.prefix = gen->prefix;
	gen->total = total;
	if (params->profile == TXPB_PROFILE_RETAIL && retail_create(&gen->rt, &gen->p) < 0)
		goto nomem;
	gen->g.p = &gen->p;
	gen->g.rt = gen->rt;
	rng_seed(&gen->g.rng, params->seed);
	*out = gen;
	return 0;
nomem:
	free(gen);
	snprintf(err, errlen, "out of memory for a population of %u customers and %u merchants", params->customers,
	         params->merchants);
	return -ENOMEM;
}

uint32_t txpb_gen_next(struct txpb_gen *gen, char *out, struct txpb_template *meta)
{
	struct gen_state *g = &gen->g;
	struct line l; /* only n and mal need a value: fields are written as added */
	struct out o = { .p = out, .cap = TXPB_LINE_MAX };
	uint32_t pick = rng_below(&g->rng, gen->total);
	enum txpb_kind kind = TXPB_GOOD;
	enum txpb_id_check idc = TXPB_ID_MATCH;

	l.n = 0;
	l.mal = MAL_NONE;
	while (pick >= gen->p.mix.weight[kind]) {
		pick -= gen->p.mix.weight[kind];
		kind++;
	}
	if (kind == TXPB_GOOD) {
		struct purchase pu;
		uint32_t c = rng_below(&g->rng, gen->p.customers);
		bool domestic = rng_pct(&g->rng, g->rt != NULL ? 100 - RETAIL_CROSS_BORDER_PCT : 95);
		build_base(g, &l, c, domestic, &pu);
	} else if (kind == TXPB_RISKY) {
		build_risky(g, &l);
	} else {
		idc = build_invalid(g, &l);
	}
	/* At most 16 members of a key and 71 value bytes each: a line always
	 * fits in TXPB_LINE_MAX, so the fixed buffer cannot run out. */
	if (emit_line(&o, &l, meta) < 0)
		abort();
	meta->kind = (uint8_t)kind;
	meta->id_check = (uint8_t)idc;
	gen->by_kind[kind]++;
	return meta->len;
}

void txpb_gen_counts(const struct txpb_gen *g, uint64_t by_kind[TXPB_KIND_COUNT])
{
	memcpy(by_kind, g->by_kind, sizeof(g->by_kind));
}

void txpb_gen_population(const struct txpb_gen *g, struct txpb_population *pop)
{
	size_t n = g->rt != NULL ? N_RETAIL : N_COUNTRIES, used = 0;

	memset(pop, 0, sizeof(*pop));
	pop->profile = txpb_profile_name(g->p.profile);
	pop->customers = g->p.customers;
	pop->cards = g->rt != NULL ? g->rt->cards : g->p.customers;
	pop->merchants = g->p.merchants;
	pop->merchants_zipf = g->rt != NULL;
	pop->countries = (unsigned)n;
	pop->cross_border_pct = g->rt != NULL ? RETAIL_CROSS_BORDER_PCT : 5;
	pop->two_card_pct = g->rt != NULL ? RETAIL_TWO_CARD_PCT : 0;
	for (size_t i = 0; i < n; i++) {
		const char *cur = g->rt != NULL ? retail_countries[i].k.currency : countries[i].currency;
		if (strstr(pop->currency_list, cur) != NULL)
			continue;
		pop->currencies++;
		used += (size_t)snprintf(pop->currency_list + used, sizeof(pop->currency_list) - used, "%s%s",
		                         used > 0 ? "," : "", cur);
	}
}

void txpb_gen_free(struct txpb_gen *g)
{
	if (g == NULL)
		return;
	retail_free(g->rt);
	free(g);
}

int txpb_pool_fill(struct txpb_pool *pool, struct txpb_gen *g, uint32_t n, char *err, size_t errlen)
{
	struct text t = { 0 };
	char line[TXPB_LINE_MAX];
	int rc = -ENOMEM;

	memset(pool, 0, sizeof(*pool));
	pool->t = calloc(n > 0 ? n : 1, sizeof(*pool->t));
	if (pool->t == NULL)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		struct txpb_template *tp = &pool->t[i];
		uint32_t len = txpb_gen_next(g, line, tp);
		tp->off = (uint32_t)t.len;
		rc = text_put(&t, line, len);
		if (rc < 0)
			goto fail;
		if (tp->len > pool->max_len)
			pool->max_len = tp->len;
		pool->by_kind[tp->kind]++;
	}
	pool->text = t.p;
	pool->text_len = t.len;
	pool->n = n;
	pool->id_len = (uint32_t)(strlen(g->prefix) + 1 + TXPB_SEQ_DIGITS);
	return 0;
fail:
	snprintf(err, errlen, "out of memory building %u templates", n);
	free(t.p);
	free(pool->t);
	memset(pool, 0, sizeof(*pool));
	return rc;
}

int txpb_pool_generate(struct txpb_pool *pool, const struct txpb_gen_params *params, char *err, size_t errlen)
{
	struct txpb_gen *g;
	int rc;

	memset(pool, 0, sizeof(*pool));
	if (params->pool_size == 0) {
		snprintf(err, errlen, "pool size must be at least 1");
		return -EINVAL;
	}
	rc = txpb_gen_create(&g, params, err, errlen);
	if (rc < 0)
		return rc;
	rc = txpb_pool_fill(pool, g, params->pool_size, err, errlen);
	txpb_gen_free(g);
	return rc;
}

void txpb_pool_free(struct txpb_pool *pool)
{
	free(pool->text);
	free(pool->t);
	memset(pool, 0, sizeof(*pool));
}
