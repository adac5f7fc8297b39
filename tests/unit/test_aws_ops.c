/* test_aws_ops.c: DynamoDB AttributeValue items become plain JSON, numbers kept exact. */
#include "txpipe/aws/ops.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(unmarshal_turns_attribute_values_into_plain_json)
{
	const char *item = "{\"transaction_id\":{\"S\":\"t1\"},\"amount\":{\"N\":\"2500\"},"
	                   "\"amount_usd\":{\"N\":\"12345678901234567890.5\"},\"ok\":{\"BOOL\":true},"
	                   "\"none\":{\"NULL\":true},\"reasons\":{\"L\":[{\"S\":\"a\"},{\"S\":\"b\"}]},"
	                   "\"contrib\":{\"M\":{\"a\":{\"N\":\"10\"}}}}";
	json_t *in = json_loads(item, 0, NULL), *out;

	out = txp_ddb_unmarshal(in);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(json_string_value(json_object_get(out, "transaction_id")), "t1");
	ck_assert_int_eq(json_integer_value(json_object_get(out, "amount")), 2500);
	/* Too big for an integer: the exact text is kept, never a double. */
	ck_assert_str_eq(json_string_value(json_object_get(out, "amount_usd")), "12345678901234567890.5");
	ck_assert(json_is_true(json_object_get(out, "ok")));
	ck_assert(json_is_null(json_object_get(out, "none")));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(out, "reasons"), 1)), "b");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(out, "contrib"), "a")), 10);
	json_decref(out);
	json_decref(in);
}
END_TEST

START_TEST(unmarshal_refuses_values_of_unknown_shape)
{
	json_t *in = json_loads("{\"a\":{\"X\":\"1\"}}", 0, NULL);

	ck_assert_ptr_null(txp_ddb_unmarshal(in));
	json_decref(in);
	in = json_loads("{\"a\":{\"S\":\"1\",\"N\":\"2\"}}", 0, NULL);
	ck_assert_ptr_null(txp_ddb_unmarshal(in));
	json_decref(in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aws_ops");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, unmarshal_turns_attribute_values_into_plain_json);
	tcase_add_test(tc, unmarshal_refuses_values_of_unknown_shape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
