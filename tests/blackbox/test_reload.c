/* test_reload.c: rules changed on SIGHUP or `txpipectl reload` apply at once and keep velocity history. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/*
 * Only customer count velocity can fire: amounts are small, distinct, not
 * round and domestic, and every other threshold that could is off.  Its
 * points alone send a transaction to review, so the decision shows it too.
 */
static const char *rules(char *ini, size_t len, unsigned count_short, const char *more)
{
	snprintf(ini, len,
	         "[pipeline]\nworkers = 2\n"
	         "[fraud]\n"
	         "customer_count_short = %u\ncustomer_count_medium = 0\ncustomer_count_long = 0\n"
	         "customer_amount_usd_short = 0\ncustomer_amount_usd_medium = 0\ncustomer_amount_usd_long = 0\n"
	         "velocity_customer_points = 50\nreview_threshold = 50\ndecline_threshold = 80\n"
	         "relative_percent = 0\ncard_test_max_usd = 0\nrepeat_min_count = 4\n"
	         "%s",
	         count_short, more != NULL ? more : "");
	return ini;
}

/* Rewrites the config, ready for a reload. */
static void write_rules(struct tdaemon *d, unsigned count_short, const char *more)
{
	char ini[2048];

	tdaemon_write_config(d, rules(ini, sizeof(ini), count_short, more));
}

/* Sends one transaction of `customer` and returns its reply. */
static json_t *pay(int fd, const char *customer)
{
	static int serial;
	char line[512];
	json_t *r;

	serial++;
	snprintf(line, sizeof(line),
	         "{\"transaction_id\":\"rl-%d\",\"amount\":\"%d.%02d\",\"currency\":\"USD\","
	         "\"merchant_id\":\"m-%d\","
	         "\"customer_id\":\"%s\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}\n",
	         serial, 20 + serial, serial % 100, serial, customer);
	tsend_str(fd, line);
	r = trecv_reply(fd, 10000);
	ck_assert_msg(r != NULL, "no reply for %s", customer);
	return r;
}

/* Pays once and checks whether count velocity fired, and the decision. */
static void expect_velocity(int fd, const char *customer, bool fired, const char *when)
{
	json_t *r = pay(fd, customer);
	char *text = json_dumps(r, JSON_COMPACT);
	const char *status = tstatus(r);

	ck_assert_msg(thas_reason(r, "velocity_customer_count_short") == fired, "%s: customer %s: expected %s, got %s",
	              when, customer, fired ? "velocity" : "no velocity", text);
	ck_assert_msg(strcmp(status, fired ? "review" : "approved") == 0, "%s: %s", when, text);
	free(text);
	json_decref(r);
}

START_TEST(new_thresholds_apply_to_the_history_kept_across_reloads)
{
	struct tdaemon d;
	char *out = NULL, extra[600], ini[2048];
	json_t *before, *after;
	int fd, idle;

	tdaemon_start(&d, rules(ini, sizeof(ini), 10, NULL));
	fd = tconnect(d.socket);
	/* A second client that sends nothing until the very end. */
	idle = tconnect(d.socket);

	/* Four transactions of customer A under a threshold of 10. */
	for (int i = 0; i < 4; i++)
		expect_velocity(fd, "cust-a", false, "threshold 10");

	/* SIGHUP lowers the threshold to 5: A's fifth transaction reaches it
	 * because the four earlier ones are still counted; a new customer's
	 * first does not. */
	write_rules(&d, 5, NULL);
	kill(d.pid, SIGHUP);
	ck_assert_msg(tdaemon_wait_log(&d, "event=reloaded", 1, 10000), "no reload after SIGHUP");
	expect_velocity(fd, "cust-a", true, "after SIGHUP, threshold 5");
	expect_velocity(fd, "cust-b", false, "after SIGHUP, threshold 5");

	/* txpipectl reload raises it to 7: A's sixth (6 < 7) no longer fires,
	 * A's seventh does.  The rules version changes with it, in stats,
	 * in txpipectl version and in the reload's log line. */
	before = tdaemon_stat(&d, "", "rules_version");
	ck_assert_uint_eq(strlen(json_string_value(before)), 12);
	write_rules(&d, 7, NULL);
	ck_assert_int_eq(tdaemon_ctl(&d, &out, "reload", NULL), 0);
	free(out);
	ck_assert(tdaemon_wait_log(&d, "event=reloaded", 2, 10000));
	after = tdaemon_stat(&d, "", "rules_version");
	ck_assert_str_ne(json_string_value(before), json_string_value(after));
	snprintf(extra, sizeof(extra), "rules_version=%s", json_string_value(after));
	ck_assert_msg(tdaemon_log_contains(&d, extra), "no %s in the log", extra);
	ck_assert_int_eq(tdaemon_ctl(&d, &out, "version", NULL), 0);
	snprintf(extra, sizeof(extra), "rules %s (loaded ", json_string_value(after));
	ck_assert_msg(strstr(out, extra) != NULL, "txpipectl version said: %s", out);
	free(out);
	json_decref(before);
	json_decref(after);
	expect_velocity(fd, "cust-a", false, "after txpipectl reload, threshold 7");
	expect_velocity(fd, "cust-a", true, "after txpipectl reload, threshold 7");

	/* An unknown key: the reload is refused with the reason in the log
	 * and 7 stays in force, so C's second transaction does not fire as
	 * the refused threshold of 2 would have it. */
	write_rules(&d, 2, "bogus_threshold = 1\n");
	kill(d.pid, SIGHUP);
	ck_assert_msg(tdaemon_wait_log(&d, "event=reload_rejected", 1, 10000), "bad config not rejected");
	ck_assert(tdaemon_log_contains(&d, "bogus_threshold"));
	expect_velocity(fd, "cust-c", false, "after a refused reload (unknown key)");
	expect_velocity(fd, "cust-c", false, "after a refused reload (unknown key)");

	/* A list file that does not exist: txpipectl reports the failure, the
	 * log names the key, the old rules stay. */
	snprintf(extra, sizeof(extra), "deny_customers = %s/no-such-list.txt\n", d.dir);
	write_rules(&d, 2, extra);
	ck_assert_int_ne(tdaemon_ctl(&d, &out, "reload", NULL), 0);
	ck_assert_msg(strstr(out, "deny_customers") != NULL, "txpipectl reload said: %s", out);
	free(out);
	ck_assert(tdaemon_wait_log(&d, "event=reload_rejected", 2, 10000));
	ck_assert(tdaemon_log_contains(&d, "no-such-list.txt"));
	expect_velocity(fd, "cust-c", false, "after a refused reload (missing list)");

	/* A good config after the bad ones applies, to the history kept
	 * all along: C's fourth transaction reaches a threshold of 3. */
	write_rules(&d, 3, NULL);
	kill(d.pid, SIGHUP);
	ck_assert(tdaemon_wait_log(&d, "event=reloaded", 3, 10000));
	expect_velocity(fd, "cust-c", true, "after a good reload, threshold 3");
	expect_velocity(fd, "cust-a", true, "after a good reload, threshold 3");

	/* Both connections stayed open through four reloads. */
	expect_velocity(idle, "cust-d", false, "on the idle connection");
	ck_assert_int_eq(tdaemon_ctl(&d, &out, "stats", "--format", "json", NULL), 0);
	ck_assert_msg(strstr(out, "\"reloads\": 3") != NULL && strstr(out, "\"reload_failures\": 2") != NULL,
	              "stats: %s", out);
	free(out);
	tclose(idle);
	tclose(fd);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* Pays `amount` in `currency` as a new customer and returns the reply. */
static json_t *pay_in(int fd, const char *currency, const char *amount)
{
	static int serial;
	char line[512];
	json_t *r;

	serial++;
	snprintf(line, sizeof(line),
	         "{\"transaction_id\":\"fx-%d\",\"amount\":\"%s\",\"currency\":\"%s\","
	         "\"merchant_id\":\"m-fx-%d\",\"customer_id\":\"c-fx-%d\",\"merchant_country\":\"DE\","
	         "\"customer_country\":\"DE\",\"customer_kyc_status\":\"verified\"}\n",
	         serial, amount, currency, serial, serial);
	tsend_str(fd, line);
	r = trecv_reply(fd, 10000);
	ck_assert_msg(r != NULL, "no reply for %s %s", amount, currency);
	return r;
}

/* Pays and checks whether the currency had a rate, and the decision. */
static void expect_rate(int fd, const char *currency, const char *amount, bool known, const char *when)
{
	json_t *r = pay_in(fd, currency, amount);
	char *text = json_dumps(r, JSON_COMPACT);

	ck_assert_msg(thas_reason(r, "currency_rate_unknown") != known, "%s: %s %s: %s", when, amount, currency, text);
	ck_assert_msg(strcmp(tstatus(r), known ? "approved" : "review") == 0, "%s: %s", when, text);
	free(text);
	json_decref(r);
}

START_TEST(rates_file_is_reread_on_reload_and_its_date_shows_in_stats)
{
	struct tdaemon d;
	char path[512], extra[800], *out = NULL;
	int fd;

	tdaemon_prepare(&d);
	tdaemon_write_file(&d, "rates.txt", "# only dollars\ndate 2026-11-01\nUSD 1000000\n", path, sizeof(path));
	snprintf(extra, sizeof(extra), "[compliance]\nusd_rates_file = %s\nusd_rates = \nrates_max_age_days = 1\n",
	         path);
	tdaemon_launch(&d, extra);
	fd = tconnect(d.socket);
	ck_assert_msg(tdaemon_log_contains(&d, "event=usd_rates_stale"), "no warning for rates dated 2026-11-01");
	ck_assert_int_eq(tdaemon_istat(&d, "", "rates_date"), 20261101);
	ck_assert_int_ge(tdaemon_istat(&d, "", "rates_age_days"), 1);
	expect_rate(fd, "EUR", "42.17", false, "no EUR in the file");
	expect_rate(fd, "USD", "42.17", true, "USD in the file");

	/* The operator's daily refresh: a new file, then reload. */
	tdaemon_write_file(&d, "rates.txt", "date 2026-12-04\nUSD 1000000\nEUR 1160000 # euro\nGBP 1330000\n", path,
	                   sizeof(path));
	ck_assert_int_eq(tdaemon_ctl(&d, &out, "reload", NULL), 0);
	free(out);
	ck_assert(tdaemon_wait_log(&d, "event=reloaded", 1, 10000));
	ck_assert_int_eq(tdaemon_istat(&d, "", "rates_date"), 20261204);
	expect_rate(fd, "EUR", "42.17", true, "EUR after the reload");
	expect_rate(fd, "GBP", "42.17", true, "GBP after the reload");
	expect_rate(fd, "JPY", "4217", false, "JPY in neither file");

	/* A bad line: the reload is refused naming the file and the line, and
	 * the rates in use stay. */
	tdaemon_write_file(&d, "rates.txt", "date 2026-12-05\nUSD 1000000\nEUR 1.16\n", path, sizeof(path));
	ck_assert_int_ne(tdaemon_ctl(&d, &out, "reload", NULL), 0);
	ck_assert_msg(out != NULL && strstr(out, "rates.txt:3:") != NULL, "txpipectl reload said: %s",
	              out != NULL ? out : "");
	free(out);
	ck_assert_int_eq(tdaemon_istat(&d, "", "rates_date"), 20261204);
	expect_rate(fd, "EUR", "42.17", true, "EUR after a refused reload");
	tclose(fd);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* The production report: with the shipped config every EUR or GBP
 * payment went to review with currency_rate_unknown.  The sample config is
 * the defaults (test_config_docs), so this runs on the defaults. */
START_TEST(eur_and_gbp_are_converted_with_the_default_rates)
{
	struct tdaemon d;
	int fd;

	tdaemon_start(&d, NULL);
	fd = tconnect(d.socket);
	expect_rate(fd, "EUR", "42.17", true, "EUR, built-in rates");
	expect_rate(fd, "GBP", "18.50", true, "GBP, built-in rates");
	expect_rate(fd, "JPY", "4217", true, "JPY, built-in rates");
	expect_rate(fd, "CHF", "99.95", true, "CHF, built-in rates");
	expect_rate(fd, "ISK", "4217", false, "ISK is not in the built-in table");
	ck_assert_int_eq(tdaemon_istat(&d, "", "rates_date"), 20261204);
	tclose(fd);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

static Suite *reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, new_thresholds_apply_to_the_history_kept_across_reloads);
	tcase_add_test(tc, rates_file_is_reread_on_reload_and_its_date_shows_in_stats);
	tcase_add_test(tc, eur_and_gbp_are_converted_with_the_default_rates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
