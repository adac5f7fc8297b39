/* ring.h: bounded single-producer single-consumer lock-free ring of pointers. */
#ifndef TXPIPE_RING_H
#define TXPIPE_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TXP_CACHE_LINE 64

/*
 * The layout follows ConcurrencyKit's ck_ring and DPDK's rte_ring: the
 * capacity is a power of two, the head and tail are free-running 32-bit
 * counters masked on access (so "full" and "empty" need no spare slot and
 * wrap-around is plain unsigned arithmetic), and the producer's and the
 * consumer's indices sit on separate cache lines so the two threads do not
 * false-share.  Each side keeps a private cached copy of the other side's
 * index and reloads it only when the cached value says the ring looks full
 * (producer) or empty (consumer).
 *
 * Memory ordering (C11):
 *  - The producer writes slots, then release-stores tail.  The consumer
 *    acquire-loads tail, so the slot writes happen-before its slot reads.
 *  - The consumer reads slots, then release-stores head.  The producer
 *    acquire-loads head, so the consumer's slot reads happen-before the
 *    producer overwrites those slots.
 *  - Each side loads its own index relaxed: only it writes that index.
 */
struct txp_ring {
	/* Consumer side. */
	alignas(TXP_CACHE_LINE) _Atomic uint32_t head;
	uint32_t tail_cache; /* consumer's last view of tail */
	/* Producer side. */
	alignas(TXP_CACHE_LINE) _Atomic uint32_t tail;
	uint32_t head_cache; /* producer's last view of head */
	/* Read-only after creation. */
	alignas(TXP_CACHE_LINE) uint32_t mask;
	void **slots;
};

/*
 * Creates a ring of at least `capacity` slots (rounded up to a power of two,
 * at most 2^30).  Returns NULL on allocation failure or a bad capacity.
 * Free with txp_ring_destroy().
 */
struct txp_ring *txp_ring_create(uint32_t capacity);

/* Frees the ring (not the items in it).  NULL is safe. */
void txp_ring_destroy(struct txp_ring *r);

static inline uint32_t txp_ring_capacity(const struct txp_ring *r)
{
	return r->mask + 1;
}

/*
 * Producer only.  Enqueues up to `n` items from `items`, in order, and
 * returns how many it enqueued (0 when full).
 */
static inline uint32_t txp_ring_enqueue_burst(struct txp_ring *r, void *const *items, uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t free_slots = r->mask + 1 - (tail - r->head_cache);
	if (free_slots < n) {
		/* Acquire pairs with the consumer's release of head: the slots
		 * it freed are no longer being read. */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		free_slots = r->mask + 1 - (tail - r->head_cache);
		if (n > free_slots)
			n = free_slots;
	}
	for (uint32_t i = 0; i < n; i++)
		r->slots[(tail + i) & r->mask] = items[i];
	/* Release publishes the slot writes above to the consumer. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

/* Producer only.  Enqueues one item; returns 1, or 0 when full. */
static inline int txp_ring_enqueue(struct txp_ring *r, void *item)
{
	return (int)txp_ring_enqueue_burst(r, &item, 1);
}

/*
 * Consumer only.  Dequeues up to `n` items into `items`, in order, and
 * returns how many it dequeued (0 when empty).
 */
static inline uint32_t txp_ring_dequeue_burst(struct txp_ring *r, void **items, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t avail = r->tail_cache - head;
	if (avail < n) {
		/* Acquire pairs with the producer's release of tail: the
		 * slot contents it wrote are visible before we read them. */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		avail = r->tail_cache - head;
		if (n > avail)
			n = avail;
	}
	for (uint32_t i = 0; i < n; i++)
		items[i] = r->slots[(head + i) & r->mask];
	/* Release orders our slot reads before the producer may reuse them. */
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/* Consumer only.  Dequeues one item; returns NULL when empty. */
static inline void *txp_ring_dequeue(struct txp_ring *r)
{
	void *item = NULL;
	return txp_ring_dequeue_burst(r, &item, 1) ? item : NULL;
}

/*
 * Either side, or an observer thread (statistics).  An approximate depth:
 * exact when called by one of the two sides with the other idle, and never
 * more than the capacity.
 *
 * The consumer's index is read first, then the producer's, as
 * ConcurrencyKit's ck_ring_size does: head only grows towards tail, so a
 * head read before tail can lag tail but never pass it, and tail - head
 * cannot wrap.  (Read the other way round, the consumer could move head
 * past the stale tail in between, and the difference would wrap to about
 * 2^32.)  An observer can still see tail run ahead of a stale head by more
 * than the ring holds; the count is clamped to the capacity, as DPDK's
 * rte_ring_count does.
 */
static inline uint32_t txp_ring_count(struct txp_ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t n = tail - head;

	return n > r->mask + 1 ? r->mask + 1 : n;
}

#endif
