/* daemon.c: black-box test helpers: start the real txpiped, talk to it over its socket. */
#include "daemon.h"

#include "txpipe/keys.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tdaemon_make_keys(struct tdaemon *d)
{
	char path[512], err[512];

	snprintf(path, sizeof(path), "%s/card.key", d->dir);
	ck_assert_msg(txp_key_generate(path, err, sizeof(err)) == 0, "%s", err);
	snprintf(path, sizeof(path), "%s/pseud.key", d->dir);
	ck_assert_msg(txp_key_generate(path, err, sizeof(err)) == 0, "%s", err);
}

void tdaemon_write_config(struct tdaemon *d, const char *extra)
{
	FILE *f = fopen(d->config, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[daemon]\nsocket = %s\nshutdown_timeout_ms = 10s\n", d->socket);
	/* These tests screen only; delivery to AWS has its own integration tests. */
	fprintf(f, "[aws]\nenabled = false\n");
	fprintf(f, "[journal]\ndir = %s/journal\n", d->dir);
	fprintf(f, "[compliance]\ncard_token_key_file = %s/card.key\npseudonym_key_file = %s/pseud.key\n", d->dir,
	        d->dir);
	if (extra != NULL)
		fputs(extra, f);
	fclose(f);
}

pid_t tdaemon_spawn(struct tdaemon *d, const char *config)
{
	const char *builddir = getenv("top_builddir");
	char bin[512];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/txpiped", builddir != NULL ? builddir : ".");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		if (d->nofile > 0) {
			struct rlimit rl = { .rlim_cur = (rlim_t)d->nofile, .rlim_max = (rlim_t)d->nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		execl(bin, "txpiped", "--config", config, (char *)NULL);
		_exit(127);
	}
	return pid;
}

void tdaemon_prepare(struct tdaemon *d)
{
	char tmpl[] = "/tmp/txpipe-bb-XXXXXX";

	memset(d, 0, sizeof(*d));
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(d->dir, sizeof(d->dir), "%s", tmpl);
	snprintf(d->socket, sizeof(d->socket), "%s/txpiped.sock", d->dir);
	snprintf(d->config, sizeof(d->config), "%s/txpiped.ini", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/txpiped.log", d->dir);
	tdaemon_make_keys(d);
}

void tdaemon_start(struct tdaemon *d, const char *extra)
{
	tdaemon_prepare(d);
	tdaemon_launch(d, extra);
}

void tdaemon_launch(struct tdaemon *d, const char *extra)
{
	long long deadline;

	tdaemon_write_config(d, extra);
	d->pid = tdaemon_spawn(d, d->config);
	deadline = now_ms() + 15000;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		memcpy(sa.sun_path, d->socket, strnlen(d->socket, sizeof(sa.sun_path) - 1));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return;
		}
		close(fd);
		ck_assert_msg(tdaemon_alive(d), "txpiped exited at start-up (see %s)", d->log);
		ck_assert_msg(now_ms() < deadline, "txpiped did not listen within 15 s");
		usleep(10000);
	}
}

bool tdaemon_alive(struct tdaemon *d)
{
	int status;
	return d->pid > 0 && waitpid(d->pid, &status, WNOHANG) == 0;
}

int tdaemon_terminate(struct tdaemon *d, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int status = 0;
	int rc = -1;
	char cmd[600];

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	while (now_ms() < deadline) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
		usleep(5000);
	}
	if (rc == -1) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	if (rc != 0) {
		/* Keep the evidence in the test log. */
		snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", d->log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no daemon log)\n");
	}
	d->pid = 0;
	return rc;
}

void tdaemon_kill(struct tdaemon *d)
{
	int status;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
}

void tdaemon_remove(struct tdaemon *d)
{
	char cmd[600];

	if (d->dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d->dir);
	d->dir[0] = '\0';
}

int tdaemon_stop(struct tdaemon *d, int timeout_ms)
{
	int rc = tdaemon_terminate(d, timeout_ms);

	tdaemon_remove(d);
	return rc;
}

bool tdaemon_log_contains(struct tdaemon *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	char line[4096];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int tdaemon_log_count(struct tdaemon *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

bool tdaemon_wait_log(struct tdaemon *d, const char *needle, int count, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	while (tdaemon_log_count(d, needle) < count) {
		if (now_ms() >= deadline)
			return false;
		usleep(10000);
	}
	return true;
}

char *tdaemon_read_log(struct tdaemon *d, size_t *len)
{
	FILE *f = fopen(d->log, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	ck_assert_msg(f != NULL, "cannot open %s", d->log);
	do {
		if (cap - n < 65536) {
			cap = cap * 2 + 65536;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void tdaemon_write_file(struct tdaemon *d, const char *name, const char *text, char *path, size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", d->dir, name);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

int tdaemon_ctl(struct tdaemon *d, char **out, const char *arg, ...)
{
	const char *builddir = getenv("top_builddir");
	const char *argv[16];
	char bin[512], chunk[4096];
	size_t n = 0, cap = 0;
	int argc = 0, pipefd[2], status;
	ssize_t got;
	va_list ap;
	char *buf = NULL;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/txpipectl", builddir != NULL ? builddir : ".");
	argv[argc++] = "txpipectl";
	argv[argc++] = "--socket";
	argv[argc++] = d->socket;
	va_start(ap, arg);
	for (const char *a = arg; a != NULL && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((got = read(pipefd[0], chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(got, 0);
		if (n + (size_t)got + 1 > cap) {
			cap = (n + (size_t)got + 1) * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		memcpy(buf + n, chunk, (size_t)got);
		n += (size_t)got;
	}
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (buf == NULL)
		buf = calloc(1, 1);
	else
		buf[n] = '\0';
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void tdaemon_card_token(struct tdaemon *d, const char *digits, char token[33])
{
	uint8_t key[TXP_KEY_BYTES];
	unsigned char tok[16];
	char path[512], err[256];

	/* The token is BLAKE2b with a 16-byte output keyed by the card key,
	 * over the digits alone (man/fields.inc, card_number). */
	snprintf(path, sizeof(path), "%s/card.key", d->dir);
	ck_assert_msg(txp_key_load(path, key, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(
	        crypto_generichash(tok, sizeof(tok), (const unsigned char *)digits, strlen(digits), key, sizeof(key)),
	        0);
	sodium_bin2hex(token, 33, tok, sizeof(tok));
	sodium_memzero(key, sizeof(key));
}

int tconnect(const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_uint_lt(strlen(socket_path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, socket_path, strlen(socket_path));
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s", socket_path,
	              strerror(errno));
	return fd;
}

void tsend(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void tsend_str(int fd, const char *s)
{
	tsend(fd, s, strlen(s));
}

/* Per-descriptor read buffers: replies may arrive several to a read. */
#define MAX_FDS 1024
/* Thread-local: each client thread reads its own connections, and a
 * closed descriptor number may be reused by another thread at once. */
static _Thread_local char *rbuf[MAX_FDS];
static _Thread_local size_t rlen[MAX_FDS];

json_t *trecv_reply(int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	ck_assert_int_lt(fd, MAX_FDS);
	for (;;) {
		char *nl = rlen[fd] > 0 ? memchr(rbuf[fd], '\n', rlen[fd]) : NULL;
		if (nl != NULL) {
			size_t len = (size_t)(nl - rbuf[fd]);
			json_error_t jerr;
			json_t *j = json_loadb(rbuf[fd], len, 0, &jerr);
			ck_assert_msg(j != NULL, "reply is not JSON: %.*s (%s)", (int)len, rbuf[fd], jerr.text);
			memmove(rbuf[fd], nl + 1, rlen[fd] - len - 1);
			rlen[fd] -= len + 1;
			return j;
		}
		long long left = deadline - now_ms();
		if (left <= 0)
			return NULL;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		char chunk[65536];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			return NULL;
		rbuf[fd] = realloc(rbuf[fd], rlen[fd] + (size_t)n);
		memcpy(rbuf[fd] + rlen[fd], chunk, (size_t)n);
		rlen[fd] += (size_t)n;
	}
}

void tclose(int fd)
{
	if (fd >= 0 && fd < MAX_FDS) {
		free(rbuf[fd]);
		rbuf[fd] = NULL;
		rlen[fd] = 0;
	}
	close(fd);
}

json_t *troundtrip(const char *socket_path, const char *line)
{
	int fd = tconnect(socket_path);
	json_t *j;

	tsend_str(fd, line);
	tsend_str(fd, "\n");
	j = trecv_reply(fd, 10000);
	tclose(fd);
	return j;
}

const char *tstatus(json_t *reply)
{
	return json_string_value(json_object_get(reply, "status"));
}

bool thas_reason(json_t *reply, const char *code)
{
	size_t i;
	json_t *v;

	json_array_foreach (json_object_get(reply, "reasons"), i, v) {
		if (strcmp(json_string_value(v), code) == 0)
			return true;
	}
	return false;
}

void ttxn_line(char *buf, size_t len, const char *id, const char *customer, const char *amount)
{
	snprintf(buf, len,
	         "{\"transaction_id\":\"%s\",\"amount\":\"%s\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	         "\"customer_id\":\"%s\",\"merchant_country\":\"DE\",\"customer_country\":\"DE\"}\n",
	         id, amount, customer);
}

json_t *tdaemon_send_txn(struct tdaemon *d, const char *id, const char *customer, const char *amount)
{
	char line[512];

	ttxn_line(line, sizeof(line), id, customer, amount);
	line[strlen(line) - 1] = '\0';
	return troundtrip(d->socket, line);
}

json_t *tdaemon_stat(struct tdaemon *d, const char *section, const char *key)
{
	json_t *r = troundtrip(d->socket, "{\"command\":\"stats\"}"), *v;

	ck_assert_ptr_nonnull(r);
	v = json_object_get(r, "stats");
	if (section[0] != '\0')
		v = json_object_get(v, section);
	v = json_incref(json_object_get(v, key));
	json_decref(r);
	return v;
}

long long tdaemon_istat(struct tdaemon *d, const char *section, const char *key)
{
	json_t *v = tdaemon_stat(d, section, key);
	long long n = json_integer_value(v);

	json_decref(v);
	return n;
}
