/* server_int.h: the server's state and the calls shared by server.c, listener.c and conn.c. */
#ifndef TXP_SERVER_INT_H
#define TXP_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/control.h"
#include "txpipe/queue.h"
#include "txpipe/server.h"

struct txp_conn {
	uv_pipe_t pipe;
	struct txp_server *srv;
	uint64_t id;
	bool privileged;
	/* In an operator slot (over max_clients): control requests only. */
	bool operator_slot;
	bool refused;         /* answered too_many_clients; input is ignored */
	uint64_t grace_until; /* uv_now() deadline for the first line; 0: none */

	/* Input: bytes read but not yet framed or admitted. */
	char *in;
	size_t in_len, in_cap;
	bool discarding; /* dropping the rest of an over-long line */

	/* Replies in order: window[seq & mask] holds the finished
	 * transaction for line `seq` until every earlier line is answered. */
	struct txp_txn **window;
	uint32_t mask;
	uint64_t next_seq;  /* sequence of the next line framed */
	uint64_t write_seq; /* sequence of the next reply to queue */

	/* Output: `out` collects replies while `wbuf` is being written. */
	char *out, *wbuf;
	size_t out_len, out_cap, wbuf_cap;
	uv_write_t wreq;
	bool writing;

	bool reading;
	bool eof;     /* the client finished sending (or the server drains) */
	bool gone;    /* the client is gone: replies are dropped */
	bool closing; /* uv_close called */
	bool closed;  /* close callback ran */
	bool dirty;   /* on the server's flush list */
	bool blocked; /* paused because the pipeline is full */
	/* A tail subscriber receives every decision matching its filters. */
	bool tail;
	unsigned tail_statuses;                       /* bit per enum txp_status; 0: all */
	char *tail_reasons[TXP_CONTROL_TAIL_REASONS]; /* any of these codes; none: all */
	unsigned n_tail_reasons;
	uint64_t tail_dropped;
	struct txp_conn *next_dirty;
	struct txp_queue link; /* in srv->conns */
};

struct txp_server {
	uv_loop_t *loop;
	/* The listening socket is ours, not a libuv stream's: libuv accepts
	 * and closes connections silently when descriptors run out, and we
	 * answer each of them instead (server__on_listener). */
	int listen_fd;
	uv_poll_t listener;
	bool listening;
	bool accept_paused; /* out of descriptors with no spare: retried on the tick */
	int spare_fd;       /* held open, given up to answer a client on EMFILE */
	uv_timer_t tick;
	bool ticking;
	bool own_path; /* we created the socket file, so we remove it */
	char *path;
	struct txp_pipeline *pipeline;
	struct txp_server_hooks hooks;
	size_t max_line;
	unsigned max_clients;       /* in force: asked, lowered to fit fd_budget */
	unsigned max_clients_asked; /* as configured */
	unsigned fd_budget;         /* 0: no limit */
	unsigned n_operator;        /* connections in operator slots */
	uint32_t window;
	uv_check_t flush_check;
	/* Active while a connection is dirty: an idle handle makes the loop
	 * poll without blocking, so flush_check runs this turn even when the
	 * work came from a timer or a write callback, which run before the
	 * poll and would otherwise wait for an unrelated event. */
	uv_idle_t kick;
	bool kicked;
	struct txp_conn *dirty;
	struct txp_queue conns; /* every struct txp_conn */
	bool any_blocked;
	bool draining;
	void (*drained)(struct txp_server *s, void *arg);
	void *drained_arg;
	bool closing;
	unsigned open_handles;
	uint64_t next_conn_id;
	unsigned n_tails;
	struct txp_server_stats stats;
};

/* The connection a struct txp_queue link in srv->conns belongs to. */
static inline struct txp_conn *server__conn_of(struct txp_queue *q)
{
	return txp_queue_data(q, struct txp_conn, link);
}

/* conn.c */

/* Frees a connection and its buffers, and drops it from the server's counts. */
void server__conn_free(struct txp_conn *c);
/* Puts a connection on the flush list and makes sure the flush runs this loop turn. */
void server__mark_dirty(struct txp_conn *c);
/* Closes a connection's pipe (once); it is freed when nothing of it is in flight. */
void server__conn_close(struct txp_conn *c);
/* Starts or stops reading as the window, the output and the pipeline allow. */
void server__conn_update_reading(struct txp_conn *c);
/* Answers an operator-slot connection too_many_clients, then closes it. */
void server__conn_refuse(struct txp_conn *c, const char *reason);
/* The check handle's callback: resumes paused clients, writes replies, reports the drain. */
void server__on_flush_check(uv_check_t *h);

/* listener.c */

/* The listening socket's poll callback: accepts, admits or refuses connections. */
void server__on_listener(uv_poll_t *h, int status, int events);
/* Binds the socket path (claiming a stale one) with the configured mode and group. */
int server__listen_on_path(struct txp_server *s, const struct txp_server_options *o, char *err, size_t errlen);

/* server.c */

/* A handle the server owns has closed: frees the server after the last one. */
void server__handle_closed(struct txp_server *s);

#endif /* TXP_SERVER_INT_H */
