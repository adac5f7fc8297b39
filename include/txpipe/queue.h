/* queue.h: one intrusive doubly-linked list for every module that keeps things in a list. */
#ifndef TXPIPE_QUEUE_H
#define TXPIPE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The idea of libuv's uv__queue and dqlite's QUEUE__: a struct that lives
 * in lists embeds a struct txp_queue, and a list is a head node of the same
 * type, circular, so an empty list points at itself and insertion and
 * removal need no special cases.  txp_queue_data() goes from the link back
 * to the struct that holds it.  Nothing here allocates.
 */
struct txp_queue {
	struct txp_queue *next, *prev;
};

/* The struct of type `type` whose member `field` is the link `ptr`. */
#define txp_queue_data(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* Every link of the list `h`, in order.  Removing `q` inside the loop is
 * not allowed; use txp_queue_foreach_safe for that. */
#define txp_queue_foreach(q, h) for ((q) = (h)->next; (q) != (h); (q) = (q)->next)

/* The same, where the body may remove `q` (`n` holds the next link). */
#define txp_queue_foreach_safe(q, n, h) for ((q) = (h)->next; (n) = (q)->next, (q) != (h); (q) = (n))

/* An empty list, or a link in no list. */
static inline void txp_queue_init(struct txp_queue *q)
{
	q->next = q;
	q->prev = q;
}

static inline bool txp_queue_empty(const struct txp_queue *h)
{
	return h->next == h;
}

/* The first link of `h`, or NULL when it is empty. */
static inline struct txp_queue *txp_queue_first(const struct txp_queue *h)
{
	return h->next != h ? h->next : NULL;
}

static inline void txp_queue_insert_tail(struct txp_queue *h, struct txp_queue *q)
{
	q->next = h;
	q->prev = h->prev;
	q->prev->next = q;
	h->prev = q;
}

static inline void txp_queue_insert_head(struct txp_queue *h, struct txp_queue *q)
{
	q->next = h->next;
	q->prev = h;
	q->next->prev = q;
	h->next = q;
}

/* Takes `q` out of its list; it is left as an empty list, so removing it
 * again is harmless. */
static inline void txp_queue_remove(struct txp_queue *q)
{
	q->prev->next = q->next;
	q->next->prev = q->prev;
	txp_queue_init(q);
}

/* Moves every link of `from` to the end of `to`; `from` is left empty. */
static inline void txp_queue_move(struct txp_queue *from, struct txp_queue *to)
{
	if (txp_queue_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	txp_queue_init(from);
}

#endif
