/* hist.h: log-linear latency histogram for txpbench (HdrHistogram-style buckets). */
#ifndef TXPBENCH_HIST_H
#define TXPBENCH_HIST_H

#include <stdint.h>

/*
 * Values are unsigned integers (txpbench records microseconds).  Values
 * below 2^TXPB_HIST_SUB_BITS are kept exactly; above that each power of two
 * [2^e, 2^(e+1)) is split into 2^TXPB_HIST_SUB_BITS equal sub-buckets, so a
 * recorded value is known to within 1/1024 (0.1%) of itself.  Values above
 * TXPB_HIST_MAX are counted in the last bucket; the exact maximum is kept
 * separately.  With microseconds the exact range ends at 1.024 ms and the
 * covered range at 2^34 us (about 4.7 hours).
 */
#define TXPB_HIST_SUB_BITS 10
#define TXPB_HIST_MAX_EXP 33 /* highest power of two covered: [2^33, 2^34) */
#define TXPB_HIST_MAX ((UINT64_C(1) << (TXPB_HIST_MAX_EXP + 1)) - 1)
#define TXPB_HIST_BUCKETS ((TXPB_HIST_MAX_EXP - TXPB_HIST_SUB_BITS + 2) << TXPB_HIST_SUB_BITS)

struct txpb_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;     /* for the mean; 2^64 us is far beyond any run */
	uint64_t *counts; /* TXPB_HIST_BUCKETS counters */
};

/* Allocates the counters.  Returns 0 or -ENOMEM.  Free with txpb_hist_free(). */
int txpb_hist_init(struct txpb_hist *h);

/* Frees the counters; safe on a zeroed or already freed histogram. */
void txpb_hist_free(struct txpb_hist *h);

void txpb_hist_record(struct txpb_hist *h, uint64_t v);

/* Adds every count of `src` into `dst`. */
void txpb_hist_merge(struct txpb_hist *dst, const struct txpb_hist *src);

/*
 * The value at percentile `p` (0-100): the highest value equivalent to the
 * bucket holding the round(p/100 * count)-th smallest recording (at least
 * the first), capped at the
 * exact maximum (as HdrHistogram reports it).  0 when empty.
 */
uint64_t txpb_hist_percentile(const struct txpb_hist *h, double p);

/* Bucket arithmetic, exposed for the unit test. */
uint32_t txpb_hist_index(uint64_t v);
uint64_t txpb_hist_lowest(uint32_t idx);  /* smallest value in bucket idx */
uint64_t txpb_hist_highest(uint32_t idx); /* largest value in bucket idx */

#endif
