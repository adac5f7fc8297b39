/* server.h: the Unix-socket front end: framing, ordered replies, backpressure. */
#ifndef TXPIPE_SERVER_H
#define TXPIPE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "txpipe/pipeline.h"
#include "txpipe/txn.h"

struct txp_server;
struct txp_conn;

/* Connections root or the daemon's user may open beyond max_clients, for
 * control requests only (txpipectl stats while producers fill every
 * slot); one that sends a transaction, or nothing within a second, is
 * refused. */
#define TXP_SERVER_OPERATOR_SLOTS 4u
/* Descriptors the server holds besides its clients': the listener, a
 * spare given up to answer a client when descriptors run out, and a
 * connection being refused. */
#define TXP_SERVER_OWN_FDS 3u

struct txp_server_options {
	const char *socket_path;
	unsigned socket_mode;     /* e.g. 0660 */
	const char *socket_group; /* NULL or "" for the daemon's group */
	int listen_fd;            /* >= 0: an inherited listening socket */
	size_t max_line_bytes;
	unsigned max_clients;
	uint32_t max_inflight_per_client; /* a power of two */
	/* Descriptors the server may use (0: no limit): max_clients is
	 * lowered, and logged, when it does not fit with the operator slots
	 * and TXP_SERVER_OWN_FDS. */
	unsigned fd_budget;
};

struct txp_server_hooks {
	/*
	 * Every transaction that went through the pipeline ends here after
	 * its reply was queued (or dropped, if its client left); ownership
	 * passes to the hook, which must eventually txp_txn_free() it.
	 */
	void (*decided)(void *arg, struct txp_txn *t);
	/*
	 * A control request: a line starting with {"command":.  `privileged`
	 * is true when the peer runs as root or as the daemon's own user.
	 * Returns a malloc'd reply line ending in '\n' (caller frees) and its
	 * length, or NULL for an internal error.
	 */
	char *(*command)(void *arg, const char *line, size_t len, bool privileged, size_t *reply_len);
	/*
	 * Optional: called on the loop thread when a transaction comes back
	 * from the pipeline, before its reply is queued in its connection's
	 * window.  It may replace t->reply and set t->held: the reply then
	 * waits (and so do the replies after it on that connection) until
	 * txp_server_release(t).  Ownership stays with the server.
	 */
	void (*completed)(void *arg, struct txp_txn *t);
	/*
	 * Optional: true while new transactions must be refused: each new
	 * transaction line is answered at once with status error, code
	 * "overloaded" (the journal is full or cannot write).  Control
	 * requests are still served.
	 */
	bool (*refusing)(void *arg);
	/*
	 * Optional: true while downstream (delivery to AWS) is backlogged:
	 * each new transaction line is answered at once with status error,
	 * code "overloaded", as with `refusing` (not paused: in an outage the
	 * backlog may not shrink for hours, and a producer must hear why).
	 * Control requests are still served; ignored while draining.
	 */
	bool (*congested)(void *arg);
	void *arg;
};

struct txp_server_stats {
	uint64_t connections_total;
	uint32_t connections_open;
	uint64_t lines;
	uint64_t by_status[TXP_STATUS_COUNT];
	uint64_t lines_too_long;
	uint64_t clients_refused;
	uint64_t paused_reads;            /* times a client was paused for backpressure */
	uint64_t refused;                 /* transaction lines answered "overloaded" (refusing) */
	uint64_t tail_dropped;            /* decisions a slow tail subscriber missed */
	struct txp_latency reply_latency; /* line received -> reply queued (after any hold) */
};

/*
 * Creates the server on `loop` and starts listening (or adopts
 * opts->listen_fd).  The pipeline is attached afterwards because its
 * completion callback is txp_server_txn_done(server, t).  Returns 0, or a
 * negative errno with a message in err: a live daemon on the same path,
 * bind or permission errors.
 */
int txp_server_create(struct txp_server **out, uv_loop_t *loop, const struct txp_server_options *opts,
                      const struct txp_server_hooks *hooks, char *err, size_t errlen);
/* Attaches the pipeline; lines received before are read from then on. */
void txp_server_attach(struct txp_server *s, struct txp_pipeline *p);

/* The pipeline's completion callback (loop thread). */
void txp_server_txn_done(void *server, struct txp_txn *t);

/* Lets the held reply of `t` (see the completed hook) leave, in line order.
 * Loop thread; `t` must still be in its connection's window. */
void txp_server_release(struct txp_server *s, struct txp_txn *t);

/* Live-changeable limits (SIGHUP).  max_clients is lowered to fit the
 * descriptor budget given at creation (logged when it changes). */
void txp_server_set_max_line(struct txp_server *s, size_t max_line_bytes);
void txp_server_set_max_clients(struct txp_server *s, unsigned max_clients);

/*
 * Starts a graceful drain: stops listening (and removes the socket file it
 * created), shuts the read side of every connection so clients can send
 * nothing new, reads what they had sent up to the end of the stream and
 * answers every line of it.  `drained` is called once every connection
 * reached its end of stream, nothing is in flight and every reply was
 * written or its client is gone.
 */
void txp_server_drain(struct txp_server *s, void (*drained)(struct txp_server *s, void *arg), void *arg);

/* Closes every connection and handle; frees the server when they are
 * closed (run the loop until then).  NULL is safe. */
void txp_server_close(struct txp_server *s);

const struct txp_server_stats *txp_server_stats(const struct txp_server *s);

#endif
