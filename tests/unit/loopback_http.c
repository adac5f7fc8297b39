/* loopback_http.c: a tiny scripted HTTP/1.1 server on 127.0.0.1 for the HTTP client and IMDS tests. */
#include "txp_build_config.h"

#include "loopback_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct lb_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listening;
	lb_handler handler;
	void *data;
	int port;
	unsigned requests;
	unsigned connections;
	unsigned open_handles;
	bool closing;
	struct lb_conn *conns;
};

struct lb_conn {
	struct lb_server *srv;
	struct lb_conn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t delay;
	char *buf;
	size_t len, cap;
	bool busy; /* a request is being answered */
	bool closing;
	char *pending; /* a delayed response */
	size_t pending_len;
	unsigned open_handles;
};

struct lb_write {
	uv_write_t req;
	char *data;
};

static void server_maybe_free(struct lb_server *s)
{
	if (s->closing && s->open_handles == 0 && s->conns == NULL)
		free(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct lb_conn *c = h->data;
	struct lb_server *s = c->srv;

	if (--c->open_handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->buf);
	free(c->pending);
	free(c);
	server_maybe_free(s);
}

static void conn_close(struct lb_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->delay, on_conn_handle_closed);
}

void lb_hangup(struct lb_conn *c)
{
	conn_close(c);
}

struct lb_server *lb_conn_server(struct lb_conn *c)
{
	return c->srv;
}

static void process(struct lb_conn *c);

static void on_written(uv_write_t *req, int status)
{
	struct lb_write *w = (struct lb_write *)req;

	free(w->data);
	free(w);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static char *format_response(int status, const char *headers, const char *body, size_t *len)
{
	size_t blen = body != NULL ? strlen(body) : 0;
	size_t cap = 256 + (headers != NULL ? strlen(headers) : 0) + blen;
	char *out = malloc(cap);
	int n;

	if (out == NULL)
		abort();
	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n", status, reason(status), blen,
	             headers != NULL ? headers : "");
	memcpy(out + n, body != NULL ? body : "", blen);
	*len = (size_t)n + blen;
	return out;
}

static void send_raw(struct lb_conn *c, char *data, size_t len)
{
	struct lb_write *w = calloc(1, sizeof(*w));
	uv_buf_t b = uv_buf_init(data, (unsigned)len);

	if (w == NULL)
		abort();
	w->data = data;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
		free(data);
		free(w);
		conn_close(c);
		return;
	}
	c->busy = false;
	process(c);
}

void lb_respond(struct lb_conn *c, int status, const char *headers, const char *body)
{
	size_t len;
	char *out;

	if (c->closing)
		return;
	out = format_response(status, headers, body, &len);
	send_raw(c, out, len);
}

static void on_delay(uv_timer_t *t)
{
	struct lb_conn *c = t->data;
	char *out = c->pending;

	c->pending = NULL;
	if (out != NULL)
		send_raw(c, out, c->pending_len);
}

void lb_respond_later(struct lb_conn *c, uint64_t delay_ms, int status, const char *headers, const char *body)
{
	if (c->closing)
		return;
	free(c->pending);
	c->pending = format_response(status, headers, body, &c->pending_len);
	uv_timer_start(&c->delay, on_delay, delay_ms, 0);
}

const char *lb_header(const struct lb_request *req, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = req->headers;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			size_t vl;

			while (*v == ' ')
				v++;
			vl = ll - (size_t)(v - p);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			return buf;
		}
		if (eol == NULL)
			break;
		p = eol + 2;
	}
	return NULL;
}

/* Parses one complete request from the buffer, if there is one, and hands it
 * to the handler. */
static void process(struct lb_conn *c)
{
	struct lb_request *req;
	char *end, *line_end, tmp[32];
	size_t hlen, blen = 0, total;

	if (c->busy || c->closing || c->len == 0)
		return;
	end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (end == NULL)
		return;
	hlen = (size_t)(end - c->buf) + 4;
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		abort();
	line_end = memmem(c->buf, hlen, "\r\n", 2);
	if (sscanf(c->buf, "%15s %1023s", req->method, req->path) != 2) {
		free(req);
		conn_close(c);
		return;
	}
	snprintf(req->headers, sizeof(req->headers), "%.*s", (int)(end + 2 - (line_end + 2)), line_end + 2);
	if (lb_header(req, "Content-Length", tmp, sizeof(tmp)) != NULL)
		blen = strtoul(tmp, NULL, 10);
	total = hlen + blen;
	if (c->len < total) {
		free(req);
		return;
	}
	char *body = malloc(blen + 1);
	if (body == NULL)
		abort();
	memcpy(body, c->buf + hlen, blen);
	body[blen] = '\0';
	req->body = body;
	req->body_len = blen;
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;
	c->busy = true;
	c->srv->requests++;
	c->srv->handler(c, req, c->srv->data);
	free(body);
	free(req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct lb_conn *c = h->data;

	if (c->cap - c->len < 4096) {
		c->cap = c->cap * 2 + 8192;
		c->buf = realloc(c->buf, c->cap);
		if (c->buf == NULL)
			abort();
	}
	*b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct lb_conn *c = st->data;

	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	process(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct lb_server *s = l->data;
	struct lb_conn *c;

	if (status != 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	c->srv = s;
	s->connections++;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->delay);
	c->tcp.data = c;
	c->delay.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (c->next != NULL)
		c->next->prev = c;
	s->conns = c;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		conn_close(c);
}

int lb_server_start(uv_loop_t *loop, lb_handler h, void *data, struct lb_server **out)
{
	struct lb_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in addr;
	struct sockaddr_storage name;
	int rc, namelen = sizeof(name);

	if (s == NULL)
		return UV_ENOMEM;
	s->loop = loop;
	s->handler = h;
	s->data = data;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	s->open_handles = 1;
	s->listening = true;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&name, &namelen);
	if (rc != 0) {
		lb_server_close(s);
		return rc;
	}
	s->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
	*out = s;
	return 0;
}

int lb_server_port(const struct lb_server *s)
{
	return s->port;
}

unsigned lb_server_requests(const struct lb_server *s)
{
	return s->requests;
}

unsigned lb_server_connections(const struct lb_server *s)
{
	return s->connections;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct lb_server *s = h->data;

	s->open_handles--;
	server_maybe_free(s);
}

void lb_server_stop_listening(struct lb_server *s)
{
	if (!s->listening)
		return;
	s->listening = false;
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

void lb_server_close(struct lb_server *s)
{
	s->closing = true;
	lb_server_stop_listening(s);
	for (struct lb_conn *c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	server_maybe_free(s);
}

int lb_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}
