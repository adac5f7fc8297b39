/* test_sns.c: PublishBatch bodies and failures, and the query encoder and XML reader SNS needs. */
#include "txpipe/aws/query.h"
#include "txpipe/aws/sns.h"
#include "txpipe/aws/xml.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
		{ .message = "{\"a\":1}", .len = 7, .alert_type = "fraud", .severity = "high" },
		{ .message = "x y&z", .len = 5, .alert_type = "compliance", .severity = "critical" },
	};
	size_t len;
	char *body = txp_sns_batch_body("arn:aws:sns:us-east-1:000000000000:t", e, 2, &len);

	ck_assert_uint_eq(strlen(body), len);
	check_form(body, "TopicArn", "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At");
	check_form(body, "PublishBatchRequestEntries.member.1.Id", "e0");
	check_form(body, "PublishBatchRequestEntries.member.1.Message", "%7B%22a%22%3A1%7D");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name", "alert_type");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType", "String");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue", "fraud");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.2.Name", "severity");
	check_form(body, "PublishBatchRequestEntries.member.1.MessageAttributes.entry.2.Value.StringValue", "high");
	check_form(body, "PublishBatchRequestEntries.member.2.Id", "e1");
	check_form(body, "PublishBatchRequestEntries.member.2.Message", "x%20y%26z");
	check_form(body, "PublishBatchRequestEntries.member.2.MessageAttributes.entry.2.Value.StringValue", "critical");
	ck_assert_ptr_null(strstr(body, "Action="));
	free(body);
}
END_TEST

START_TEST(publish_batch_failures_are_read_from_the_xml_answer)
{
	static const char ok[] = "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
	                         "<PublishBatchResult><Successful><member><Id>e0</Id><MessageId>1</MessageId></member>"
	                         "</Successful><Failed></Failed></PublishBatchResult></PublishBatchResponse>";
	static const char bad[] = "<PublishBatchResponse><PublishBatchResult><Successful/><Failed>"
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

START_TEST(form_encodes_names_and_values_with_sigv4_rules)
{
	struct txp_sbuf f = { 0 };

	ck_assert_int_eq(txp_aws_query_add(&f, "TopicArn", "arn:aws:sns:us-east-1:1:t"), 0);
	ck_assert_int_eq(txp_aws_query_add(&f, "Message", "a b+c/d~e_f.g-h&=\xc3\xa9"), 0);
	ck_assert_int_eq(txp_aws_query_addf(&f, "x", "PublishBatchRequestEntries.member.%u.Id", 3u), 0);
	ck_assert_str_eq(f.p, "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At"
	                      "&Message=a%20b%2Bc%2Fd~e_f.g-h%26%3D%C3%A9"
	                      "&PublishBatchRequestEntries.member.3.Id=x");
	ck_assert_uint_eq(f.len, strlen(f.p));
	ck_assert_int_eq(txp_aws_query_add(&f, "", "v"), -EINVAL);
	ck_assert_int_eq(txp_aws_query_add(&f, "Name", NULL), -EINVAL);
	ck_assert_int_eq(txp_aws_query_addn(&f, "Bin", "a\0b", 3), 0);
	ck_assert_str_eq(f.p + f.len - 10, "&Bin=a%00b");
	txp_sbuf_free(&f);
	ck_assert_ptr_null(f.p);
}
END_TEST

START_TEST(query_body_puts_action_and_version_first)
{
	size_t n;
	char *b = txp_sns_query_body("Publish", "TopicArn=t&Message=m", 20, &n);

	ck_assert_str_eq(b, "Action=Publish&Version=2010-03-31&TopicArn=t&Message=m");
	ck_assert_uint_eq(n, strlen(b));
	free(b);
	b = txp_sns_query_body("ListTopics", NULL, 0, &n);
	ck_assert_str_eq(b, "Action=ListTopics&Version=2010-03-31");
	free(b);
}
END_TEST

START_TEST(xml_find_matches_whole_tag_names_and_iterates)
{
	const char *x = "<R><CodeX>no</CodeX><member a=\"1\"><Id>e1</Id></member><member><Id>e2</Id></member>"
	                "<Empty/></R>";
	const char *in, *p;
	size_t n;
	char id[16];

	ck_assert_ptr_null(txp_aws_xml_find(x, strlen(x), "Code", &in, &n));
	p = txp_aws_xml_find(x, strlen(x), "member", &in, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(n, strlen("<Id>e1</Id>"));
	ck_assert_ptr_nonnull(txp_aws_xml_find(in, n, "Id", &in, &n));
	txp_aws_xml_unescape(in, n, id, sizeof(id));
	ck_assert_str_eq(id, "e1");
	p = txp_aws_xml_find(p, strlen(p), "member", &in, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(strstr(in, "e2"));
	ck_assert_ptr_null(txp_aws_xml_find(p, strlen(p), "member", &in, &n));
	ck_assert_ptr_nonnull(txp_aws_xml_find(x, strlen(x), "Empty", &in, &n));
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(publish_batch_failure_text_is_unescaped_and_ids_out_of_form_ignored)
{
	static const char xml[] = "<PublishBatchResponse><PublishBatchResult><Failed>"
	                          "<member><Id>e2</Id><Code>InvalidParameter</Code>"
	                          "<Message>Invalid parameter: &quot;Message&quot; &amp; &lt;attributes&gt;</Message>"
	                          "<SenderFault>true</SenderFault></member>"
	                          "<member><Id>e1000</Id><Code>X</Code></member><member><Id>m1</Id></member>"
	                          "<member><Id>e0</Id><Code>InternalError</Code></member>"
	                          "</Failed></PublishBatchResult></PublishBatchResponse>";
	struct txp_batch_failure f[4];

	ck_assert_int_eq(txp_sns_batch_failures(xml, sizeof(xml) - 1, f, 4), 2);
	ck_assert_uint_eq(f[0].index, 2);
	ck_assert_str_eq(f[0].message, "Invalid parameter: \"Message\" & <attributes>");
	ck_assert(f[0].sender_fault);
	ck_assert_uint_eq(f[1].index, 0);
	ck_assert_str_eq(f[1].code, "InternalError");
	ck_assert_str_eq(f[1].message, "");
	ck_assert(!f[1].sender_fault);
	/* More failures than room: the first `max`. */
	ck_assert_int_eq(txp_sns_batch_failures(xml, sizeof(xml) - 1, f, 1), 1);
	ck_assert_uint_eq(f[0].index, 2);
}
END_TEST

START_TEST(xml_text_unescapes_the_first_element_or_says_it_is_absent)
{
	static const char x[] = "<R><TopicArn>arn:aws:sns:us-east-1:1:a&amp;b</TopicArn><Empty/></R>";
	char out[64];

	ck_assert_int_eq(txp_aws_xml_text(x, sizeof(x) - 1, "TopicArn", out, sizeof(out)), 27);
	ck_assert_str_eq(out, "arn:aws:sns:us-east-1:1:a&b");
	ck_assert_int_eq(txp_aws_xml_text(x, sizeof(x) - 1, "Empty", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(txp_aws_xml_text(x, sizeof(x) - 1, "Missing", out, sizeof(out)), -ENOENT);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(txp_aws_xml_text(NULL, 0, "TopicArn", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(txp_aws_xml_text(x, sizeof(x) - 1, "TopicArn", out, 8), 7);
	ck_assert_str_eq(out, "arn:aws");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sns");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, publish_batch_body_uses_the_query_protocol_member_and_entry_names);
	tcase_add_test(tc, publish_batch_failures_are_read_from_the_xml_answer);
	tcase_add_test(tc, form_encodes_names_and_values_with_sigv4_rules);
	tcase_add_test(tc, query_body_puts_action_and_version_first);
	tcase_add_test(tc, xml_find_matches_whole_tag_names_and_iterates);
	tcase_add_test(tc, publish_batch_failure_text_is_unescaped_and_ids_out_of_form_ignored);
	tcase_add_test(tc, xml_text_unescapes_the_first_element_or_says_it_is_absent);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
