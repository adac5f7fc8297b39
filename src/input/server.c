/* server.c: Unix-socket NDJSON front end: framing, ordered replies, backpressure. */
#include "txpipe/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "txpipe/clock.h"
#include "txpipe/log.h"
#include "txpipe/queue.h"

/* Replies queued beyond this many bytes mean the client is not reading:
 * stop reading its lines until it catches up. */
#define OUT_HIGH_WATER (256u * 1024u)
#define READ_CHUNK 65536u
#define SUBMIT_BATCH 64u
/* Connections accepted per wake-up of the listener: the loop serves the
 * clients it has between bursts of new ones. */
#define ACCEPT_BATCH 128u
/* An operator slot's client has this long to send its first line (a
 * control request), or it is refused: idle connections cannot hold the
 * slots that keep `txpipectl stats` answering. */
#define OPERATOR_GRACE_MS 1000u
/* How often probation deadlines are checked and a listener paused for
 * want of descriptors tries again. */
#define TICK_MS 250u

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
	bool eof;      /* the client finished sending (or the server drains) */
	bool gone;     /* the client is gone: replies are dropped */
	bool closing;  /* uv_close called */
	bool closed;   /* close callback ran */
	bool dirty;    /* on the server's flush list */
	bool blocked;  /* paused because the pipeline is full */
	/* A tail subscriber receives every decision matching its filters. */
	bool tail;
	unsigned tail_statuses;      /* bit per enum txp_status; 0: all */
	char *tail_reasons[8];       /* any of these codes; none: all */
	unsigned n_tail_reasons;
	uint64_t tail_dropped;
	struct txp_conn *next_dirty;
	struct txp_queue link; /* in srv->conns */
};

struct txp_server {
	uv_loop_t *loop;
	/* The listening socket is ours, not a libuv stream's: libuv accepts
	 * and closes connections silently when descriptors run out, and we
	 * answer each of them instead (on_listener). */
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

static void conn_update_reading(struct txp_conn *c);
static void conn_process_input(struct txp_conn *c);
static void conn_maybe_finish(struct txp_conn *c);

static void on_kick(uv_idle_t *h)
{
	(void)h; /* its being active is the point: see struct txp_server */
}

static void mark_dirty(struct txp_conn *c)
{
	struct txp_server *s = c->srv;

	if (!c->dirty) {
		c->dirty = true;
		c->next_dirty = s->dirty;
		s->dirty = c;
	}
	if (!s->kicked && !s->closing) {
		s->kicked = true;
		uv_idle_start(&s->kick, on_kick);
	}
}

static uint32_t conn_inflight(const struct txp_conn *c)
{
	return (uint32_t)(c->next_seq - c->write_seq);
}

/* Appends bytes to the pending output; returns -ENOMEM when it cannot. */
static int out_append(struct txp_conn *c, const char *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *np;
		while (cap < c->out_len + n)
			cap *= 2;
		np = realloc(c->out, cap);
		if (np == NULL)
			return -ENOMEM;
		c->out = np;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

static struct txp_conn *conn_of(struct txp_queue *q)
{
	return txp_queue_data(q, struct txp_conn, link);
}

static void conn_free(struct txp_conn *c)
{
	struct txp_server *s = c->srv;

	txp_queue_remove(&c->link);
	for (uint32_t i = 0; i <= c->mask; i++)
		txp_txn_free(c->window[i]);
	if (c->tail)
		s->n_tails--;
	if (c->operator_slot)
		s->n_operator--;
	for (unsigned i = 0; i < c->n_tail_reasons; i++)
		free(c->tail_reasons[i]);
	free(c->window);
	free(c->in);
	free(c->out);
	free(c->wbuf);
	free(c);
	s->stats.connections_open--;
}

/* The server is freed only once every handle it owns has closed: libuv
 * runs close callbacks in no order we may rely on. */
static void server_handle_closed(struct txp_server *s)
{
	s->open_handles--;
	if (!s->closing || s->open_handles > 0)
		return;
	while (!txp_queue_empty(&s->conns))
		conn_free(conn_of(s->conns.next));
	free(s->path);
	free(s);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct txp_conn *c = h->data;
	struct txp_server *s = c->srv;

	c->closed = true;
	/* Transactions of this connection still in the pipeline point at it:
	 * it is freed when the last of them has come back. */
	if (conn_inflight(c) == 0 && !c->dirty && !c->writing)
		conn_free(c);
	server_handle_closed(s);
}

static void conn_close(struct txp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->gone = true;
	c->reading = false;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* A complete line is still waiting in the input buffer (admission paused
 * it); a trailing partial line does not count: it never gets a reply. */
static bool conn_has_line(const struct txp_conn *c)
{
	return c->in_len > 0 && memchr(c->in, '\n', c->in_len) != NULL;
}

/* True when the connection owes its client nothing more. */
static bool conn_idle(const struct txp_conn *c)
{
	return conn_inflight(c) == 0 && c->out_len == 0 && !c->writing && !conn_has_line(c);
}

/* Closes a connection that has nothing more to say once the client is done
 * sending (or the server drains) and every reply is written. */
static void conn_maybe_finish(struct txp_conn *c)
{
	if (c->closing)
		return;
	if (c->gone || (c->eof && conn_idle(c)))
		conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct txp_conn *c = req->data;

	c->writing = false;
	if (status < 0) {
		/* The client went away; keep answering nobody, but keep
		 * processing what it already sent. */
		if (status != UV_ECANCELED)
			txp_log_debug("client_write_failed", "conn=%llu error=\"%s\"", (unsigned long long)c->id,
			              uv_strerror(status));
		c->gone = true;
		c->out_len = 0;
	}
	if (c->closed) {
		if (conn_inflight(c) == 0 && !c->dirty && !c->srv->closing)
			conn_free(c);
		return;
	}
	mark_dirty(c);
}

static void conn_flush(struct txp_conn *c)
{
	uv_buf_t buf;
	char *tmp;
	size_t tmpcap;
	int rc;

	if (c->writing || c->out_len == 0 || c->closing)
		return;
	if (c->gone) {
		c->out_len = 0;
		return;
	}
	/* Swap the buffers: `out` keeps collecting while `wbuf` is on the
	 * wire, and no reply is copied twice. */
	tmp = c->wbuf;
	tmpcap = c->wbuf_cap;
	c->wbuf = c->out;
	c->wbuf_cap = c->out_cap;
	buf = uv_buf_init(c->wbuf, (unsigned)c->out_len);
	c->out = tmp;
	c->out_cap = tmpcap;
	c->out_len = 0;
	c->wreq.data = c;
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
	if (rc < 0) {
		c->gone = true;
		return;
	}
	c->writing = true;
}

/* Moves finished transactions whose turn has come from the window into the
 * output, in line order, and hands them on. */
static void conn_drain_window(struct txp_conn *c)
{
	struct txp_server *s = c->srv;
	struct txp_txn *t;

	while (c->write_seq != c->next_seq && (t = c->window[c->write_seq & c->mask]) != NULL && !t->held) {
		c->window[c->write_seq & c->mask] = NULL;
		c->write_seq++;
		if (t->t_received != 0)
			txp_latency_record(&s->stats.reply_latency, txp_now_ns() - t->t_received);
		if (!c->gone && t->reply != NULL && out_append(c, t->reply, t->reply_len) < 0) {
			txp_log_err("reply_dropped", "conn=%llu reason=out_of_memory", (unsigned long long)c->id);
			c->gone = true;
		}
		if (t->conn == NULL) {
			/* A reply that never went through the pipeline (line too
			 * long, control request): nothing to hand on. */
			txp_txn_free(t);
		} else if (s->hooks.decided != NULL) {
			t->conn = NULL;
			s->hooks.decided(s->hooks.arg, t);
		} else {
			txp_txn_free(t);
		}
	}
}

static bool downstream_congested(const struct txp_server *s)
{
	return !s->draining && s->hooks.congested != NULL && s->hooks.congested(s->hooks.arg);
}

static void on_flush_check(uv_check_t *h)
{
	struct txp_server *s = h->data;
	struct txp_queue *q, *n;
	struct txp_conn *c;

	/* Resume clients paused on a full pipeline first, so their buffered
	 * lines get in before new reads. */
	if (s->any_blocked && s->pipeline != NULL &&
	    txp_pipeline_inflight(s->pipeline) < txp_pipeline_capacity(s->pipeline)) {
		s->any_blocked = false;
		txp_queue_foreach_safe(q, n, &s->conns) {
			c = conn_of(q);
			if (c->blocked) {
				c->blocked = false;
				conn_process_input(c);
				conn_update_reading(c);
			}
		}
	}
	while ((c = s->dirty) != NULL) {
		s->dirty = c->next_dirty;
		c->dirty = false;
		c->next_dirty = NULL;
		if (c->closed) {
			/* Its client is gone: hand on what came back, drop the
			 * replies, free it once nothing of it is in flight. */
			conn_drain_window(c);
			if (conn_inflight(c) == 0 && !c->writing)
				conn_free(c);
			continue;
		}
		conn_drain_window(c);
		conn_flush(c);
		if (!c->closing && c->in_len > 0 && !c->blocked)
			conn_process_input(c);
		conn_update_reading(c);
		conn_maybe_finish(c);
	}
	if (s->kicked) {
		s->kicked = false;
		uv_idle_stop(&s->kick);
	}
	if (s->draining && s->drained != NULL) {
		bool idle = s->pipeline == NULL || txp_pipeline_inflight(s->pipeline) == 0;
		txp_queue_foreach(q, &s->conns) {
			c = conn_of(q);
			if (!c->gone && !c->closing && (!c->eof || !conn_idle(c))) {
				idle = false;
				break;
			}
		}
		if (idle) {
			void (*cb)(struct txp_server *, void *) = s->drained;
			s->drained = NULL;
			cb(s, s->drained_arg);
		}
	}
}

static bool tail_matches(const struct txp_conn *sub, const struct txp_txn *t)
{
	if (sub->tail_statuses != 0 && !(sub->tail_statuses & (1u << t->status)))
		return false;
	if (sub->n_tail_reasons == 0)
		return true;
	for (unsigned i = 0; i < t->n_reasons; i++)
		for (unsigned k = 0; k < sub->n_tail_reasons; k++)
			if (strcmp(t->reasons[i].code, sub->tail_reasons[k]) == 0)
				return true;
	return false;
}

/* Copies a decision to every matching tail subscriber.  A subscriber that
 * does not keep up loses events (counted), it never slows the pipeline. */
static void publish_tail(struct txp_server *s, const struct txp_txn *t)
{
	struct txp_queue *q;

	txp_queue_foreach(q, &s->conns) {
		struct txp_conn *sub = conn_of(q);
		if (!sub->tail || sub->gone || sub->closing || !tail_matches(sub, t))
			continue;
		if (sub->out_len >= OUT_HIGH_WATER || out_append(sub, t->reply, t->reply_len) < 0) {
			sub->tail_dropped++;
			s->stats.tail_dropped++;
			continue;
		}
		mark_dirty(sub);
	}
}

void txp_server_txn_done(void *server, struct txp_txn *t)
{
	struct txp_server *s = server;
	struct txp_conn *c = t->conn;

	(void)s;
	if (t->reply == NULL && txp_txn_build_reply(t) < 0)
		txp_log_err("reply_build_failed", "reason=out_of_memory");
	if (c->srv->hooks.completed != NULL)
		c->srv->hooks.completed(c->srv->hooks.arg, t);
	c->srv->stats.by_status[t->status < TXP_STATUS_COUNT ? t->status : TXP_STATUS_ERROR]++;
	if (c->srv->n_tails > 0 && t->reply != NULL)
		publish_tail(c->srv, t);
	c->window[t->conn_seq & c->mask] = t;
	mark_dirty(c);
}

void txp_server_release(struct txp_server *s, struct txp_txn *t)
{
	(void)s;
	t->held = false;
	mark_dirty(t->conn);
}

/* Queues an immediate reply (a transaction that skips the pipeline). */
static void conn_reply_now(struct txp_conn *c, char *reply, size_t len, enum txp_status status)
{
	struct txp_txn *t = txp_txn_new();

	if (t == NULL) {
		free(reply);
		c->gone = true;
		return;
	}
	t->reply = reply;
	t->reply_len = (uint32_t)len;
	t->status = status;
	c->srv->stats.by_status[status]++;
	c->window[c->next_seq & c->mask] = t;
	c->next_seq++;
	mark_dirty(c);
}

static void conn_reply_error(struct txp_conn *c, const char *code, const char *message)
{
	size_t len = 0;
	char *reply = txp_reply_error(code, message, &len);

	if (reply == NULL) {
		c->gone = true;
		return;
	}
	conn_reply_now(c, reply, len, TXP_STATUS_ERROR);
}

/* Refuses a connection in an operator slot (idle past its grace, or
 * sending a transaction): one too_many_clients reply, then it closes. */
static void conn_refuse(struct txp_conn *c, const char *reason)
{
	struct txp_server *s = c->srv;

	c->grace_until = 0;
	c->refused = true;
	s->stats.clients_refused++;
	txp_log_warn("client_refused", "conn=%llu reason=%s max_clients=%u", (unsigned long long)c->id, reason,
	             s->max_clients);
	conn_reply_error(c, "too_many_clients", "the daemon serves max_clients connections already");
	c->eof = true;
	conn_update_reading(c);
	mark_dirty(c);
}

/* Wall clock in Unix milliseconds, for records and velocity windows. */
static bool is_command(const char *line, size_t len)
{
	static const char prefix[] = "{\"command\":";
	return len >= sizeof(prefix) - 1 && memcmp(line, prefix, sizeof(prefix) - 1) == 0;
}

/*
 * {"command":"tail","status":["declined",...],"reason":["card_testing",...]}
 * turns the connection into a subscriber.  Returns false when the line is
 * not a tail request (another command).  Decisions carry masked ids and
 * pseudonyms only, yet they are still business data: root or the daemon's
 * user only.
 */
static bool conn_start_tail(struct txp_conn *c, const char *line, size_t len)
{
	json_t *req = json_loadb(line, len, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "command"));
	json_t *statuses = json_object_get(req, "status"), *reasons = json_object_get(req, "reason"), *v;
	size_t i;

	if (cmd == NULL || strcmp(cmd, "tail") != 0) {
		json_decref(req);
		return false;
	}
	if (!c->privileged) {
		conn_reply_error(c, "permission_denied", "tail needs root or the daemon's user");
		json_decref(req);
		return true;
	}
	json_array_foreach(statuses, i, v) {
		for (int st = 0; st < TXP_STATUS_COUNT; st++)
			if (json_is_string(v) && strcmp(json_string_value(v), txp_status_name(st)) == 0)
				c->tail_statuses |= 1u << st;
	}
	json_array_foreach(reasons, i, v) {
		if (json_is_string(v) && c->n_tail_reasons < 8)
			c->tail_reasons[c->n_tail_reasons++] = strdup(json_string_value(v));
	}
	json_decref(req);
	char *ok = strdup("{\"status\":\"ok\",\"tail\":true}\n");
	if (ok != NULL)
		conn_reply_now(c, ok, strlen(ok), TXP_STATUS_APPROVED);
	c->tail = true;
	c->srv->n_tails++;
	return true;
}

static bool can_admit(struct txp_conn *c, uint32_t pending)
{
	struct txp_server *s = c->srv;

	if (conn_inflight(c) >= s->window)
		return false;
	if (c->out_len >= OUT_HIGH_WATER)
		return false;
	if (s->pipeline != NULL &&
	    txp_pipeline_inflight(s->pipeline) + pending >= txp_pipeline_capacity(s->pipeline)) {
		if (!c->blocked) {
			c->blocked = true;
			s->any_blocked = true;
			s->stats.paused_reads++;
		}
		return false;
	}
	return true;
}

static void submit_batch(struct txp_conn *c, struct txp_txn **batch, uint32_t n)
{
	uint32_t taken;

	if (n == 0)
		return;
	taken = txp_pipeline_submit(c->srv->pipeline, batch, n);
	/* can_admit() counted the batch against the capacity, so the
	 * pipeline takes all of it. */
	for (uint32_t k = taken; k < n; k++) {
		txp_txn_fail(batch[k], TXP_STATUS_ERROR, "overloaded", NULL, "the pipeline is full; retry later");
		batch[k]->conn = c;
		txp_server_txn_done(c->srv, batch[k]);
	}
}

/* Frames complete lines out of c->in and admits them while there is room. */
static void conn_process_input(struct txp_conn *c)
{
	struct txp_server *s = c->srv;
	struct txp_txn *batch[SUBMIT_BATCH];
	uint32_t nbatch = 0;
	size_t pos = 0;
	int refusing = -1;  /* asked once per call, when a transaction line comes */
	int congested = -1; /* likewise */

	if (c->closing || s->pipeline == NULL || c->refused)
		return;
	while (pos < c->in_len) {
		char *start = c->in + pos;
		char *nl = memchr(start, '\n', c->in_len - pos);
		size_t len;

		if (c->discarding) {
			if (nl == NULL) {
				pos = c->in_len;
				break;
			}
			c->discarding = false;
			pos += (size_t)(nl - start) + 1;
			continue;
		}
		if (nl == NULL) {
			size_t have = c->in_len - pos;
			/* The limit is on the line without its terminator, "\n" or
			 * "\r\n": a CR at the very end may be the first half of
			 * one, however the bytes were split across reads. */
			if (have > s->max_line + (start[have - 1] == '\r' ? 1u : 0u)) {
				/* Over the limit with no end in sight: answer now,
				 * drop the rest of the line as it arrives. */
				if (!can_admit(c, nbatch))
					break;
				conn_reply_error(c, "line_too_long", "line exceeds max_line_bytes");
				s->stats.lines++;
				s->stats.lines_too_long++;
				c->discarding = true;
				pos = c->in_len;
			}
			break;
		}
		len = (size_t)(nl - start);
		if (!can_admit(c, nbatch))
			break;
		if (c->operator_slot && !is_command(start, len)) {
			/* An operator slot serves control requests only: a
			 * producer that got one is refused as it would have been
			 * at the door, and nothing it sent later is read. */
			conn_refuse(c, "operator_slot_transaction");
			pos = c->in_len;
			break;
		}
		if (is_command(start, len))
			c->grace_until = 0; /* an operator: the slot is theirs */
		s->stats.lines++;
		if (len > 0 && start[len - 1] == '\r')
			len--;
		if (len > s->max_line) {
			conn_reply_error(c, "line_too_long", "line exceeds max_line_bytes");
			s->stats.lines_too_long++;
		} else if (is_command(start, len) && conn_start_tail(c, start, len)) {
			/* Subscribed: from now on the connection only listens. */
		} else if (is_command(start, len)) {
			size_t rlen = 0;
			char *reply = NULL;
			if (s->hooks.command != NULL)
				reply = s->hooks.command(s->hooks.arg, start, len, c->privileged, &rlen);
			if (reply != NULL)
				conn_reply_now(c, reply, rlen, TXP_STATUS_APPROVED);
			else
				conn_reply_error(c, "internal", "the control request failed");
		} else if (refusing == 1 ||
		           (refusing < 0 && (refusing = s->hooks.refusing != NULL && s->hooks.refusing(s->hooks.arg)))) {
			/* Never a silent drop: the producer hears it now. */
			s->stats.refused++;
			conn_reply_error(c, "overloaded", "the journal is full or cannot write; retry later");
		} else if (congested == 1 || (congested < 0 && (congested = downstream_congested(s)))) {
			/* Likewise: an outage can keep the backlog up for hours. */
			s->stats.refused++;
			conn_reply_error(c, "overloaded",
			                 "the delivery backlog is over [dynamodb] max_pending; retry later");
		} else {
			struct txp_txn *t = txp_txn_new();
			char *line = malloc(len + 1);
			if (t == NULL || line == NULL) {
				free(t);
				free(line);
				conn_reply_error(c, "overloaded", "out of memory; retry later");
			} else {
				memcpy(line, start, len);
				line[len] = '\0';
				t->line = line;
				t->line_len = (uint32_t)len;
				t->conn = c;
				t->conn_seq = c->next_seq++;
				t->received_ms = txp_wall_ms();
				t->t_received = txp_now_ns();
				batch[nbatch++] = t;
				if (nbatch == SUBMIT_BATCH) {
					submit_batch(c, batch, nbatch);
					nbatch = 0;
				}
			}
		}
		pos += (size_t)(nl - start) + 1;
	}
	submit_batch(c, batch, nbatch);
	/* Keep the unframed remainder at the front of the buffer. */
	if (pos > 0) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct txp_conn *c = h->data;
	size_t want = c->in_len + READ_CHUNK;

	(void)suggested;
	if (want > c->in_cap) {
		char *np = realloc(c->in, want);
		if (np == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->in = np;
		c->in_cap = want;
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct txp_conn *c = stream->data;

	(void)buf;
	if (nread == UV_ENOBUFS) {
		txp_log_err("client_dropped", "conn=%llu reason=out_of_memory", (unsigned long long)c->id);
		c->gone = true;
		conn_maybe_finish(c);
		return;
	}
	if (nread < 0) {
		/* EOF: a half line at the end is not a line and gets no
		 * reply; every complete line still does. */
		uv_read_stop(stream);
		c->reading = false;
		c->eof = true;
		if (nread != UV_EOF) {
			c->gone = true;
			txp_log_debug("client_read_failed", "conn=%llu error=\"%s\"", (unsigned long long)c->id,
			              uv_strerror((int)nread));
		}
		mark_dirty(c);
		return;
	}
	c->in_len += (size_t)nread;
	conn_process_input(c);
	conn_update_reading(c);
}

static void conn_update_reading(struct txp_conn *c)
{
	struct txp_server *s = c->srv;
	/* Draining does not stop reading: txp_server_drain() shut the read
	 * side, so what the client wrote before is read up to an end of
	 * stream and answered. */
	bool want = !c->eof && !c->gone && !c->closing && !c->blocked && conn_inflight(c) < s->window &&
	            c->out_len < OUT_HIGH_WATER &&
	            /* A full buffer holds more than a whole line (and the CR
	             * of its terminator): frame it before reading more. */
	            c->in_len <= s->max_line + 1;

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
}

static bool peer_is_privileged(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void on_tick(uv_timer_t *h);

/* The tick runs while an operator slot is on probation or accepting is
 * paused; it never keeps the loop alive by itself. */
static void tick_start(struct txp_server *s)
{
	if (s->ticking || s->closing)
		return;
	s->ticking = true;
	uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
}

/*
 * Answers a connection the daemon will not serve and closes it at once.
 * The reply is a few dozen bytes into an empty socket buffer, so it never
 * has to wait; what the client already sent is read and dropped first, so
 * the close is an end of stream for it, not a reset.
 */
static void refuse_fd(struct txp_server *s, int fd, const char *message)
{
	size_t len = 0;
	char *reply = txp_reply_error("too_many_clients", message, &len);
	char sink[4096];

	s->stats.clients_refused++;
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	if (reply != NULL && send(fd, reply, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		txp_log_debug("client_write_failed", "error=\"%s\"", strerror(errno));
	free(reply);
	close(fd);
}

/* Stops accepting until the tick: the pending connections wait in the
 * backlog rather than spin the loop on an accept that keeps failing. */
static void accept_pause(struct txp_server *s)
{
	if (s->accept_paused)
		return;
	s->accept_paused = true;
	uv_poll_stop(&s->listener);
	tick_start(s);
}

/*
 * accept(2) failed with EMFILE or ENFILE: the daemon is out of
 * descriptors.  The spare one is given up for a moment so the client
 * hears too_many_clients instead of waiting in the backlog (or, as libuv
 * would do, being closed unanswered), then taken back.  Returns false when
 * the backlog is empty or nothing more can be done now.
 */
static bool accept_without_fd(struct txp_server *s, int err)
{
	int fd, saved;

	if (s->spare_fd < 0) {
		txp_log_err("out_of_file_descriptors", "error=\"%s\" action=accept_paused", strerror(err));
		accept_pause(s);
		return false;
	}
	close(s->spare_fd);
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	saved = errno;
	if (fd >= 0) {
		s->stats.connections_total++;
		txp_log_err("out_of_file_descriptors",
		            "error=\"%s\" action=client_refused connections_open=%u max_clients=%u", strerror(err),
		            s->stats.connections_open, s->max_clients);
		refuse_fd(s, fd, "the daemon is out of file descriptors; retry later");
	}
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0 || (saved != EAGAIN && saved != EWOULDBLOCK);
}

/* Takes on an accepted connection, or refuses it (too_many_clients). */
static void conn_accept(struct txp_server *s, int fd)
{
	bool privileged = peer_is_privileged(fd);
	bool operator_slot = false;
	struct txp_conn *c;
	int rc;

	s->stats.connections_total++;
	if (s->stats.connections_open - s->n_operator >= s->max_clients) {
		/* Root and the daemon's user may take one of a few slots beyond
		 * max_clients, for control requests: the operator can still
		 * ask for stats when producers fill every slot. */
		if (!privileged || s->n_operator >= TXP_SERVER_OPERATOR_SLOTS) {
			txp_log_warn("client_refused", "reason=max_clients max_clients=%u", s->max_clients);
			refuse_fd(s, fd, "the daemon serves max_clients connections already");
			return;
		}
		operator_slot = true;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->window = calloc(s->window, sizeof(*c->window))) == NULL) {
		free(c);
		close(fd);
		txp_log_err("accept_failed", "error=\"out of memory\"");
		return;
	}
	c->srv = s;
	c->mask = s->window - 1;
	c->id = ++s->next_conn_id;
	c->privileged = privileged;
	uv_pipe_init(s->loop, &c->pipe, 0);
	c->pipe.data = c;
	s->open_handles++;
	txp_queue_insert_tail(&s->conns, &c->link);
	s->stats.connections_open++;
	if (operator_slot) {
		c->operator_slot = true;
		s->n_operator++;
		c->grace_until = uv_now(s->loop) + OPERATOR_GRACE_MS;
		tick_start(s);
	}
	rc = uv_pipe_open(&c->pipe, fd);
	if (rc < 0) {
		txp_log_warn("accept_failed", "error=\"%s\"", uv_strerror(rc));
		close(fd);
		conn_close(c);
		return;
	}
	conn_update_reading(c);
}

static void on_listener(uv_poll_t *h, int status, int events)
{
	struct txp_server *s = h->data;

	(void)events;
	if (status < 0) {
		txp_log_warn("accept_failed", "error=\"%s\"", uv_strerror(status));
		accept_pause(s);
		return;
	}
	for (unsigned i = 0; i < ACCEPT_BATCH && s->listening && !s->accept_paused; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_accept(s, fd);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno == EMFILE || errno == ENFILE) {
			if (!accept_without_fd(s, errno))
				return;
		} else if (errno != EINTR && errno != ECONNABORTED) {
			txp_log_warn("accept_failed", "error=\"%s\"", strerror(errno));
			accept_pause(s);
			return;
		}
	}
}

static void on_tick(uv_timer_t *h)
{
	struct txp_server *s = h->data;
	struct txp_queue *q, *n;
	uint64_t now = uv_now(s->loop);
	bool again = false;

	if (s->accept_paused && s->listening) {
		s->accept_paused = false;
		if (s->spare_fd < 0)
			s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		uv_poll_start(&s->listener, UV_READABLE, on_listener);
	}
	txp_queue_foreach_safe(q, n, &s->conns) {
		struct txp_conn *c = conn_of(q);
		if (c->grace_until == 0 || c->closing)
			continue;
		if (now >= c->grace_until) {
			c->in_len = 0; /* a partial line never gets a reply */
			conn_refuse(c, "operator_slot_idle");
		} else {
			again = true;
		}
	}
	if (!again && !s->accept_paused) {
		uv_timer_stop(h);
		s->ticking = false;
	}
}

/* Refuses to take over the path of a live daemon; removes a stale socket. */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another txpiped is already listening on %s", path);
		return -EADDRINUSE;
	}
	/* Nobody answers: a stale file from a daemon that died. */
	if (unlink(path) != 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return rc;
	}
	txp_log_notice("stale_socket_removed", "socket=%s", path);
	return 0;
}

static int listen_on_path(struct txp_server *s, const struct txp_server_options *o, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old_umask;
	int rc;

	rc = claim_path(o->socket_path, err, errlen);
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "socket %s: %s", o->socket_path, strerror(-rc));
		return rc;
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, o->socket_path, strlen(o->socket_path));
	/* Bind under a tight umask so the socket is never more open than
	 * asked, even for a moment; then set the exact mode. */
	old_umask = umask(0177);
	rc = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	umask(old_umask);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", o->socket_path, strerror(-rc));
		return rc;
	}
	s->own_path = true;
	if (chmod(o->socket_path, o->socket_mode) != 0) {
		rc = -errno;
		snprintf(err, errlen, "chmod %s: %s", o->socket_path, strerror(errno));
		return rc;
	}
	if (o->socket_group != NULL && o->socket_group[0] != '\0') {
		struct group *g = getgrnam(o->socket_group);
		if (g == NULL) {
			snprintf(err, errlen, "socket_group %s: no such group", o->socket_group);
			return -ENOENT;
		}
		if (chown(o->socket_path, (uid_t)-1, g->gr_gid) != 0) {
			rc = -errno;
			snprintf(err, errlen, "chown %s to group %s: %s", o->socket_path, o->socket_group,
			         strerror(errno));
			return rc;
		}
	}
	return 0;
}

int txp_server_create(struct txp_server **out, uv_loop_t *loop, const struct txp_server_options *o,
                      const struct txp_server_hooks *hooks, char *err, size_t errlen)
{
	struct txp_server *s;
	int rc;

	err[0] = '\0';
	if (o->max_inflight_per_client == 0 || (o->max_inflight_per_client & (o->max_inflight_per_client - 1))) {
		snprintf(err, errlen, "max_inflight_per_client must be a power of two");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = strdup(o->socket_path)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->loop = loop;
	txp_queue_init(&s->conns);
	s->hooks = *hooks;
	s->max_line = o->max_line_bytes;
	s->fd_budget = o->fd_budget;
	txp_server_set_max_clients(s, o->max_clients);
	s->window = o->max_inflight_per_client;
	s->listen_fd = -1;

	if (o->listen_fd >= 0) {
		s->listen_fd = o->listen_fd;
		if (fcntl(s->listen_fd, F_SETFL, fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot adopt the inherited socket: %s", strerror(errno));
			goto err_after_socket;
		}
	} else if ((rc = listen_on_path(s, o, err, errlen)) < 0) {
		goto err_after_socket;
	}
	if (listen(s->listen_fd, 512) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", o->socket_path, strerror(errno));
		goto err_after_socket;
	}
	/* Without a spare the daemon still runs; out of descriptors it then
	 * pauses accepting instead of answering. */
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->spare_fd < 0)
		txp_log_warn("spare_fd_unavailable", "error=\"%s\"", strerror(errno));
	rc = uv_poll_init(loop, &s->listener, s->listen_fd);
	if (rc < 0) {
		snprintf(err, errlen, "cannot watch %s: %s", o->socket_path, uv_strerror(rc));
		goto err_after_spare;
	}
	s->listener.data = s;
	s->open_handles++;
	uv_poll_start(&s->listener, UV_READABLE, on_listener);
	s->listening = true;
	uv_timer_init(loop, &s->tick);
	s->tick.data = s;
	s->open_handles++;
	uv_unref((uv_handle_t *)&s->tick);
	uv_idle_init(loop, &s->kick);
	s->kick.data = s;
	s->open_handles++;
	uv_check_init(loop, &s->flush_check);
	s->flush_check.data = s;
	s->open_handles++;
	uv_check_start(&s->flush_check, on_flush_check);
	/* The check handle must not keep the loop alive by itself. */
	uv_unref((uv_handle_t *)&s->flush_check);
	*out = s;
	return 0;

err_after_spare:
	if (s->spare_fd >= 0)
		close(s->spare_fd);
err_after_socket:
	/* The path first, the descriptor after: once it is closed the path
	 * may already be another daemon's. */
	if (s->own_path)
		unlink(s->path);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s->path);
	free(s);
	return rc;
}

void txp_server_attach(struct txp_server *s, struct txp_pipeline *p)
{
	s->pipeline = p;
	/* Lines that arrived before (the journal replays while the socket
	 * already listens) are framed at the next loop turn. */
	struct txp_queue *q;

	txp_queue_foreach(q, &s->conns)
		mark_dirty(conn_of(q));
}

void txp_server_set_max_line(struct txp_server *s, size_t max_line_bytes)
{
	s->max_line = max_line_bytes;
}

void txp_server_set_max_clients(struct txp_server *s, unsigned max_clients)
{
	unsigned room = max_clients;

	/* The listener, the spare and a connection being refused come out of
	 * the budget, and so do the operator slots. */
	if (s->fd_budget > 0)
		room = s->fd_budget > TXP_SERVER_OWN_FDS + TXP_SERVER_OPERATOR_SLOTS
		               ? s->fd_budget - TXP_SERVER_OWN_FDS - TXP_SERVER_OPERATOR_SLOTS
		               : 1;
	if (room < max_clients && max_clients != s->max_clients_asked)
		txp_log_warn("max_clients_lowered",
		             "max_clients=%u effective=%u fd_budget=%u reason=\"the descriptor limit (RLIMIT_NOFILE) "
		             "does not leave room for max_clients\" action=\"raise LimitNOFILE\"",
		             max_clients, room, s->fd_budget);
	s->max_clients_asked = max_clients;
	s->max_clients = room < max_clients ? room : max_clients;
}

const struct txp_server_stats *txp_server_stats(const struct txp_server *s)
{
	return &s->stats;
}

static void on_handle_closed(uv_handle_t *h)
{
	server_handle_closed(h->data);
}

/* Removes the socket file we created, then closes the descriptor: in
 * that order and once, so the path is never removed after another daemon
 * may have bound it (libuv's own pipe handle does the same, for the same
 * reason).  An inherited socket's path belongs to systemd. */
static void stop_listening(struct txp_server *s)
{
	if (!s->listening)
		return;
	s->listening = false;
	s->accept_paused = false;
	if (s->own_path)
		unlink(s->path);
	uv_close((uv_handle_t *)&s->listener, on_handle_closed);
	/* uv_close() stopped the watcher: the descriptor may go now. */
	close(s->listen_fd);
	s->listen_fd = -1;
}

void txp_server_drain(struct txp_server *s, void (*drained)(struct txp_server *s, void *arg), void *arg)
{
	struct txp_queue *q;

	s->draining = true;
	s->drained = drained;
	s->drained_arg = arg;
	stop_listening(s);
	/* What a client wrote before the drain is in its socket's buffer:
	 * shutting the read side makes the kernel refuse anything newer (the
	 * client's next write fails with EPIPE) and end the stream after the
	 * rest, so every line received is read and answered, and no close
	 * discards unread bytes (the client would see a reset). */
	txp_queue_foreach(q, &s->conns) {
		struct txp_conn *c = conn_of(q);
		uv_os_fd_t fd;
		if (c->closing || c->eof)
			continue;
		if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 || shutdown(fd, SHUT_RD) != 0)
			c->eof = true;
		conn_update_reading(c);
		mark_dirty(c);
	}
	/* The check handle runs only when the loop iterates: make sure it
	 * does even if nothing else is pending. */
	uv_ref((uv_handle_t *)&s->flush_check);
}

void txp_server_close(struct txp_server *s)
{
	struct txp_queue *q, *n;

	if (s == NULL || s->closing)
		return;
	s->closing = true;
	stop_listening(s);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	s->spare_fd = -1;
	uv_close((uv_handle_t *)&s->tick, on_handle_closed);
	uv_close((uv_handle_t *)&s->kick, on_handle_closed);
	txp_queue_foreach_safe(q, n, &s->conns)
		conn_close(conn_of(q));
	/* Connections still referenced by in-flight transactions (the
	 * pipeline is stopped first, so there are none) are freed in their
	 * close callbacks. */
	uv_close((uv_handle_t *)&s->flush_check, on_handle_closed);
}
