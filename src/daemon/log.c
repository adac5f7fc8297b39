/* log.c: one event per line on stderr, "<N>" priority first, key=value or JSON. */
#include "txpipe/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_max_level = TXP_LOG_INFO;
static _Atomic int log_format = TXP_LOG_FORMAT_KV;

static const char *const level_names[] = {
	[TXP_LOG_ERR] = "err",
	[TXP_LOG_WARNING] = "warning",
	[TXP_LOG_NOTICE] = "notice",
	[TXP_LOG_INFO] = "info",
	[TXP_LOG_DEBUG] = "debug",
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

/* Appends `s` to buf as the inside of a JSON string. */
static size_t json_escape(char *buf, size_t cap, size_t len, const char *s)
{
	for (; *s != '\0' && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else {
			buf[len++] = (char)c;
		}
	}
	return len;
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
		len = (size_t)snprintf(line, sizeof(line), "<%d>{\"level\":\"%s\",\"event\":\"", (int)level,
		                       level_names[level]);
		len = json_escape(line, sizeof(line), len, event);
		len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"detail\":\"");
		len = json_escape(line, sizeof(line), len, rest);
		len += (size_t)snprintf(line + len, sizeof(line) - len, "\"}\n");
	} else {
		n = snprintf(line, sizeof(line), "<%d>level=%s event=%s%s%s\n", (int)level, level_names[level],
		             event, rest[0] ? " " : "", rest);
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
