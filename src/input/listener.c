/* listener.c: the listening socket: accepting, the descriptor budget, refusals and operator slots. */
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

#include "server_int.h"
#include "txpipe/log.h"

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
		server__conn_close(c);
		return;
	}
	server__conn_update_reading(c);
}

void server__on_listener(uv_poll_t *h, int status, int events)
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
		uv_poll_start(&s->listener, UV_READABLE, server__on_listener);
	}
	txp_queue_foreach_safe (q, n, &s->conns) {
		struct txp_conn *c = server__conn_of(q);
		if (c->grace_until == 0 || c->closing)
			continue;
		if (now >= c->grace_until) {
			c->in_len = 0; /* a partial line never gets a reply */
			server__conn_refuse(c, "operator_slot_idle");
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

int server__listen_on_path(struct txp_server *s, const struct txp_server_options *o, char *err, size_t errlen)
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
