/* log.c: one event per line on stderr, "<N>" priority first, key=value or JSON. */
#include "txpipe/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
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

void txp_logv(enum txp_log_level level, const char *event, const char *fmt, va_list ap)
{
	char line[2048];
	char rest[1600];
	size_t len;
	int n;

	if (!txp_log_enabled(level))
		return;
	rest[0] = '\0';
	if (fmt != NULL && fmt[0] != '\0') {
		n = vsnprintf(rest, sizeof(rest), fmt, ap);
		if (n < 0)
			rest[0] = '\0';
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

void txp_log(enum txp_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	txp_logv(level, event, fmt, ap);
	va_end(ap);
}
