/* metrics.c: counters by reason code, Prometheus text rendering, and the loopback /metrics listener. */
#include "txpipe/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void txp_reason_counts_add(struct txp_reason_counts *rc, const char *code)
{
	for (unsigned i = 0; i < rc->used; i++) {
		if (rc->code[i] == code || strcmp(rc->code[i], code) == 0) {
			rc->n[i]++;
			return;
		}
	}
	if (rc->used == TXP_MAX_REASON_CODES) {
		rc->overflow++;
		return;
	}
	rc->code[rc->used] = code;
	rc->n[rc->used++] = 1;
}

json_t *txp_reason_counts_json(const struct txp_reason_counts *rc)
{
	json_t *o = json_object();

	for (unsigned i = 0; o != NULL && i < rc->used; i++)
		json_object_set_new(o, rc->code[i], json_integer((json_int_t)rc->n[i]));
	return o;
}

json_t *txp_latency_json_buckets(const struct txp_latency *l)
{
	json_t *a = json_array();

	for (unsigned b = 0; a != NULL && b < TXP_LAT_BUCKETS; b++)
		json_array_append_new(a, json_integer((json_int_t)atomic_load_explicit(&l->buckets[b],
		                                                                         memory_order_relaxed)));
	return a;
}

/* A growable text buffer for the exposition. */
struct text {
	char *p;
	size_t len, cap;
	int oom;
};

__attribute__((format(printf, 2, 3))) static void emit(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = 1;
			return;
		}
		if (t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 8192;
		while (cap <= t->len + (size_t)n)
			cap *= 2;
		char *np = realloc(t->p, cap);
		if (np == NULL) {
			t->oom = 1;
			return;
		}
		t->p = np;
		t->cap = cap;
	}
}

static json_int_t geti(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void counter(struct text *t, const char *name, const char *help, json_int_t v)
{
	emit(t, "# HELP %s %s\n# TYPE %s counter\n%s %lld\n", name, help, name, name, (long long)v);
}

static void gauge(struct text *t, const char *name, const char *help, json_int_t v)
{
	emit(t, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, (long long)v);
}

/* A Prometheus histogram in seconds from our log2 microsecond buckets. */
static void histogram_series(struct text *t, const char *name, const char *labels, const json_t *buckets,
                             json_int_t sum_ns)
{
	json_int_t cum = 0;
	size_t i;
	json_t *v;

	json_array_foreach(buckets, i, v) {
		cum += json_integer_value(v);
		/* Bucket i holds latencies below 2^i us. */
		emit(t, "%s_bucket{%s%sle=\"%.6f\"} %lld\n", name, labels, labels[0] ? "," : "",
		     (double)(UINT64_C(1) << i) / 1e6, (long long)cum);
	}
	emit(t, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", name, labels, labels[0] ? "," : "", (long long)cum);
	emit(t, "%s_sum{%s} %.9f\n", name, labels, (double)sum_ns / 1e9);
	emit(t, "%s_count{%s} %lld\n", name, labels, (long long)cum);
}

static void labelled_counters(struct text *t, const char *name, const char *help, const char *label,
                              const json_t *obj, const char *type)
{
	const char *k;
	json_t *v;

	emit(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	json_object_foreach((json_t *)obj, k, v)
		emit(t, "%s{%s=\"%s\"} %lld\n", name, label, k, (long long)json_integer_value(v));
}

char *txp_metrics_prometheus(const json_t *st)
{
	struct text t = {0};
	const char *k;
	json_t *v;

	counter(&t, "txpipe_lines_total", "Lines received from producers.", geti(st, "lines"));
	counter(&t, "txpipe_lines_too_long_total", "Lines refused for exceeding max_line_bytes.",
	        geti(st, "lines_too_long"));
	counter(&t, "txpipe_connections_total", "Producer connections accepted.", geti(st, "connections_total"));
	gauge(&t, "txpipe_connections_open", "Producer connections open.", geti(st, "connections_open"));
	counter(&t, "txpipe_clients_refused_total", "Connections refused over max_clients.",
	        geti(st, "clients_refused"));
	counter(&t, "txpipe_backpressure_pauses_total", "Times reading a client paused for backpressure.",
	        geti(st, "backpressure_pauses"));
	counter(&t, "txpipe_reloads_total", "Configuration reloads applied.", geti(st, "reloads"));
	counter(&t, "txpipe_reload_failures_total", "Configuration reloads rejected.", geti(st, "reload_failures"));
	gauge(&t, "txpipe_uptime_seconds", "Seconds since the daemon started.", geti(st, "uptime_s"));
	labelled_counters(&t, "txpipe_transactions_total", "Transactions answered, by status.", "status",
	                  json_object_get(st, "transactions"), "counter");
	labelled_counters(&t, "txpipe_reasons_total", "Reason codes given, by code.", "reason",
	                  json_object_get(st, "reasons"), "counter");

	emit(&t, "# HELP txpipe_stage_processed_total Transactions through each stage.\n"
	         "# TYPE txpipe_stage_processed_total counter\n");
	json_object_foreach(json_object_get(st, "stages"), k, v)
		emit(&t, "txpipe_stage_processed_total{stage=\"%s\"} %lld\n", k, (long long)geti(v, "processed"));
	emit(&t, "# HELP txpipe_stage_latency_seconds Time from the previous stage (or receipt) to the end of "
	         "this stage, queueing included.\n# TYPE txpipe_stage_latency_seconds histogram\n");
	json_object_foreach(json_object_get(st, "stages"), k, v) {
		char labels[64];
		snprintf(labels, sizeof(labels), "stage=\"%s\"", k);
		histogram_series(&t, "txpipe_stage_latency_seconds", labels, json_object_get(v, "histogram"),
		                 geti(v, "mean_ns") * geti(v, "processed"));
	}
	v = json_object_get(st, "reply_latency");
	emit(&t, "# HELP txpipe_reply_latency_seconds Time from a line's receipt to its reply being queued.\n"
	         "# TYPE txpipe_reply_latency_seconds histogram\n");
	histogram_series(&t, "txpipe_reply_latency_seconds", "", json_object_get(v, "histogram"),
	                 geti(v, "sum_ns"));

	json_t *rings = json_object_get(st, "rings");
	gauge(&t, "txpipe_ring_capacity", "Slots per ring: the most transactions in flight.",
	      geti(rings, "capacity"));
	gauge(&t, "txpipe_inflight", "Transactions in the pipeline now.", geti(rings, "inflight"));
	emit(&t, "# HELP txpipe_ring_depth Deepest ring into each stage now.\n# TYPE txpipe_ring_depth gauge\n");
	json_object_foreach(rings, k, v) {
		if (strcmp(k, "capacity") != 0 && strcmp(k, "inflight") != 0)
			emit(&t, "txpipe_ring_depth{ring=\"%s\"} %lld\n", k, (long long)json_integer_value(v));
	}

	/* Sections present once the AWS layer and the journal run: every
	 * integer member becomes txpipe_<section>_<member>. */
	static const char *const sections[] = {"aws", "delivery", "journal", "credentials"};
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		json_t *sec = json_object_get(st, sections[s]);
		json_object_foreach(sec, k, v) {
			if (json_is_integer(v)) {
				emit(&t, "# TYPE txpipe_%s_%s gauge\ntxpipe_%s_%s %lld\n", sections[s], k, sections[s], k,
				     (long long)json_integer_value(v));
			} else if (json_is_object(v)) {
				/* {"dynamodb": {"requests": 3, ...}, ...}: per-service. */
				const char *k2;
				json_t *v2;
				json_object_foreach(v, k2, v2)
					if (json_is_integer(v2))
						emit(&t, "txpipe_%s_%s{service=\"%s\"} %lld\n", sections[s], k2, k,
						     (long long)json_integer_value(v2));
			}
		}
	}
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	return t.p;
}

int txp_metrics_parse_listen(const char *spec, struct sockaddr_storage *out, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	char *end;
	long port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (colon == NULL || colon == spec) {
		snprintf(err, errlen, "metrics listen %s: expected HOST:PORT", spec);
		return -EINVAL;
	}
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "metrics listen: host too long");
		return -EINVAL;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
		snprintf(err, errlen, "metrics listen: bad port %s", colon + 1);
		return -EINVAL;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
			snprintf(err, errlen, "metrics listen %s: only loopback addresses are allowed", host);
			return -EINVAL;
		}
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
			snprintf(err, errlen, "metrics listen %s: only loopback addresses are allowed", host);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, errlen, "metrics listen: %s is not an IP address", host);
	return -EINVAL;
}

/* ---- the listener ---------------------------------------------------- */

#define REQ_MAX 8192

struct txp_metrics_server {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	char *(*render)(void *arg);
	void *arg;
	unsigned open;
	int closing;
	struct mconn *conns;
};

struct mconn {
	uv_tcp_t tcp;
	struct txp_metrics_server *m;
	char req[REQ_MAX];
	size_t len;
	uv_write_t wreq;
	char *resp;
	struct mconn *prev, *next;
};

static void server_maybe_free(struct txp_metrics_server *m)
{
	if (m->closing && m->open == 0)
		free(m);
}

static void on_mconn_closed(uv_handle_t *h)
{
	struct mconn *c = h->data;
	struct txp_metrics_server *m = c->m;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->resp);
	free(c);
	m->open--;
	server_maybe_free(m);
}

static void mconn_close(struct mconn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_mconn_closed);
}

static void on_mwrite(uv_write_t *req, int status)
{
	(void)status;
	mconn_close(req->data);
}

static void respond(struct mconn *c, const char *status, const char *body)
{
	size_t blen = strlen(body);
	size_t cap = blen + 256;
	uv_buf_t buf;

	c->resp = malloc(cap);
	if (c->resp == NULL) {
		mconn_close(c);
		return;
	}
	int n = snprintf(c->resp, cap,
	                 "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                 status, blen);
	memcpy(c->resp + n, body, blen);
	buf = uv_buf_init(c->resp, (unsigned)(n + (int)blen));
	c->wreq.data = c;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_mwrite) < 0)
		mconn_close(c);
}

static void on_malloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct mconn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->req + c->len, (unsigned)(REQ_MAX - 1 - c->len));
}

static void on_mread(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct mconn *c = s->data;

	(void)buf;
	if (nread < 0) {
		mconn_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") == NULL && strstr(c->req, "\n\n") == NULL) {
		if (c->len >= REQ_MAX - 1)
			respond(c, "431 Request Header Fields Too Large", "request too large\n");
		return;
	}
	if (strncmp(c->req, "GET /metrics ", 13) != 0 && strncmp(c->req, "GET / ", 6) != 0) {
		respond(c, "404 Not Found", "try GET /metrics\n");
		return;
	}
	char *body = c->m->render(c->m->arg);
	if (body == NULL) {
		respond(c, "500 Internal Server Error", "out of memory\n");
		return;
	}
	respond(c, "200 OK", body);
	free(body);
}

static void on_mconnection(uv_stream_t *server, int status)
{
	struct txp_metrics_server *m = server->data;
	struct mconn *c;

	if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->m = m;
	uv_tcp_init(m->loop, &c->tcp);
	c->tcp.data = c;
	m->open++;
	c->next = m->conns;
	if (m->conns != NULL)
		m->conns->prev = c;
	m->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_malloc, on_mread) != 0)
		mconn_close(c);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct txp_metrics_server *m = h->data;

	m->open--;
	server_maybe_free(m);
}

int txp_metrics_server_create(struct txp_metrics_server **out, uv_loop_t *loop, const char *listen,
                              char *(*render)(void *arg), void *arg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct txp_metrics_server *m;
	int rc;

	rc = txp_metrics_parse_listen(listen, &ss, err, errlen);
	if (rc < 0)
		return rc;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->loop = loop;
	m->render = render;
	m->arg = arg;
	uv_tcp_init(loop, &m->tcp);
	m->tcp.data = m;
	m->open = 1;
	rc = uv_tcp_bind(&m->tcp, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&m->tcp, 64, on_mconnection);
	if (rc < 0) {
		snprintf(err, errlen, "metrics listen %s: %s", listen, uv_strerror(rc));
		m->closing = 1;
		uv_close((uv_handle_t *)&m->tcp, on_listener_closed);
		return rc;
	}
	*out = m;
	return 0;
}

void txp_metrics_server_close(struct txp_metrics_server *m)
{
	if (m == NULL || m->closing)
		return;
	m->closing = 1;
	for (struct mconn *c = m->conns; c != NULL; c = c->next)
		mconn_close(c);
	uv_close((uv_handle_t *)&m->tcp, on_listener_closed);
}
