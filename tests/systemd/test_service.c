/* test_service.c: the real txpiped as systemd runs it: sd_notify lifecycle, watchdog, STATUS, socket activation. */
#include "txp_build_config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../blackbox/daemon.h"

/* Without libsystemd the daemon neither notifies nor adopts sockets:
 * nothing here applies, and main() reports the test as skipped. */
#ifdef HAVE_SYSTEMD

#define TXN                                                                                             \
	"{\"transaction_id\":\"s1\",\"amount\":\"25.00\",\"currency\":\"EUR\",\"merchant_id\":\"m-1\"," \
	"\"customer_id\":\"c-1\",\"merchant_country\":\"DE\",\"customer_country\":\"DE\"}"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A stand-in service manager: the datagram socket named by $NOTIFY_SOCKET,
 * which the daemon inherits through its environment. */
struct manager {
	char dir[64];
	char path[96];
	int fd;
	int pings;        /* WATCHDOG=1 seen so far */
	char status[512]; /* the last STATUS= seen */
};

static void manager_start(struct manager *m)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "/tmp/txp-manager-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(m->dir));
	snprintf(m->path, sizeof(m->path), "%s/notify", m->dir);
	m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->fd, 0);
	memcpy(sa.sun_path, m->path, strlen(m->path));
	ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", m->path, 1), 0);
}

static void manager_stop(struct manager *m)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	close(m->fd);
	unlink(m->path);
	rmdir(m->dir);
}

/*
 * Waits up to timeout_ms for a datagram equal to `want` (or, when
 * `prefix` is set, starting with it), counting watchdog pings and keeping
 * the last STATUS= on the way.  Returns true when it came.  Reading as we
 * go matters: the socket queues only net.unix.max_dgram_qlen datagrams.
 */
static bool manager_expect(struct manager *m, const char *want, bool prefix, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char buf[512];

	for (;;) {
		struct pollfd p = { .fd = m->fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left < 0 || poll(&p, 1, (int)left) != 1)
			return false;
		n = recv(m->fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			return false;
		buf[n] = '\0';
		if (strcmp(buf, "WATCHDOG=1") == 0)
			m->pings++;
		else if (strncmp(buf, "STATUS=", 7) == 0)
			snprintf(m->status, sizeof(m->status), "%s", buf + 7);
		if (prefix ? strncmp(buf, want, strlen(want)) == 0 : strcmp(buf, want) == 0)
			return true;
	}
}

static void remove_dir(struct tdaemon *d)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d->dir);
}

/*
 * Waits for a daemon that was already sent SIGTERM (tdaemon_stop would
 * send a second one, which can land after the daemon restored the default
 * handler), then removes its directory.  Returns the exit status, 128 +
 * the signal, or -1 after timeout_ms (the daemon is then killed).
 */
static int wait_exit(struct tdaemon *d, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int status, rc = -1;

	while (now_ms() < deadline) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
		usleep(5000);
	}
	if (rc == -1) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	d->pid = 0;
	remove_dir(d);
	return rc;
}

START_TEST(the_daemon_reports_ready_reload_and_stop_to_the_manager)
{
	struct manager m;
	struct tdaemon d;
	json_t *r;

	manager_start(&m);
	tdaemon_start(&d, NULL);
	ck_assert_msg(manager_expect(&m, "READY=1\nSTATUS=Screening transactions", false, 5000), "no READY=1");
	r = troundtrip(d.socket, "{\"command\":\"version\"}");
	ck_assert_ptr_nonnull(r);
	json_decref(r);

	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	ck_assert_msg(manager_expect(&m, "RELOADING=1", false, 5000), "no RELOADING=1 on SIGHUP");
	ck_assert_msg(manager_expect(&m, "READY=1", false, 5000), "no READY=1 after the reload");

	/* Stop by hand so the manager socket is read while the daemon drains. */
	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert_msg(manager_expect(&m, "STOPPING=1", false, 5000), "no STOPPING=1 on SIGTERM");
	ck_assert_int_eq(wait_exit(&d, 10000), 0);
	ck_assert_int_eq(m.pings, 0); /* no WatchdogSec=, no pings */
	manager_stop(&m);
}
END_TEST

START_TEST(the_loop_pings_the_watchdog_and_keeps_status_current)
{
	struct manager m;
	struct tdaemon d;
	unsigned long long approved, review, declined, rejected, error;
	unsigned inflight, connections;
	json_t *r;

	manager_start(&m);
	/* WatchdogSec=1s: a ping every 500 ms. */
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "1000000", 1), 0);
	tdaemon_start(&d, NULL);
	ck_assert(manager_expect(&m, "READY=1\n", true, 5000));
	r = troundtrip(d.socket, TXN);
	ck_assert_ptr_nonnull(r);
	json_decref(r);
	/* STATUS= comes every 2 s, once the figures changed. */
	ck_assert_msg(manager_expect(&m, "STATUS=Screening: ", true, 6000), "no STATUS= with figures");
	ck_assert_int_eq(sscanf(m.status,
	                        "Screening: %llu approved, %llu review, %llu declined, %llu rejected, %llu error; "
	                        "%u in flight; %u connections",
	                        &approved, &review, &declined, &rejected, &error, &inflight, &connections),
	                 7);
	ck_assert_uint_eq(approved + review + declined + rejected + error, 1);
	ck_assert_uint_eq(inflight, 0);
	ck_assert_int_ge(m.pings, 2);

	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert(manager_expect(&m, "STOPPING=1", false, 5000));
	ck_assert_int_eq(wait_exit(&d, 10000), 0);
	manager_stop(&m);
}
END_TEST

/* Binds and listens on `path` as txpiped.socket would. */
static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memcpy(sa.sun_path, path, strlen(path));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

START_TEST(an_inherited_socket_is_served_and_left_for_the_socket_unit)
{
	struct tdaemon d;
	struct stat st;
	json_t *r;
	char bin[512];
	int lfd, status;
	pid_t pid;

	/* The daemon is spawned with the socket as fd 3 and LISTEN_PID and
	 * LISTEN_FDS set, the way systemd passes it (sd_listen_fds(3)). */
	memset(&d, 0, sizeof(d));
	snprintf(d.dir, sizeof(d.dir), "/tmp/txpipe-sa-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d.dir));
	snprintf(d.socket, sizeof(d.socket), "%s/txpiped.sock", d.dir);
	snprintf(d.config, sizeof(d.config), "%s/txpiped.ini", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/txpiped.log", d.dir);
	tdaemon_make_keys(&d);
	tdaemon_write_config(&d, NULL);
	lfd = listen_unix(d.socket);
	snprintf(bin, sizeof(bin), "%s/txpiped", getenv("top_builddir") != NULL ? getenv("top_builddir") : ".");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char pidstr[32];
		int logfd = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (logfd >= 0)
			dup2(logfd, STDERR_FILENO);
		if (dup2(lfd, 3) != 3)
			_exit(126);
		snprintf(pidstr, sizeof(pidstr), "%ld", (long)getpid());
		setenv("LISTEN_PID", pidstr, 1);
		setenv("LISTEN_FDS", "1", 1);
		execl(bin, "txpiped", "--config", d.config, (char *)NULL);
		_exit(127);
	}
	close(lfd);
	d.pid = pid;
	/* The backlog holds the connection even before the daemon accepts. */
	r = troundtrip(d.socket, TXN);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), "s1");
	json_decref(r);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	d.pid = 0;
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* The socket file belongs to the socket unit, which outlives the
	 * daemon: a restart must find it. */
	ck_assert_int_eq(stat(d.socket, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_msg(tdaemon_log_contains(&d, "listening"), "no listening event in %s", d.log);
	remove_dir(&d);
}
END_TEST

#endif /* HAVE_SYSTEMD */

static Suite *service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("systemd");

	tcase_set_timeout(tc, 60);
#ifdef HAVE_SYSTEMD
	tcase_add_test(tc, the_daemon_reports_ready_reload_and_stop_to_the_manager);
	tcase_add_test(tc, the_loop_pings_the_watchdog_and_keeps_status_current);
	tcase_add_test(tc, an_inherited_socket_is_served_and_left_for_the_socket_unit);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(service_suite());
	int failed;

#ifndef HAVE_SYSTEMD
	srunner_free(sr);
	return 77;
#endif
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
