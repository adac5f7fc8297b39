/* test_metrics.c: reason counters, the loopback-only listen rule, and the stats table rendered as JSON, text and Prometheus. */
#include "txpipe/metrics.h"
#include "txpipe/stats.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(reason_counts_group_by_code_text)
{
	struct txp_reason_counts rc;
	char copy[] = "cross_border";
	json_t *j;

	memset(&rc, 0, sizeof(rc));
	txp_reason_counts_add(&rc, "cross_border");
	txp_reason_counts_add(&rc, "high_amount");
	txp_reason_counts_add(&rc, copy); /* same text, other pointer */
	j = txp_reason_counts_json(&rc);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "cross_border")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "high_amount")), 1);
	json_decref(j);
}
END_TEST

START_TEST(listen_accepts_only_loopback)
{
	struct sockaddr_storage ss;
	char err[256];

	ck_assert_int_eq(txp_metrics_parse_listen("127.0.0.1:9464", &ss, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_metrics_parse_listen("localhost:9464", &ss, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_metrics_parse_listen("[::1]:9464", &ss, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_metrics_parse_listen("0.0.0.0:9464", &ss, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "loopback"));
	ck_assert_int_eq(txp_metrics_parse_listen("10.0.0.5:9464", &ss, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_metrics_parse_listen("[::]:9464", &ss, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_metrics_parse_listen("127.0.0.1:0", &ss, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_metrics_parse_listen("127.0.0.1:65536", &ss, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_metrics_parse_listen("127.0.0.1", &ss, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_metrics_parse_listen("example.com:80", &ss, err, sizeof(err)), -EINVAL);
}
END_TEST

/* A snapshot with a few figures set, as the daemon fills one. */
static void sample(struct txp_stats_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->version = "9.9";
	s->lines = 10;
	s->lines_too_long = 1;
	s->connections_total = 2;
	s->connections_open = 1;
	s->uptime_s = 5;
	s->by_status[TXP_STATUS_APPROVED] = 7;
	s->by_status[TXP_STATUS_ERROR] = 3;
	txp_reason_counts_add(&s->reasons, "cross_border");
	s->pipeline.processed[TXP_STAGE_FRAUD] = 7;
	s->pipeline.latency[TXP_STAGE_FRAUD].mean_ns = 1000;
	s->pipeline.latency[TXP_STAGE_FRAUD].buckets[0] = 1;
	s->pipeline.latency[TXP_STAGE_FRAUD].buckets[1] = 2;
	s->pipeline.latency[TXP_STAGE_FRAUD].buckets[2] = 4;
	s->reply_latency.buckets[1] = 5;
	s->reply_latency.buckets[2] = 5;
	s->reply_latency.count = 10;
	s->reply_latency.sum_ns = 20000;
	s->pipeline.ring_capacity = 4096;
	s->pipeline.inflight = 2;
	s->pipeline.ring_depth_max[TXP_STAGE_FRAUD] = 1;
	s->ack.duplicates = 2;
	s->ack.held_now = 4;
	s->has_delivery = true;
	s->delivery.stored = 6;
	s->delivery.pending = 8;
	s->has_journal = true;
	s->journal.undelivered = 9;
	s->journal_full = 1;
	s->has_aws = true;
	s->aws.requests[TXP_AWS_DYNAMODB] = 3;
	s->aws.credentials_source = "environment";
}

START_TEST(prometheus_types_counters_as_counters_and_histograms_as_cumulative)
{
	struct txp_stats_snapshot s;
	char *text;

	sample(&s);
	text = txp_stats_prometheus(&s);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE txpipe_lines_total counter\ntxpipe_lines_total 10\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE txpipe_connections_total counter\ntxpipe_connections_total 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE txpipe_uptime_seconds gauge\ntxpipe_uptime_seconds 5\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_transactions_total{status=\"approved\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_reasons_total{reason=\"cross_border\"} 1\n"));
	/* Buckets are cumulative, in seconds, ending in +Inf. */
	ck_assert_ptr_nonnull(strstr(text, "txpipe_stage_latency_seconds_bucket{stage=\"fraud\",le=\"0.000001\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_stage_latency_seconds_bucket{stage=\"fraud\",le=\"0.000004\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_stage_latency_seconds_bucket{stage=\"fraud\",le=\"+Inf\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_reply_latency_seconds_count{} 10\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_ring_depth{ring=\"fraud_in\"} 1\n"));
	/* Monotonic figures of a section are counters, levels are gauges. */
	ck_assert_ptr_nonnull(
	        strstr(text, "# TYPE txpipe_delivery_stored_total counter\ntxpipe_delivery_stored_total 6\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE txpipe_delivery_pending gauge\ntxpipe_delivery_pending 8\n"));
	ck_assert_ptr_nonnull(
	        strstr(text, "# TYPE txpipe_ack_duplicates_total counter\ntxpipe_ack_duplicates_total 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE txpipe_journal_full gauge\ntxpipe_journal_full 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_aws_requests_total{service=\"dynamodb\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_aws_credentials_info{source=\"environment\"} 1\n"));
	free(text);
}
END_TEST

START_TEST(prometheus_declares_each_metric_once)
{
	struct txp_stats_snapshot s;
	char *text, *line, *save = NULL;
	char seen[256][96];
	size_t n = 0;

	sample(&s);
	text = txp_stats_prometheus(&s);
	ck_assert_ptr_nonnull(text);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[96];
		if (sscanf(line, "# TYPE %95s", name) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(strcmp(seen[i], name) != 0, "%s declared twice", name);
		ck_assert_uint_lt(n, 256);
		snprintf(seen[n++], sizeof(seen[0]), "%s", name);
	}
	ck_assert_uint_gt(n, 50);
	free(text);
}
END_TEST

START_TEST(json_sections_hold_their_own_figures)
{
	struct txp_stats_snapshot s;
	json_t *j, *journal, *ack;

	sample(&s);
	j = txp_stats_json(&s);
	ck_assert_ptr_nonnull(j);
	journal = json_object_get(j, "journal");
	ack = json_object_get(j, "ack");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "lines")), 10);
	ck_assert_int_eq(json_integer_value(json_object_get(journal, "undelivered")), 9);
	ck_assert(json_is_true(json_object_get(journal, "full")));
	/* The journal section is the journal's: replies and duplicates are ack's. */
	ck_assert_ptr_null(json_object_get(journal, "held_replies"));
	ck_assert_ptr_null(json_object_get(journal, "duplicates"));
	ck_assert_int_eq(json_integer_value(json_object_get(ack, "held_replies")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(ack, "duplicates")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "delivery"), "stored")), 6);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "transactions"), "approved")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(j, "version")), "9.9");
	json_decref(j);
}
END_TEST

START_TEST(the_rules_version_shows_in_every_form)
{
	struct txp_stats_snapshot s;
	json_t *j;
	char *text;

	sample(&s);
	strcpy(s.rules_version, "0123456789ab");
	s.rules_loaded_ms = 1796550000123;
	j = txp_stats_json(&s);
	ck_assert_str_eq(json_string_value(json_object_get(j, "rules_version")), "0123456789ab");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rules_loaded_ms")), 1796550000123);
	json_decref(j);
	text = txp_stats_prometheus(&s);
	ck_assert_ptr_nonnull(
	        strstr(text, "\n# TYPE txpipe_rules_info gauge\ntxpipe_rules_info{version=\"0123456789ab\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\ntxpipe_rules_loaded_ms 1796550000123\n"));
	free(text);
	text = txp_stats_text(&s);
	ck_assert_ptr_nonnull(strstr(text, "txpiped 9.9 rules 0123456789ab\n"));
	free(text);
}
END_TEST

START_TEST(sections_absent_when_their_module_is_off)
{
	struct txp_stats_snapshot s;
	json_t *j;
	char *text;

	sample(&s);
	s.has_delivery = s.has_aws = false;
	j = txp_stats_json(&s);
	ck_assert_ptr_null(json_object_get(j, "delivery"));
	ck_assert_ptr_null(json_object_get(j, "aws"));
	json_decref(j);
	text = txp_stats_prometheus(&s);
	ck_assert_ptr_null(strstr(text, "txpipe_delivery_"));
	ck_assert_ptr_null(strstr(text, "txpipe_aws_"));
	free(text);
	text = txp_stats_text(&s);
	ck_assert_ptr_nonnull(strstr(text, "journal: "));
	ck_assert_ptr_null(strstr(text, "delivery: "));
	ck_assert_ptr_nonnull(strstr(text, " undelivered=9"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, reason_counts_group_by_code_text);
	tcase_add_test(tc, listen_accepts_only_loopback);
	tcase_add_test(tc, prometheus_types_counters_as_counters_and_histograms_as_cumulative);
	tcase_add_test(tc, prometheus_declares_each_metric_once);
	tcase_add_test(tc, json_sections_hold_their_own_figures);
	tcase_add_test(tc, sections_absent_when_their_module_is_off);
	tcase_add_test(tc, the_rules_version_shows_in_every_form);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
