/* clock.h: the clocks every module reads, and the one RFC 3339 parser. */
#ifndef TXPIPE_CLOCK_H
#define TXPIPE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* The wall clock, Unix milliseconds (CLOCK_REALTIME): for what is stored,
 * logged or compared with other hosts.  Durations use the monotonic clock
 * (txp_now_ns(), uv_now()). */
int64_t txp_wall_ms(void);

/*
 * Parses an RFC 3339 date-time ("2024-05-01T12:30:00Z",
 * "2024-05-01T14:30:00.123+02:00") into Unix milliseconds.  'T'/'t' and
 * 'Z'/'z' are both accepted (RFC 3339 section 5.6 note); the fraction may
 * have 1 to 9 digits and is truncated to milliseconds; a leap second (:60)
 * counts as the last millisecond of second 59.  Impossible dates
 * (2023-02-29, 2024-04-31) and out-of-range fields are refused.
 * Returns 0 or -EINVAL.
 */
int txp_time_parse_rfc3339(const char *s, size_t len, int64_t *ms);

#endif
