/* gen.c: txpbench's transaction generator: a pool of JSON-line templates built before timing starts. */
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

/* Home countries of customers and merchants. */
static const struct country countries[] = {
	{ "US", "USD", 2 }, { "GB", "GBP", 2 }, { "DE", "EUR", 2 }, { "FR", "EUR", 2 },
	{ "NL", "EUR", 2 }, { "ES", "EUR", 2 }, { "IT", "EUR", 2 }, { "JP", "JPY", 0 },
	{ "CA", "CAD", 2 }, { "AU", "AUD", 2 }, { "CH", "CHF", 2 }, { "SE", "SEK", 2 },
};
#define N_COUNTRIES (sizeof(countries) / sizeof(countries[0]))

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
	f->raw = raw;
	f->placeholder = false;
	va_start(ap, fmt);
	vsnprintf(f->val, sizeof(f->val), fmt, ap);
	va_end(ap);
	return f;
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

/* Growing output text of the pool. */
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

static int text_puts(struct text *t, const char *s)
{
	return text_put(t, s, strlen(s));
}

/* Formats minor units as a decimal with `exp` fraction digits. */
static void fmt_amount(char *out, size_t outlen, int64_t minor, int exp)
{
	int64_t scale = 1;
	for (int i = 0; i < exp; i++)
		scale *= 10;
	if (exp == 0)
		snprintf(out, outlen, "%lld", (long long)minor);
	else
		snprintf(out, outlen, "%lld.%0*lld", (long long)(minor / scale), exp, (long long)(minor % scale));
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

struct gen_state {
	struct rng rng;
	const struct txpb_gen_params *p;
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

/* The fields every kind starts from: a plausible purchase by customer c. */
static void build_base(struct gen_state *g, struct line *l, uint32_t c, bool domestic, int64_t *minor_out,
                       const struct country **mc_out)
{
	struct rng *r = &g->rng;
	const struct txpb_gen_params *p = g->p;
	uint32_t home = c % (uint32_t)N_COUNTRIES;
	uint32_t m = domestic ? pick_in_class(r, p->merchants, home) : rng_below(r, p->merchants);
	const struct country *mc = &countries[m % N_COUNTRIES];
	const struct country *cc = &countries[home];
	/* Yen amounts run a hundred times higher in major units. */
	bool yen = mc->exponent == 0;
	int64_t minor = amount_between(r, yen ? 100 : 1, yen ? 30000 : 300, mc->exponent);
	char amount[32];
	struct field *f;

	fmt_amount(amount, sizeof(amount), minor, mc->exponent);
	f = line_add(l, "transaction_id", false, "%s-", p->prefix);
	f->placeholder = true;
	/* Both encodings the protocol allows: a JSON number and a decimal string. */
	line_add(l, "amount", rng_pct(r, 50), "%s", amount);
	line_add(l, "currency", false, "%s", mc->currency);
	line_add(l, "merchant_id", false, "merch-%05u", m);
	line_add(l, "customer_id", false, "cust-%07u", c);
	line_add(l, "merchant_country", false, "%s", mc->code);
	line_add(l, "customer_country", false, "%s", cc->code);
	if (rng_pct(r, 70)) {
		f = line_add(l, "timestamp", false, "%s", "");
		f->placeholder = true;
	}
	static const char *const channels[] = { "online", "online", "online", "pos", "pos",
		                                "mobile", "mobile", "atm",    "moto" };
	const char *channel = channels[rng_below(r, N_OF(channels))];
	if (rng_pct(r, 85)) {
		char pan[20];
		make_pan(pan, key_hash(p->seed, 2, c));
		line_add(l, "card_number", false, "%s", pan);
	}
	if (rng_pct(r, 80))
		line_add(l, "merchant_category", false, "%s",
		         strcmp(channel, "atm") == 0 ? "6011" : mcc_common[(m / N_COUNTRIES) % N_OF(mcc_common)]);
	if (rng_pct(r, 90))
		line_add(l, "channel", false, "%s", channel);
	if (strcmp(channel, "online") == 0 || strcmp(channel, "mobile") == 0) {
		uint64_t ih = key_hash(p->seed, 3, c);
		if (ih % 4 == 0)
			line_add(l, "ip_address", false, "2001:db8:%x::%x", (unsigned)(ih >> 8) & 0xffff,
			         (unsigned)(ih >> 24) & 0xffff);
		else /* TEST-NET-2 and -3 (RFC 5737) */
			line_add(l, "ip_address", false, "%s.%u", ih % 2 ? "198.51.100" : "203.0.113",
			         (unsigned)(ih >> 8) % 254 + 1);
		if (rng_pct(r, 60))
			line_add(l, "device_id", false, "dev-%016llx", (unsigned long long)key_hash(p->seed, 4, c));
	}
	if (rng_pct(r, 80))
		line_add(l, "customer_kyc_status", false, "%s",
		         key_hash(p->seed, 5, c) % 10 == 0 ? "pending" : "verified");
	*minor_out = minor;
	*mc_out = mc;
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
		f = line_add(l, key, false, "%s", "");
	snprintf(f->val, sizeof(f->val), "%s", val);
	f->raw = false;
}

static void build_risky(struct gen_state *g, struct line *l)
{
	struct rng *r = &g->rng;
	const struct country *mc;
	int64_t minor;
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
	build_base(g, l, c, true, &minor, &mc);
	unsigned features = burst ? 1 : 0;
	while (features < 2 || (features < 4 && rng_pct(r, 40))) {
		features++;
		switch (rng_below(r, 6)) {
		case 0: /* high amount */
			/* Below txpiped's default max_amount (10^6 major units) so
			 * these are scored rather than rejected. */
			set_amount(l,
			           amount_between(r, mc->exponent == 0 ? 500000 : 5000,
			                          mc->exponent == 0 ? 999999 : 60000, mc->exponent),
			           mc->exponent);
			break;
		case 1: { /* round amount, often just under a reporting threshold */
			static const int64_t round_major[] = { 1000, 2000, 5000, 9000, 9900, 10000 };
			int64_t major = round_major[rng_below(r, N_OF(round_major))];
			if (mc->exponent == 0)
				major = major * 100 > 990000 ? 990000 : major * 100;
			int64_t scale = mc->exponent == 2 ? 100 : mc->exponent == 3 ? 1000 : 1;
			set_amount(l, major * scale, mc->exponent);
			break;
		}
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
	const struct country *mc;
	int64_t minor;
	struct field *f;

	build_base(g, l, rng_below(r, g->p->customers), true, &minor, &mc);
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
		fmt_amount(f->val, sizeof(f->val), minor * 10 + 1 + rng_below(r, 9), mc->exponent + 1);
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

/* Serialises one line into the pool text and records its placeholders. */
static int emit_line(struct text *t, const struct line *l, struct txpb_template *tp)
{
	size_t start = t->len;
	int rc = 0;

	tp->off = (uint32_t)start;
	tp->id_off = -1;
	tp->ts_off = -1;
	if (l->mal == MAL_GARBAGE) {
		rc = text_puts(t, "this is not json {\n");
		goto out;
	}
	rc = text_puts(t, "{");
	for (int i = 0; i < l->n && rc == 0; i++) {
		const struct field *f = &l->f[i];
		if (i > 0)
			rc = text_puts(t, ",");
		if (rc == 0 && l->mal == MAL_UNQUOTED_KEY && strcmp(f->key, "amount") == 0)
			rc = text_puts(t, "amount:");
		else if (rc == 0) {
			rc = text_puts(t, "\"");
			if (rc == 0)
				rc = text_puts(t, f->key);
			if (rc == 0)
				rc = text_puts(t, "\":");
		}
		if (rc == 0 && !f->raw)
			rc = text_puts(t, "\"");
		if (rc == 0 && f->placeholder && strcmp(f->key, "timestamp") == 0) {
			tp->ts_off = (int32_t)(t->len - start);
			rc = text_put(t, "0000-00-00T00:00:00.000Z", TXPB_TS_LEN);
		} else if (rc == 0 && f->placeholder) {
			tp->id_off = (int32_t)(t->len - start);
			rc = text_puts(t, f->val);
			if (rc == 0)
				rc = text_put(t, "000000000000", TXPB_SEQ_DIGITS);
		} else if (rc == 0) {
			rc = text_puts(t, f->val);
		}
		if (rc == 0 && !f->raw)
			rc = text_puts(t, "\"");
	}
	if (rc == 0 && l->mal == MAL_TRAILING_COMMA)
		rc = text_puts(t, ",");
	if (rc == 0 && l->mal != MAL_NO_CLOSE)
		rc = text_puts(t, "}");
	if (rc == 0)
		rc = text_puts(t, "\n");
out:
	tp->len = (uint32_t)(t->len - start);
	return rc;
}

int txpb_pool_generate(struct txpb_pool *pool, const struct txpb_gen_params *params, char *err, size_t errlen)
{
	struct gen_state g = { .p = params };
	struct text t = { 0 };
	unsigned total = 0;
	int rc;

	memset(pool, 0, sizeof(*pool));
	size_t plen = params->prefix != NULL ? strlen(params->prefix) : 0;
	if (plen == 0 || plen > TXPB_PREFIX_MAX || !txpb_id_ok(params->prefix, plen)) {
		snprintf(err, errlen, "run prefix must be 1-%d characters of [A-Za-z0-9._:-]", TXPB_PREFIX_MAX);
		return -EINVAL;
	}
	if (params->customers == 0 || params->merchants == 0 || params->pool_size == 0) {
		snprintf(err, errlen, "customers, merchants and pool size must be at least 1");
		return -EINVAL;
	}
	for (int k = 0; k < TXPB_KIND_COUNT; k++)
		total += params->mix.weight[k];
	if (total == 0) {
		snprintf(err, errlen, "the mix has no non-zero weight");
		return -EINVAL;
	}
	pool->t = calloc(params->pool_size, sizeof(*pool->t));
	if (pool->t == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rng_seed(&g.rng, params->seed);
	for (uint32_t i = 0; i < params->pool_size; i++) {
		struct txpb_template *tp = &pool->t[i];
		struct line l = { .n = 0, .mal = MAL_NONE };
		uint32_t pick = rng_below(&g.rng, total);
		enum txpb_kind kind = TXPB_GOOD;
		enum txpb_id_check idc = TXPB_ID_MATCH;
		while (pick >= params->mix.weight[kind]) {
			pick -= params->mix.weight[kind];
			kind++;
		}
		if (kind == TXPB_GOOD) {
			int64_t minor;
			const struct country *mc;
			uint32_t c = rng_below(&g.rng, params->customers);
			build_base(&g, &l, c, rng_pct(&g.rng, 95), &minor, &mc);
		} else if (kind == TXPB_RISKY) {
			build_risky(&g, &l);
		} else {
			idc = build_invalid(&g, &l);
		}
		rc = emit_line(&t, &l, tp);
		if (rc < 0)
			goto fail;
		tp->kind = (uint8_t)kind;
		tp->id_check = (uint8_t)idc;
		if (tp->len > pool->max_len)
			pool->max_len = tp->len;
		pool->by_kind[kind]++;
	}
	pool->text = t.p;
	pool->text_len = t.len;
	pool->n = params->pool_size;
	pool->id_len = (uint32_t)(plen + 1 + TXPB_SEQ_DIGITS);
	return 0;
fail:
	snprintf(err, errlen, "out of memory building %u templates", params->pool_size);
	free(t.p);
	free(pool->t);
	memset(pool, 0, sizeof(*pool));
	return rc;
}

void txpb_pool_free(struct txpb_pool *pool)
{
	free(pool->text);
	free(pool->t);
	memset(pool, 0, sizeof(*pool));
}
