/* server.c: the Unix-socket NDJSON front end's lifetime: create, attach, drain, close and stats. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_int.h"
#include "txpipe/log.h"

/* The server is freed only once every handle it owns has closed: libuv
 * runs close callbacks in no order we may rely on. */
void server__handle_closed(struct txp_server *s)
{
	s->open_handles--;
	if (!s->closing || s->open_handles > 0)
		return;
	while (!txp_queue_empty(&s->conns))
		server__conn_free(server__conn_of(s->conns.next));
	free(s->path);
	free(s);
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
	} else if ((rc = server__listen_on_path(s, o, err, errlen)) < 0) {
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
	uv_poll_start(&s->listener, UV_READABLE, server__on_listener);
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
	uv_check_start(&s->flush_check, server__on_flush_check);
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

	txp_queue_foreach (q, &s->conns)
		server__mark_dirty(server__conn_of(q));
}

void txp_server_set_max_line(struct txp_server *s, size_t max_line_bytes)
{
	s->max_line = max_line_bytes;
}

const struct txp_server_stats *txp_server_stats(const struct txp_server *s)
{
	return &s->stats;
}

static void on_handle_closed(uv_handle_t *h)
{
	server__handle_closed(h->data);
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
	txp_queue_foreach (q, &s->conns) {
		struct txp_conn *c = server__conn_of(q);
		uv_os_fd_t fd;
		if (c->closing || c->eof)
			continue;
		if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 || shutdown(fd, SHUT_RD) != 0)
			c->eof = true;
		server__conn_update_reading(c);
		server__mark_dirty(c);
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
	txp_queue_foreach_safe (q, n, &s->conns)
		server__conn_close(server__conn_of(q));
	/* Connections still referenced by in-flight transactions (the
	 * pipeline is stopped first, so there are none) are freed in their
	 * close callbacks. */
	uv_close((uv_handle_t *)&s->flush_check, on_handle_closed);
}
