/* log.h: logging to stderr with syslog priority prefixes, as journald expects. */
#ifndef TXPIPE_LOG_H
#define TXPIPE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* The syslog(3) priorities: journald reads "<N>" at the start of a line. */
enum txp_log_level { TXP_LOG_ERR = 3, TXP_LOG_WARNING = 4, TXP_LOG_NOTICE = 5, TXP_LOG_INFO = 6, TXP_LOG_DEBUG = 7 };

enum txp_log_format {
	TXP_LOG_FORMAT_KV = 0, /* msg="..." key=value ... */
	TXP_LOG_FORMAT_JSON
};

/* Sets the most verbose level written and the format.  Thread-safe. */
void txp_log_setup(enum txp_log_level max_level, enum txp_log_format format);

bool txp_log_enabled(enum txp_log_level level);

/*
 * Writes one event line.  `event` is a short stable name ("listening",
 * "config_error"); `fmt` formats the rest as key=value pairs, for example
 * txp_log(TXP_LOG_INFO, "listening", "socket=%s", path).  Thread-safe: each
 * event is a single write(2).  Callers never pass secrets, card numbers or
 * raw personal data.
 */
void txp_log(enum txp_log_level level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void txp_logv(enum txp_log_level level, const char *event, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/*
 * Writes, for each event whose repeats the rate limit is holding back, one
 * last line with only suppressed=N (at the level of those lines), so the
 * count is not lost when the process exits.  Thread-safe; call it last.
 */
void txp_log_flush(void);

#define txp_log_err(...) txp_log(TXP_LOG_ERR, __VA_ARGS__)
#define txp_log_warn(...) txp_log(TXP_LOG_WARNING, __VA_ARGS__)
#define txp_log_notice(...) txp_log(TXP_LOG_NOTICE, __VA_ARGS__)
#define txp_log_info(...) txp_log(TXP_LOG_INFO, __VA_ARGS__)
#define txp_log_debug(...) txp_log(TXP_LOG_DEBUG, __VA_ARGS__)

#endif
