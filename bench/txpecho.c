/* txpecho.c: the do-nothing daemon: one libuv loop answering every line on a Unix socket, as a latency baseline. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

/*
 * What the machine itself costs: the same socket, framing and one reply
 * per line as txpiped, on one libuv loop, with no screening, journal or
 * threads.  run-bench.sh drives it with txpbench at the same rate as
 * txpiped, so txpiped's latency can be read against what any daemon gets
 * from this kernel and these CPUs (scheduling, wake-ups, the socket).
 *
 * Every line is answered with an error whose transaction_id is null, which
 * txpbench accepts for any line it sends (a line refused before parsing).
 */
static const char reply_line[] =
        "{\"transaction_id\":null,\"status\":\"error\",\"reasons\":[],\"error\":{\"code\":\"baseline\","
        "\"message\":\"txpecho answers every line without screening it\",\"field\":null}}\n";

#define READ_BUF 65536
/* Stop reading while this much reply data waits to be written. */
#define OUT_HIGH_WATER (256u * 1024u)

struct conn {
	uv_pipe_t pipe;
	char in[READ_BUF];
	size_t partial; /* bytes of an unfinished line seen so far (not kept) */
	size_t queued;  /* reply bytes handed to uv_write and not yet written */
	bool reading;
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->in, sizeof(c->in));
}

static void on_close(uv_handle_t *h)
{
	free(h->data);
}

static void update_reading(struct conn *c)
{
	bool want = c->queued < OUT_HIGH_WATER;

	if (want && !c->reading && uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
		c->reading = true;
	else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;

	c->queued -= w->len;
	free(w);
	if (status < 0) {
		if (!uv_is_closing((uv_handle_t *)&c->pipe))
			uv_close((uv_handle_t *)&c->pipe, on_close);
		return;
	}
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		update_reading(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	size_t lines = 0;
	struct write_req *w;
	uv_buf_t out;

	if (nread < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, on_close);
		return;
	}
	for (ssize_t i = 0; i < nread; i++) {
		if (buf->base[i] == '\n') {
			lines++;
			c->partial = 0;
		} else {
			c->partial++;
		}
	}
	if (lines == 0)
		return;
	/* One write for everything this read completed, as txpiped does. */
	w = malloc(sizeof(*w) + lines * (sizeof(reply_line) - 1));
	if (w == NULL) {
		fprintf(stderr, "txpecho: out of memory\n");
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	w->c = c;
	w->len = lines * (sizeof(reply_line) - 1);
	for (size_t k = 0; k < lines; k++)
		memcpy(w->data + k * (sizeof(reply_line) - 1), reply_line, sizeof(reply_line) - 1);
	out = uv_buf_init(w->data, (unsigned)w->len);
	c->queued += w->len;
	if (uv_write(&w->req, s, &out, 1, on_write) < 0) {
		c->queued -= w->len;
		free(w);
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	update_reading(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		uv_close((uv_handle_t *)&c->pipe, on_close);
		return;
	}
	update_reading(c);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	uv_stop(h->loop);
}

int main(int argc, char **argv)
{
	uv_loop_t *loop = uv_default_loop();
	uv_pipe_t server;
	uv_signal_t sigterm, sigint;
	int rc;

	if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc == 2 ? stdout : stderr,
		        "usage: txpecho SOCKET\n"
		        "Answers every line on the Unix socket SOCKET with a fixed error reply, doing no\n"
		        "other work: the latency baseline run-bench.sh measures txpiped against.\n"
		        "Stops on SIGTERM or SIGINT.\n");
		return argc == 2 ? 0 : 64;
	}
	signal(SIGPIPE, SIG_IGN);
	unlink(argv[1]);
	uv_pipe_init(loop, &server, 0);
	if ((rc = uv_pipe_bind(&server, argv[1])) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&server, 128, on_connection)) < 0) {
		fprintf(stderr, "txpecho: %s: %s\n", argv[1], uv_strerror(rc));
		return 1;
	}
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(loop, UV_RUN_DEFAULT);
	unlink(argv[1]);
	return 0;
}
