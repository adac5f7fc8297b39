/* heap.h: a binary min-heap of pointers ordered by a caller's comparison (delivery's retry queue). */
#ifndef TXPIPE_HEAP_H
#define TXPIPE_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* True when `a` must leave the heap before `b`.  It must be a strict weak
 * order; `arg` is the heap's. */
typedef bool (*txp_heap_less_fn)(const void *a, const void *b, void *arg);

/*
 * Push and pop cost O(log n) comparisons (at most about log2(n) for a push
 * and 2 log2(n) for a pop), peek O(1), so a queue of a million entries
 * costs about 20 comparisons per event whatever is in it.  The heap holds
 * pointers it does not own.  Not thread-safe: one owner.  Zero-initialise,
 * then txp_heap_init(); txp_heap_free() releases the array only.
 */
struct txp_heap {
	void **v;
	size_t n, cap;
	txp_heap_less_fn less;
	void *arg;
};

void txp_heap_init(struct txp_heap *h, txp_heap_less_fn less, void *arg);
/* Returns 0, or -ENOMEM (the heap is unchanged). */
int txp_heap_push(struct txp_heap *h, void *item);
/* The first entry, or NULL when empty. */
void *txp_heap_peek(const struct txp_heap *h);
/* Removes and returns the first entry, or NULL when empty. */
void *txp_heap_pop(struct txp_heap *h);
static inline size_t txp_heap_count(const struct txp_heap *h)
{
	return h->n;
}
/* Frees the array (not the entries); the heap is empty and usable again. */
void txp_heap_free(struct txp_heap *h);

#endif
