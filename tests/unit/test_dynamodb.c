/* test_dynamodb.c: BatchWriteItem bodies, UnprocessedItems, and AttributeValue items as plain JSON. */
#include "txpipe/aws/dynamodb.h"

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

START_TEST(batch_write_body_wraps_each_item_in_a_put_request)
{
	const char *items[] = { "{\"transaction_id\":{\"S\":\"a\"}}", "{\"transaction_id\":{\"S\":\"b\"}}" };
	uint32_t lens[] = { (uint32_t)strlen(items[0]), (uint32_t)strlen(items[1]) };
	size_t len;
	char *body = txp_ddb_batch_body("txns", items, lens, 2, &len);
	json_t *j = load(body, len), *l = json_object_get(json_object_get(j, "RequestItems"), "txns");

	ck_assert_uint_eq(json_array_size(l), 2);
	ck_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(json_object_get(json_array_get(l, 1), "PutRequest"), "Item"),
	                                "transaction_id"),
	                "S")),
	        "b");
	json_decref(j);
	free(body);
}
END_TEST

static void collect(void *arg, const char *id)
{
	char *out = arg;

	strcat(out, id);
	strcat(out, ",");
}

START_TEST(unprocessed_items_are_reported_by_transaction_id)
{
	const char *r = "{\"UnprocessedItems\":{\"txns\":[{\"PutRequest\":{\"Item\":{\"transaction_id\":{\"S\":\"b\"},"
	                "\"amount\":{\"N\":\"1\"}}}},{\"PutRequest\":{\"Item\":{\"transaction_id\":{\"S\":\"c\"}}}}]}}";
	char ids[64] = "";

	ck_assert_int_eq(txp_ddb_unprocessed(r, strlen(r), "txns", collect, ids), 2);
	ck_assert_str_eq(ids, "b,c,");
	ids[0] = '\0';
	ck_assert_int_eq(txp_ddb_unprocessed("{\"UnprocessedItems\":{}}", 23, "txns", collect, ids), 0);
	ck_assert_int_eq(txp_ddb_unprocessed("{}", 2, "txns", collect, ids), 0);
	ck_assert_int_eq(txp_ddb_unprocessed("<html>", 6, "txns", collect, ids), -EINVAL);
	ck_assert_int_eq(txp_ddb_unprocessed(NULL, 0, "txns", collect, ids), -EINVAL);
	ck_assert_str_eq(ids, "");
}
END_TEST

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
	Suite *s = suite_create("dynamodb");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, batch_write_body_wraps_each_item_in_a_put_request);
	tcase_add_test(tc, unprocessed_items_are_reported_by_transaction_id);
	tcase_add_test(tc, unmarshal_turns_attribute_values_into_plain_json);
	tcase_add_test(tc, unmarshal_refuses_values_of_unknown_shape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
