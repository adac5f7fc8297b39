/* log.c: one event per line on stderr, "<N>" priority first, key=value or JSON. */
#include "txpipe/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_max_level = TXP_LOG_INFO;
static _Atomic int log_format = TXP_LOG_FORMAT_KV;

static const char *const level_names[] = {
	[TXP_LOG_ERR] = "err",   [TXP_LOG_WARNING] = "warning", [TXP_LOG_NOTICE] = "notice",
	[TXP_LOG_INFO] = "info", [TXP_LOG_DEBUG] = "debug",
};

void txp_log_setup(enum txp_log_level max_level, enum txp_log_format format)
{
	atomic_store_explicit(&log_max_level, (int)max_level, memory_order_relaxed);
	atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
}

bool txp_log_enabled(enum txp_log_level level)
{
	return (int)level <= atomic_load_explicit(&log_max_level, memory_order_relaxed);
}

/*
 * The JSON format: one object per line, for CloudWatch Logs Insights and
 * any JSON-lines reader.  Members, in this order: "timestamp" (RFC 3339,
 * UTC, milliseconds), "level" (the syslog name), "event", "transaction_id"
 * when the line has one, then every key=value pair of the line as its own
 * member.  A value in double quotes, or one that is not a plain decimal
 * number, is a JSON string; a plain number is a JSON number.  The "<N>"
 * prefix stays in front for journald, which strips it.
 */
#define JSON_RESERVE 24 /* room kept for ,"truncated":true}\n */
#define JSON_MAX_PAIRS 64

struct jbuf {
	char *p;
	size_t len, cap; /* cap excludes JSON_RESERVE */
	bool truncated;
};

static bool jb_raw(struct jbuf *b, const char *s, size_t n)
{
	if (b->truncated || b->len + n > b->cap) {
		b->truncated = true;
		return false;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return true;
}

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	/* No overlong forms, no UTF-16 surrogates, nothing past U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Appends s[0..n) as a quoted JSON string: escaped, invalid UTF-8 as
 * U+FFFD.  A string that does not fit is cut at a character boundary and
 * still closed, so the line stays valid JSON. */
static void jb_string(struct jbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[8];

	if (!jb_raw(b, "\"", 1))
		return;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_len(u + i, n - i);
		const char *out = (const char *)u + i;
		size_t outlen = k;

		if (k == 0) {
			out = "\\ufffd";
			outlen = 6;
			k = 1;
		} else if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			out = esc;
			outlen = 2;
		} else if (u[i] < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
			out = esc;
			outlen = 6;
		}
		/* Keep one byte for the closing quote. */
		if (b->len + outlen + 1 > b->cap) {
			b->truncated = true;
			break;
		}
		memcpy(b->p + b->len, out, outlen);
		b->len += outlen;
		i += k;
	}
	b->p[b->len++] = '"';
}

static void jb_member(struct jbuf *b, const char *key, size_t keylen, const char *val, size_t vallen, bool number)
{
	/* A member is added whole or not at all: ,"key": then the value. */
	size_t mark = b->len;

	if (b->truncated)
		return;
	if (!jb_raw(b, ",", 1))
		return;
	jb_string(b, key, keylen);
	if (b->truncated || !jb_raw(b, ":", 1)) {
		b->len = mark;
		return;
	}
	if (number) {
		if (!jb_raw(b, val, vallen))
			b->len = mark;
	} else {
		jb_string(b, val, vallen);
	}
}

/* A log key: letters, digits and '_', then '='.  Returns its length or 0. */
static size_t key_at(const char *s)
{
	size_t n = 0;

	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
	       s[n] == '_')
		n++;
	return n > 0 && s[n] == '=' ? n : 0;
}

/* A plain decimal number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)? */
static bool is_json_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i == n || s[i] < '0' || s[i] > '9')
		return false;
	if (s[i] == '0')
		i++;
	else
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

struct kv_pair {
	const char *key, *val;
	size_t keylen, vallen;
	bool quoted;
};

/*
 * Splits the key=value text of a line.  A value runs to the next " key="
 * or the end; one that opens with '"' runs to the first '"' followed by
 * the end or by " key=", so a quoted value may hold spaces, '=' and '"'.
 * Text before the first key (there should be none) becomes "detail".
 */
static size_t kv_split(const char *rest, struct kv_pair *pairs, size_t max)
{
	const char *p = rest;
	size_t n = 0;

	while (*p == ' ')
		p++;
	if (*p != '\0' && key_at(p) == 0 && n < max) {
		const char *e = p;
		while (*e != '\0' && !(e[0] == ' ' && key_at(e + 1) > 0))
			e++;
		pairs[n++] = (struct kv_pair){ "detail", p, 6, (size_t)(e - p), true };
		p = e;
	}
	while (*p != '\0' && n < max) {
		size_t kl;
		const char *v, *e;
		bool quoted = false;

		while (*p == ' ')
			p++;
		kl = key_at(p);
		if (kl == 0)
			break;
		v = p + kl + 1;
		e = NULL;
		if (*v == '"') {
			for (const char *q = v + 1; *q != '\0'; q++) {
				if (*q == '"' && (q[1] == '\0' || (q[1] == ' ' && key_at(q + 2) > 0))) {
					e = q;
					break;
				}
			}
		}
		if (e != NULL) {
			quoted = true;
			pairs[n++] = (struct kv_pair){ p, v + 1, kl, (size_t)(e - v - 1), true };
			p = e + 1;
		} else {
			e = v;
			while (*e != '\0' && !(e[0] == ' ' && key_at(e + 1) > 0))
				e++;
			pairs[n++] = (struct kv_pair){ p, v, kl, (size_t)(e - v), quoted };
			p = e;
		}
	}
	return n;
}

static bool key_is(const struct kv_pair *kv, const char *name)
{
	return kv->keylen == strlen(name) && memcmp(kv->key, name, kv->keylen) == 0;
}

/* Formats one JSON line (with its "<N>" prefix and newline) into line. */
static size_t format_json(char *line, size_t cap, enum txp_log_level level, const char *event, const char *rest)
{
	struct kv_pair pairs[JSON_MAX_PAIRS];
	struct jbuf b = { line, 0, cap - JSON_RESERVE, false };
	struct timespec ts;
	struct tm tm;
	char head[96];
	size_t n, id = JSON_MAX_PAIRS;
	int hl;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	hl = snprintf(head, sizeof(head),
	              "<%d>{\"timestamp\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"event\":",
	              (int)level, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	              ts.tv_nsec / 1000000L, level_names[level]);
	jb_raw(&b, head, (size_t)hl);
	jb_string(&b, event, strlen(event));
	n = kv_split(rest, pairs, JSON_MAX_PAIRS);
	/* The transaction id first, under one name whatever the line calls
	 * it (the audit line says txn=). */
	for (size_t i = 0; i < n && id == JSON_MAX_PAIRS; i++)
		if (key_is(&pairs[i], "transaction_id") || key_is(&pairs[i], "txn"))
			id = i;
	if (id < n)
		jb_member(&b, "transaction_id", 14, pairs[id].val, pairs[id].vallen, false);
	for (size_t i = 0; i < n; i++) {
		const struct kv_pair *kv = &pairs[i];
		char renamed[80];
		const char *key = kv->key;
		size_t keylen = kv->keylen;

		if (i == id)
			continue;
		/* The fixed members keep their meaning. */
		if (key_is(kv, "timestamp") || key_is(kv, "level") || key_is(kv, "event") ||
		    key_is(kv, "transaction_id") || key_is(kv, "truncated")) {
			keylen = (size_t)snprintf(renamed, sizeof(renamed), "field_%.*s", (int)kv->keylen, kv->key);
			key = renamed;
		}
		jb_member(&b, key, keylen, kv->val, kv->vallen, !kv->quoted && is_json_number(kv->val, kv->vallen));
	}
	/* JSON_RESERVE bytes are always left for the end of the object. */
	n = b.len;
	if (b.truncated) {
		memcpy(line + n, ",\"truncated\":true", 17);
		n += 17;
	}
	line[n++] = '}';
	line[n++] = '\n';
	return n;
}

/*
 * Repeats are rate-limited per event name: at most LIMIT_BURST lines of one
 * event per LIMIT_WINDOW_S seconds; the rest are counted, and the next line
 * that gets through (or txp_log_flush() at exit) says how many were
 * suppressed.  A failing dependency
 * then costs a few lines a second, not a disk.  The slots are few and the
 * lock is held for a few instructions; events are compared by pointer
 * (they are string literals) and then by text.
 */
#define LIMIT_SLOTS 64
#define LIMIT_BURST 20
#define LIMIT_WINDOW_S 10

static struct {
	const char *event;
	time_t window_start;
	unsigned count;
	unsigned long suppressed;
	enum txp_log_level level; /* of the last line suppressed */
} limits[LIMIT_SLOTS];
static pthread_mutex_t limits_mu = PTHREAD_MUTEX_INITIALIZER;

/* Returns false when the line must be dropped; else sets *suppressed to
 * how many lines of this event were dropped since the last one shown. */
static bool rate_allow(enum txp_log_level level, const char *event, unsigned long *suppressed)
{
	struct timespec ts;
	unsigned slot = LIMIT_SLOTS;
	bool allow = true;

	*suppressed = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&limits_mu);
	for (unsigned i = 0; i < LIMIT_SLOTS; i++) {
		if (limits[i].event == NULL || limits[i].event == event || strcmp(limits[i].event, event) == 0) {
			slot = i;
			break;
		}
	}
	if (slot < LIMIT_SLOTS) {
		if (limits[slot].event == NULL || ts.tv_sec - limits[slot].window_start >= LIMIT_WINDOW_S) {
			limits[slot].event = event;
			limits[slot].window_start = ts.tv_sec;
			limits[slot].count = 0;
		}
		if (limits[slot].count >= LIMIT_BURST) {
			limits[slot].suppressed++;
			limits[slot].level = level;
			allow = false;
		} else {
			limits[slot].count++;
			*suppressed = limits[slot].suppressed;
			limits[slot].suppressed = 0;
		}
	}
	/* With every slot taken by other events, lines pass unlimited. */
	pthread_mutex_unlock(&limits_mu);
	return allow;
}

/* Writes one event line: `rest` (key=value text) and, when some were
 * held back, how many lines of the event were suppressed. */
static void emit(enum txp_log_level level, const char *event, char *rest, size_t restcap, unsigned long suppressed)
{
	char line[2048];
	size_t len;
	int n;

	if (suppressed > 0) {
		size_t rl = strlen(rest);
		snprintf(rest + rl, restcap - rl, "%ssuppressed=%lu", rl > 0 ? " " : "", suppressed);
	}
	/* Control characters never reach the log: a line is one event. */
	for (char *p = rest; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';

	if (atomic_load_explicit(&log_format, memory_order_relaxed) == TXP_LOG_FORMAT_JSON) {
		len = format_json(line, sizeof(line), level, event, rest);
	} else {
		n = snprintf(line, sizeof(line), "<%d>level=%s event=%s%s%s\n", (int)level, level_names[level], event,
		             rest[0] ? " " : "", rest);
		len = n < 0 ? 0 : (size_t)n;
	}
	if (len >= sizeof(line)) {
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	/* One write(2) per event keeps lines from different threads whole. */
	if (write(STDERR_FILENO, line, len) < 0) {
		/* Nowhere left to report it. */
	}
}

void txp_logv(enum txp_log_level level, const char *event, const char *fmt, va_list ap)
{
	char rest[1600];
	unsigned long suppressed = 0;
	int n;

	if (!txp_log_enabled(level))
		return;
	/* The audit trail is complete or it is nothing: never limited. */
	if (strcmp(event, "audit") != 0 && !rate_allow(level, event, &suppressed))
		return;
	rest[0] = '\0';
	if (fmt != NULL && fmt[0] != '\0') {
		n = vsnprintf(rest, sizeof(rest), fmt, ap);
		if (n < 0)
			rest[0] = '\0';
	}
	emit(level, event, rest, sizeof(rest), suppressed);
}

void txp_log_flush(void)
{
	for (unsigned i = 0; i < LIMIT_SLOTS; i++) {
		const char *event;
		enum txp_log_level level;
		unsigned long suppressed;
		char rest[64] = "";

		pthread_mutex_lock(&limits_mu);
		event = limits[i].event;
		level = limits[i].level;
		suppressed = limits[i].suppressed;
		limits[i].suppressed = 0;
		pthread_mutex_unlock(&limits_mu);
		if (event == NULL)
			break;
		if (suppressed > 0 && txp_log_enabled(level))
			emit(level, event, rest, sizeof(rest), suppressed);
	}
}

void txp_log(enum txp_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	txp_logv(level, event, fmt, ap);
	va_end(ap);
}
