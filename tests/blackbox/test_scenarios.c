/* test_scenarios.c: runs tests/data/scenarios.ndjson through one real txpiped, checking each decision. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/*
 * The configuration of the scenario run, spelled out so that a change of a
 * default does not change what the stories expect.  tests/data/scenarios.py
 * computed the expectations from the documented rules under exactly these
 * settings (its CONFIG); change both together.  The %s are the list files
 * written below.
 *
 * One worker, so merchant velocity and the card-testing table of a card used
 * by several customers see every transaction (both are per shard).  Only the
 * short velocity window has thresholds: the test sends every line within a
 * second or two of the daemon's receive clock, so all three windows would
 * hold the same events.  For the same reason "over a day" (structuring) means
 * "several transactions sent now" here.
 */
static const char scenario_ini[] = "[pipeline]\n"
                                   "workers = 1\n"
                                   "[validation]\n"
                                   "max_amount = 1000000\n"
                                   "unknown_fields = ignore\n"
                                   "[fraud]\n"
                                   "review_threshold = 50\n"
                                   "decline_threshold = 80\n"
                                   "max_tracked_keys = 4096\n"
                                   "window_short_ms = 1m\n"
                                   "window_medium_ms = 1h\n"
                                   "window_long_ms = 24h\n"
                                   "state_full_points = 50\n"
                                   "high_amount_usd = 5000\n"
                                   "high_amount_points = 30\n"
                                   "relative_percent = 500\n"
                                   "relative_min_history = 3\n"
                                   "relative_points = 20\n"
                                   "customer_count_short = 6\n"
                                   "customer_count_medium = 0\n"
                                   "customer_count_long = 0\n"
                                   "customer_amount_usd_short = 12000\n"
                                   "customer_amount_usd_medium = 0\n"
                                   "customer_amount_usd_long = 0\n"
                                   "merchant_count_short = 8\n"
                                   "merchant_count_medium = 0\n"
                                   "merchant_count_long = 0\n"
                                   "merchant_amount_usd_short = 0\n"
                                   "merchant_amount_usd_medium = 0\n"
                                   "merchant_amount_usd_long = 0\n"
                                   "velocity_customer_points = 25\n"
                                   "velocity_merchant_points = 15\n"
                                   "cross_border_points = 10\n"
                                   "high_risk_countries = KP,IR,MM\n"
                                   "high_risk_country_points = 25\n"
                                   "allow_customers = %s\n"
                                   "allow_merchants = %s\n"
                                   "allow_cards = %s\n"
                                   "allow_devices = %s\n"
                                   "deny_customers = %s\n"
                                   "deny_merchants = %s\n"
                                   "deny_cards = %s\n"
                                   "deny_devices = %s\n"
                                   "deny_points = 100\n"
                                   "round_amount_major = 100\n"
                                   "round_amount_points = 10\n"
                                   "repeat_window_ms = 10m\n"
                                   "repeat_min_count = 2\n"
                                   "repeat_points = 15\n"
                                   "card_test_max_usd = 5\n"
                                   "card_test_window_ms = 10m\n"
                                   "card_test_merchants = 4\n"
                                   "card_test_points = 40\n"
                                   "[compliance]\n"
                                   /* Only these three, so JPY and KWD stay unknown as the scenarios
	 * expect (the built-in table would convert them). */
                                   "usd_rates_file = %s\n"
                                   "usd_rates = USD:1000000,EUR:1100000,GBP:1250000\n"
                                   "aml_threshold_usd = 10000\n"
                                   "aml_action = none\n"
                                   "structuring_window_ms = 24h\n"
                                   "structuring_action = review\n"
                                   "max_tracked_keys = 4096\n"
                                   "state_full_action = review\n"
                                   "sanctioned_countries = CU,IR,KP\n"
                                   "sanctions_list = %s\n"
                                   "kyc_threshold_usd = 1000\n"
                                   "kyc_unspecified_is_unverified = false\n"
                                   "kyc_action = review\n"
                                   "kyc_failed_action = decline\n"
                                   "pan_scan = true\n"
                                   "pan_action = none\n"
                                   "rate_unknown_action = review\n";

/* The card numbers on the card lists; their tokens go in the files. */
#define DENY_CARD "4000056655665556"
#define ALLOW_CARD "5105105105105100"

/* Writes the list files and starts the daemon on scenario_ini. */
static void start_scenario_daemon(struct tdaemon *d)
{
	char p[10][512], token[33], text[256], *ini;
	size_t len = sizeof(scenario_ini) + 10 * 512;

	tdaemon_prepare(d);
	tdaemon_write_file(d, "allow-customers.txt", "# allow-listed customers\ncust-allow-1\n", p[0], 512);
	tdaemon_write_file(d, "allow-merchants.txt", "merch-allow-1\n", p[1], 512);
	tdaemon_card_token(d, ALLOW_CARD, token);
	snprintf(text, sizeof(text), "%s\n", token);
	tdaemon_write_file(d, "allow-cards.txt", text, p[2], 512);
	tdaemon_write_file(d, "allow-devices.txt", "dev-allow-1\n", p[3], 512);
	tdaemon_write_file(d, "deny-customers.txt", "cust-deny-1\n", p[4], 512);
	tdaemon_write_file(d, "deny-merchants.txt", "merch-deny-1\n", p[5], 512);
	tdaemon_card_token(d, DENY_CARD, token);
	snprintf(text, sizeof(text), "# a stolen card\n%s\n", token);
	tdaemon_write_file(d, "deny-cards.txt", text, p[6], 512);
	tdaemon_write_file(d, "deny-devices.txt", "dev-deny-1\n", p[7], 512);
	tdaemon_write_file(d, "sanctions.txt", "cust-sanctioned-1\nmerch-sanctioned-1\n", p[8], 512);
	tdaemon_write_file(d, "rates.txt", "date 2026-12-04\nUSD 1000000\n", p[9], 512);
	ini = malloc(len);
	ck_assert_ptr_nonnull(ini);
	snprintf(ini, len, scenario_ini, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[9], p[8]);
	tdaemon_launch(d, ini);
	free(ini);
}

static char *dump(const json_t *j)
{
	return j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : strdup("(none)");
}

/* Reports one mismatch: the line, its story, what differs, both sides. */
static void mismatch(int *failures, int lineno, const char *story, const char *what, const json_t *want,
                     const json_t *got, const json_t *reply)
{
	char *w = dump(want), *g = dump(got), *r = dump(reply);

	fprintf(stderr, "scenarios.ndjson:%d (%s): %s: expected %s, got %s\n    reply: %s\n", lineno,
	        story != NULL ? story : "?", what, w, g, r);
	free(w);
	free(g);
	free(r);
	(*failures)++;
}

static bool array_has(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* Same strings regardless of order (and the same number of them). */
static bool same_set(const json_t *a, const json_t *b)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b))
		return false;
	json_array_foreach (a, i, v) {
		if (!json_is_string(v) || !array_has(b, json_string_value(v)))
			return false;
	}
	return true;
}

/* Compares one reply with its expectation; returns the number of mismatches. */
static int check_reply(int lineno, const json_t *entry, const json_t *reply)
{
	const char *story = json_string_value(json_object_get(entry, "story"));
	json_t *expect = json_object_get(entry, "expect"), *txn = json_object_get(entry, "txn");
	json_t *error = json_object_get(reply, "error"), *reasons = json_object_get(reply, "reasons");
	json_t *want, *got;
	int failures = 0;
	size_t i;
	json_t *v;

	want = json_object_get(expect, "status");
	got = json_object_get(reply, "status");
	if (want != NULL && !json_equal(want, got))
		mismatch(&failures, lineno, story, "status", want, got, reply);
	want = json_object_get(expect, "risk_score");
	got = json_object_get(reply, "risk_score");
	if (want != NULL && !json_equal(want, got))
		mismatch(&failures, lineno, story, "risk_score", want, got, reply);
	want = json_object_get(expect, "reasons");
	if (want != NULL && !same_set(want, reasons))
		mismatch(&failures, lineno, story, "reasons", want, reasons, reply);
	json_array_foreach (json_object_get(expect, "reasons_include"), i, v) {
		if (!array_has(reasons, json_string_value(v)))
			mismatch(&failures, lineno, story, "reason missing", v, reasons, reply);
	}
	json_array_foreach (json_object_get(expect, "reasons_exclude"), i, v) {
		if (array_has(reasons, json_string_value(v)))
			mismatch(&failures, lineno, story, "reason present", v, reasons, reply);
	}
	want = json_object_get(expect, "error_code");
	got = json_object_get(error, "code");
	if (want != NULL && !json_equal(want, got))
		mismatch(&failures, lineno, story, "error code", want, got, reply);
	/* error_field: null in the file means the reply must name no field. */
	want = json_object_get(expect, "error_field");
	got = json_object_get(error, "field");
	if (want != NULL && !json_equal(want, got))
		mismatch(&failures, lineno, story, "error field", want, got, reply);
	/* The echoed id: a token (keyed, so not known in advance), as the file
	 * says, else the id that was sent. */
	got = json_object_get(reply, "transaction_id");
	if (json_is_true(json_object_get(expect, "transaction_id_token"))) {
		const char *id = json_string_value(got);
		if (id == NULL || strlen(id) != 30 || strncmp(id, "tok_", 4) != 0 ||
		    strspn(id + 4, "abcdefghijklmnopqrstuvwxyz234567") != 26)
			mismatch(&failures, lineno, story, "transaction_id token",
			         json_object_get(expect, "transaction_id_token"), got, reply);
		return failures;
	}
	want = json_object_get(expect, "transaction_id");
	if (want == NULL)
		want = json_object_get(txn, "transaction_id");
	got = json_object_get(reply, "transaction_id");
	if (want != NULL && !json_equal(want, got))
		mismatch(&failures, lineno, story, "transaction_id", want, got, reply);
	return failures;
}

START_TEST(every_scenario_gets_the_decision_its_story_expects)
{
	const char *srcdir = getenv("top_srcdir");
	char path[1024], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, failures = 0, lines = 0, fd;
	struct tdaemon d;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/scenarios.ndjson", srcdir != NULL ? srcdir : ".");
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	start_scenario_daemon(&d);
	fd = tconnect(d.socket);
	/* In order, one at a time: each story builds on the state the lines
	 * before it left. */
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		json_t *entry, *reply, *raw;
		char *text;

		lineno++;
		if (len <= 1)
			continue;
		entry = json_loads(line, 0, &jerr);
		ck_assert_msg(entry != NULL, "%s:%d: %s", path, lineno, jerr.text);
		raw = json_object_get(entry, "raw");
		if (raw != NULL) {
			text = strdup(json_string_value(raw));
		} else {
			/* 15 significant digits print 49.99 as 49.99, not as
			 * the 17-digit binary value the daemon would refuse. */
			text = json_dumps(json_object_get(entry, "txn"),
			                  JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
		}
		ck_assert_ptr_nonnull(text);
		tsend_str(fd, text);
		tsend_str(fd, "\n");
		free(text);
		reply = trecv_reply(fd, 10000);
		ck_assert_msg(reply != NULL, "%s:%d: no reply (daemon alive: %d)", path, lineno, tdaemon_alive(&d));
		failures += check_reply(lineno, entry, reply);
		lines++;
		json_decref(reply);
		json_decref(entry);
	}
	free(line);
	fclose(f);
	tclose(fd);
	ck_assert_int_ge(lines, 200);
	ck_assert_msg(failures == 0, "%d mismatches in %d scenario lines (listed above)", failures, lines);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

static Suite *scenarios_suite(void)
{
	Suite *s = suite_create("scenarios");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_scenario_gets_the_decision_its_story_expects);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scenarios_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
