/* test_aws_error.c: classification of AWS call outcomes into ok, retryable, credentials and fatal. */
#include "txpipe/aws/error.h"

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

START_TEST(success_statuses_are_ok)
{
	ck_assert_int_eq(txp_aws_classify(200, NULL, CURLE_OK), TXP_AWS_OK);
	ck_assert_int_eq(txp_aws_classify(204, "", CURLE_OK), TXP_AWS_OK);
}
END_TEST

START_TEST(throttling_codes_are_retryable_whatever_the_status)
{
	static const char *const codes[] = {
		"ThrottlingException",
		"Throttling",
		"ProvisionedThroughputExceededException",
		"RequestLimitExceeded",
		"TooManyRequestsException",
		"RequestThrottled",
		"SlowDown",
		"TransactionInProgressException",
		"RequestThrottledException",
		"LimitExceededException",
		"KMSThrottlingException",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		ck_assert_msg(txp_aws_classify(400, codes[i], CURLE_OK) == TXP_AWS_RETRYABLE, "%s", codes[i]);
}
END_TEST

START_TEST(dynamodb_json_type_is_classified_by_its_short_code)
{
	ck_assert_int_eq(txp_aws_classify(400,
	                                  "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
	                                  CURLE_OK),
	                 TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(400, "com.amazon.coral.validate#ValidationException", CURLE_OK),
	                 TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, "com.amazon.coral.service#ExpiredTokenException", CURLE_OK),
	                 TXP_AWS_CREDENTIALS);
}
END_TEST

START_TEST(x_amzn_errortype_header_is_classified_by_the_part_before_the_colon)
{
	ck_assert_int_eq(
	        txp_aws_classify(400,
	                         "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/",
	                         CURLE_OK),
	        TXP_AWS_RETRYABLE);
	ck_assert_int_eq(
	        txp_aws_classify(400, "UnrecognizedClientException:http://internal.amazon.com/coral/", CURLE_OK),
	        TXP_AWS_CREDENTIALS);
}
END_TEST

START_TEST(credential_codes_ask_for_a_refresh)
{
	ck_assert_int_eq(txp_aws_classify(403, "ExpiredToken", CURLE_OK), TXP_AWS_CREDENTIALS);
	ck_assert_int_eq(txp_aws_classify(400, "ExpiredTokenException", CURLE_OK), TXP_AWS_CREDENTIALS);
	ck_assert_int_eq(txp_aws_classify(403, "InvalidClientTokenId", CURLE_OK), TXP_AWS_CREDENTIALS);
	ck_assert_int_eq(txp_aws_classify(400, "UnrecognizedClientException", CURLE_OK), TXP_AWS_CREDENTIALS);
}
END_TEST

START_TEST(validation_access_and_missing_resources_are_fatal)
{
	ck_assert_int_eq(txp_aws_classify(400, "ValidationException", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, "AccessDeniedException", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(403, "AuthorizationError", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, "ResourceNotFoundException", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(404, "NotFound", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, "ConditionalCheckFailedException", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(403, "SignatureDoesNotMatch", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(413, NULL, CURLE_OK), TXP_AWS_FATAL);
}
END_TEST

START_TEST(statuses_without_a_code_follow_http_semantics)
{
	ck_assert_int_eq(txp_aws_classify(429, NULL, CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(408, NULL, CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(500, NULL, CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(502, "", CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(503, "ServiceUnavailable", CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(504, NULL, CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(501, NULL, CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, NULL, CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(403, NULL, CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(301, NULL, CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_OK), TXP_AWS_FATAL);
}
END_TEST

START_TEST(an_unknown_code_on_a_5xx_is_still_retryable)
{
	ck_assert_int_eq(txp_aws_classify(500, "InternalServerError", CURLE_OK), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(500, "SomethingNew", CURLE_OK), TXP_AWS_RETRYABLE);
	/* A credentials code wins over the status class. */
	ck_assert_int_eq(txp_aws_classify(500, "ExpiredToken", CURLE_OK), TXP_AWS_CREDENTIALS);
}
END_TEST

START_TEST(transport_errors_decide_before_the_status)
{
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_OPERATION_TIMEDOUT), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_COULDNT_CONNECT), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_COULDNT_RESOLVE_HOST), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_RECV_ERROR), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_SEND_ERROR), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_GOT_NOTHING), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(200, NULL, CURLE_PARTIAL_FILE), TXP_AWS_RETRYABLE);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_PEER_FAILED_VERIFICATION), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_URL_MALFORMAT), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(0, NULL, CURLE_OUT_OF_MEMORY), TXP_AWS_FATAL);
}
END_TEST

START_TEST(error_code_extracts_the_short_name)
{
	char out[64];

	ck_assert_int_eq(txp_aws_error_code("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
	                                    out, sizeof(out)),
	                 (int)strlen("ProvisionedThroughputExceededException"));
	ck_assert_str_eq(out, "ProvisionedThroughputExceededException");
	ck_assert_int_eq(txp_aws_error_code("ThrottlingException:http://internal.amazon.com/coral/", out, sizeof(out)),
	                 19);
	ck_assert_str_eq(out, "ThrottlingException");
	ck_assert_int_eq(txp_aws_error_code("  Throttling \n", out, sizeof(out)), 10);
	ck_assert_str_eq(out, "Throttling");
	ck_assert_int_eq(txp_aws_error_code("", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(error_code_reports_bad_arguments_and_short_buffers)
{
	char out[8];

	ck_assert_int_eq(txp_aws_error_code(NULL, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(txp_aws_error_code("ThrottlingException", out, sizeof(out)), -ENOSPC);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(txp_aws_error_code("SlowDown", out, sizeof(out)), -ENOSPC);
	ck_assert_int_eq(txp_aws_error_code("Throttl", out, sizeof(out)), 7);
	ck_assert_str_eq(out, "Throttl");
}
END_TEST

START_TEST(codes_are_case_sensitive_and_exact)
{
	/* AWS error codes are case-sensitive identifiers; a near miss is unknown. */
	ck_assert_int_eq(txp_aws_classify(400, "throttling", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, "ThrottlingExceptionX", CURLE_OK), TXP_AWS_FATAL);
	ck_assert_int_eq(txp_aws_classify(400, "Throttl", CURLE_OK), TXP_AWS_FATAL);
}
END_TEST

START_TEST(throttling_is_told_apart_from_other_retryable_outcomes)
{
	static const char *const throttled[] = {
		"ThrottlingException",
		"Throttling",
		"ProvisionedThroughputExceededException",
		"SlowDown",
		"TooManyRequestsException",
		"RequestLimitExceeded",
		"KMSThrottlingException",
		"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
		"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/",
	};
	static const char *const other[] = { "InternalError",  "ServiceUnavailable",
		                             "RequestTimeout", "http_503",
		                             "timeout",        "" };

	for (size_t i = 0; i < sizeof(throttled) / sizeof(throttled[0]); i++) {
		ck_assert_msg(txp_aws_is_throttling(400, throttled[i]), "%s", throttled[i]);
		/* Throttled is a kind of retryable: the two lists cannot disagree. */
		ck_assert_int_eq(txp_aws_classify(400, throttled[i], 0), TXP_AWS_RETRYABLE);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		ck_assert_msg(!txp_aws_is_throttling(503, other[i]), "%s", other[i]);
	ck_assert(txp_aws_is_throttling(429, NULL));
	ck_assert(txp_aws_is_throttling(429, "anything"));
	ck_assert(!txp_aws_is_throttling(500, NULL));
	/* A spelling no list names yet still counts. */
	ck_assert(txp_aws_is_throttling(503, "NewServiceThrottledError"));
}
END_TEST

START_TEST(set_err_formats_truncates_and_accepts_no_buffer)
{
	char buf[8];

	txp_aws_set_err(buf, sizeof(buf), "%s %d", "code", 12345);
	ck_assert_str_eq(buf, "code 12");
	txp_aws_set_err(NULL, 0, "%s", "ignored");
	buf[0] = 'x';
	txp_aws_set_err(buf, 0, "%s", "ignored");
	ck_assert_int_eq(buf[0], 'x');
}
END_TEST

START_TEST(kind_names_are_stable)
{
	ck_assert_str_eq(txp_aws_kind_name(TXP_AWS_OK), "ok");
	ck_assert_str_eq(txp_aws_kind_name(TXP_AWS_RETRYABLE), "retryable");
	ck_assert_str_eq(txp_aws_kind_name(TXP_AWS_CREDENTIALS), "credentials");
	ck_assert_str_eq(txp_aws_kind_name(TXP_AWS_FATAL), "fatal");
}
END_TEST

static Suite *aws_error_suite(void)
{
	Suite *s = suite_create("aws_error");
	TCase *tc = tcase_create("classify");

	tcase_add_test(tc, success_statuses_are_ok);
	tcase_add_test(tc, throttling_is_told_apart_from_other_retryable_outcomes);
	tcase_add_test(tc, set_err_formats_truncates_and_accepts_no_buffer);
	tcase_add_test(tc, throttling_codes_are_retryable_whatever_the_status);
	tcase_add_test(tc, dynamodb_json_type_is_classified_by_its_short_code);
	tcase_add_test(tc, x_amzn_errortype_header_is_classified_by_the_part_before_the_colon);
	tcase_add_test(tc, credential_codes_ask_for_a_refresh);
	tcase_add_test(tc, validation_access_and_missing_resources_are_fatal);
	tcase_add_test(tc, statuses_without_a_code_follow_http_semantics);
	tcase_add_test(tc, an_unknown_code_on_a_5xx_is_still_retryable);
	tcase_add_test(tc, transport_errors_decide_before_the_status);
	tcase_add_test(tc, error_code_extracts_the_short_name);
	tcase_add_test(tc, error_code_reports_bad_arguments_and_short_buffers);
	tcase_add_test(tc, codes_are_case_sensitive_and_exact);
	tcase_add_test(tc, kind_names_are_stable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(aws_error_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
