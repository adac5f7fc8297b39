/* ring.c: allocation of the single-producer single-consumer rings. */
#include "txpipe/ring.h"

#include <stdlib.h>
#include <string.h>

struct txp_ring *txp_ring_create(uint32_t capacity)
{
	struct txp_ring *r;
	uint32_t cap = 1;

	if (capacity == 0 || capacity > (UINT32_C(1) << 30))
		return NULL;
	while (cap < capacity)
		cap <<= 1;
	r = aligned_alloc(TXP_CACHE_LINE, (sizeof(*r) + TXP_CACHE_LINE - 1) / TXP_CACHE_LINE * TXP_CACHE_LINE);
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->slots = calloc(cap, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return NULL;
	}
	r->mask = cap - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r;
}

void txp_ring_destroy(struct txp_ring *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}
