/* test_notify.c: the sd_notify module: STATUS text, watchdog period, and the datagrams a manager receives. */
#include "txp_build_config.h"

#include "txpipe/notify.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

/* A stand-in service manager: a datagram socket named by $NOTIFY_SOCKET. */
struct manager {
	char dir[64];
	char path[96];
	int fd;
};

static void manager_start(struct manager *m)
{
	struct sockaddr_un sa;

	snprintf(m->dir, sizeof(m->dir), "/tmp/txp-notify-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(m->dir));
	snprintf(m->path, sizeof(m->path), "%s/notify", m->dir);
	m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, m->path, strlen(m->path));
	ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", m->path, 1), 0);
}

/* Reads one datagram into buf, waiting up to timeout_ms; false when none. */
static bool manager_recv(struct manager *m, char *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = m->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	n = recv(m->fd, buf, len - 1, 0);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

static void manager_stop(struct manager *m)
{
	unsetenv("NOTIFY_SOCKET");
	close(m->fd);
	unlink(m->path);
	rmdir(m->dir);
}

static void fixed_figures(void *arg, struct txp_notify_figures *out)
{
	const struct txp_notify_figures *f = arg;

	*out = *f;
}

static void on_keepalive(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs the loop for `ms` with the notifier's timers, then stops them and
 * checks the loop closes. */
static void run_notifier(uint64_t status_ms, struct txp_notify_figures *f, int ms)
{
	uv_loop_t loop;
	uv_timer_t keepalive;
	struct txp_notify n;
	char err[256];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(txp_notify_start(&n, &loop, status_ms, fixed_figures, f, err, sizeof(err)), 0);
	uv_timer_init(&loop, &keepalive);
	uv_timer_start(&keepalive, on_keepalive, (uint64_t)ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&keepalive, NULL);
	txp_notify_stop(&n);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(status_text_lists_every_status_inflight_and_connections)
{
	struct txp_notify_figures f = { .by_status = { 12, 1, 0, 2, 3 }, .inflight = 4, .connections = 2 };
	char buf[256];

	txp_notify_format_status(buf, sizeof(buf), &f);
	ck_assert_str_eq(buf, "Screening: 12 approved, 1 review, 0 declined, 2 rejected, 3 error; 4 in flight; "
	                      "2 connections");
	f.draining = true;
	txp_notify_format_status(buf, sizeof(buf), &f);
	ck_assert_str_eq(buf, "Draining: 12 approved, 1 review, 0 declined, 2 rejected, 3 error; 4 in flight; "
	                      "2 connections");
	/* Truncation still terminates the text. */
	ck_assert_int_gt(txp_notify_format_status(buf, 10, &f), 10);
	ck_assert_str_eq(buf, "Draining:");
}
END_TEST

START_TEST(watchdog_pings_at_half_the_interval_and_never_at_zero)
{
	ck_assert_uint_eq(txp_notify_watchdog_period_ms(10000000), 5000);
	ck_assert_uint_eq(txp_notify_watchdog_period_ms(3000), 1);
	ck_assert_uint_eq(txp_notify_watchdog_period_ms(1), 1);
}
END_TEST

START_TEST(timers_do_not_keep_the_loop_alive_and_close_cleanly)
{
	struct manager m;
	struct txp_notify_figures f = { .inflight = 1 };
	uv_loop_t loop;
	struct txp_notify n;
	char err[256];

	manager_start(&m);
	setenv("WATCHDOG_USEC", "20000", 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(txp_notify_start(&n, &loop, 10, fixed_figures, &f, err, sizeof(err)), 0);
	/* Only unreferenced handles: uv_run returns at once. */
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	txp_notify_stop(&n);
	txp_notify_stop(&n);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	unsetenv("WATCHDOG_USEC");
	manager_stop(&m);
}
END_TEST

START_TEST(state_changes_reach_the_manager_as_sd_notify_lines)
{
	struct manager m;
	char buf[512];

	manager_start(&m);
	txp_notify_ready("Screening transactions");
	txp_notify_reloading();
	txp_notify_ready(NULL);
	txp_notify_stopping();
#ifdef HAVE_SYSTEMD
	ck_assert(manager_recv(&m, buf, sizeof(buf), 1000));
	ck_assert_str_eq(buf, "READY=1\nSTATUS=Screening transactions");
	ck_assert(manager_recv(&m, buf, sizeof(buf), 1000));
	ck_assert_str_eq(buf, "RELOADING=1");
	ck_assert(manager_recv(&m, buf, sizeof(buf), 1000));
	ck_assert_str_eq(buf, "READY=1");
	ck_assert(manager_recv(&m, buf, sizeof(buf), 1000));
	ck_assert_str_eq(buf, "STOPPING=1");
#else
	/* Built without libsystemd: nothing is ever sent. */
	ck_assert(!manager_recv(&m, buf, sizeof(buf), 100));
#endif
	manager_stop(&m);
}
END_TEST

START_TEST(watchdog_and_changed_status_reach_the_manager_while_the_loop_turns)
{
	struct manager m;
	struct txp_notify_figures f = { .by_status = { 5, 0, 1, 0, 0 }, .inflight = 3, .connections = 1 };
	char buf[512];
	int pings = 0, statuses = 0;

	manager_start(&m);
	/* 100 ms: a ping every 50 ms, about 5 in the 280 ms run.  The run
	 * stays short because a Unix datagram queue holds only
	 * net.unix.max_dgram_qlen (often 10) messages before the sender blocks. */
	setenv("WATCHDOG_USEC", "100000", 1);
	run_notifier(50, &f, 280);
	unsetenv("WATCHDOG_USEC");
	while (manager_recv(&m, buf, sizeof(buf), 0)) {
		if (strcmp(buf, "WATCHDOG=1") == 0) {
			pings++;
		} else {
			ck_assert_str_eq(buf,
			                 "STATUS=Screening: 5 approved, 0 review, 1 declined, 0 rejected, 0 error; "
			                 "3 in flight; 1 connections");
			statuses++;
		}
	}
#ifdef HAVE_SYSTEMD
	ck_assert_int_ge(pings, 3);
	/* The figures never changed, so the status went out once. */
	ck_assert_int_eq(statuses, 1);
#else
	ck_assert_int_eq(pings, 0);
	ck_assert_int_eq(statuses, 0);
#endif
	manager_stop(&m);
}
END_TEST

START_TEST(no_watchdog_ping_unless_the_manager_asked_for_one)
{
	struct manager m;
	struct txp_notify_figures f = { .connections = 7 };
	char buf[512];
	int pings = 0, statuses = 0;

	manager_start(&m);
	unsetenv("WATCHDOG_USEC");
	run_notifier(20, &f, 150);
	while (manager_recv(&m, buf, sizeof(buf), 0)) {
		if (strcmp(buf, "WATCHDOG=1") == 0)
			pings++;
		else
			statuses++;
	}
	ck_assert_int_eq(pings, 0);
#ifdef HAVE_SYSTEMD
	ck_assert_int_eq(statuses, 1);
#else
	ck_assert_int_eq(statuses, 0);
#endif
	manager_stop(&m);
}
END_TEST

START_TEST(malformed_watchdog_interval_is_an_error_and_still_closes)
{
	struct manager m;
	uv_loop_t loop;
	struct txp_notify n;
	char err[256] = "";
	int rc;

	manager_start(&m);
	setenv("WATCHDOG_USEC", "soon", 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	rc = txp_notify_start(&n, &loop, 0, NULL, NULL, err, sizeof(err));
#ifdef HAVE_SYSTEMD
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_nonnull(strstr(err, "WATCHDOG_USEC"));
#else
	ck_assert_int_eq(rc, 0);
#endif
	txp_notify_stop(&n);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	unsetenv("WATCHDOG_USEC");
	manager_stop(&m);
}
END_TEST

static Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, status_text_lists_every_status_inflight_and_connections);
	tcase_add_test(tc, watchdog_pings_at_half_the_interval_and_never_at_zero);
	tcase_add_test(tc, timers_do_not_keep_the_loop_alive_and_close_cleanly);
	tcase_add_test(tc, state_changes_reach_the_manager_as_sd_notify_lines);
	tcase_add_test(tc, watchdog_and_changed_status_reach_the_manager_while_the_loop_turns);
	tcase_add_test(tc, no_watchdog_ping_unless_the_manager_asked_for_one);
	tcase_add_test(tc, malformed_watchdog_interval_is_an_error_and_still_closes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(notify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
