/* retry.c: the retry policy of AWS writes: capped exponential backoff, optional jitter and retry budget. */
#include "txpipe/retry.h"

#include <string.h>

uint64_t txp_retry_delay_ms(const struct txp_retry_policy *p, unsigned retry, uint64_t rnd)
{
	uint64_t cap = p->base_delay_ms;

	/* Double without overflowing: stop once the cap is reached. */
	for (unsigned i = 0; i < retry && cap < p->max_delay_ms; i++)
		cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (cap > p->max_delay_ms)
		cap = p->max_delay_ms;
	if (!p->jitter)
		return cap;
	if (cap == UINT64_MAX)
		return rnd;
	return rnd % (cap + 1);
}

bool txp_retry_attempts_left(const struct txp_retry_policy *p, unsigned attempts)
{
	return attempts < p->max_attempts;
}

void txp_retry_budget_init(struct txp_retry_budget *b, uint32_t percent, uint32_t floor)
{
	memset(b, 0, sizeof(*b));
	b->percent = percent;
	b->floor = floor;
	for (unsigned i = 0; i < TXP_RETRY_BUDGET_SECONDS; i++)
		b->second[i] = -1;
}

/* The bucket of second `s`, cleared when it last held an older second. */
static unsigned bucket(struct txp_retry_budget *b, int64_t s)
{
	unsigned i = (unsigned)(s % TXP_RETRY_BUDGET_SECONDS);

	if (b->second[i] != s) {
		b->second[i] = s;
		b->firsts[i] = 0;
		b->retries[i] = 0;
	}
	return i;
}

static void window(const struct txp_retry_budget *b, uint64_t now_ms, uint64_t *firsts, uint64_t *retries)
{
	int64_t now_s = (int64_t)(now_ms / 1000);

	*firsts = *retries = 0;
	for (unsigned i = 0; i < TXP_RETRY_BUDGET_SECONDS; i++) {
		if (b->second[i] < 0 || b->second[i] <= now_s - TXP_RETRY_BUDGET_SECONDS || b->second[i] > now_s)
			continue;
		*firsts += b->firsts[i];
		*retries += b->retries[i];
	}
}

void txp_retry_budget_first(struct txp_retry_budget *b, uint64_t now_ms, uint64_t n)
{
	b->firsts[bucket(b, (int64_t)(now_ms / 1000))] += n;
}

uint64_t txp_retry_budget_left(const struct txp_retry_budget *b, uint64_t now_ms)
{
	uint64_t firsts, retries, allowed;

	if (b->percent == 0)
		return TXP_RETRY_UNLIMITED;
	window(b, now_ms, &firsts, &retries);
	allowed = firsts / 100 * b->percent + firsts % 100 * b->percent / 100 + b->floor;
	return retries >= allowed ? 0 : allowed - retries;
}

bool txp_retry_budget_take(struct txp_retry_budget *b, uint64_t now_ms)
{
	if (b->percent == 0)
		return true;
	if (txp_retry_budget_left(b, now_ms) == 0)
		return false;
	b->retries[bucket(b, (int64_t)(now_ms / 1000))]++;
	return true;
}
