/* test_metrics.c: reason counters, the loopback-only listen rule, and the Prometheus rendering. */
#include "txpipe/metrics.h"

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

START_TEST(prometheus_text_has_counters_and_cumulative_histograms)
{
	const char *stats =
		"{\"lines\":10,\"lines_too_long\":1,\"connections_total\":2,\"connections_open\":1,"
		"\"clients_refused\":0,\"backpressure_pauses\":3,\"reloads\":0,\"reload_failures\":0,\"uptime_s\":5,"
		"\"transactions\":{\"approved\":7,\"error\":3},\"reasons\":{\"cross_border\":4},"
		"\"stages\":{\"fraud\":{\"processed\":7,\"mean_ns\":1000,\"histogram\":[1,2,4]}},"
		"\"reply_latency\":{\"histogram\":[0,5,5],\"sum_ns\":20000},"
		"\"rings\":{\"capacity\":4096,\"inflight\":2,\"fraud_in\":1},"
		"\"delivery\":{\"stored\":6},\"aws\":{\"dynamodb\":{\"requests\":3}}}";
	json_t *j = json_loads(stats, 0, NULL);
	char *text;

	ck_assert_ptr_nonnull(j);
	text = txp_metrics_prometheus(j);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE txpipe_lines_total counter\ntxpipe_lines_total 10\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_transactions_total{status=\"approved\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_reasons_total{reason=\"cross_border\"} 4\n"));
	/* Buckets are cumulative, in seconds, ending in +Inf. */
	ck_assert_ptr_nonnull(strstr(text, "txpipe_stage_latency_seconds_bucket{stage=\"fraud\",le=\"0.000001\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_stage_latency_seconds_bucket{stage=\"fraud\",le=\"0.000004\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_stage_latency_seconds_bucket{stage=\"fraud\",le=\"+Inf\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_reply_latency_seconds_count{} 10\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_ring_depth{ring=\"fraud_in\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_delivery_stored 6\n"));
	ck_assert_ptr_nonnull(strstr(text, "txpipe_aws_requests{service=\"dynamodb\"} 3\n"));
	free(text);
	json_decref(j);
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
	tcase_add_test(tc, prometheus_text_has_counters_and_cumulative_histograms);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
