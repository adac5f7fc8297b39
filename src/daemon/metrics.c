/* metrics.c: counters by reason code and the loopback /metrics listener. */
#include "txpipe/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/queue.h"

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
	struct txp_queue conns; /* struct mconn */
};

struct mconn {
	uv_tcp_t tcp;
	struct txp_metrics_server *m;
	char req[REQ_MAX];
	size_t len;
	uv_write_t wreq;
	char *resp;
	struct txp_queue link; /* in m->conns */
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

	txp_queue_remove(&c->link);
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
	txp_queue_insert_tail(&m->conns, &c->link);
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
	txp_queue_init(&m->conns);
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
	struct txp_queue *q;

	txp_queue_foreach (q, &m->conns)
		mconn_close(txp_queue_data(q, struct mconn, link));
	uv_close((uv_handle_t *)&m->tcp, on_listener_closed);
}
