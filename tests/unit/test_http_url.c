/* test_http_url.c: the HTTP client's URL policy: HTTPS everywhere, plain HTTP only to loopback or IMDS. */
#include "txp_build_config.h"

#include "txpipe/aws/http.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int check_url(const char *url, bool imds, char *err, size_t len)
{
	err[0] = '\0';
	return txp_http_url_allowed(url, imds, err, len);
}

START_TEST(https_is_allowed_to_any_host)
{
	char err[256];

	ck_assert_int_eq(check_url("https://dynamodb.eu-west-1.amazonaws.com/", false, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("HTTPS://sns.us-east-1.amazonaws.com:443/?Action=Publish", false, err, sizeof(err)),
	                 0);
	ck_assert_int_eq(check_url("https://[2001:db8::1]/", false, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("https://169.254.169.254/", false, err, sizeof(err)), 0);
}
END_TEST

START_TEST(plain_http_is_allowed_to_loopback_hosts)
{
	char err[256];

	ck_assert_int_eq(check_url("http://127.0.0.1:8000/", false, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("http://127.255.3.4/x", false, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("http://localhost:4566/", false, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("http://LocalHost/", false, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("http://[::1]:9000/", false, err, sizeof(err)), 0);
}
END_TEST

START_TEST(plain_http_is_refused_to_other_hosts_with_a_reason)
{
	char err[256];

	ck_assert_int_eq(check_url("http://dynamodb.eu-west-1.amazonaws.com/", false, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "not allowed"));
	ck_assert_ptr_nonnull(strstr(err, "dynamodb.eu-west-1.amazonaws.com"));
	ck_assert_int_eq(check_url("http://128.0.0.1/", false, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://10.0.0.1/", false, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://[::2]/", false, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://[::ffff:10.0.0.1]/", false, err, sizeof(err)), -EPERM);
	/* A name that merely starts like a loopback address is a DNS name. */
	ck_assert_int_eq(check_url("http://127.0.0.1.evil.example/", false, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://localhost.evil.example/", false, err, sizeof(err)), -EPERM);
}
END_TEST

START_TEST(imds_addresses_need_the_explicit_flag)
{
	char err[256];

	ck_assert_int_eq(check_url("http://169.254.169.254/latest/api/token", false, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "169.254.169.254"));
	ck_assert_int_eq(check_url("http://169.254.169.254/latest/api/token", true, err, sizeof(err)), 0);
	ck_assert_int_eq(check_url("http://[fd00:ec2::254]/latest/api/token", false, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://[fd00:ec2::254]/latest/api/token", true, err, sizeof(err)), 0);
	/* The flag opens the metadata address only, not its neighbours. */
	ck_assert_int_eq(check_url("http://169.254.169.253/", true, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://[fd00:ec2::253]/", true, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("http://example.com/", true, err, sizeof(err)), -EPERM);
}
END_TEST

START_TEST(other_schemes_and_user_info_are_refused)
{
	char err[256];

	ck_assert_int_eq(check_url("ftp://127.0.0.1/file", false, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "scheme"));
	ck_assert_int_eq(check_url("file:///etc/passwd", false, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(check_url("https://user:secret@example.com/", false, err, sizeof(err)), -EPERM);
	ck_assert_ptr_null(strstr(err, "secret"));
	ck_assert_int_eq(check_url("http://user@127.0.0.1/", false, err, sizeof(err)), -EPERM);
}
END_TEST

START_TEST(unparsable_urls_are_invalid)
{
	char err[256];

	ck_assert_int_eq(check_url("", false, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(check_url("not a url", false, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(check_url("127.0.0.1/no-scheme", false, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(check_url(NULL, false, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(check_url("https://exa mple.com/", false, err, sizeof(err)), -EINVAL);
	ck_assert_str_ne(err, "");
	/* A NULL buffer is allowed. */
	ck_assert_int_eq(txp_http_url_allowed("http://10.0.0.1/", false, NULL, 0), -EPERM);
}
END_TEST

static Suite *url_suite(void)
{
	Suite *s = suite_create("http_url");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, https_is_allowed_to_any_host);
	tcase_add_test(tc, plain_http_is_allowed_to_loopback_hosts);
	tcase_add_test(tc, plain_http_is_refused_to_other_hosts_with_a_reason);
	tcase_add_test(tc, imds_addresses_need_the_explicit_flag);
	tcase_add_test(tc, other_schemes_and_user_info_are_refused);
	tcase_add_test(tc, unparsable_urls_are_invalid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(url_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
