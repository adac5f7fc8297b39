/* server.c: Unix-socket NDJSON front end: framing, ordered replies, backpressure. */
#include "txpipe/server.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "txpipe/control.h"
#include "txpipe/log.h"

/* Replies queued beyond this many bytes mean the client is not reading:
 * stop reading its lines until it catches up. */
#define OUT_HIGH_WATER (256u * 1024u)
#define READ_CHUNK 65536u
#define SUBMIT_BATCH 64u

struct txp_conn {
	uv_pipe_t pipe;
	struct txp_server *srv;
	uint64_t id;
	bool privileged;

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
	char *tail_reasons[TXP_CONTROL_TAIL_REASONS]; /* any of these codes; none: all */
	unsigned n_tail_reasons;
	uint64_t tail_dropped;
	struct txp_conn *next_dirty;
	struct txp_conn *prev, *next; /* all connections */
};

struct txp_server {
	uv_loop_t *loop;
	uv_pipe_t listener;
	bool listening;
	bool own_path; /* we created the socket file, so we remove it */
	char *path;
	struct txp_pipeline *pipeline;
	struct txp_server_hooks hooks;
	size_t max_line;
	unsigned max_clients;
	uint32_t window;
	uv_check_t flush_check;
	struct txp_conn *dirty;
	struct txp_conn *conns;
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

static void mark_dirty(struct txp_conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->next_dirty = c->srv->dirty;
		c->srv->dirty = c;
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

static void conn_free(struct txp_conn *c)
{
	struct txp_server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	for (uint32_t i = 0; i <= c->mask; i++)
		txp_txn_free(c->window[i]);
	if (c->tail)
		s->n_tails--;
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
	while (s->conns != NULL)
		conn_free(s->conns);
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
	struct txp_conn *c;

	/* Resume clients paused on a full pipeline first, so their buffered
	 * lines get in before new reads. */
	if (s->any_blocked && s->pipeline != NULL &&
	    txp_pipeline_inflight(s->pipeline) < txp_pipeline_capacity(s->pipeline) && !downstream_congested(s)) {
		s->any_blocked = false;
		for (c = s->conns; c != NULL; c = c->next) {
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
	if (s->draining && s->drained != NULL) {
		bool idle = s->pipeline == NULL || txp_pipeline_inflight(s->pipeline) == 0;
		for (c = s->conns; c != NULL && idle; c = c->next)
			if (!c->gone && !c->closing && !conn_idle(c))
				idle = false;
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
	for (struct txp_conn *sub = s->conns; sub != NULL; sub = sub->next) {
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

/* Wall clock in Unix milliseconds, for records and velocity windows. */
static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	struct txp_control_request req;

	txp_control_parse(line, len, &req);
	if (req.command != TXP_CONTROL_TAIL) {
		txp_control_request_free(&req);
		return false;
	}
	if (!c->privileged) {
		conn_reply_error(c, "permission_denied", "tail needs root or the daemon's user");
		txp_control_request_free(&req);
		return true;
	}
	c->tail_statuses = req.tail_statuses;
	for (unsigned i = 0; i < req.n_tail_reasons && c->n_tail_reasons < TXP_CONTROL_TAIL_REASONS; i++) {
		/* Out of memory: the code is left out of the filter. */
		char *code = strdup(req.tail_reasons[i]);
		if (code != NULL)
			c->tail_reasons[c->n_tail_reasons++] = code;
	}
	txp_control_request_free(&req);
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
	if ((s->pipeline != NULL &&
	     txp_pipeline_inflight(s->pipeline) + pending >= txp_pipeline_capacity(s->pipeline)) ||
	    downstream_congested(s)) {
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
	int refusing = -1; /* asked once per call, when a transaction line comes */

	if (c->closing || s->pipeline == NULL)
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
			if (c->in_len - pos > s->max_line) {
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
				t->received_ms = wall_ms();
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
	bool want = !c->eof && !c->gone && !c->closing && !s->draining && !c->blocked &&
	            conn_inflight(c) < s->window && c->out_len < OUT_HIGH_WATER &&
	            /* A full buffer holds more than a whole line: frame it
	             * before reading more. */
	            c->in_len <= s->max_line;

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
}

static bool peer_is_privileged(uv_pipe_t *pipe)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)pipe, &fd) != 0)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void on_connection(uv_stream_t *server, int status)
{
	struct txp_server *s = server->data;
	struct txp_conn *c;

	if (status < 0) {
		txp_log_warn("accept_failed", "error=\"%s\"", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->window = calloc(s->window, sizeof(*c->window))) == NULL) {
		free(c);
		txp_log_err("accept_failed", "error=\"out of memory\"");
		return;
	}
	c->srv = s;
	c->mask = s->window - 1;
	c->id = ++s->next_conn_id;
	uv_pipe_init(s->loop, &c->pipe, 0);
	c->pipe.data = c;
	s->open_handles++;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->stats.connections_open++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		conn_close(c);
		return;
	}
	s->stats.connections_total++;
	c->privileged = peer_is_privileged(&c->pipe);
	if (s->stats.connections_open > s->max_clients) {
		s->stats.clients_refused++;
		txp_log_warn("client_refused", "reason=max_clients max_clients=%u", s->max_clients);
		conn_reply_error(c, "too_many_clients", "the daemon serves max_clients connections already");
		c->eof = true;
		mark_dirty(c);
		return;
	}
	conn_update_reading(c);
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
	mode_t old_umask;
	int rc;

	rc = claim_path(o->socket_path, err, errlen);
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "socket %s: %s", o->socket_path, strerror(-rc));
		return rc;
	}
	/* Bind under a tight umask so the socket is never more open than
	 * asked, even for a moment; then set the exact mode. */
	old_umask = umask(0177);
	rc = uv_pipe_bind(&s->listener, o->socket_path);
	umask(old_umask);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", o->socket_path, uv_strerror(rc));
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
	s->hooks = *hooks;
	s->max_line = o->max_line_bytes;
	s->max_clients = o->max_clients;
	s->window = o->max_inflight_per_client;

	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
	s->open_handles++;
	if (o->listen_fd >= 0) {
		rc = uv_pipe_open(&s->listener, o->listen_fd);
		if (rc < 0) {
			snprintf(err, errlen, "cannot adopt the inherited socket: %s", uv_strerror(rc));
			goto err_after_listener;
		}
	} else if ((rc = listen_on_path(s, o, err, errlen)) < 0) {
		goto err_after_listener;
	}
	rc = uv_listen((uv_stream_t *)&s->listener, 512, on_connection);
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->socket_path, uv_strerror(rc));
		goto err_after_listener;
	}
	s->listening = true;
	uv_check_init(loop, &s->flush_check);
	s->flush_check.data = s;
	s->open_handles++;
	uv_check_start(&s->flush_check, on_flush_check);
	/* The check handle must not keep the loop alive by itself. */
	uv_unref((uv_handle_t *)&s->flush_check);
	*out = s;
	return 0;

err_after_listener:
	if (s->own_path)
		unlink(s->path);
	/* The listener is closed and the server freed by the caller running
	 * the loop once; keep it simple: close and spin the loop now. */
	uv_close((uv_handle_t *)&s->listener, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	free(s->path);
	free(s);
	return rc;
}

void txp_server_attach(struct txp_server *s, struct txp_pipeline *p)
{
	s->pipeline = p;
	/* Lines that arrived before (the journal replays while the socket
	 * already listens) are framed at the next loop turn. */
	for (struct txp_conn *c = s->conns; c != NULL; c = c->next)
		mark_dirty(c);
}

void txp_server_set_max_line(struct txp_server *s, size_t max_line_bytes)
{
	s->max_line = max_line_bytes;
}

void txp_server_set_max_clients(struct txp_server *s, unsigned max_clients)
{
	s->max_clients = max_clients;
}

const struct txp_server_stats *txp_server_stats(const struct txp_server *s)
{
	return &s->stats;
}

static void on_handle_closed(uv_handle_t *h)
{
	server_handle_closed(h->data);
}

static void stop_listening(struct txp_server *s)
{
	if (!s->listening)
		return;
	s->listening = false;
	uv_close((uv_handle_t *)&s->listener, on_handle_closed);
	if (s->own_path)
		unlink(s->path);
}

void txp_server_drain(struct txp_server *s, void (*drained)(struct txp_server *s, void *arg), void *arg)
{
	s->draining = true;
	s->drained = drained;
	s->drained_arg = arg;
	stop_listening(s);
	for (struct txp_conn *c = s->conns; c != NULL; c = c->next) {
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
	struct txp_conn *c, *next;

	if (s == NULL || s->closing)
		return;
	s->closing = true;
	stop_listening(s);
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c);
	}
	/* Connections still referenced by in-flight transactions (the
	 * pipeline is stopped first, so there are none) are freed in their
	 * close callbacks. */
	uv_close((uv_handle_t *)&s->flush_check, on_handle_closed);
}
