/* ctl_daemon.c: txpipectl's commands that talk to the daemon's socket: submit, stats, version, reload, tail. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "txpipe/config.h"

#include "ctl_int.h"

/* Lines sent ahead of their replies; the daemon bounds what it reads from
 * one client anyway, this only keeps the tool's own buffers small. */
#define MAX_AHEAD 512

/* Resolves the socket path: --socket wins, else [daemon] socket of the
 * config file.  Returns a malloc'd path or NULL with the reason printed. */
char *ctl__resolve_socket(struct ctl *ctl, int *exit_code)
{
	struct txp_config cfg;
	char err[1024];
	char *path;

	if (ctl->socket_path != NULL)
		return strdup(ctl->socket_path);
	if (txp_config_load(&cfg, ctl->config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: %s\n", err);
		if (!ctl->config_given)
			fprintf(stderr, "txpipectl: give --socket PATH or --config FILE\n");
		txp_config_free(&cfg);
		*exit_code = EX_CONFIG;
		return NULL;
	}
	path = strdup(cfg.daemon.socket);
	txp_config_free(&cfg);
	return path;
}

int ctl__connect_socket(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "txpipectl: socket path too long: %s\n", path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "txpipectl: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A growable byte buffer. */
struct buf {
	char *p;
	size_t len, cap, off;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 65536;
		char *np;
		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

/* Appends `n` bytes read from the daemon and calls fn on each complete
 * reply line (len excludes its '\n', which still follows it); keeps an
 * unfinished line for the next call.  Returns 0, or the first nonzero fn
 * result, which stops it there. */
static int buf_feed_lines(struct buf *b, const char *data, size_t n, int (*fn)(void *arg, char *line, size_t len),
                          void *arg)
{
	char *start, *nl;
	int rc = 0;

	buf_add(b, data, n);
	start = b->p + b->off;
	while (rc == 0 && (nl = memchr(start, '\n', (size_t)(b->p + b->len - start))) != NULL) {
		rc = fn(arg, start, (size_t)(nl - start));
		start = nl + 1;
	}
	b->off = (size_t)(start - b->p);
	return rc;
}

struct submit {
	FILE *in; /* NULL: lines come from argv */
	char **args;
	int nargs, next_arg;
	bool input_done;
	uint64_t sent, answered;
	uint64_t by_status[6];
	struct buf out, in_buf;
	bool progress;
	double t0, last_progress;
	bool quiet;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Queues the next input line; returns false when the input is exhausted. */
static bool next_line(struct submit *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (s->in == NULL) {
		if (s->next_arg >= s->nargs)
			return false;
		const char *a = s->args[s->next_arg++];
		if (buf_add(&s->out, a, strlen(a)) < 0 || buf_add(&s->out, "\n", 1) < 0)
			return false;
		s->sent++;
		return true;
	}
	for (;;) {
		n = getline(&line, &cap, s->in);
		if (n < 0) {
			free(line);
			return false;
		}
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n == 0)
			continue; /* blank input lines are not transactions */
		break;
	}
	if (buf_add(&s->out, line, (size_t)n) < 0 || buf_add(&s->out, "\n", 1) < 0) {
		free(line);
		return false;
	}
	free(line);
	s->sent++;
	return true;
}

static const char *const status_names[] = { "approved", "review", "declined", "rejected", "error", "other" };

static void count_reply(struct submit *s, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	const char *st = j != NULL ? json_string_value(json_object_get(j, "status")) : NULL;
	int k = 5;

	for (int i = 0; st != NULL && i < 5; i++)
		if (strcmp(st, status_names[i]) == 0)
			k = i;
	s->by_status[k]++;
	json_decref(j);
}

/* buf_feed_lines() callback of submit: one reply of ours. */
static int submit_reply(void *arg, char *line, size_t len)
{
	struct submit *s = arg;

	count_reply(s, line, len);
	if (!s->quiet)
		fwrite(line, 1, len + 1, stdout);
	s->answered++;
	return 0;
}

static void show_progress(struct submit *s, bool final)
{
	double t = now_s();
	double rate;

	if (!s->progress || (!final && t - s->last_progress < 0.2))
		return;
	s->last_progress = t;
	rate = t > s->t0 ? (double)s->answered / (t - s->t0) : 0;
	fprintf(stderr, "\r\033[K%llu sent, %llu answered, %.0f tx/s", (unsigned long long)s->sent,
	        (unsigned long long)s->answered, rate);
	if (final)
		fputc('\n', stderr);
}

int ctl__submit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "file", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
	struct submit s;
	const char *file = NULL;
	char *path;
	int fd, c, exit_code = EX_OK;

	memset(&s, 0, sizeof(s));
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
		if (c != 'f') {
			ctl__usage(stderr);
			return EX_USAGE;
		}
		file = optarg;
	}
	if (file != NULL && optind < argc) {
		fprintf(stderr, "txpipectl: submit takes --file or JSON arguments, not both\n");
		return EX_USAGE;
	}
	if (file != NULL) {
		s.in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
		if (s.in == NULL) {
			fprintf(stderr, "txpipectl: %s: %s\n", file, strerror(errno));
			return EX_NOINPUT;
		}
	} else if (optind < argc) {
		s.args = argv + optind;
		s.nargs = argc - optind;
	} else {
		s.in = stdin;
	}
	s.quiet = ctl->quiet;
	/* A progress line only on a terminal, and only when the replies do
	 * not scroll over it on that same terminal. */
	s.progress = isatty(STDERR_FILENO) && s.in != NULL && (s.quiet || !isatty(STDOUT_FILENO));
	path = ctl__resolve_socket(ctl, &exit_code);
	if (path == NULL)
		return exit_code;
	fd = ctl__connect_socket(path);
	free(path);
	if (fd < 0)
		return EX_UNAVAILABLE;
	s.t0 = now_s();

	while (!s.input_done || s.answered < s.sent) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		while (!s.input_done && s.sent - s.answered < MAX_AHEAD && s.out.len - s.out.off < 65536)
			if (!next_line(&s))
				s.input_done = true;
		if (s.out.len > s.out.off)
			pfd.events |= POLLOUT;
		if (s.input_done && s.answered == s.sent)
			break;
		if (poll(&pfd, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(fd, s.out.p + s.out.off, s.out.len - s.out.off, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "txpipectl: send: %s\n", strerror(errno));
				exit_code = EX_PROTOCOL;
				break;
			}
			if (n > 0)
				s.out.off += (size_t)n;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			char chunk[65536];
			ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
			if (n <= 0) {
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				fprintf(stderr,
				        "txpipectl: the daemon closed the connection after %llu of %llu replies\n",
				        (unsigned long long)s.answered, (unsigned long long)s.sent);
				exit_code = EX_PROTOCOL;
				break;
			}
			buf_feed_lines(&s.in_buf, chunk, (size_t)n, submit_reply, &s);
			show_progress(&s, false);
		}
	}
	close(fd);
	show_progress(&s, true);
	if (s.in != NULL && s.in != stdin)
		fclose(s.in);
	free(s.out.p);
	free(s.in_buf.p);
	fflush(stdout);
	if (s.in != NULL || s.quiet) {
		double dt = now_s() - s.t0;
		fprintf(stderr,
		        "txpipectl: %llu sent, %llu answered in %.2f s (%.0f tx/s): %llu approved, %llu review, "
		        "%llu declined, %llu rejected, %llu error\n",
		        (unsigned long long)s.sent, (unsigned long long)s.answered, dt,
		        dt > 0 ? (double)s.answered / dt : 0.0, (unsigned long long)s.by_status[0],
		        (unsigned long long)s.by_status[1], (unsigned long long)s.by_status[2],
		        (unsigned long long)s.by_status[3], (unsigned long long)s.by_status[4]);
	}
	if (exit_code == EX_OK && (s.by_status[3] + s.by_status[4] + s.by_status[5]) > 0)
		exit_code = 1;
	return exit_code;
}

/* Sends one control request and returns the parsed reply, or NULL with
 * *exit_code set. */
/* Reads the daemon's next reply line on `fd` and parses it; NULL when the
 * connection ends first or the line is not JSON. */
static json_t *read_reply(int fd)
{
	struct buf in = { 0 };
	json_t *reply;

	for (;;) {
		char chunk[16384];
		ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_add(&in, chunk, (size_t)r);
		if (memchr(chunk, '\n', (size_t)r) != NULL)
			break;
	}
	/* A reply cut off by the end of the connection is still parsed. */
	reply = in.len > 0 ? json_loadb(in.p, in.len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	free(in.p);
	return reply;
}

/* Sends {"command":COMMAND[,"format":FORMAT]} and returns the reply. */
static json_t *control(struct ctl *ctl, const char *command, const char *format, int *exit_code)
{
	char req[128];
	char *path;
	json_t *reply;
	int fd, n;

	path = ctl__resolve_socket(ctl, exit_code);
	if (path == NULL)
		return NULL;
	fd = ctl__connect_socket(path);
	free(path);
	if (fd < 0) {
		*exit_code = EX_UNAVAILABLE;
		return NULL;
	}
	if (format != NULL)
		n = snprintf(req, sizeof(req), "{\"command\":\"%s\",\"format\":\"%s\"}\n", command, format);
	else
		n = snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", command);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "txpipectl: send: %s\n", strerror(errno));
		close(fd);
		*exit_code = EX_UNAVAILABLE;
		return NULL;
	}
	shutdown(fd, SHUT_WR);
	reply = read_reply(fd);
	close(fd);
	if (reply == NULL) {
		fprintf(stderr, "txpipectl: no valid reply from the daemon\n");
		*exit_code = EX_PROTOCOL;
		return NULL;
	}
	const char *st = json_string_value(json_object_get(reply, "status"));
	if (st == NULL || strcmp(st, "ok") != 0) {
		const char *msg = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
		fprintf(stderr, "txpipectl: %s: %s\n", command, msg != NULL ? msg : "failed");
		json_decref(reply);
		*exit_code = 1;
		return NULL;
	}
	return reply;
}

const char *ctl__str_or(const char *s, const char *fallback)
{
	return s != NULL ? s : fallback;
}

int ctl__stats(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
	const char *format = "text";
	int c, exit_code = EX_OK;
	json_t *reply;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+F:", opts, NULL)) != -1) {
		if (c != 'F') {
			ctl__usage(stderr);
			return EX_USAGE;
		}
		format = optarg;
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "prometheus") != 0) {
		fprintf(stderr, "txpipectl: --format is text, json or prometheus\n");
		return EX_USAGE;
	}
	/* The daemon renders every format from its one table of figures. */
	reply = control(ctl, "stats", format, &exit_code);
	if (reply == NULL)
		return exit_code;
	if (strcmp(format, "json") == 0) {
		json_dumpf(json_object_get(reply, "stats"), stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (json_is_string(json_object_get(reply, "text"))) {
		fputs(json_string_value(json_object_get(reply, "text")), stdout);
	} else {
		fprintf(stderr, "txpipectl: the daemon sent no %s stats (an older txpiped?)\n", format);
		exit_code = EX_PROTOCOL;
	}
	json_decref(reply);
	return exit_code;
}

int ctl__simple(struct ctl *ctl, const char *command)
{
	int exit_code = EX_OK;
	json_t *reply = control(ctl, command, NULL, &exit_code);

	if (reply == NULL)
		return exit_code;
	if (strcmp(command, "version") == 0)
		printf("txpipectl %s, txpiped %s, rules %s (loaded %s)\n", PACKAGE_VERSION,
		       json_string_value(json_object_get(reply, "version")),
		       ctl__str_or(json_string_value(json_object_get(reply, "rules_version")), "-"),
		       ctl__str_or(json_string_value(json_object_get(reply, "rules_loaded_at")), "-"));
	else
		printf("%s: ok\n", command);
	json_decref(reply);
	return EX_OK;
}

/* Streams decisions until the daemon goes away or the user interrupts. */
/* buf_feed_lines() callback of tail; *arg is true until the subscription's
 * own answer came.  Returns 1 (after saying why) when it was refused. */
static int tail_line(void *arg, char *line, size_t len)
{
	bool *first = arg;
	json_t *r;
	const char *st;

	if (!*first) {
		fwrite(line, 1, len + 1, stdout);
		return 0;
	}
	r = json_loadb(line, len, 0, NULL);
	st = json_string_value(json_object_get(r, "status"));
	if (st == NULL || strcmp(st, "ok") != 0) {
		const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

		fprintf(stderr, "txpipectl: tail: %s\n", msg != NULL ? msg : "refused");
		json_decref(r);
		return 1;
	}
	json_decref(r);
	*first = false;
	return 0;
}

int ctl__tail(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "status", required_argument, NULL, 'S' },
		                              { "reason", required_argument, NULL, 'R' },
		                              { NULL, 0, NULL, 0 } };
	json_t *req = json_pack("{s:s,s:[],s:[]}", "command", "tail", "status", "reason");
	char *path, *line;
	int c, fd, exit_code = EX_OK;
	bool first = true;
	struct buf in = { 0 };

	optind = 1;
	while ((c = getopt_long(argc, argv, "+S:R:", opts, NULL)) != -1) {
		if (c != 'S' && c != 'R') {
			json_decref(req);
			ctl__usage(stderr);
			return EX_USAGE;
		}
		json_array_append_new(json_object_get(req, c == 'S' ? "status" : "reason"), json_string(optarg));
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	path = ctl__resolve_socket(ctl, &exit_code);
	if (path == NULL || line == NULL) {
		free(path);
		free(line);
		return exit_code != EX_OK ? exit_code : EX_SOFTWARE;
	}
	fd = ctl__connect_socket(path);
	free(path);
	if (fd < 0) {
		free(line);
		return EX_UNAVAILABLE;
	}
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		free(line);
		close(fd);
		return EX_UNAVAILABLE;
	}
	free(line);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		char chunk[65536];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_feed_lines(&in, chunk, (size_t)n, tail_line, &first) != 0) {
			free(in.p);
			close(fd);
			return 1;
		}
	}
	free(in.p);
	close(fd);
	return EX_OK;
}

/* Sends one control request on an open connection and reads its reply. */
json_t *ctl__control_on(int fd, const char *line)
{
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		return NULL;
	return read_reply(fd);
}
