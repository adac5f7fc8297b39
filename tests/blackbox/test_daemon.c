/* test_daemon.c: the real txpiped over its socket: good lines, every kind of bad line, many clients, signals. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"

static char *good_txn(char *buf, size_t len, const char *id, const char *customer)
{
	snprintf(buf, len,
	         "{\"transaction_id\":\"%s\",\"amount\":\"25.00\",\"currency\":\"EUR\",\"merchant_id\":\"m-1\","
	         "\"customer_id\":\"%s\",\"merchant_country\":\"DE\",\"customer_country\":\"DE\"}",
	         id, customer);
	return buf;
}

static const char *error_code_of(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static const char *error_field_of(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "field"));
}

/* The daemon is still serving: a good transaction on a new connection. */
static void assert_still_serving(struct tdaemon *d)
{
	char line[512];
	json_t *r = troundtrip(d->socket, good_txn(line, sizeof(line), "still-ok", "c-ok"));

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), "still-ok");
	ck_assert_str_ne(tstatus(r), "error");
	json_decref(r);
}

START_TEST(good_transactions_get_one_reply_each_in_order)
{
	struct tdaemon d;
	char line[512], id[32];
	int fd;

	tdaemon_start(&d, NULL);
	fd = tconnect(d.socket);
	for (int i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "tx-%d", i);
		good_txn(line, sizeof(line), id, i % 2 ? "c-a" : "c-b");
		tsend_str(fd, line);
		tsend_str(fd, "\n");
	}
	for (int i = 0; i < 500; i++) {
		json_t *r = trecv_reply(fd, 10000);
		ck_assert_ptr_nonnull(r);
		snprintf(id, sizeof(id), "tx-%d", i);
		ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), id);
		ck_assert(json_is_array(json_object_get(r, "reasons")));
		ck_assert(json_is_integer(json_object_get(r, "risk_score")));
		json_decref(r);
	}
	tclose(fd);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* Each bad line gets exactly one reply of the expected kind, and the next
 * good line on the same connection is still answered. */
static void check_bad_line(const void *bad, size_t len, const char *status, const char *code, const char *field)
{
	struct tdaemon d;
	char line[512];
	json_t *r;
	int fd;

	tdaemon_start(&d, "[daemon]\nmax_line_bytes = 4096\n");
	fd = tconnect(d.socket);
	tsend(fd, bad, len);
	tsend_str(fd, "\n");
	tsend_str(fd, good_txn(line, sizeof(line), "after-bad", "c-1"));
	tsend_str(fd, "\n");
	r = trecv_reply(fd, 10000);
	ck_assert_msg(r != NULL, "no reply to the bad line");
	ck_assert_str_eq(tstatus(r), status);
	if (code != NULL)
		ck_assert_str_eq(error_code_of(r), code);
	if (field != NULL)
		ck_assert_str_eq(error_field_of(r), field);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(r, "error"), "message"));
	json_decref(r);
	r = trecv_reply(fd, 10000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), "after-bad");
	json_decref(r);
	tclose(fd);
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}

START_TEST(malformed_json_is_an_error_naming_the_problem)
{
	const char *bad = "{\"transaction_id\": \"x\", \"amount\": ";
	check_bad_line(bad, strlen(bad), "error", "malformed_json", NULL);
}
END_TEST

START_TEST(binary_garbage_is_an_error)
{
	unsigned char bad[300];
	unsigned seed = 12345;

	for (size_t i = 0; i < sizeof(bad); i++) {
		seed = seed * 1103515245u + 12345u;
		bad[i] = (unsigned char)(seed >> 16);
		if (bad[i] == '\n')
			bad[i] = 0xff;
	}
	check_bad_line(bad, sizeof(bad), "error", "malformed_json", NULL);
}
END_TEST

START_TEST(line_over_the_limit_is_an_error_and_the_rest_is_skipped)
{
	size_t len = 100000;
	char *bad = malloc(len);

	memset(bad, 'a', len);
	bad[0] = '{';
	check_bad_line(bad, len, "error", "line_too_long", NULL);
	free(bad);
}
END_TEST

START_TEST(deeply_nested_json_is_refused_without_crashing)
{
	size_t depth = 4000;
	char *bad = malloc(depth);

	memset(bad, '[', depth);
	check_bad_line(bad, depth, "error", "malformed_json", NULL);
	free(bad);
}
END_TEST

START_TEST(wrong_types_are_rejected_naming_the_field)
{
	const char *bad = "{\"transaction_id\":\"t1\",\"amount\":\"10.00\",\"currency\":\"USD\",\"merchant_id\":7,"
	                  "\"customer_id\":\"c\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}";
	check_bad_line(bad, strlen(bad), "rejected", "invalid_type", "merchant_id");
}
END_TEST

START_TEST(missing_required_field_is_rejected_naming_it)
{
	const char *bad = "{\"transaction_id\":\"t1\",\"amount\":\"10.00\",\"currency\":\"USD\",\"merchant_id\":\"m\","
	                  "\"customer_id\":\"c\",\"merchant_country\":\"US\"}";
	check_bad_line(bad, strlen(bad), "rejected", "missing_field", "customer_country");
}
END_TEST

START_TEST(nul_bytes_in_a_line_are_an_error)
{
	const char bad[] = "{\"transaction_id\":\"t\0x\",\"amount\":1}";
	check_bad_line(bad, sizeof(bad) - 1, "error", "malformed_json", NULL);
}
END_TEST

START_TEST(invalid_utf8_is_an_error)
{
	const char *bad = "{\"transaction_id\":\"t1\",\"merchant_id\":\"caf\xc3\x28\"}";
	check_bad_line(bad, strlen(bad), "error", "malformed_json", NULL);
}
END_TEST

START_TEST(a_json_value_that_is_not_an_object_is_an_error)
{
	const char *bad = "[1,2,3]";
	check_bad_line(bad, strlen(bad), "error", "malformed_json", NULL);
}
END_TEST

START_TEST(half_a_line_then_disconnect_leaves_the_daemon_serving)
{
	struct tdaemon d;
	int fd;

	tdaemon_start(&d, NULL);
	for (int i = 0; i < 20; i++) {
		fd = tconnect(d.socket);
		tsend_str(fd, "{\"transaction_id\":\"half\",\"amount\":");
		tclose(fd);
	}
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(a_client_that_never_reads_does_not_stall_others)
{
	struct tdaemon d;
	char line[512];
	int slow;
	size_t sent = 0;

	tdaemon_start(&d, "[pipeline]\nmax_inflight_per_client = 64\n");
	slow = tconnect(d.socket);
	fcntl(slow, F_SETFL, O_NONBLOCK);
	good_txn(line, sizeof(line), "flood", "c-flood");
	strcat(line, "\n");
	/* Write until the socket buffers are full: the daemon must stop
	 * reading this client rather than buffer without bound. */
	for (int stalls = 0; stalls < 50;) {
		ssize_t n = send(slow, line, strlen(line), MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			stalls++;
			usleep(10000);
			continue;
		}
		ck_assert_int_gt(n, 0);
		sent += (size_t)n;
		ck_assert_msg(sent < 512u * 1024 * 1024, "the daemon read 512 MiB without pausing");
	}
	assert_still_serving(&d);
	assert_still_serving(&d);
	tclose(slow);
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

struct client_arg {
	const char *socket;
	int index;
	int lines;
	int ok;
};

static void *client_thread(void *arg)
{
	struct client_arg *a = arg;
	char line[512], id[48];
	int fd = tconnect(a->socket);
	char *all = malloc((size_t)a->lines * 300);
	size_t len = 0;

	for (int i = 0; i < a->lines; i++) {
		snprintf(id, sizeof(id), "c%d-t%d", a->index, i);
		len += (size_t)sprintf(all + len, "%s\n", good_txn(line, sizeof(line), id, id));
	}
	tsend(fd, all, len);
	free(all);
	for (int i = 0; i < a->lines; i++) {
		json_t *r = trecv_reply(fd, 30000);
		if (r == NULL)
			break;
		snprintf(id, sizeof(id), "c%d-t%d", a->index, i);
		const char *got = json_string_value(json_object_get(r, "transaction_id"));
		if (got != NULL && strcmp(got, id) == 0)
			a->ok++;
		json_decref(r);
	}
	tclose(fd);
	return NULL;
}

/* `clients` clients at once, each sending `lines` lines in one write:
 * every one gets every reply, in order. */
static void run_clients(const char *socket, int clients, int lines)
{
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	struct client_arg *args = calloc((size_t)clients, sizeof(*args));

	ck_assert(th != NULL && args != NULL);
	for (int i = 0; i < clients; i++) {
		args[i] = (struct client_arg){ socket, i, lines, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, client_thread, &args[i]), 0);
	}
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].ok, lines);
	}
	free(th);
	free(args);
}

START_TEST(many_concurrent_clients_each_get_their_replies_in_order)
{
	struct tdaemon d;

	tdaemon_start(&d, "[pipeline]\nworkers = 2\n");
	run_clients(d.socket, 40, 300);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* With the stages inline, bursts of 1,500 lines from several clients at
 * once: every line is answered, in order, and nothing counts as a
 * backpressure pause (inline, the pipeline is never full). */
START_TEST(inline_mode_answers_bursts_from_several_clients)
{
	enum { CLIENTS = 6, LINES = 1500 };
	struct tdaemon d;
	json_t *r, *stats;

	tdaemon_start(&d, "[pipeline]\nworkers = 0\n");
	run_clients(d.socket, CLIENTS, LINES);
	r = troundtrip(d.socket, "{\"command\":\"stats\"}");
	ck_assert_ptr_nonnull(r);
	stats = json_object_get(r, "stats");
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "workers")), 0);
	ck_assert_int_ge(json_integer_value(json_object_get(stats, "lines")), CLIENTS * LINES);
	ck_assert_int_eq(json_integer_value(json_object_get(stats, "backpressure_pauses")), 0);
	json_decref(r);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(inline_mode_serves_the_same_protocol)
{
	struct tdaemon d;
	char line[512];
	json_t *r;

	tdaemon_start(&d, "[pipeline]\nworkers = 0\n");
	r = troundtrip(d.socket, good_txn(line, sizeof(line), "inline-1", "c"));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), "inline-1");
	json_decref(r);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

struct sender {
	int fd;
	char *data;
	size_t len;
	size_t sent; /* bytes the kernel took, when the thread ends */
};

/* Writes until done or the daemon closes the connection. */
static void *sender_thread(void *arg)
{
	struct sender *snd = arg;
	size_t off = 0;

	while (off < snd->len) {
		ssize_t n = send(snd->fd, snd->data + off, snd->len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	snd->sent = off;
	return NULL;
}

START_TEST(sigterm_answers_every_line_received_then_exits_zero)
{
	enum { LINES = 20000 };
	struct tdaemon d;
	struct sender snd;
	pthread_t th;
	char line[512], id[32];
	int got = 0, status;
	json_t *r;

	tdaemon_start(&d, NULL);
	snd.fd = tconnect(d.socket);
	snd.data = malloc((size_t)LINES * 300);
	snd.len = 0;
	for (int i = 0; i < LINES; i++) {
		snprintf(id, sizeof(id), "drain-%d", i);
		snd.len += (size_t)sprintf(snd.data + snd.len, "%s\n", good_txn(line, sizeof(line), id, "c-drain"));
	}
	ck_assert_int_eq(pthread_create(&th, NULL, sender_thread, &snd), 0);
	/* Once the first reply is back the daemon is busy with this client. */
	r = trecv_reply(snd.fd, 10000);
	ck_assert_ptr_nonnull(r);
	json_decref(r);
	got = 1;
	kill(d.pid, SIGTERM);
	/* Every reply until the daemon closes the connection is a real
	 * answer, in order, never a drop in the middle. */
	while ((r = trecv_reply(snd.fd, 10000)) != NULL) {
		snprintf(id, sizeof(id), "drain-%d", got);
		ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), id);
		ck_assert_str_ne(tstatus(r), "error");
		json_decref(r);
		got++;
	}
	ck_assert_int_le(got, LINES);
	ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert(tdaemon_log_contains(&d, "event=drained"));
	shutdown(snd.fd, SHUT_RDWR);
	pthread_join(th, NULL);
	tclose(snd.fd);
	free(snd.data);
	/* The socket file is gone. */
	struct stat st;
	ck_assert_int_ne(stat(d.socket, &st), 0);
	d.pid = 0;
	tdaemon_stop(&d, 1000);
}
END_TEST

/*
 * SIGTERM in the middle of a pipelined stream: every line the client had
 * written (the kernel took it) gets exactly one reply, in order, and the
 * connection ends with an end of stream, never a reset; what the client
 * writes after the signal fails to send (EPIPE) rather than vanish.
 */
START_TEST(sigterm_mid_stream_answers_every_line_written_before_it_without_a_reset)
{
	enum { LINES = 30000 };
	struct tdaemon d;
	struct sender snd = { 0 };
	pthread_t th;
	char line[512], id[32], chunk[65536];
	char *buf = NULL;
	size_t blen = 0, lines_sent = 0;
	int replies = 0, rerr = 0, status;

	tdaemon_start(&d, NULL);
	snd.fd = tconnect(d.socket);
	snd.data = malloc((size_t)LINES * 300);
	for (int i = 0; i < LINES; i++) {
		snprintf(id, sizeof(id), "mid-%d", i);
		snd.len += (size_t)sprintf(snd.data + snd.len, "%s\n", good_txn(line, sizeof(line), id, "c-mid"));
	}
	ck_assert_int_eq(pthread_create(&th, NULL, sender_thread, &snd), 0);
	for (;;) {
		ssize_t n = recv(snd.fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rerr = n < 0 ? errno : 0;
			break;
		}
		buf = realloc(buf, blen + (size_t)n + 1);
		memcpy(buf + blen, chunk, (size_t)n);
		blen += (size_t)n;
		/* Signal once some replies are back and the client is still
		 * writing: its socket buffer is full of lines not yet read. */
		if (replies == 0 && memchr(buf, '\n', blen) != NULL) {
			replies = 1;
			kill(d.pid, SIGTERM);
		}
	}
	ck_assert_msg(rerr == 0, "the connection ended with %s, not an end of stream", strerror(rerr));
	pthread_join(th, NULL);
	ck_assert_msg(snd.sent < snd.len, "the client finished before the signal; nothing was tested");
	for (size_t k = 0; k < snd.sent; k++)
		lines_sent += snd.data[k] == '\n';
	/* One reply per line sent, in order, each its decision: the daemon
	 * still screens what it reads while it drains. */
	replies = 0;
	for (char *p = buf, *nl; p < buf + blen && (nl = memchr(p, '\n', (size_t)(buf + blen - p))) != NULL;
	     p = nl + 1) {
		json_t *r = json_loadb(p, (size_t)(nl - p), 0, NULL);
		ck_assert_ptr_nonnull(r);
		snprintf(id, sizeof(id), "mid-%d", replies);
		ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), id);
		ck_assert_str_ne(tstatus(r), "error");
		json_decref(r);
		replies++;
	}
	ck_assert_int_eq((size_t)replies, lines_sent);
	ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(snd.fd);
	free(snd.data);
	free(buf);
	d.pid = 0;
	tdaemon_stop(&d, 1000);
}
END_TEST

/* A line of `len` bytes (a transaction padded with blanks) on `fd`, then
 * its terminator "\r\n", in one write or with the CR and LF apart. */
static json_t *send_crlf_line(int fd, size_t len, const char *id, bool split)
{
	char txn[512];
	char *line = malloc(len + 2);
	size_t tl = strlen(good_txn(txn, sizeof(txn), id, "c-crlf"));

	ck_assert_uint_gt(len, tl);
	line[0] = '{';
	memset(line + 1, ' ', len - tl);
	memcpy(line + 1 + len - tl, txn + 1, tl - 1);
	memcpy(line + len, "\r\n", 2);
	if (split) {
		tsend(fd, line, len + 1);
		usleep(200000);
		tsend(fd, "\n", 1);
	} else {
		tsend(fd, line, len + 2);
	}
	free(line);
	return trecv_reply(fd, 10000);
}

/* max_line_bytes limits the line without its terminator, "\n" or "\r\n",
 * whether the CR and LF arrive together or apart. */
START_TEST(a_crlf_line_at_the_limit_is_accepted_however_the_terminator_arrives)
{
	const size_t max = 65536; /* the default max_line_bytes */
	struct tdaemon d;
	json_t *r;
	int fd;

	tdaemon_start(&d, NULL);
	fd = tconnect(d.socket);
	for (int split = 0; split <= 1; split++) {
		r = send_crlf_line(fd, max, split ? "crlf-split" : "crlf-whole", split);
		ck_assert_ptr_nonnull(r);
		ck_assert_msg(strcmp(tstatus(r), "error") != 0, "split=%d: %s", split, error_code_of(r));
		ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")),
		                 split ? "crlf-split" : "crlf-whole");
		json_decref(r);
		r = send_crlf_line(fd, max + 1, "crlf-long", split);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(error_code_of(r), "line_too_long");
		json_decref(r);
	}
	/* Exactly one reply each: the next line is answered as itself. */
	r = send_crlf_line(fd, 1000, "crlf-after", true);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), "crlf-after");
	json_decref(r);
	tclose(fd);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* Reads the value of `key=` from the first log line containing `event`. */
static long log_value(struct tdaemon *d, const char *event, const char *key)
{
	size_t len;
	char *log = tdaemon_read_log(d, &len), *line = strstr(log, event), *v;
	long n = -1;

	if (line != NULL && (v = strstr(line, key)) != NULL && v < strchr(line, '\n'))
		n = strtol(v + strlen(key), NULL, 10);
	free(log);
	return n;
}

/* Whether a refused connection's reply is too_many_clients, followed by
 * an orderly end of stream (not a reset). */
static bool refused_with_reply(int fd)
{
	json_t *r = trecv_reply(fd, 5000);
	bool ok = r != NULL && strcmp(tstatus(r), "error") == 0 && strcmp(error_code_of(r), "too_many_clients") == 0;
	char b;

	json_decref(r);
	return ok && recv(fd, &b, 1, 0) == 0;
}

/*
 * Under a descriptor limit far below max_clients (1024) the daemon serves
 * as many clients as its descriptors allow, answers every other one with
 * too_many_clients instead of closing it unanswered, logs that it lowered
 * max_clients, and still answers the operator's stats request while
 * producers hold every slot.
 */
START_TEST(a_low_descriptor_limit_refuses_extra_clients_with_a_reply_and_stats_still_answers)
{
	enum { CONNS = 200 };
	struct tdaemon d;
	int fds[CONNS], state[CONNS] = { 0 }; /* 0 open, 1 refused */
	int refused = 0, open = 0;
	long effective;
	char *out = NULL;
	json_t *r;

	tdaemon_prepare(&d);
	d.nofile = 128;
	tdaemon_launch(&d, NULL);
	/* The first connection waits until it is the only one (the start-up
	 * probe's may still be open), so exactly the first `effective` are
	 * served. */
	fds[0] = tconnect(d.socket);
	for (int tries = 0;; tries++) {
		tsend_str(fds[0], "{\"command\":\"stats\"}\n");
		r = trecv_reply(fds[0], 5000);
		ck_assert_ptr_nonnull(r);
		open = (int)json_integer_value(json_object_get(json_object_get(r, "stats"), "connections_open"));
		json_decref(r);
		if (open == 1)
			break;
		ck_assert_int_lt(tries, 500);
		usleep(10000);
	}
	open = 0;
	for (int i = 1; i < CONNS; i++)
		fds[i] = tconnect(d.socket);
	/* Refusals are immediate, except for the few operator slots: an idle
	 * connection there is refused after its grace period. */
	sleep(3);
	for (int i = 0; i < CONNS; i++) {
		struct pollfd pfd = { .fd = fds[i], .events = POLLIN };
		if (poll(&pfd, 1, 0) == 1) {
			ck_assert_msg(refused_with_reply(fds[i]), "connection %d was closed without too_many_clients",
			              i);
			state[i] = 1;
			refused++;
		} else {
			open++;
		}
	}
	effective = log_value(&d, "event=max_clients_lowered", "effective=");
	ck_assert_int_gt(effective, 0);
	ck_assert_int_lt(effective, 128);
	ck_assert_int_eq(open, effective);
	ck_assert_int_eq(refused, CONNS - effective);
	/* The first connections are the ones served. */
	for (int i = 0; i < CONNS; i++)
		ck_assert_int_eq(state[i], i < effective ? 0 : 1);
	/* Every slot is taken: the operator still gets an answer. */
	ck_assert_int_eq(tdaemon_ctl(&d, &out, "stats", NULL), 0);
	ck_assert_msg(strstr(out, "refused") != NULL, "%s", out);
	free(out);
	r = troundtrip(d.socket, "{\"command\":\"stats\"}");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(tstatus(r), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "stats"), "clients_refused")),
	                 CONNS - effective);
	json_decref(r);
	/* A transaction on an operator slot is refused, never screened. */
	r = troundtrip(d.socket, "{\"transaction_id\":\"op-1\"}");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(error_code_of(r), "too_many_clients");
	json_decref(r);
	for (int i = 0; i < CONNS; i++)
		tclose(fds[i]);
	/* Once the daemon has seen them go, producers are served again. */
	for (int tries = 0;; tries++) {
		r = troundtrip(d.socket, "{\"command\":\"stats\"}");
		ck_assert_ptr_nonnull(r);
		open = (int)json_integer_value(json_object_get(json_object_get(r, "stats"), "connections_open"));
		json_decref(r);
		if (open <= 1)
			break;
		ck_assert_int_lt(tries, 500);
		usleep(10000);
	}
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/*
 * Descriptors run out before max_clients (here idle metrics scrapers hold
 * more than the daemon set aside for them): each client accept(2) cannot
 * take still hears too_many_clients, the shortage is logged, and the
 * daemon serves again once descriptors are free.
 */
START_TEST(clients_over_the_descriptor_limit_are_answered_too_many_clients)
{
	enum { SCRAPERS = 60, CONNS = 100 };
	struct tdaemon d;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	int scrapers[SCRAPERS], fds[CONNS], refused = 0, open;
	char extra[128];
	json_t *r;

	/* A free port: bind to 0, read it back, release it. */
	scrapers[0] = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(scrapers[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(scrapers[0], (struct sockaddr *)&sa, &salen), 0);
	close(scrapers[0]);
	snprintf(extra, sizeof(extra), "[metrics]\nlisten = 127.0.0.1:%u\n", ntohs(sa.sin_port));
	tdaemon_prepare(&d);
	d.nofile = 128;
	tdaemon_launch(&d, extra);
	/* The metrics listener opens after the socket: retry until it does. */
	for (int i = 0, tries = 0; i < SCRAPERS;) {
		scrapers[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(scrapers[i], (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			i++;
			continue;
		}
		ck_assert_msg(i == 0 && tries++ < 500, "scraper %d: connect: %s", i, strerror(errno));
		close(scrapers[i]);
		usleep(10000);
	}
	/* The daemon has taken them all once a request behind them is
	 * answered. */
	r = troundtrip(d.socket, "{\"command\":\"version\"}");
	ck_assert_ptr_nonnull(r);
	json_decref(r);
	for (int i = 0; i < CONNS; i++)
		fds[i] = tconnect(d.socket);
	sleep(2);
	for (int i = 0; i < CONNS; i++) {
		struct pollfd pfd = { .fd = fds[i], .events = POLLIN };
		if (poll(&pfd, 1, 0) == 1) {
			ck_assert_msg(refused_with_reply(fds[i]), "connection %d was closed without too_many_clients",
			              i);
			refused++;
		}
	}
	ck_assert_int_gt(refused, 0);
	ck_assert(tdaemon_log_contains(&d, "event=out_of_file_descriptors"));
	for (int i = 0; i < SCRAPERS; i++)
		close(scrapers[i]);
	for (int i = 0; i < CONNS; i++)
		tclose(fds[i]);
	for (int tries = 0;; tries++) {
		r = troundtrip(d.socket, "{\"command\":\"stats\"}");
		ck_assert_ptr_nonnull(r);
		open = (int)json_integer_value(json_object_get(json_object_get(r, "stats"), "connections_open"));
		json_decref(r);
		if (open <= 1)
			break;
		ck_assert_int_lt(tries, 500);
		usleep(10000);
	}
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(a_second_daemon_on_the_same_socket_refuses_to_start)
{
	struct tdaemon d;
	int status;
	pid_t second;

	tdaemon_start(&d, NULL);
	second = tdaemon_spawn(&d, d.config);
	ck_assert_int_eq(waitpid(second, &status, 0), second);
	ck_assert(WIFEXITED(status));
	ck_assert_int_ne(WEXITSTATUS(status), 0);
	ck_assert(tdaemon_log_contains(&d, "already listening"));
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(a_stale_socket_file_is_replaced)
{
	struct tdaemon d;
	pid_t pid;

	tdaemon_start(&d, NULL);
	/* Leave the socket file behind as a crash would. */
	kill(d.pid, SIGKILL);
	waitpid(d.pid, NULL, 0);
	pid = tdaemon_spawn(&d, d.config);
	d.pid = pid;
	/* Both daemons log to one file: wait for the second one's words. */
	for (int i = 0; i < 1500 && !tdaemon_log_contains(&d, "stale_socket_removed"); i++)
		usleep(10000);
	ck_assert(tdaemon_log_contains(&d, "stale_socket_removed"));
	assert_still_serving(&d);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(sighup_applies_a_good_config_and_keeps_the_old_on_a_bad_one)
{
	struct tdaemon d;
	char *big = malloc(3000);
	json_t *r;

	memset(big, ' ', 3000);
	memcpy(big, "{}", 2);
	big[2999] = '\0';
	tdaemon_start(&d, "[daemon]\nmax_line_bytes = 8192\n");
	r = troundtrip(d.socket, big);
	ck_assert_str_ne(error_code_of(r), "line_too_long");
	json_decref(r);

	tdaemon_write_config(&d, "[daemon]\nmax_line_bytes = 1024\n");
	kill(d.pid, SIGHUP);
	for (int i = 0; i < 500 && !tdaemon_log_contains(&d, "event=reloaded"); i++)
		usleep(10000);
	r = troundtrip(d.socket, big);
	ck_assert_str_eq(error_code_of(r), "line_too_long");
	json_decref(r);

	tdaemon_write_config(&d, "[daemon]\nmax_line_bytes = twelve\n");
	kill(d.pid, SIGHUP);
	for (int i = 0; i < 500 && !tdaemon_log_contains(&d, "event=reload_rejected"); i++)
		usleep(10000);
	ck_assert(tdaemon_log_contains(&d, "max_line_bytes"));
	r = troundtrip(d.socket, big);
	ck_assert_str_eq(error_code_of(r), "line_too_long");
	json_decref(r);
	assert_still_serving(&d);
	free(big);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(stats_request_reports_counters)
{
	struct tdaemon d;
	char line[512];
	json_t *r, *stats;

	tdaemon_start(&d, NULL);
	json_decref(troundtrip(d.socket, good_txn(line, sizeof(line), "s-1", "c")));
	json_decref(troundtrip(d.socket, "not json"));
	r = troundtrip(d.socket, "{\"command\":\"stats\"}");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(tstatus(r), "ok");
	stats = json_object_get(r, "stats");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(stats, "transactions"), "error")), 1);
	ck_assert_int_ge(json_integer_value(json_object_get(stats, "lines")), 2);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(stats, "stages"), "fraud"));
	json_decref(r);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(metrics_listener_serves_prometheus_text_on_loopback)
{
	struct tdaemon d;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char extra[128], line[512], buf[65536];
	size_t got = 0;
	int fd;

	/* A free port: bind to 0, read it back, release it. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(extra, sizeof(extra), "[metrics]\nlisten = 127.0.0.1:%u\n", ntohs(sa.sin_port));
	tdaemon_start(&d, extra);
	json_decref(troundtrip(d.socket, good_txn(line, sizeof(line), "metrics-1", "c")));

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	tsend_str(fd, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 200 OK"));
	ck_assert_ptr_nonnull(strstr(buf, "txpipe_lines_total 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "txpipe_transactions_total{status=\"rejected\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(buf, "txpipe_stage_latency_seconds_bucket{stage=\"validation\",le=\"+Inf\"} 1"));
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(tail_streams_matching_decisions_to_a_subscriber)
{
	struct tdaemon d;
	char line[512];
	json_t *r;
	int sub;

	tdaemon_start(&d, "[compliance]\nusd_rates = USD:1000000,EUR:1080000\n");
	sub = tconnect(d.socket);
	tsend_str(sub, "{\"command\":\"tail\",\"status\":[\"rejected\"]}\n");
	r = trecv_reply(sub, 10000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(tstatus(r), "ok");
	json_decref(r);
	json_decref(troundtrip(d.socket, good_txn(line, sizeof(line), "tail-good", "c")));
	json_decref(troundtrip(d.socket, "{\"transaction_id\":\"tail-bad\"}"));
	json_decref(troundtrip(d.socket, good_txn(line, sizeof(line), "tail-good-2", "c")));
	/* Only the rejected one reaches the subscriber. */
	r = trecv_reply(sub, 10000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), "tail-bad");
	ck_assert_str_eq(tstatus(r), "rejected");
	json_decref(r);
	ck_assert_ptr_null(trecv_reply(sub, 300));
	tclose(sub);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* Issue 14: two Luhn-valid numeric ids were both masked to
 * "****************", so the second, a sanctioned $9,500 payment, was
 * answered as a duplicate of the first, approved, and stored nowhere. */
static const char card_like_small[] =
        "{\"transaction_id\":\"2024120600000008\",\"amount\":\"3.50\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
        "\"customer_id\":\"c-small\",\"merchant_country\":\"DE\",\"customer_country\":\"DE\"}";
static const char card_like_sanctioned[] =
        "{\"transaction_id\":\"%s\",\"amount\":\"9500.00\",\"currency\":\"USD\",\"merchant_id\":\"m-9\","
        "\"customer_id\":\"c-big\",\"merchant_country\":\"IR\",\"customer_country\":\"KP\","
        "\"customer_kyc_status\":\"failed\"}";

static const char *id_of(json_t *reply)
{
	return json_string_value(json_object_get(reply, "transaction_id"));
}

START_TEST(card_like_ids_are_screened_each_on_its_own_under_distinct_tokens)
{
	struct tdaemon d;
	char line[512], *log;
	json_t *a, *b, *plain, *again, *conflict;
	size_t len;
	int sub;

	tdaemon_start(&d, "[log]\naudit = true\n");
	sub = tconnect(d.socket);
	tsend_str(sub, "{\"command\":\"tail\"}\n");
	json_decref(trecv_reply(sub, 10000));

	/* The control: an ordinary id, declined for the sanctioned countries. */
	snprintf(line, sizeof(line), card_like_sanctioned, "plain-1");
	plain = troundtrip(d.socket, line);
	ck_assert_str_eq(tstatus(plain), "declined");
	ck_assert(thas_reason(plain, "sanctions_country"));
	ck_assert_str_eq(id_of(plain), "plain-1");

	a = troundtrip(d.socket, card_like_small);
	ck_assert_str_eq(tstatus(a), "approved");
	usleep(1000 * 1000);
	snprintf(line, sizeof(line), card_like_sanctioned, "2024120600000016");
	b = troundtrip(d.socket, line);
	ck_assert_msg(json_object_get(b, "duplicate") == NULL, "the second id was taken for the first");
	ck_assert_str_eq(tstatus(b), "declined");
	ck_assert(thas_reason(b, "sanctions_country"));
	/* Neither number comes back; each id has its own token. */
	ck_assert_int_eq(strncmp(id_of(a), "tok_", 4), 0);
	ck_assert_int_eq(strncmp(id_of(b), "tok_", 4), 0);
	ck_assert_str_ne(id_of(a), id_of(b));

	/* The true resubmission is still the duplicate, under the same token. */
	again = troundtrip(d.socket, card_like_small);
	ck_assert(json_is_true(json_object_get(again, "duplicate")));
	ck_assert_str_eq(tstatus(again), "approved");
	ck_assert_str_eq(id_of(again), id_of(a));
	/* Other content under the first id: refused, not the first decision. */
	snprintf(line, sizeof(line), card_like_sanctioned, "2024120600000008");
	conflict = troundtrip(d.socket, line);
	ck_assert_str_eq(tstatus(conflict), "rejected");
	ck_assert(json_object_get(conflict, "duplicate") == NULL);
	ck_assert_str_eq(error_code_of(conflict), "duplicate_id_conflict");
	ck_assert_str_eq(error_field_of(conflict), "transaction_id");
	ck_assert_str_eq(id_of(conflict), id_of(a));

	/* The tail shows the tokens, and so does the audit log, never the ids. */
	for (int i = 0; i < 5; i++) {
		json_t *r = trecv_reply(sub, 10000);
		ck_assert_ptr_nonnull(r);
		ck_assert(id_of(r) != NULL && strstr(id_of(r), "20241206") == NULL);
		json_decref(r);
	}
	tclose(sub);
	ck_assert(tdaemon_wait_log(&d, id_of(b), 1, 10000));
	log = tdaemon_read_log(&d, &len);
	ck_assert_ptr_null(strstr(log, "2024120600000008"));
	ck_assert_ptr_null(strstr(log, "2024120600000016"));
	ck_assert_ptr_null(strstr(log, "****************"));
	free(log);
	json_decref(plain);
	json_decref(a);
	json_decref(b);
	json_decref(again);
	json_decref(conflict);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, good_transactions_get_one_reply_each_in_order);
	tcase_add_test(tc, malformed_json_is_an_error_naming_the_problem);
	tcase_add_test(tc, binary_garbage_is_an_error);
	tcase_add_test(tc, line_over_the_limit_is_an_error_and_the_rest_is_skipped);
	tcase_add_test(tc, deeply_nested_json_is_refused_without_crashing);
	tcase_add_test(tc, wrong_types_are_rejected_naming_the_field);
	tcase_add_test(tc, missing_required_field_is_rejected_naming_it);
	tcase_add_test(tc, nul_bytes_in_a_line_are_an_error);
	tcase_add_test(tc, invalid_utf8_is_an_error);
	tcase_add_test(tc, a_json_value_that_is_not_an_object_is_an_error);
	tcase_add_test(tc, half_a_line_then_disconnect_leaves_the_daemon_serving);
	tcase_add_test(tc, a_client_that_never_reads_does_not_stall_others);
	tcase_add_test(tc, many_concurrent_clients_each_get_their_replies_in_order);
	tcase_add_test(tc, inline_mode_answers_bursts_from_several_clients);
	tcase_add_test(tc, inline_mode_serves_the_same_protocol);
	tcase_add_test(tc, sigterm_answers_every_line_received_then_exits_zero);
	tcase_add_test(tc, a_second_daemon_on_the_same_socket_refuses_to_start);
	tcase_add_test(tc, a_stale_socket_file_is_replaced);
	tcase_add_test(tc, sighup_applies_a_good_config_and_keeps_the_old_on_a_bad_one);
	tcase_add_test(tc, stats_request_reports_counters);
	tcase_add_test(tc, metrics_listener_serves_prometheus_text_on_loopback);
	tcase_add_test(tc, tail_streams_matching_decisions_to_a_subscriber);
	tcase_add_test(tc, card_like_ids_are_screened_each_on_its_own_under_distinct_tokens);
	suite_add_tcase(s, tc);
	/* Limits and shutdown at the edges (CK_RUN_CASE=edges runs them alone). */
	tc = tcase_create("edges");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_low_descriptor_limit_refuses_extra_clients_with_a_reply_and_stats_still_answers);
	tcase_add_test(tc, clients_over_the_descriptor_limit_are_answered_too_many_clients);
	tcase_add_test(tc, sigterm_mid_stream_answers_every_line_written_before_it_without_a_reset);
	tcase_add_test(tc, a_crlf_line_at_the_limit_is_accepted_however_the_terminator_arrives);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	/* A daemon whose pipe closes must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
