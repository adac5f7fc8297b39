/* txpbench.c: load generator for txpiped: pipelined JSON lines over a Unix socket, latency histogram. */
#include "txp_build_config.h"

#include "gen.h"
#include "hist.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define READ_BUF_SIZE 65536
#define MAX_REPLY_LINE (1u << 20) /* a longer reply is a protocol error */
#define MAX_REPORTED_MISMATCHES 5
/* Paced sends wake the loop at most once per this many ns: the rest of the
 * transactions due by then go out in the same batch.  Their latency still
 * counts from their own intended time, so the batching shows in the figures
 * (and in the send-lag line) instead of being hidden. */
#define PACE_MIN_TICK_NS 25000

enum status_slot { ST_APPROVED, ST_REVIEW, ST_DECLINED, ST_REJECTED, ST_ERROR, ST_COUNT };
static const char *const status_names[ST_COUNT] = { "approved", "review", "declined", "rejected", "error" };

struct opts {
	const char *socket;
	uint32_t connections;
	uint64_t count;    /* measured transactions; 0 when running for a duration */
	double duration;   /* seconds of measurement when count is 0 */
	double rate;       /* transactions/s over all connections; 0 = as fast as replies allow */
	uint32_t pipeline; /* in-flight lines per connection */
	enum txpb_profile profile;
	struct txpb_mix mix;
	uint32_t customers;
	uint32_t merchants;
	uint32_t pool; /* 0: lines generated as they are sent */
	uint64_t seed;
	double warmup;
	double drain_timeout;
	bool json;
	const char *json_file; /* the JSON summary also goes here */
	const char *run_id;
	uint64_t dump; /* print this many lines and exit */
};

/* One line sent and not yet answered, in send order per connection. */
struct inflight {
	uint64_t t_ns; /* intended send time (paced) or queueing time (full speed) */
	uint64_t seq;
	uint8_t id_check; /* enum txpb_id_check of the line */
	bool has_id;      /* the line carries its transaction_id */
	bool measured;    /* sent after the warm-up */
};

struct bench;

struct conn {
	uv_pipe_t pipe;
	uv_connect_t connect_req;
	uv_write_t write_req;
	struct bench *b;
	uint32_t idx;
	bool connected;
	bool dead; /* closed by us or by the peer; no more sends */
	/* In-flight FIFO: free-running indices masked on access. */
	struct inflight *q;
	uint64_t qmask;
	uint64_t qhead;
	uint64_t qtail;
	/* Two output buffers: one being written by libuv, one being filled.
	 * Each holds at most `pipeline` lines, since every line in either is in
	 * flight. */
	char *wbuf[2];
	size_t wlen[2];
	int wfill;
	int wbusy; /* index being written, or -1 */
	char *rbuf;
	char *part; /* the start of a reply line split across reads */
	size_t part_len;
	size_t part_cap;
};

struct bench {
	uv_loop_t loop;
	struct opts o;
	struct txpb_gen *gen;  /* the lines' stream */
	struct txpb_pool pool; /* its first o.pool lines, cycled, when o.pool > 0 */
	struct txpb_population pop;
	uint32_t max_len; /* longest line that can be sent */
	uint32_t id_len;  /* of every transaction_id: prefix, '-', digits */
	char prefix[TXPB_PREFIX_MAX + 1];
	struct conn *conns;
	uint32_t n_connected;
	uint32_t n_live;
	uint32_t rr; /* round-robin cursor for paced sends */

	uint64_t next_seq;
	uint64_t inflight;
	uint64_t measured_sent;
	uint64_t warmup_sent;
	bool started;
	bool measuring;
	bool sending_done;
	bool finished;
	bool interrupted;
	bool fatal;

	uint64_t t0;
	uint64_t t_measure;
	uint64_t t_send_end;
	uint64_t t_last_reply;

	int tfd;
	uv_poll_t pace_poll;
	uv_timer_t warm_timer;
	uv_timer_t end_timer;
	uv_timer_t drain_timer;
	uv_signal_t sigint;
	uv_signal_t sigterm;
	bool pace_poll_init;

	int64_t ts_ms;
	char ts[TXPB_TS_LEN];

	struct txpb_hist lat;
	struct txpb_hist lag;
	uint64_t status[ST_COUNT];
	uint64_t replies_total;
	uint64_t replies_measured;
	uint64_t err_missing;
	uint64_t err_unexpected;
	uint64_t err_id;
	uint64_t err_malformed;
	uint64_t err_disconnect;
	uint64_t err_write;
};

static void bench_finish(struct bench *b);
static void check_finish(struct bench *b);

/* ------------------------------------------------------------------ */
/* Reply parsing: a minimal walk over the top-level object that finds
 * transaction_id and status and checks that the line is one JSON object.
 * Full parsing (jansson) would cost the client more than the daemon's own
 * reply building and distort the measurement. */

struct reply {
	const char *id;
	size_t id_len;
	bool id_null;
	bool has_id;
	const char *status;
	size_t status_len;
};

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* p points at '"'; returns the byte after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* Skips one value; returns the byte after it, or NULL when malformed. */
static const char *skip_value(const char *p, const char *end)
{
	const char *start = p;
	int depth = 0;
	while (p < end) {
		char ch = *p;
		if (ch == '"') {
			p = skip_string(p, end);
			if (p == NULL)
				return NULL;
			if (depth == 0)
				return p;
			continue;
		}
		if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			if (depth == 0)
				break;
			if (--depth == 0)
				return p + 1;
		} else if (ch == ',' && depth == 0) {
			break;
		}
		p++;
	}
	return depth == 0 && p > start ? p : NULL;
}

static int parse_reply(const char *s, size_t n, struct reply *r)
{
	const char *p = s, *end = s + n;
	memset(r, 0, sizeof(*r));
	p = skip_ws(p, end);
	if (p == end || *p != '{')
		return -EINVAL;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		goto close;
	for (;;) {
		if (p == end || *p != '"')
			return -EINVAL;
		const char *k = p + 1;
		p = skip_string(p, end);
		if (p == NULL)
			return -EINVAL;
		size_t klen = (size_t)(p - 1 - k);
		p = skip_ws(p, end);
		if (p == end || *p != ':')
			return -EINVAL;
		p = skip_ws(p + 1, end);
		const char *v = p;
		p = skip_value(p, end);
		if (p == NULL)
			return -EINVAL;
		if (klen == 14 && memcmp(k, "transaction_id", 14) == 0) {
			r->has_id = true;
			if (*v == '"') {
				r->id = v + 1;
				r->id_len = (size_t)(p - v - 2);
			} else if (p - v == 4 && memcmp(v, "null", 4) == 0) {
				r->id_null = true;
			} else {
				return -EINVAL;
			}
		} else if (klen == 6 && memcmp(k, "status", 6) == 0) {
			if (*v != '"')
				return -EINVAL;
			r->status = v + 1;
			r->status_len = (size_t)(p - v - 2);
		}
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			break;
		return -EINVAL;
	}
close:
	p = skip_ws(p + 1, end);
	return p == end && r->has_id && r->status != NULL ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Sending. */

static uint64_t intended_ns(const struct bench *b, uint64_t seq)
{
	return b->t0 + (uint64_t)((double)seq * 1e9 / b->o.rate);
}

/* Sequence numbers below this are due at `now` under the paced schedule. */
static uint64_t due_limit(const struct bench *b, uint64_t now)
{
	if (b->o.rate <= 0)
		return UINT64_MAX;
	return (uint64_t)((double)(now - b->t0) * b->o.rate / 1e9) + 1;
}

static bool can_send(const struct bench *b)
{
	return b->started && !b->sending_done && !b->finished;
}

static void stop_sending(struct bench *b)
{
	if (b->sending_done)
		return;
	b->sending_done = true;
	b->t_send_end = uv_hrtime();
	check_finish(b);
}

static const char *cached_timestamp(struct bench *b)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (ms != b->ts_ms) {
		b->ts_ms = ms;
		txpb_put_timestamp(b->ts, ms);
	}
	return b->ts;
}

/* Writes line number seq (they are asked for in order) into dst, its id
 * and timestamp stamped: the pool's line seq modulo its size, or the
 * stream's next. */
static void write_line(struct bench *b, uint64_t seq, char *dst, struct txpb_template *t)
{
	if (b->o.pool > 0) {
		*t = b->pool.t[seq % b->pool.n];
		memcpy(dst, b->pool.text + t->off, t->len);
	} else {
		txpb_gen_next(b->gen, dst, t);
	}
	if (t->id_off >= 0)
		txpb_put_seq(dst + t->id_off + b->id_len - TXPB_SEQ_DIGITS, seq);
	if (t->ts_off >= 0)
		memcpy(dst + t->ts_off, cached_timestamp(b), TXPB_TS_LEN);
}

/* Writes the next transaction into the connection's fill buffer and
 * records it as in flight. */
static void queue_one(struct conn *c, uint64_t t_ns, uint64_t now)
{
	struct bench *b = c->b;
	uint64_t seq = b->next_seq++;
	struct txpb_template t;

	write_line(b, seq, c->wbuf[c->wfill] + c->wlen[c->wfill], &t);
	c->wlen[c->wfill] += t.len;

	struct inflight *e = &c->q[c->qtail++ & c->qmask];
	e->t_ns = t_ns;
	e->seq = seq;
	e->id_check = t.id_check;
	e->has_id = t.id_off >= 0;
	e->measured = b->measuring;
	b->inflight++;
	if (b->measuring) {
		b->measured_sent++;
		if (b->o.rate > 0)
			txpb_hist_record(&b->lag, now > t_ns ? (now - t_ns) / 1000 : 0);
		if (b->o.count > 0 && b->measured_sent >= b->o.count)
			stop_sending(b);
	} else {
		b->warmup_sent++;
	}
}

static void conn_lost(struct conn *c, const char *why);

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	c->wlen[c->wbusy] = 0;
	c->wbusy = -1;
	if (status < 0) {
		if (status != UV_ECANCELED) {
			c->b->err_write++;
			conn_lost(c, uv_strerror(status));
		}
		return;
	}
	if (c->dead)
		return;
	/* Lines queued while this write was in progress go out now. */
	if (c->wlen[c->wfill] > 0) {
		int idx = c->wfill;
		uv_buf_t buf = uv_buf_init(c->wbuf[idx], (unsigned)c->wlen[idx]);
		int rc = uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
		if (rc < 0) {
			c->b->err_write++;
			conn_lost(c, uv_strerror(rc));
			return;
		}
		c->wbusy = idx;
		c->wfill = idx ^ 1;
	}
}

static void conn_flush(struct conn *c)
{
	if (c->dead || c->wbusy >= 0 || c->wlen[c->wfill] == 0)
		return;
	int idx = c->wfill;
	uv_buf_t buf = uv_buf_init(c->wbuf[idx], (unsigned)c->wlen[idx]);
	int rc = uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
	if (rc < 0) {
		c->b->err_write++;
		conn_lost(c, uv_strerror(rc));
		return;
	}
	c->wbusy = idx;
	c->wfill = idx ^ 1;
}

/* Tops the connection up to the pipeline depth with transactions that are
 * due (all of them at full speed). */
static void conn_fill(struct conn *c, uint64_t now)
{
	struct bench *b = c->b;
	uint64_t due = due_limit(b, now);
	while (!c->dead && c->qtail - c->qhead < b->o.pipeline && can_send(b) && b->next_seq < due)
		queue_one(c, b->o.rate > 0 ? intended_ns(b, b->next_seq) : now, now);
}

static void pace_arm(struct bench *b, uint64_t at_ns)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at_ns / 1000000000u),
		                                .tv_nsec = (long)(at_ns % 1000000000u) } };
	/* uv_hrtime() reads CLOCK_MONOTONIC, so the deadline is absolute on the
	 * same clock. */
	timerfd_settime(b->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Sends every transaction that is due, round-robin over connections with
 * room, then sleeps until the next one is due. */
static void pace_pump(struct bench *b)
{
	uint64_t now = uv_hrtime();
	uint64_t due = due_limit(b, now);
	uint32_t n = b->o.connections, full = 0;

	while (can_send(b) && b->next_seq < due && full < n) {
		struct conn *c = &b->conns[b->rr];
		b->rr = (b->rr + 1) % n;
		if (c->dead || c->qtail - c->qhead >= b->o.pipeline) {
			full++;
			continue;
		}
		full = 0;
		queue_one(c, intended_ns(b, b->next_seq), now);
	}
	for (uint32_t i = 0; i < n; i++)
		conn_flush(&b->conns[i]);
	if (!can_send(b))
		return;
	/* When every pipeline is full the backlog drains as replies free
	 * slots; the timer only has to cover the schedule. */
	uint64_t next = b->next_seq < due ? now + 1000000 : intended_ns(b, b->next_seq);
	if (next < now + PACE_MIN_TICK_NS)
		next = now + PACE_MIN_TICK_NS;
	pace_arm(b, next);
}

static void on_pace(uv_poll_t *h, int status, int events)
{
	struct bench *b = h->data;
	uint64_t expirations;
	/* Reading clears the timerfd's readiness; EAGAIN means a spurious wake. */
	if (read(b->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		fprintf(stderr, "txpbench: timerfd read: %s\n", strerror(errno));
	pace_pump(b);
}

/* ------------------------------------------------------------------ */
/* Receiving. */

static int status_slot(const struct reply *r)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (strlen(status_names[i]) == r->status_len && memcmp(r->status, status_names[i], r->status_len) == 0)
			return i;
	return -1;
}

/* Writes the id the reply should carry ("" when the line had none). */
static void expected_id(const struct bench *b, const struct inflight *e, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!e->has_id || outlen <= b->id_len)
		return;
	snprintf(out, outlen, "%s-", b->prefix);
	txpb_put_seq(out + b->id_len - TXPB_SEQ_DIGITS, e->seq);
	out[b->id_len] = '\0';
}

/* Prints the first few protocol errors in full; the summary counts them all. */
static void report_mismatch(struct bench *b, struct conn *c, const struct inflight *e, const char *what,
                            const char *line, size_t len)
{
	char want[TXPB_PREFIX_MAX + 2 + TXPB_SEQ_DIGITS];
	uint64_t n = b->err_id + b->err_malformed + b->err_unexpected;
	if (n > MAX_REPORTED_MISMATCHES)
		return;
	if (e != NULL)
		expected_id(b, e, want, sizeof(want));
	fprintf(stderr, "txpbench: connection %u: %s (expected id %s): %.*s\n", c->idx, what,
	        e == NULL         ? "none"
	        : want[0] != '\0' ? want
	                          : "null",
	        (int)(len > 300 ? 300 : len), line);
	if (n == MAX_REPORTED_MISMATCHES)
		fprintf(stderr, "txpbench: further protocol errors are only counted\n");
}

static bool id_matches(const struct bench *b, const struct reply *r, const struct inflight *e)
{
	char want[TXPB_PREFIX_MAX + 2 + TXPB_SEQ_DIGITS];
	expected_id(b, e, want, sizeof(want));
	return !r->id_null && want[0] != '\0' && r->id_len == b->id_len && memcmp(want, r->id, r->id_len) == 0;
}

static void handle_reply(struct conn *c, const char *line, size_t len, uint64_t now)
{
	struct bench *b = c->b;
	struct reply r;
	int slot = -1;

	if (c->qhead == c->qtail) {
		b->err_unexpected++;
		report_mismatch(b, c, NULL, "reply with no line in flight", line, len);
		return;
	}
	struct inflight e = c->q[c->qhead++ & c->qmask];
	b->inflight--;
	b->replies_total++;
	if (parse_reply(line, len, &r) < 0 || (slot = status_slot(&r)) < 0) {
		b->err_malformed++;
		report_mismatch(b, c, &e, "malformed reply", line, len);
	} else {
		bool ok;
		switch ((enum txpb_id_check)e.id_check) {
		case TXPB_ID_MATCH:
			/* A line refused before parsing (overload, shutdown) is
			 * answered with an error whose id is null. */
			ok = id_matches(b, &r, &e) || (r.id_null && slot == ST_ERROR);
			break;
		case TXPB_ID_MATCH_OR_NULL:
			ok = r.id_null || id_matches(b, &r, &e);
			break;
		default:
			ok = r.id_null;
			break;
		}
		if (!ok) {
			b->err_id++;
			report_mismatch(b, c, &e, "reply id does not match", line, len);
		}
	}
	if (e.measured) {
		b->replies_measured++;
		b->t_last_reply = now;
		txpb_hist_record(&b->lat, now > e.t_ns ? (now - e.t_ns) / 1000 : 0);
		if (slot >= 0)
			b->status[slot]++;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	*buf = uv_buf_init(c->rbuf, READ_BUF_SIZE);
}

static int part_append(struct conn *c, const char *p, size_t n)
{
	if (c->part_len + n > MAX_REPLY_LINE)
		return -E2BIG;
	if (c->part_len + n > c->part_cap) {
		size_t cap = c->part_cap ? c->part_cap : 4096;
		while (cap < c->part_len + n)
			cap *= 2;
		char *np = realloc(c->part, cap);
		if (np == NULL)
			return -ENOMEM;
		c->part = np;
		c->part_cap = cap;
	}
	memcpy(c->part + c->part_len, p, n);
	c->part_len += n;
	return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct bench *b = c->b;
	/* One clock read per chunk: the replies in it arrived together. */
	uint64_t now = uv_hrtime();

	if (nread < 0) {
		conn_lost(c, nread == UV_EOF ? "closed by the daemon" : uv_strerror((int)nread));
		return;
	}
	const char *p = buf->base, *end = buf->base + nread;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			if (part_append(c, p, (size_t)(end - p)) < 0) {
				b->err_malformed++;
				conn_lost(c, "reply line too long");
				return;
			}
			break;
		}
		if (c->part_len > 0) {
			if (part_append(c, p, (size_t)(nl - p)) < 0) {
				b->err_malformed++;
				conn_lost(c, "reply line too long");
				return;
			}
			handle_reply(c, c->part, c->part_len, now);
			c->part_len = 0;
		} else {
			handle_reply(c, p, (size_t)(nl - p), now);
		}
		p = nl + 1;
	}
	conn_fill(c, now);
	conn_flush(c);
	check_finish(b);
}

/* ------------------------------------------------------------------ */
/* Connections and phases. */

static void on_conn_closed(uv_handle_t *h)
{
	(void)h;
}

static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	c->b->n_live--;
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* The daemon closed the connection or it failed: whatever was in flight on
 * it will never be answered. */
static void conn_lost(struct conn *c, const char *why)
{
	struct bench *b = c->b;
	if (c->dead)
		return;
	uint64_t lost = c->qtail - c->qhead;
	if (lost > 0 || !b->sending_done) {
		b->err_disconnect++;
		fprintf(stderr, "txpbench: connection %u lost (%s) with %" PRIu64 " lines unanswered\n", c->idx, why,
		        lost);
	}
	b->err_missing += lost;
	b->inflight -= lost;
	c->qhead = c->qtail;
	conn_close(c);
	check_finish(b);
}

static void on_warm(uv_timer_t *t)
{
	struct bench *b = t->data;
	b->measuring = true;
	b->t_measure = uv_hrtime();
}

static void on_end(uv_timer_t *t)
{
	stop_sending(t->data);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct bench *b = t->data;
	if (b->inflight > 0)
		fprintf(stderr, "txpbench: %" PRIu64 " lines still unanswered %.1f s after the last send\n",
		        b->inflight, b->o.drain_timeout);
	bench_finish(b); /* counts what is still in flight as missing */
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct bench *b = s->data;
	if (b->sending_done) {
		bench_finish(b); /* a second ^C does not wait for the drain */
		return;
	}
	b->interrupted = true;
	if (!b->started)
		bench_finish(b);
	else
		stop_sending(b);
}

static void start_sending(struct bench *b)
{
	b->started = true;
	b->t0 = uv_hrtime();
	if (b->o.warmup > 0) {
		uv_timer_start(&b->warm_timer, on_warm, (uint64_t)(b->o.warmup * 1000), 0);
	} else {
		b->measuring = true;
		b->t_measure = b->t0;
	}
	if (b->o.count == 0)
		uv_timer_start(&b->end_timer, on_end, (uint64_t)((b->o.warmup + b->o.duration) * 1000), 0);
	if (b->o.rate > 0) {
		pace_pump(b);
		return;
	}
	for (uint32_t i = 0; i < b->o.connections; i++) {
		conn_fill(&b->conns[i], b->t0);
		conn_flush(&b->conns[i]);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct bench *b = c->b;
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		fprintf(stderr, "txpbench: cannot connect to %s: %s\n", b->o.socket, uv_strerror(status));
		b->fatal = true;
		bench_finish(b);
		return;
	}
	if (b->finished)
		return;
	c->connected = true;
	int rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	if (rc < 0) {
		fprintf(stderr, "txpbench: read on connection %u: %s\n", c->idx, uv_strerror(rc));
		b->fatal = true;
		bench_finish(b);
		return;
	}
	/* Timing starts once every connection is up. */
	if (++b->n_connected == b->o.connections)
		start_sending(b);
}

static void check_finish(struct bench *b)
{
	if (b->finished)
		return;
	if (b->sending_done && b->inflight == 0) {
		bench_finish(b);
		return;
	}
	if (b->n_live == 0 && b->started) {
		bench_finish(b);
		return;
	}
	if (b->sending_done && !uv_is_active((uv_handle_t *)&b->drain_timer))
		uv_timer_start(&b->drain_timer, on_drain_timeout, (uint64_t)(b->o.drain_timeout * 1000), 0);
}

static void close_if_open(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h))
		uv_close(h, NULL);
}

static void bench_finish(struct bench *b)
{
	if (b->finished)
		return;
	b->finished = true;
	if (!b->sending_done) {
		b->sending_done = true;
		b->t_send_end = uv_hrtime();
	}
	for (uint32_t i = 0; i < b->o.connections; i++) {
		struct conn *c = &b->conns[i];
		b->err_missing += c->qtail - c->qhead;
		c->qhead = c->qtail;
		conn_close(c);
	}
	b->inflight = 0;
	close_if_open((uv_handle_t *)&b->warm_timer);
	close_if_open((uv_handle_t *)&b->end_timer);
	close_if_open((uv_handle_t *)&b->drain_timer);
	close_if_open((uv_handle_t *)&b->sigint);
	close_if_open((uv_handle_t *)&b->sigterm);
	if (b->pace_poll_init)
		close_if_open((uv_handle_t *)&b->pace_poll);
}

/* ------------------------------------------------------------------ */
/* Summary. */

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static uint64_t total_errors(const struct bench *b)
{
	return b->err_missing + b->err_unexpected + b->err_id + b->err_malformed + b->err_disconnect + b->err_write;
}

static const double pcts[] = { 50, 90, 99, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99_9" };
#define N_PCTS (sizeof(pcts) / sizeof(pcts[0]))

static void print_hist_json(FILE *f, const char *name, const struct txpb_hist *h)
{
	fprintf(f, "\"%s\":{\"count\":%" PRIu64, name, h->count);
	for (size_t i = 0; i < N_PCTS; i++)
		fprintf(f, ",\"%s\":%" PRIu64, pct_names[i], txpb_hist_percentile(h, pcts[i]));
	fprintf(f, ",\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"mean\":%.1f}", h->count ? h->min : 0, h->max,
	        h->count ? (double)h->sum / (double)h->count : 0.0);
}

static void print_hist_text(FILE *f, const char *label, const struct txpb_hist *h)
{
	fprintf(f, "%s", label);
	if (h->count == 0) {
		fprintf(f, " (none)\n");
		return;
	}
	fprintf(f,
	        " p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64 "  p99.9 %" PRIu64 "  max %" PRIu64 "  mean %.1f\n",
	        txpb_hist_percentile(h, 50), txpb_hist_percentile(h, 90), txpb_hist_percentile(h, 99),
	        txpb_hist_percentile(h, 99.9), h->max, (double)h->sum / (double)h->count);
}

/* Writes s as a JSON string (the socket path may hold any byte). */
static void print_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void print_summary(FILE *f, const struct bench *b, bool json)
{
	const struct opts *o = &b->o;
	uint64_t window = b->t_last_reply > b->t_measure ? b->t_last_reply - b->t_measure : 0;
	uint64_t send_window = b->t_send_end > b->t_measure ? b->t_send_end - b->t_measure : 0;
	double tput = window > 0 ? (double)b->replies_measured / secs(window) : 0;
	double srate = send_window > 0 ? (double)b->measured_sent / secs(send_window) : 0;
	const struct txpb_population *p = &b->pop;
	bool paced = o->rate > 0;
	double alert_pct = b->replies_measured > 0 ? 100.0 * (double)(b->status[ST_REVIEW] + b->status[ST_DECLINED]) /
	                                                     (double)b->replies_measured
	                                           : 0;

	if (json) {
		fprintf(f, "{\"run_id\":\"%s\",\"socket\":", b->prefix);
		print_json_string(f, o->socket);
		fprintf(f,
		        ",\"connections\":%u,\"pipeline\":%u,\"rate\":%.1f,"
		        "\"count\":%" PRIu64 ",\"duration_s\":%.3f,\"warmup_s\":%.3f,\"seed\":%" PRIu64 ","
		        "\"mix\":{\"good\":%u,\"risky\":%u,\"invalid\":%u},\"customers\":%u,\"merchants\":%u,\"pool\":%u,",
		        o->connections, o->pipeline, o->rate, o->count, o->duration, o->warmup, o->seed,
		        o->mix.weight[TXPB_GOOD], o->mix.weight[TXPB_RISKY], o->mix.weight[TXPB_INVALID], o->customers,
		        o->merchants, o->pool);
		fprintf(f,
		        "\"profile\":\"%s\",\"generation\":\"%s\",\"population\":{\"customers\":%" PRIu64
		        ",\"cards\":%" PRIu64 ",\"merchants\":%" PRIu64 ",\"merchant_popularity\":\"%s\","
		        "\"countries\":%u,\"currencies\":%u,\"currency_list\":\"%s\",\"cross_border_pct\":%u,"
		        "\"two_card_pct\":%u},",
		        p->profile, o->pool > 0 ? "pool" : "on_the_fly", p->customers, p->cards, p->merchants,
		        p->merchants_zipf ? "zipf" : "uniform", p->countries, p->currencies, p->currency_list,
		        p->cross_border_pct, p->two_card_pct);
		fprintf(f,
		        "\"warmup_sent\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"elapsed_s\":%.6f,"
		        "\"throughput_rps\":%.1f,\"send_rate\":%.1f,\"interrupted\":%s,\"status\":{",
		        b->warmup_sent, b->measured_sent, b->replies_measured, secs(window), tput, srate,
		        b->interrupted ? "true" : "false");
		for (int i = 0; i < ST_COUNT; i++)
			fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", status_names[i], b->status[i]);
		fprintf(f, "},\"review_declined_pct\":%.3f,\"latency_basis\":\"%s\",", alert_pct,
		        paced ? "intended_send_time" : "send_time");
		print_hist_json(f, "latency_us", &b->lat);
		if (paced) {
			fprintf(f, ",");
			print_hist_json(f, "send_lag_us", &b->lag);
		}
		fprintf(f,
		        ",\"errors\":{\"missing_replies\":%" PRIu64 ",\"unexpected_replies\":%" PRIu64
		        ",\"id_mismatches\":%" PRIu64 ",\"malformed_replies\":%" PRIu64 ",\"disconnects\":%" PRIu64
		        ",\"write_errors\":%" PRIu64 "},\"ok\":%s}\n",
		        b->err_missing, b->err_unexpected, b->err_id, b->err_malformed, b->err_disconnect, b->err_write,
		        total_errors(b) == 0 && !b->fatal ? "true" : "false");
		return;
	}
	fprintf(f, "txpbench %s: %u connection%s, pipeline %u, ", b->prefix, o->connections,
	        o->connections == 1 ? "" : "s", o->pipeline);
	if (paced)
		fprintf(f, "paced at %.0f/s (open loop)", o->rate);
	else
		fprintf(f, "full speed (closed loop)");
	fprintf(f, ", mix good=%u risky=%u invalid=%u, seed %" PRIu64 "\n", o->mix.weight[TXPB_GOOD],
	        o->mix.weight[TXPB_RISKY], o->mix.weight[TXPB_INVALID], o->seed);
	fprintf(f,
	        "load        profile %s: %" PRIu64 " customers with %" PRIu64 " cards, %" PRIu64
	        " merchants (%s popularity),\n            %u countries, %u currencies (%s),\n"
	        "            %u%% of good lines cross-border; ",
	        p->profile, p->customers, p->cards, p->merchants, p->merchants_zipf ? "Zipf" : "uniform", p->countries,
	        p->currencies, p->currency_list, p->cross_border_pct);
	if (o->pool > 0)
		fprintf(f, "a pool of %u lines, cycled\n", o->pool);
	else
		fprintf(f, "every line generated as it is sent\n");
	if (b->interrupted)
		fprintf(f, "interrupted: figures cover the part that ran\n");
	fprintf(f, "sent        %" PRIu64 " measured (+%" PRIu64 " warm-up), replies %" PRIu64 " in %.3f s\n",
	        b->measured_sent, b->warmup_sent, b->replies_measured, secs(window));
	fprintf(f, "throughput  %.0f replies/s (sent at %.0f/s)\n", tput, srate);
	fprintf(f, "status     ");
	for (int i = 0; i < ST_COUNT; i++)
		fprintf(f, " %s %" PRIu64, status_names[i], b->status[i]);
	fprintf(f, " (review+declined %.2f%%)\n", alert_pct);
	if (paced && srate < 0.95 * o->rate)
		fprintf(f,
		        "warning     the client fell behind the schedule (%.0f/s of %.0f/s): the latency below\n"
		        "            includes its own lag; see the send lag line\n",
		        srate, o->rate);
	print_hist_text(f,
	                paced ? "latency us  (from intended send time)\n           "
	                      : "latency us  (from send time)\n           ",
	                &b->lat);
	if (paced)
		print_hist_text(f, "send lag us", &b->lag);
	if (total_errors(b) == 0) {
		fprintf(f, "errors      none\n");
	} else {
		fprintf(f,
		        "errors      missing replies %" PRIu64 ", unexpected replies %" PRIu64
		        ", id mismatches %" PRIu64 ", malformed replies %" PRIu64 ", disconnects %" PRIu64
		        ", write errors %" PRIu64 "\n",
		        b->err_missing, b->err_unexpected, b->err_id, b->err_malformed, b->err_disconnect,
		        b->err_write);
	}
}

/* ------------------------------------------------------------------ */
/* Options. */

static void usage(FILE *f)
{
	fprintf(f, "usage: txpbench --socket PATH [options]\n"
	           "Sends transactions to txpiped over its Unix socket and measures per-reply latency.\n"
	           "\n"
	           "  -s, --socket PATH        the daemon's socket (required)\n"
	           "  -c, --connections N      connections (default 4)\n"
	           "  -n, --count N            measured transactions to send (default 100000)\n"
	           "  -d, --duration SECONDS   measure for this long instead of a count\n"
	           "  -r, --rate R             transactions/s over all connections, scheduled by the\n"
	           "                           clock (open loop); 0 = full speed (default 0)\n"
	           "  -p, --pipeline DEPTH     most lines in flight per connection (default 128)\n"
	           "  -P, --profile NAME       the load: retail (default) or small; the options\n"
	           "                           below override its values\n"
	           "  -m, --mix SPEC           kinds of transaction, relative weights (retail:\n"
	           "                           good=965,risky=30,invalid=5; small: good=90,risky=8,invalid=2)\n"
	           "      --customers N        customer key space (retail 5000000, small 10000)\n"
	           "      --merchants N        merchant key space (retail 50000, small 1000)\n"
	           "      --pool N             lines generated before timing and cycled; 0 generates\n"
	           "                           each line as it is sent (retail 0, small min(count, 65536))\n"
	           "      --seed S             generation seed (default 1)\n"
	           "  -w, --warmup SECONDS     send for this long before measuring (default 0)\n"
	           "      --drain-timeout SEC  wait this long for the last replies (default 10)\n"
	           "      --run-id ID          prefix of transaction ids (default: unique per run)\n"
	           "      --dump N             print the first N lines that would be sent, and exit\n"
	           "  -j, --json               print the summary as one JSON object\n"
	           "      --json-file FILE     also write the JSON summary to FILE\n"
	           "  -h, --help               this text\n"
	           "\n"
	           "At full speed latency counts from when a line is queued for sending. With --rate\n"
	           "it counts from the line's scheduled time, so a stalled daemon cannot hide its delay\n"
	           "by slowing the sender down (coordinated omission).\n"
	           "Exit status: 0 when every line got exactly one matching reply, 1 otherwise,\n"
	           "64 for a usage error, 69 when the daemon cannot be reached.\n");
}

static int parse_u64(const char *s, const char *name, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, "txpbench: %s must be an integer from %" PRIu64 " to %" PRIu64 "\n", name, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_u32(const char *s, const char *name, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;
	int rc = parse_u64(s, name, lo, hi, &v);
	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

static int parse_secs(const char *s, const char *name, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi) {
		fprintf(stderr, "txpbench: %s must be a number from %g to %g\n", name, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

enum { OPT_CUSTOMERS = 1000, OPT_MERCHANTS, OPT_POOL, OPT_SEED, OPT_DRAIN, OPT_RUN_ID, OPT_DUMP, OPT_JSON_FILE };

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "connections", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "pipeline", required_argument, NULL, 'p' },
		{ "mix", required_argument, NULL, 'm' },
		{ "profile", required_argument, NULL, 'P' },
		{ "customers", required_argument, NULL, OPT_CUSTOMERS },
		{ "merchants", required_argument, NULL, OPT_MERCHANTS },
		{ "pool", required_argument, NULL, OPT_POOL },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "warmup", required_argument, NULL, 'w' },
		{ "drain-timeout", required_argument, NULL, OPT_DRAIN },
		{ "run-id", required_argument, NULL, OPT_RUN_ID },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "dump", required_argument, NULL, OPT_DUMP },
		{ "json-file", required_argument, NULL, OPT_JSON_FILE },
		{ NULL, 0, NULL, 0 },
	};
	char err[160];
	bool have_count = false, have_duration = false;
	bool have_mix = false, have_customers = false, have_merchants = false, have_pool = false;
	struct txpb_profile_defaults d;
	int ch, rc = 0;

	*o = (struct opts){ .connections = 4,
		            .count = 100000,
		            .pipeline = 128,
		            .profile = TXPB_PROFILE_RETAIL,
		            .seed = 1,
		            .drain_timeout = 10 };
	while (rc == 0 && (ch = getopt_long(argc, argv, "s:c:n:d:r:p:P:m:w:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 'c':
			rc = parse_u32(optarg, "--connections", 1, 4096, &o->connections);
			break;
		case 'n':
			rc = parse_u64(optarg, "--count", 1, UINT64_C(1000000000000), &o->count);
			have_count = true;
			break;
		case 'd':
			rc = parse_secs(optarg, "--duration", 0.001, 86400, &o->duration);
			have_duration = true;
			break;
		case 'r':
			rc = parse_secs(optarg, "--rate", 0, 1e8, &o->rate);
			break;
		case 'p':
			rc = parse_u32(optarg, "--pipeline", 1, 65536, &o->pipeline);
			break;
		case 'P':
			rc = txpb_profile_parse(optarg, &o->profile);
			if (rc < 0)
				fprintf(stderr, "txpbench: --profile must be retail or small\n");
			break;
		case 'm':
			rc = txpb_mix_parse(optarg, &o->mix, err, sizeof(err));
			if (rc < 0)
				fprintf(stderr, "txpbench: %s\n", err);
			have_mix = true;
			break;
		case OPT_CUSTOMERS:
			rc = parse_u32(optarg, "--customers", 1, 100000000, &o->customers);
			have_customers = true;
			break;
		case OPT_MERCHANTS:
			rc = parse_u32(optarg, "--merchants", 1, 100000000, &o->merchants);
			have_merchants = true;
			break;
		case OPT_POOL:
			rc = parse_u32(optarg, "--pool", 0, 10000000, &o->pool);
			have_pool = true;
			break;
		case OPT_SEED:
			rc = parse_u64(optarg, "--seed", 0, UINT64_MAX, &o->seed);
			break;
		case 'w':
			rc = parse_secs(optarg, "--warmup", 0, 3600, &o->warmup);
			break;
		case OPT_DRAIN:
			rc = parse_secs(optarg, "--drain-timeout", 0.001, 3600, &o->drain_timeout);
			break;
		case OPT_RUN_ID:
			o->run_id = optarg;
			if (strlen(optarg) > TXPB_PREFIX_MAX || !txpb_id_ok(optarg, strlen(optarg))) {
				fprintf(stderr, "txpbench: --run-id must be 1-%d characters of [A-Za-z0-9._:-]\n",
				        TXPB_PREFIX_MAX);
				rc = -EINVAL;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case OPT_JSON_FILE:
			o->json_file = optarg;
			break;
		case OPT_DUMP:
			rc = parse_u64(optarg, "--dump", 1, UINT64_C(1000000000), &o->dump);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rc = -EINVAL;
			break;
		}
	}
	if (rc < 0)
		return rc;
	if (optind < argc) {
		fprintf(stderr, "txpbench: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (o->socket == NULL && o->dump == 0) {
		fprintf(stderr, "txpbench: --socket is required\n");
		return -EINVAL;
	}
	if (have_count && have_duration) {
		fprintf(stderr, "txpbench: give --count or --duration, not both\n");
		return -EINVAL;
	}
	if (have_duration)
		o->count = 0;
	/* The profile gives what the options did not, in whatever order they came. */
	txpb_profile_defaults(o->profile, &d);
	if (!have_mix)
		txpb_mix_parse(d.mix, &o->mix, err, sizeof(err));
	if (!have_customers)
		o->customers = d.customers;
	if (!have_merchants)
		o->merchants = d.merchants;
	if (!have_pool && !d.on_the_fly)
		o->pool = o->count > 0 && o->count < 65536 ? (uint32_t)o->count : 65536;
	return 0;
}

/* ------------------------------------------------------------------ */

static int conns_create(struct bench *b)
{
	uint32_t cap = 1;
	size_t wcap = (size_t)b->o.pipeline * b->max_len;
	while (cap < b->o.pipeline)
		cap <<= 1;
	b->conns = calloc(b->o.connections, sizeof(*b->conns));
	if (b->conns == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->o.connections; i++) {
		struct conn *c = &b->conns[i];
		c->b = b;
		c->idx = i;
		c->wbusy = -1;
		c->dead = true; /* until its handle is initialised */
		c->qmask = cap - 1;
		c->q = calloc(cap, sizeof(*c->q));
		c->wbuf[0] = malloc(wcap);
		c->wbuf[1] = malloc(wcap);
		c->rbuf = malloc(READ_BUF_SIZE);
		if (c->q == NULL || c->wbuf[0] == NULL || c->wbuf[1] == NULL || c->rbuf == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void conns_free(struct bench *b)
{
	if (b->conns == NULL)
		return;
	for (uint32_t i = 0; i < b->o.connections; i++) {
		struct conn *c = &b->conns[i];
		free(c->q);
		free(c->wbuf[0]);
		free(c->wbuf[1]);
		free(c->rbuf);
		free(c->part);
	}
	free(b->conns);
	b->conns = NULL;
}

static int start_handles(struct bench *b)
{
	uv_timer_init(&b->loop, &b->warm_timer);
	uv_timer_init(&b->loop, &b->end_timer);
	uv_timer_init(&b->loop, &b->drain_timer);
	b->warm_timer.data = b->end_timer.data = b->drain_timer.data = b;
	uv_signal_init(&b->loop, &b->sigint);
	uv_signal_init(&b->loop, &b->sigterm);
	b->sigint.data = b->sigterm.data = b;
	uv_signal_start(&b->sigint, on_signal, SIGINT);
	uv_signal_start(&b->sigterm, on_signal, SIGTERM);
	if (b->o.rate > 0) {
		b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->tfd < 0) {
			fprintf(stderr, "txpbench: timerfd_create: %s\n", strerror(errno));
			return -errno;
		}
		int rc = uv_poll_init(&b->loop, &b->pace_poll, b->tfd);
		if (rc < 0) {
			fprintf(stderr, "txpbench: uv_poll_init: %s\n", uv_strerror(rc));
			return rc;
		}
		b->pace_poll_init = true;
		b->pace_poll.data = b;
		uv_poll_start(&b->pace_poll, UV_READABLE, on_pace);
	}
	for (uint32_t i = 0; i < b->o.connections; i++) {
		struct conn *c = &b->conns[i];
		int rc = uv_pipe_init(&b->loop, &c->pipe, 0);
		if (rc < 0)
			return rc;
		c->dead = false;
		b->n_live++;
		c->pipe.data = c;
		c->connect_req.data = c;
		c->write_req.data = c;
		uv_pipe_connect(&c->connect_req, &c->pipe, b->o.socket, on_connect);
	}
	return 0;
}

/* --dump: the lines exactly as a run would send them, to inspect the mix. */
static int dump_lines(struct bench *b)
{
	char *line = malloc(b->max_len);
	if (line == NULL)
		return 1;
	for (uint64_t seq = 0; seq < b->o.dump; seq++) {
		struct txpb_template t;
		write_line(b, seq, line, &t);
		fwrite(line, 1, t.len, stdout);
	}
	free(line);
	return ferror(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct bench b = { .tfd = -1, .ts_ms = -1 };
	char err[200];
	int rc, exit_code = 1;

	if (parse_opts(argc, argv, &b.o) < 0) {
		fprintf(stderr, "Try 'txpbench --help'.\n");
		return EX_USAGE;
	}
	/* A daemon that closes the socket must surface as EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (b.o.run_id != NULL) {
		snprintf(b.prefix, sizeof(b.prefix), "%s", b.o.run_id);
	} else {
		/* Unique per run, so ids never collide with an earlier run's. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
		snprintf(b.prefix, sizeof(b.prefix), "tb%012" PRIx64, x & UINT64_C(0xffffffffffff));
	}
	struct txpb_gen_params gp = { .seed = b.o.seed,
		                      .customers = b.o.customers,
		                      .merchants = b.o.merchants,
		                      .pool_size = b.o.pool,
		                      .mix = b.o.mix,
		                      .prefix = b.prefix,
		                      .profile = b.o.profile };
	rc = txpb_gen_create(&b.gen, &gp, err, sizeof(err));
	if (rc == 0 && b.o.pool > 0)
		rc = txpb_pool_fill(&b.pool, b.gen, b.o.pool, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "txpbench: %s\n", err);
		exit_code = rc == -EINVAL ? EX_USAGE : 1;
		goto out_free;
	}
	txpb_gen_population(b.gen, &b.pop);
	b.max_len = b.o.pool > 0 ? b.pool.max_len : TXPB_LINE_MAX;
	b.id_len = (uint32_t)(strlen(b.prefix) + 1 + TXPB_SEQ_DIGITS);
	if (b.o.dump > 0) {
		exit_code = dump_lines(&b);
		goto out_free;
	}
	if (txpb_hist_init(&b.lat) < 0 || txpb_hist_init(&b.lag) < 0 || conns_create(&b) < 0) {
		fprintf(stderr, "txpbench: out of memory\n");
		goto out_free;
	}
	rc = uv_loop_init(&b.loop);
	if (rc < 0) {
		fprintf(stderr, "txpbench: uv_loop_init: %s\n", uv_strerror(rc));
		goto out_free;
	}
	if (start_handles(&b) < 0) {
		b.fatal = true;
		bench_finish(&b);
	}
	uv_run(&b.loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&b.loop);
	if (rc < 0)
		fprintf(stderr, "txpbench: uv_loop_close: %s\n", uv_strerror(rc));
	if (b.tfd >= 0)
		close(b.tfd);
	if (b.fatal && !b.started) {
		exit_code = EX_UNAVAILABLE;
		goto out_free;
	}
	print_summary(stdout, &b, b.o.json);
	if (b.o.json_file != NULL) {
		FILE *jf = fopen(b.o.json_file, "w");
		if (jf == NULL || (print_summary(jf, &b, true), fclose(jf)) != 0) {
			fprintf(stderr, "txpbench: cannot write %s: %s\n", b.o.json_file, strerror(errno));
			b.fatal = true;
		}
	}
	exit_code = total_errors(&b) == 0 && !b.fatal ? 0 : 1;
out_free:
	conns_free(&b);
	txpb_hist_free(&b.lag);
	txpb_hist_free(&b.lat);
	txpb_pool_free(&b.pool);
	txpb_gen_free(b.gen);
	return exit_code;
}
