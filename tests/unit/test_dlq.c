/* test_dlq.c: the dead-letter message: what failed, why, and the item or alert embedded as JSON. */
#include "txpipe/dlq.h"

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

START_TEST(dlq_message_embeds_the_item_and_says_what_failed)
{
	static const char item[] = "{\"transaction_id\":{\"S\":\"t1\"}}";
	struct txp_dlq_info info = {
		.failed = "store",
		.transaction_id = "t1",
		.error_code = "ResourceNotFoundException",
		.error_message = "Requested resource not found",
		.attempts = 1,
		.dead_lettered_ms = 0,
		.payload = item,
		.payload_len = sizeof(item) - 1,
	};
	size_t len;
	char *body = txp_dlq_message(&info, &len);
	json_t *j = load(body, len);

	ck_assert_str_eq(json_string_value(json_object_get(j, "failed")), "store");
	ck_assert_str_eq(json_string_value(json_object_get(j, "transaction_id")), "t1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "error_code")), "ResourceNotFoundException");
	ck_assert_str_eq(json_string_value(json_object_get(j, "error_message")), "Requested resource not found");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(j, "dead_lettered_at")), "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(
	        json_string_value(json_object_get(json_object_get(json_object_get(j, "item"), "transaction_id"), "S")),
	        "t1");
	ck_assert_ptr_null(json_object_get(j, "alert_type"));
	json_decref(j);
	free(body);

	info.failed = "alert";
	info.alert_type = "fraud";
	info.payload = "{\"alert_type\":\"fraud\"}";
	info.payload_len = strlen(info.payload);
	body = txp_dlq_message(&info, &len);
	j = load(body, len);
	ck_assert_str_eq(json_string_value(json_object_get(j, "alert_type")), "fraud");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "alert"), "alert_type")), "fraud");
	ck_assert_ptr_null(json_object_get(j, "item"));
	json_decref(j);
	free(body);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlq");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, dlq_message_embeds_the_item_and_says_what_failed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
