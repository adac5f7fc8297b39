/* heap.c: a binary min-heap of pointers (the classic array layout: children of i at 2i+1 and 2i+2). */
#include "txpipe/heap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

void txp_heap_init(struct txp_heap *h, txp_heap_less_fn less, void *arg)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->less = less;
	h->arg = arg;
}

int txp_heap_push(struct txp_heap *h, void *item)
{
	size_t i, parent;

	if (h->n == h->cap) {
		size_t cap = h->cap > 0 ? h->cap * 2 : 64;
		void **nv = cap < SIZE_MAX / sizeof(*nv) ? realloc(h->v, cap * sizeof(*nv)) : NULL;
		if (nv == NULL)
			return -ENOMEM;
		h->v = nv;
		h->cap = cap;
	}
	/* Sift up: move parents down until `item` fits. */
	for (i = h->n++; i > 0; i = parent) {
		parent = (i - 1) / 2;
		if (!h->less(item, h->v[parent], h->arg))
			break;
		h->v[i] = h->v[parent];
	}
	h->v[i] = item;
	return 0;
}

void *txp_heap_peek(const struct txp_heap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

void *txp_heap_pop(struct txp_heap *h)
{
	void *top, *last;
	size_t i = 0, child;

	if (h->n == 0)
		return NULL;
	top = h->v[0];
	last = h->v[--h->n];
	/* Sift the last entry down from the root: move the smaller child up
	 * until `last` fits. */
	while ((child = 2 * i + 1) < h->n) {
		if (child + 1 < h->n && h->less(h->v[child + 1], h->v[child], h->arg))
			child++;
		if (!h->less(h->v[child], last, h->arg))
			break;
		h->v[i] = h->v[child];
		i = child;
	}
	if (h->n > 0)
		h->v[i] = last;
	return top;
}

void txp_heap_free(struct txp_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
