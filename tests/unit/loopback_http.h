/* loopback_http.h: a tiny scripted HTTP/1.1 server on 127.0.0.1 for the HTTP client and IMDS tests. */
#ifndef TXPIPE_TEST_LOOPBACK_HTTP_H
#define TXPIPE_TEST_LOOPBACK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct lb_server;
struct lb_conn;

struct lb_request {
	char method[16];
	char path[1024];
	char headers[8192]; /* the raw header lines, "\r\n"-separated */
	const char *body;   /* body_len bytes, NUL-terminated */
	size_t body_len;
};

/* Called once per complete request.  The handler answers with lb_respond(),
 * lb_respond_later(), lb_hangup(), or not at all (the client times out). */
typedef void (*lb_handler)(struct lb_conn *c, const struct lb_request *req, void *data);

/* Listens on 127.0.0.1 on a free port.  Returns 0 or a libuv error. */
int lb_server_start(uv_loop_t *loop, lb_handler h, void *data, struct lb_server **out);
int lb_server_port(const struct lb_server *s);
unsigned lb_server_requests(const struct lb_server *s);
unsigned lb_server_connections(const struct lb_server *s);
/* Closes the listener: later connections are refused (open ones stay). */
void lb_server_stop_listening(struct lb_server *s);
/* Closes every handle; the server is freed from the loop. */
void lb_server_close(struct lb_server *s);

/* Answers with `status`, optional extra header lines (each ending "\r\n")
 * and a body (NULL for none). */
void lb_respond(struct lb_conn *c, int status, const char *headers, const char *body);
void lb_respond_later(struct lb_conn *c, uint64_t delay_ms, int status, const char *headers, const char *body);
void lb_hangup(struct lb_conn *c);
struct lb_server *lb_conn_server(struct lb_conn *c);

/* Copies the value of header `name` into buf; returns buf or NULL when absent. */
const char *lb_header(const struct lb_request *req, const char *name, char *buf, size_t cap);

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
int lb_free_port(void);

#endif
