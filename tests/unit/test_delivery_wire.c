/* test_delivery_wire.c: BatchWriteItem, PublishBatch and SendMessageBatch bodies and their responses. */
#include "txpipe/delivery_wire.h"

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
	const char *items[] = {"{\"transaction_id\":{\"S\":\"a\"}}", "{\"transaction_id\":{\"S\":\"b\"}}"};
	uint32_t lens[] = {(uint32_t)strlen(items[0]), (uint32_t)strlen(items[1])};
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
	const char *r =
	    "{\"UnprocessedItems\":{\"txns\":[{\"PutRequest\":{\"Item\":{\"transaction_id\":{\"S\":\"b\"},"
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

/* Finds `key=` in a form body and returns its still-encoded value. */
static char *form_value(const char *body, const char *key)
{
	size_t kl = strlen(key);
	const char *p = body;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1, *e = strchr(v, '&');
			return strndup(v, e != NULL ? (size_t)(e - v) : strlen(v));
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static void check_form(const char *body, const char *key, const char *want)
{
	char *v = form_value(body, key);

	ck_assert_msg(v != NULL, "%s missing in %s", key, body);
	ck_assert_str_eq(v, want);
	free(v);
}

START_TEST(publish_batch_body_uses_the_query_protocol_member_and_entry_names)
{
	struct txp_sns_entry e[2] = {
	    {.message = "{\"a\":1}", .len = 7, .alert_type = "fraud", .severity = "high"},
	    {.message = "x y&z", .len = 5, .alert_type = "compliance", .severity = "critical"},
	};
	size_t len;
	char *body = txp_sns_batch_body("arn:aws:sns:us-east-1:000000000000:t", e, 2, &len);

	ck_assert_uint_eq(strlen(body), len);
	check_form(body, "TopicArn", "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At");
	check_form(body, "PublishBatchRequestEntries.member.1.Id", "e0");
	check_form(body, "PublishBatchRequestEntries.member.1.Message", "%7B%22a%22%3A1%7D");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name", "alert_type");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType",
		   "String");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue",
		   "fraud");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.2.Name", "severity");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.2.Value.StringValue",
		   "high");
	check_form(body, "PublishBatchRequestEntries.member.2.Id", "e1");
	check_form(body, "PublishBatchRequestEntries.member.2.Message", "x%20y%26z");
	check_form(body, "PublishBatchRequestEntries.member.2.MessageAttributes.entry.2.Value.StringValue",
		   "critical");
	ck_assert_ptr_null(strstr(body, "Action="));
	free(body);
}
END_TEST

START_TEST(publish_batch_failures_are_read_from_the_xml_answer)
{
	static const char ok[] =
	    "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
	    "<PublishBatchResult><Successful><member><Id>e0</Id><MessageId>1</MessageId></member>"
	    "</Successful><Failed></Failed></PublishBatchResult></PublishBatchResponse>";
	static const char bad[] =
	    "<PublishBatchResponse><PublishBatchResult><Successful/><Failed>"
	    "<member><Id>e1</Id><Code>InvalidParameter</Code><Message>Message too long</Message>"
	    "<SenderFault>true</SenderFault></member>"
	    "<member><Code>InternalError</Code><Id>e3</Id><SenderFault>false</SenderFault>"
	    "</member><member><Id>zz</Id></member></Failed></PublishBatchResult>"
	    "</PublishBatchResponse>";
	struct txp_batch_failure f[4];

	ck_assert_int_eq(txp_sns_batch_failures(ok, sizeof(ok) - 1, f, 4), 0);
	ck_assert_int_eq(txp_sns_batch_failures(bad, sizeof(bad) - 1, f, 4), 2);
	ck_assert_uint_eq(f[0].index, 1);
	ck_assert(f[0].sender_fault);
	ck_assert_str_eq(f[0].code, "InvalidParameter");
	ck_assert_str_eq(f[0].message, "Message too long");
	ck_assert_uint_eq(f[1].index, 3);
	ck_assert(!f[1].sender_fault);
	ck_assert_str_eq(f[1].code, "InternalError");
	ck_assert_int_eq(txp_sns_batch_failures("{}", 2, f, 4), -EINVAL);
}
END_TEST

START_TEST(send_message_batch_body_carries_bodies_and_attributes)
{
	struct txp_sqs_entry e[2] = {
	    {.body = "{\"failed\":\"store\"}",
	     .len = 18,
	     .failed = "store",
	     .error_code = "ValidationException"},
	    {.body = "line\nbreak", .len = 10, .failed = "alert", .error_code = ""},
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
	ck_assert_str_eq(
	    json_string_value(json_object_get(
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
	static const char r[] =
	    "{\"Successful\":[{\"Id\":\"m0\"}],\"Failed\":[{\"Id\":\"m1\",\"SenderFault\":true,"
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
	ck_assert_str_eq(json_string_value(json_object_get(j, "error_message")),
			 "Requested resource not found");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(j, "dead_lettered_at")),
			 "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(json_object_get(j, "item"), "transaction_id"), "S")),
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
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "alert"), "alert_type")),
			 "fraud");
	ck_assert_ptr_null(json_object_get(j, "item"));
	json_decref(j);
	free(body);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("delivery_wire");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, batch_write_body_wraps_each_item_in_a_put_request);
	tcase_add_test(tc, unprocessed_items_are_reported_by_transaction_id);
	tcase_add_test(tc, publish_batch_body_uses_the_query_protocol_member_and_entry_names);
	tcase_add_test(tc, publish_batch_failures_are_read_from_the_xml_answer);
	tcase_add_test(tc, send_message_batch_body_carries_bodies_and_attributes);
	tcase_add_test(tc, send_message_batch_failures_are_read_from_the_json_answer);
	tcase_add_test(tc, dlq_message_embeds_the_item_and_says_what_failed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
