/* retry.h: the retry policy of AWS writes: capped exponential backoff, optional full jitter and retry budget. */
#ifndef TXPIPE_RETRY_H
#define TXPIPE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct txp_retry_policy {
	uint32_t max_attempts; /* the first attempt included; 1 disables retries */
	uint64_t base_delay_ms;
	uint64_t max_delay_ms;
	bool jitter; /* false: the exact exponential waits, as Step Functions */
};

/*
 * The wait before retry number `retry` (0 for the first retry, i.e. after
 * the first failed attempt).  The exponential cap is
 * min(max_delay_ms, base_delay_ms * 2^retry).  Without jitter the wait is
 * the cap itself: a Step Functions Retry with IntervalSeconds 2 and
 * BackoffRate 2 waits 2, 4, 8 s, and base_delay_ms = 2s does the same.
 * With jitter it is "full jitter" from the AWS Architecture Blog,
 * "Exponential Backoff And Jitter" (2015), a uniform draw in [0, cap].
 * `rnd` is a uniformly random 64-bit number supplied by the caller (unused
 * without jitter), so this is pure.
 */
uint64_t txp_retry_delay_ms(const struct txp_retry_policy *p, unsigned retry, uint64_t rnd);

/* True when an item that has had `attempts` attempts may have another. */
bool txp_retry_attempts_left(const struct txp_retry_policy *p, unsigned attempts);

/*
 * A retry budget over a sliding minute, in one-second buckets: retries
 * may be at most `percent` % of the first attempts of the last 60 s, plus
 * `floor` per minute so that a quiet daemon can still retry.  Beyond it a
 * retryable failure is treated as final, so an outage cannot turn every
 * write into max_attempts writes (a retry storm).  Time is passed in.
 * `percent` 0 means no budget at all (the reference's behaviour): every
 * retry is allowed, and txp_retry_budget_left reports TXP_RETRY_UNLIMITED.
 */
#define TXP_RETRY_UNLIMITED ((uint64_t)INT64_MAX)
#define TXP_RETRY_BUDGET_SECONDS 60
struct txp_retry_budget {
	uint32_t percent;
	uint32_t floor;
	int64_t second[TXP_RETRY_BUDGET_SECONDS]; /* which second each bucket holds */
	uint64_t firsts[TXP_RETRY_BUDGET_SECONDS];
	uint64_t retries[TXP_RETRY_BUDGET_SECONDS];
};

void txp_retry_budget_init(struct txp_retry_budget *b, uint32_t percent, uint32_t floor);
/* Counts `n` first attempts at monotonic time `now_ms`. */
void txp_retry_budget_first(struct txp_retry_budget *b, uint64_t now_ms, uint64_t n);
/* Spends one retry when the budget allows it (returns true), else false. */
bool txp_retry_budget_take(struct txp_retry_budget *b, uint64_t now_ms);
/* Retries still allowed in the current minute (for stats), or
 * TXP_RETRY_UNLIMITED without a budget (it fits a signed JSON integer). */
uint64_t txp_retry_budget_left(const struct txp_retry_budget *b, uint64_t now_ms);

#endif
