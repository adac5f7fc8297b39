/* hist.c: log-linear latency histogram for txpbench (HdrHistogram-style buckets). */
#include "hist.h"

#include <errno.h>
#include <stdlib.h>

#define SUB ((uint64_t)1 << TXPB_HIST_SUB_BITS)

int txpb_hist_init(struct txpb_hist *h)
{
	h->count = 0;
	h->min = UINT64_MAX;
	h->max = 0;
	h->sum = 0;
	h->counts = calloc(TXPB_HIST_BUCKETS, sizeof(*h->counts));
	return h->counts != NULL ? 0 : -ENOMEM;
}

void txpb_hist_free(struct txpb_hist *h)
{
	free(h->counts);
	h->counts = NULL;
}

/*
 * For v >= 2^S (S = sub-bucket bits) with e = floor(log2 v), the bucket is
 * (e - S) * 2^S + (v >> (e - S)): the shifted value lies in [2^S, 2^(S+1)),
 * so consecutive powers of two occupy consecutive runs of 2^S indices and
 * values below 2^S map to themselves.
 */
uint32_t txpb_hist_index(uint64_t v)
{
	if (v > TXPB_HIST_MAX)
		v = TXPB_HIST_MAX;
	if (v < SUB)
		return (uint32_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = e - TXPB_HIST_SUB_BITS;
	return (uint32_t)(((uint64_t)shift << TXPB_HIST_SUB_BITS) + (v >> shift));
}

uint64_t txpb_hist_lowest(uint32_t idx)
{
	if (idx < SUB)
		return idx;
	unsigned shift = (idx >> TXPB_HIST_SUB_BITS) - 1u;
	uint64_t mant = idx - ((uint64_t)shift << TXPB_HIST_SUB_BITS);
	return mant << shift;
}

uint64_t txpb_hist_highest(uint32_t idx)
{
	if (idx < SUB)
		return idx;
	unsigned shift = (idx >> TXPB_HIST_SUB_BITS) - 1u;
	return txpb_hist_lowest(idx) + ((uint64_t)1 << shift) - 1;
}

void txpb_hist_record(struct txpb_hist *h, uint64_t v)
{
	h->counts[txpb_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void txpb_hist_merge(struct txpb_hist *dst, const struct txpb_hist *src)
{
	for (uint32_t i = 0; i < TXPB_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t txpb_hist_percentile(const struct txpb_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	/* Rounded to the nearest rank as HdrHistogram does, so that 99.9% of
	 * 1000 is 999 and not 1000 through floating-point error. */
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.5);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < TXPB_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = txpb_hist_highest(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}
