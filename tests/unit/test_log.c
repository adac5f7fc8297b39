/* test_log.c: log lines carry a syslog prefix, repeats are rate-limited per event (counted at exit), audit lines never; JSON lines. */
#include "txpipe/log.h"

#include <check.h>
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Parses the one line of `out` after its "<N>" prefix (which must be
 * `prefix`), requiring a single JSON object and a newline. */
static json_t *parse_line(const char *out, const char *prefix)
{
	json_error_t err;
	json_t *j;
	size_t n = strlen(out);

	ck_assert_msg(strncmp(out, prefix, strlen(prefix)) == 0, "line: %s", out);
	ck_assert_msg(n > 0 && out[n - 1] == '\n' && strchr(out, '\n') == out + n - 1, "one line: %s", out);
	j = json_loadb(out + strlen(prefix), n - strlen(prefix) - 1, JSON_REJECT_DUPLICATES, &err);
	ck_assert_msg(j != NULL, "not JSON (%s): %s", err.text, out);
	ck_assert(json_is_object(j));
	return j;
}

static const char *str(json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));

	ck_assert_msg(v != NULL, "no string member %s", key);
	return v;
}

/* The timestamp is RFC 3339 in UTC with milliseconds, and now. */
static void check_timestamp(const char *ts)
{
	struct tm tm = { 0 };
	const char *end;
	time_t t;

	ck_assert_uint_eq(strlen(ts), 24);
	end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
	ck_assert_ptr_nonnull(end);
	ck_assert(end[0] == '.' && isdigit((unsigned char)end[1]) && isdigit((unsigned char)end[2]) &&
	          isdigit((unsigned char)end[3]) && end[4] == 'Z' && end[5] == '\0');
	t = timegm(&tm);
	ck_assert_int_le(labs((long)(t - time(NULL))), 5);
}

START_TEST(json_lines_escape_and_levels_filter)
{
	char *out = capture(log_levels_and_json);
	json_t *j;

	ck_assert_ptr_null(strstr(out, "too_verbose"));
	j = parse_line(out, "<5>");
	check_timestamp(str(j, "timestamp"));
	ck_assert_str_eq(str(j, "level"), "notice");
	ck_assert_str_eq(str(j, "event"), "quoted");
	ck_assert_str_eq(str(j, "reason"), "a \\ b");
	ck_assert_str_eq(str(j, "ctl"), " ");
	ck_assert_uint_eq(json_object_size(j), 5);
	/* The members come in a fixed order: the time first. */
	ck_assert_ptr_nonnull(strstr(out, "<5>{\"timestamp\":\""));
	json_decref(j);
	free(out);
}
END_TEST

static void log_fields(void)
{
	txp_log_setup(TXP_LOG_INFO, TXP_LOG_FORMAT_JSON);
	txp_log_warn("delivery_retry", "what=store error=connection refused by peer attempt=2 delay_ms=2000 "
	                               "transaction_id=\"tx-1\" reason=\"say \"hi\" now, x = 1\" ratio=0.25 code=007 "
	                               "neg=-3 level=x bytes=\xff\xfe\xc3\xa9\xe2\x82");
}

START_TEST(json_lines_carry_every_field_as_a_member)
{
	char *out = capture(log_fields);
	json_t *j = parse_line(out, "<4>");

	ck_assert_str_eq(str(j, "level"), "warning");
	ck_assert_str_eq(str(j, "event"), "delivery_retry");
	ck_assert_str_eq(str(j, "transaction_id"), "tx-1");
	ck_assert_str_eq(str(j, "what"), "store");
	/* An unquoted value runs to the next key. */
	ck_assert_str_eq(str(j, "error"), "connection refused by peer");
	/* Plain numbers are numbers; anything else stays a string. */
	ck_assert_int_eq(json_integer_value(json_object_get(j, "attempt")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "delay_ms")), 2000);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "neg")), -3);
	ck_assert(json_is_real(json_object_get(j, "ratio")));
	ck_assert_str_eq(str(j, "code"), "007");
	/* A quoted value may hold quotes, spaces and '='. */
	ck_assert_str_eq(str(j, "reason"), "say \"hi\" now, x = 1");
	/* A caller's key never overrides a fixed member. */
	ck_assert_str_eq(str(j, "field_level"), "x");
	/* Each byte of invalid UTF-8 (a stray byte, a cut sequence) becomes
	 * U+FFFD; valid sequences pass. */
	ck_assert_str_eq(str(j, "bytes"), "\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	/* transaction_id right after the fixed members, for a reader's eye. */
	ck_assert_ptr_nonnull(strstr(out, "\"event\":\"delivery_retry\",\"transaction_id\":\"tx-1\",\"what\""));
	json_decref(j);
	free(out);
}
END_TEST

static void log_audit_json(void)
{
	txp_log_setup(TXP_LOG_INFO, TXP_LOG_FORMAT_JSON);
	txp_log_info("audit", "txn=tx-9 status=approved score=12 reasons= customer=ab12 error=- latency_us=830");
}

START_TEST(json_audit_lines_name_the_transaction_id)
{
	char *out = capture(log_audit_json);
	json_t *j = parse_line(out, "<6>");

	ck_assert_str_eq(str(j, "transaction_id"), "tx-9");
	ck_assert_ptr_null(json_object_get(j, "txn"));
	ck_assert_str_eq(str(j, "status"), "approved");
	ck_assert_str_eq(str(j, "reasons"), "");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "latency_us")), 830);
	json_decref(j);
	free(out);
}
END_TEST

static void log_long(void)
{
	char slashes[1001], xs[501];

	/* Escaping doubles each '\\': the line outgrows its 2 KiB. */
	memset(slashes, '\\', sizeof(slashes) - 1);
	slashes[sizeof(slashes) - 1] = '\0';
	memset(xs, 'x', sizeof(xs) - 1);
	xs[sizeof(xs) - 1] = '\0';
	txp_log_setup(TXP_LOG_INFO, TXP_LOG_FORMAT_JSON);
	txp_log_info("long", "a=\"%s\" b=%s c=1", slashes, xs);
}

START_TEST(json_lines_cut_short_stay_valid)
{
	char *out = capture(log_long);
	json_t *j = parse_line(out, "<6>");

	ck_assert(json_is_true(json_object_get(j, "truncated")));
	ck_assert_str_eq(str(j, "event"), "long");
	/* The value that did not fit is cut, whole characters only; the
	 * members after it are left out. */
	ck_assert_uint_gt(strlen(str(j, "a")), 900);
	ck_assert_uint_lt(strlen(str(j, "a")), 1000);
	ck_assert_uint_eq(strspn(str(j, "a"), "\\"), strlen(str(j, "a")));
	ck_assert_ptr_null(json_object_get(j, "b"));
	ck_assert_ptr_null(json_object_get(j, "c"));
	ck_assert_uint_le(strlen(out), 2047);
	json_decref(j);
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
	tcase_add_test(tc, json_lines_carry_every_field_as_a_member);
	tcase_add_test(tc, json_audit_lines_name_the_transaction_id);
	tcase_add_test(tc, json_lines_cut_short_stay_valid);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
