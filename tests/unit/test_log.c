/* test_log.c: log lines carry a syslog prefix, repeats are rate-limited per event (counted at exit), audit lines never. */
#include "txpipe/log.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs `fn` with stderr captured; returns what was written (caller frees). */
static char *capture(void (*fn)(void))
{
	char path[] = "/tmp/txpipe-log-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	char *buf = calloc(1, 1 << 20);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, (1 << 20) - 1, 0);
	ck_assert_int_ge(n, 0);
	close(fd);
	unlink(path);
	return buf;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void log_repeats(void)
{
	txp_log_setup(TXP_LOG_DEBUG, TXP_LOG_FORMAT_KV);
	for (int i = 0; i < 50; i++)
		txp_log_warn("dynamodb_unreachable", "attempt=%d", i);
	for (int i = 0; i < 5; i++)
		txp_log_warn("other_event", "i=%d", i);
	for (int i = 0; i < 300; i++)
		txp_log_info("audit", "txn=t%d", i);
	txp_log_debug("hidden_below_level", "x=1");
}

START_TEST(repeats_of_one_event_are_limited_but_audit_lines_are_not)
{
	char *out = capture(log_repeats);

	ck_assert_uint_eq(count(out, "event=dynamodb_unreachable"), 20);
	ck_assert_uint_eq(count(out, "event=other_event"), 5);
	ck_assert_uint_eq(count(out, "event=audit"), 300);
	ck_assert_ptr_nonnull(strstr(out, "<4>level=warning event=dynamodb_unreachable attempt=0\n"));
	free(out);
}
END_TEST

static void log_repeats_then_exit(void)
{
	txp_log_setup(TXP_LOG_INFO, TXP_LOG_FORMAT_KV);
	for (int i = 0; i < 50; i++)
		txp_log_warn("dynamodb_unreachable", "attempt=%d", i);
	for (int i = 0; i < 25; i++)
		txp_log_err("journal_error", "i=%d", i);
	txp_log_info("quiet_event", "x=1");
	txp_log_flush();
	/* Nothing is counted twice. */
	txp_log_flush();
}

START_TEST(suppressed_repeats_are_reported_once_at_exit)
{
	char *out = capture(log_repeats_then_exit);

	ck_assert_ptr_nonnull(strstr(out, "<4>level=warning event=dynamodb_unreachable suppressed=30\n"));
	ck_assert_ptr_nonnull(strstr(out, "<3>level=err event=journal_error suppressed=5\n"));
	ck_assert_uint_eq(count(out, "suppressed="), 2);
	ck_assert_uint_eq(count(out, "event=quiet_event"), 1);
	free(out);
}
END_TEST

static void log_levels_and_json(void)
{
	txp_log_setup(TXP_LOG_NOTICE, TXP_LOG_FORMAT_JSON);
	txp_log_info("too_verbose", "x=1");
	txp_log_notice("quoted", "reason=\"a \\ b\" ctl=\x01");
}

START_TEST(json_lines_escape_and_levels_filter)
{
	char *out = capture(log_levels_and_json);

	ck_assert_ptr_null(strstr(out, "too_verbose"));
	ck_assert_str_eq(out, "<5>{\"level\":\"notice\",\"event\":\"quoted\",\"detail\":\"reason=\\\"a \\\\ b\\\" ctl= \"}\n");
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, repeats_of_one_event_are_limited_but_audit_lines_are_not);
	tcase_add_test(tc, json_lines_escape_and_levels_filter);
	tcase_add_test(tc, suppressed_repeats_are_reported_once_at_exit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
