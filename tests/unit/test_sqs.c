/* test_sqs.c: SendMessageBatch bodies and the failures of its JSON answer. */
#include "txpipe/aws/sqs.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *load(const char *text, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

	ck_assert_msg(j != NULL, "not JSON: %s (%s)", e.text, text);
	return j;
}

START_TEST(send_message_batch_body_carries_bodies_and_attributes)
{
	struct txp_sqs_entry e[2] = {
		{ .body = "{\"failed\":\"store\"}", .len = 18, .failed = "store", .error_code = "ValidationException" },
		{ .body = "line\nbreak", .len = 10, .failed = "alert", .error_code = "" },
	};
	size_t len;
	char *body = txp_sqs_batch_body("http://q/000000000000/dlq", e, 2, &len);
	json_t *j = load(body, len), *ents = json_object_get(j, "Entries"), *m;

	ck_assert_str_eq(json_string_value(json_object_get(j, "QueueUrl")), "http://q/000000000000/dlq");
	ck_assert_uint_eq(json_array_size(ents), 2);
	m = json_array_get(ents, 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "Id")), "m0");
	ck_assert_str_eq(json_string_value(json_object_get(m, "MessageBody")), "{\"failed\":\"store\"}");
	ck_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(m, "MessageAttributes"), "error_code"), "StringValue")),
	        "ValidationException");
	m = json_array_get(ents, 1);
	ck_assert_str_eq(json_string_value(json_object_get(m, "Id")), "m1");
	ck_assert_str_eq(json_string_value(json_object_get(m, "MessageBody")), "line\nbreak");
	ck_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(json_object_get(m, "MessageAttributes"), "failed"), "StringValue")),
	                 "alert");
	ck_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(m, "MessageAttributes"), "error_code"), "StringValue")),
	        "unknown");
	json_decref(j);
	free(body);
}
END_TEST

START_TEST(send_message_batch_failures_are_read_from_the_json_answer)
{
	static const char r[] = "{\"Successful\":[{\"Id\":\"m0\"}],\"Failed\":[{\"Id\":\"m1\",\"SenderFault\":true,"
	                        "\"Code\":\"InvalidMessageContents\",\"Message\":\"Invalid characters\"},"
	                        "{\"Id\":\"x\",\"SenderFault\":false}]}";
	struct txp_batch_failure f[4];

	ck_assert_int_eq(txp_sqs_batch_failures(r, sizeof(r) - 1, f, 4), 1);
	ck_assert_uint_eq(f[0].index, 1);
	ck_assert(f[0].sender_fault);
	ck_assert_str_eq(f[0].code, "InvalidMessageContents");
	ck_assert_int_eq(txp_sqs_batch_failures("{\"Successful\":[]}", 17, f, 4), 0);
	ck_assert_int_eq(txp_sqs_batch_failures("nope", 4, f, 4), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sqs");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, send_message_batch_body_carries_bodies_and_attributes);
	tcase_add_test(tc, send_message_batch_failures_are_read_from_the_json_answer);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
