/* conn.c: one producer connection: reading, framing, admission, the ordered reply window, writing, tail. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"
#include "txpipe/clock.h"
#include "txpipe/control.h"
#include "txpipe/log.h"

/* Replies queued beyond this many bytes mean the client is not reading:
 * stop reading its lines until it catches up. */
#define OUT_HIGH_WATER (256u * 1024u)
#define READ_CHUNK 65536u
#define SUBMIT_BATCH 64u

static void conn_process_input(struct txp_conn *c);
static void conn_maybe_finish(struct txp_conn *c);

static void on_kick(uv_idle_t *h)
{
	(void)h; /* its being active is the point: see struct txp_server */
}

void server__mark_dirty(struct txp_conn *c)
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

void server__conn_free(struct txp_conn *c)
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

static void on_conn_closed(uv_handle_t *h)
{
	struct txp_conn *c = h->data;
	struct txp_server *s = c->srv;

	c->closed = true;
	/* Transactions of this connection still in the pipeline point at it:
	 * it is freed when the last of them has come back. */
	if (conn_inflight(c) == 0 && !c->dirty && !c->writing)
		server__conn_free(c);
	server__handle_closed(s);
}

void server__conn_close(struct txp_conn *c)
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
		server__conn_close(c);
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
			server__conn_free(c);
		return;
	}
	server__mark_dirty(c);
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

void server__on_flush_check(uv_check_t *h)
{
	struct txp_server *s = h->data;
	struct txp_queue *q, *n;
	struct txp_conn *c;

	/* Resume clients paused on a full pipeline first, so their buffered
	 * lines get in before new reads. */
	if (s->any_blocked && s->pipeline != NULL &&
	    txp_pipeline_inflight(s->pipeline) < txp_pipeline_capacity(s->pipeline)) {
		s->any_blocked = false;
		txp_queue_foreach_safe (q, n, &s->conns) {
			c = server__conn_of(q);
			if (c->blocked) {
				c->blocked = false;
				conn_process_input(c);
				server__conn_update_reading(c);
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
				server__conn_free(c);
			continue;
		}
		conn_drain_window(c);
		conn_flush(c);
		if (!c->closing && c->in_len > 0 && !c->blocked)
			conn_process_input(c);
		server__conn_update_reading(c);
		conn_maybe_finish(c);
	}
	if (s->kicked) {
		s->kicked = false;
		uv_idle_stop(&s->kick);
	}
	if (s->draining && s->drained != NULL) {
		bool idle = s->pipeline == NULL || txp_pipeline_inflight(s->pipeline) == 0;
		txp_queue_foreach (q, &s->conns) {
			c = server__conn_of(q);
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

	txp_queue_foreach (q, &s->conns) {
		struct txp_conn *sub = server__conn_of(q);
		if (!sub->tail || sub->gone || sub->closing || !tail_matches(sub, t))
			continue;
		if (sub->out_len >= OUT_HIGH_WATER || out_append(sub, t->reply, t->reply_len) < 0) {
			sub->tail_dropped++;
			s->stats.tail_dropped++;
			continue;
		}
		server__mark_dirty(sub);
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
	server__mark_dirty(c);
}

void txp_server_release(struct txp_server *s, struct txp_txn *t)
{
	(void)s;
	t->held = false;
	server__mark_dirty(t->conn);
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
	server__mark_dirty(c);
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
void server__conn_refuse(struct txp_conn *c, const char *reason)
{
	struct txp_server *s = c->srv;

	c->grace_until = 0;
	c->refused = true;
	s->stats.clients_refused++;
	txp_log_warn("client_refused", "conn=%llu reason=%s max_clients=%u", (unsigned long long)c->id, reason,
	             s->max_clients);
	conn_reply_error(c, "too_many_clients", "the daemon serves max_clients connections already");
	c->eof = true;
	server__conn_update_reading(c);
	server__mark_dirty(c);
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
	if (s->pipeline != NULL && txp_pipeline_inflight(s->pipeline) + pending >= txp_pipeline_capacity(s->pipeline)) {
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
			server__conn_refuse(c, "operator_slot_transaction");
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
		} else if (refusing == 1 || (refusing < 0 && (refusing = s->hooks.refusing != NULL &&
		                                                         s->hooks.refusing(s->hooks.arg)))) {
			/* Never a silent drop: the producer hears it now. */
			s->stats.refused++;
			conn_reply_error(c, "overloaded", "the journal is full or cannot write; retry later");
		} else if (congested == 1 || (congested < 0 && (congested = downstream_congested(s)))) {
			/* Likewise: an outage can keep the backlog up for hours. */
			s->stats.refused++;
			conn_reply_error(c, "overloaded",
			                 "the delivery backlog is over [dynamodb] max_pending; retry later");
		} else {
			struct txp_txn *t = txp_txn_new_line(start, len);
			if (t == NULL) {
				conn_reply_error(c, "overloaded", "out of memory; retry later");
			} else {
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
		server__mark_dirty(c);
		return;
	}
	c->in_len += (size_t)nread;
	conn_process_input(c);
	server__conn_update_reading(c);
}

void server__conn_update_reading(struct txp_conn *c)
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
