/* ref.h: a reference count for objects shared read-only between threads (the rules a reload swaps). */
#ifndef TXPIPE_REF_H
#define TXPIPE_REF_H

#include <stdatomic.h>
#include <stdbool.h>

struct txp_ref {
	atomic_uint n;
};

/* The creator's reference. */
static inline void txp_ref_init(struct txp_ref *r)
{
	atomic_init(&r->n, 1);
}

/* One more reference.  Relaxed is enough: the caller already holds one,
 * so the object cannot go away meanwhile. */
static inline void txp_ref_get(struct txp_ref *r)
{
	atomic_fetch_add_explicit(&r->n, 1, memory_order_relaxed);
}

/* Drops one; true when it was the last, and the caller frees the object.
 * acq_rel: every thread's uses happen-before the free by whichever thread
 * drops the last reference. */
static inline bool txp_ref_put(struct txp_ref *r)
{
	return atomic_fetch_sub_explicit(&r->n, 1, memory_order_acq_rel) == 1;
}

#endif
