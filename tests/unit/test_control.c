/* test_control.c: parsing of the socket's control requests: commands, the redeliver message, the tail filter. */
#include "txpipe/control.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/txn.h"

static struct txp_control_request req;

static enum txp_control_command parse(const char *line)
{
	txp_control_request_free(&req);
	txp_control_parse(line, strlen(line), &req);
	return req.command;
}

static void teardown(void)
{
	txp_control_request_free(&req);
}

START_TEST(commands_are_recognised_by_name)
{
	ck_assert_int_eq(parse("{\"command\":\"stats\"}"), TXP_CONTROL_STATS);
	ck_assert_int_eq(parse("{\"command\":\"reload\"}"), TXP_CONTROL_RELOAD);
	ck_assert_int_eq(parse("{\"command\":\"version\"}"), TXP_CONTROL_VERSION);
	ck_assert_int_eq(parse("{\"command\":\"tail\"}"), TXP_CONTROL_TAIL);
	ck_assert_int_eq(parse("{\"command\":\"redeliver\"}"), TXP_CONTROL_REDELIVER);
	ck_assert_int_eq(parse("{\"command\":\"Stats\"}"), TXP_CONTROL_UNKNOWN);
	ck_assert_str_eq(req.name, "Stats");
}
END_TEST

START_TEST(anything_else_is_invalid)
{
	ck_assert_int_eq(parse("{\"command\":1}"), TXP_CONTROL_INVALID);
	ck_assert_int_eq(parse("{\"command\":\"stats\""), TXP_CONTROL_INVALID);
	ck_assert_ptr_null(req.json);
	ck_assert_int_eq(parse("[\"command\",\"stats\"]"), TXP_CONTROL_INVALID);
	ck_assert_int_eq(parse("{\"command\":\"stats\",\"command\":\"reload\"}"), TXP_CONTROL_INVALID);
	ck_assert_ptr_null(req.name);
}
END_TEST

START_TEST(redeliver_takes_the_alert_or_the_item_of_its_message)
{
	ck_assert_int_eq(
	        parse("{\"command\":\"redeliver\",\"message\":{\"failed\":\"alert\",\"transaction_id\":\"t-1\","
	              "\"alert_type\":\"fraud\",\"item\":{\"a\":1},\"alert\":{\"b\":2}}}"),
	        TXP_CONTROL_REDELIVER);
	ck_assert_str_eq(req.failed, "alert");
	ck_assert_str_eq(req.transaction_id, "t-1");
	ck_assert_str_eq(req.alert_type, "fraud");
	ck_assert_ptr_nonnull(json_object_get(req.payload, "b"));
	parse("{\"command\":\"redeliver\",\"message\":{\"failed\":\"store\",\"transaction_id\":\"t-1\","
	      "\"item\":{\"a\":1},\"alert\":{\"b\":2}}}");
	ck_assert_ptr_nonnull(json_object_get(req.payload, "a"));
	ck_assert_ptr_null(req.alert_type);
	/* Missing or mistyped parts are NULL: the daemon names what is wrong. */
	parse("{\"command\":\"redeliver\",\"message\":{\"failed\":\"store\",\"transaction_id\":7,\"item\":[]}}");
	ck_assert_ptr_null(req.transaction_id);
	ck_assert_ptr_null(req.payload);
	parse("{\"command\":\"redeliver\",\"message\":\"x\"}");
	ck_assert_ptr_null(req.failed);
	ck_assert_ptr_null(req.payload);
}
END_TEST

START_TEST(tail_filter_keeps_known_statuses_and_the_first_reason_codes)
{
	ck_assert_int_eq(parse("{\"command\":\"tail\",\"status\":[\"declined\",\"nope\",3,\"review\"],"
	                       "\"reason\":[\"a\",1,\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}"),
	                 TXP_CONTROL_TAIL);
	ck_assert_uint_eq(req.tail_statuses, (1u << TXP_STATUS_DECLINED) | (1u << TXP_STATUS_REVIEW));
	ck_assert_uint_eq(req.n_tail_reasons, TXP_CONTROL_TAIL_REASONS);
	ck_assert_str_eq(req.tail_reasons[0], "a");
	ck_assert_str_eq(req.tail_reasons[7], "h");
	/* Only tail requests get a filter. */
	parse("{\"command\":\"stats\",\"status\":[\"declined\"],\"reason\":[\"a\"]}");
	ck_assert_uint_eq(req.tail_statuses, 0);
	ck_assert_uint_eq(req.n_tail_reasons, 0);
}
END_TEST

static Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, commands_are_recognised_by_name);
	tcase_add_test(tc, anything_else_is_invalid);
	tcase_add_test(tc, redeliver_takes_the_alert_or_the_item_of_its_message);
	tcase_add_test(tc, tail_filter_keeps_known_statuses_and_the_first_reason_codes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(control_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
