/* test_sigv4.c: the SigV4 signer on the AWS documentation's examples, and each signing step on its own. */
#define _POSIX_C_SOURCE 200809L
#include "sigv4_case.h"

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXAMPLE_AKID "AKIDEXAMPLE"
#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T_20150830_123600 ((time_t)1440938160)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char data_dir[4096];

/* tests/data/sigv4 in the source tree: make check exports top_srcdir; a
 * direct run falls back to the path configure saw. */
static void find_data_dir(void)
{
	const char *top = getenv("top_srcdir");

	snprintf(data_dir, sizeof(data_dir), "%s/tests/data/sigv4", top && top[0] ? top : TXP_TEST_SRCDIR);
}

/* ---- The documentation's examples (tests/data/sigv4, sources in its README.md). ---- */

START_TEST(documented_examples_sign_as_published)
{
	char dir[4200], why[512], msg[8192];
	char **names;
	int n;

	snprintf(dir, sizeof(dir), "%s/cases", data_dir);
	n = sigv4_case_list(dir, &names);
	ck_assert_msg(n >= 2, "expected the documented cases in %s", dir);
	for (int i = 0; i < n; i++) {
		struct sigv4_case c;
		int rc = sigv4_case_load(dir, names[i], &c, why, sizeof(why));

		ck_assert_msg(rc == 0, "%s: %s", names[i], why);
		rc = sigv4_case_check(&c, msg, sizeof(msg));
		sigv4_case_free(&c);
		ck_assert_msg(rc == 0, "%s", msg);
	}
	sigv4_case_names_free(names, n);
}
END_TEST

START_TEST(documented_signing_keys_derive_as_published)
{
	char path[4200], line[512];
	char secret[128] = "", date[16] = "", region[32] = "", service[32] = "";
	unsigned char key[TXP_SIGV4_KEY_BYTES];
	char hex[TXP_SIGV4_HEX_BYTES];
	int checked = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/derive-signing-key.txt", data_dir);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || eq == NULL)
			continue;
		*eq = '\0';
		if (strcmp(line, "secret") == 0)
			snprintf(secret, sizeof(secret), "%s", eq + 1);
		else if (strcmp(line, "date") == 0)
			snprintf(date, sizeof(date), "%s", eq + 1);
		else if (strcmp(line, "region") == 0)
			snprintf(region, sizeof(region), "%s", eq + 1);
		else if (strcmp(line, "service") == 0)
			snprintf(service, sizeof(service), "%s", eq + 1);
		else if (strcmp(line, "k_signing") == 0) {
			ck_assert_int_eq(txp_sigv4_derive_key(secret, date, region, service, key), 0);
			sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
			ck_assert_msg(strcmp(hex, eq + 1) == 0, "%s/%s/%s: got %s, documented %s", date, region,
			              service, hex, eq + 1);
			checked++;
		}
	}
	fclose(f);
	ck_assert_int_ge(checked, 3);
}
END_TEST

/* ---- Per-step tests through small requests. ---- */

static struct txp_sigv4_credentials example_creds = { EXAMPLE_AKID, EXAMPLE_SECRET, NULL };

static int sign_req(const char *method, const char *path, const char *query, const struct txp_sigv4_header *h,
                    size_t nh, unsigned flags, const struct txp_sigv4_credentials *creds, struct txp_sigv4_signed **out)
{
	struct txp_sigv4_request req = {
		.method = method,
		.path = path,
		.query = query,
		.headers = h,
		.n_headers = nh,
	};
	struct txp_sigv4_params params = {
		.creds = creds ? creds : &example_creds,
		.region = "us-east-1",
		.service = "service",
		.now = T_20150830_123600,
		.flags = flags,
	};
	char err[256];

	return txp_sigv4_sign(&req, &params, out, err, sizeof(err));
}

/* Line `n` (0-based) of the canonical request, copied into a static buffer. */
static const char *canon_line(const struct txp_sigv4_signed *s, int n)
{
	static char buf[1024];
	const char *p = s->canonical_request;

	for (int i = 0; i < n && p != NULL; i++) {
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	ck_assert_ptr_nonnull(p);
	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(p, "\n"), p);
	return buf;
}

static const struct txp_sigv4_header host_only[] = { { "Host", "example.amazonaws.com" } };

static const char *canonical_uri_of(const char *path, unsigned flags)
{
	struct txp_sigv4_signed *s = NULL;
	static char buf[1024];

	ck_assert_int_eq(sign_req("GET", path, NULL, host_only, 1, flags, NULL, &s), 0);
	snprintf(buf, sizeof(buf), "%s", canon_line(s, 1));
	txp_sigv4_signed_free(s);
	return buf;
}

static const char *canonical_query_of(const char *query)
{
	struct txp_sigv4_signed *s = NULL;
	static char buf[1024];

	ck_assert_int_eq(sign_req("GET", "/", query, host_only, 1, TXP_SIGV4_DEFAULT_FLAGS, NULL, &s), 0);
	snprintf(buf, sizeof(buf), "%s", canon_line(s, 2));
	txp_sigv4_signed_free(s);
	return buf;
}

START_TEST(uri_encode_escapes_everything_but_unreserved)
{
	const char in[] = "AZaz09-._~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}";
	char *out = txp_sigv4_uri_encode(in, strlen(in), false);

	ck_assert_str_eq(out, "AZaz09-._~%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E"
	                      "%60%7B%7C%7D");
	free(out);
	out = txp_sigv4_uri_encode("/a b/c", 6, true);
	ck_assert_str_eq(out, "/a%20b/c");
	free(out);
	/* Multi-byte UTF-8 is encoded byte by byte with uppercase hex. */
	out = txp_sigv4_uri_encode("\xe1\x88\xb4", 3, false);
	ck_assert_str_eq(out, "%E1%88%B4");
	free(out);
	/* The length is honoured, embedded NUL included. */
	out = txp_sigv4_uri_encode("a\0b", 3, false);
	ck_assert_str_eq(out, "a%00b");
	free(out);
	out = txp_sigv4_uri_encode("", 0, false);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

START_TEST(path_is_encoded_twice_except_for_s3)
{
	/* The caller's path is the wire form; non-S3 services sign it encoded again. */
	ck_assert_str_eq(canonical_uri_of("/a%20b/c%2Fd", TXP_SIGV4_DEFAULT_FLAGS), "/a%2520b/c%252Fd");
	ck_assert_str_eq(canonical_uri_of("/a%20b/c%2Fd", TXP_SIGV4_SINGLE_ENCODE_PATH), "/a%20b/c%2Fd");
	ck_assert_str_eq(canonical_uri_of("/x=y&z", TXP_SIGV4_DEFAULT_FLAGS), "/x%3Dy%26z");
	ck_assert_str_eq(canonical_uri_of("", TXP_SIGV4_DEFAULT_FLAGS), "/");
	ck_assert_str_eq(canonical_uri_of(NULL, 0), "/");
}
END_TEST

START_TEST(path_normalization_removes_dot_segments_and_empty_segments)
{
	ck_assert_str_eq(canonical_uri_of("/a/b/../c/./d/", TXP_SIGV4_NORMALIZE_PATH), "/a/c/d/");
	ck_assert_str_eq(canonical_uri_of("/a/b/..", TXP_SIGV4_NORMALIZE_PATH), "/a/");
	ck_assert_str_eq(canonical_uri_of("/a/b/.", TXP_SIGV4_NORMALIZE_PATH), "/a/b/");
	ck_assert_str_eq(canonical_uri_of("/../../a", TXP_SIGV4_NORMALIZE_PATH), "/a");
	ck_assert_str_eq(canonical_uri_of("//a///b", TXP_SIGV4_NORMALIZE_PATH), "/a/b");
	ck_assert_str_eq(canonical_uri_of("/a/.b/..c", TXP_SIGV4_NORMALIZE_PATH), "/a/.b/..c");
	/* Without the flag the path is kept as given (S3). */
	ck_assert_str_eq(canonical_uri_of("/a/b/../c/./d/", 0), "/a/b/../c/./d/");
	ck_assert_str_eq(canonical_uri_of("//a//", 0), "//a//");
}
END_TEST

START_TEST(query_parameters_sort_by_name_then_value)
{
	ck_assert_str_eq(canonical_query_of("b=2&a=3&a=1&c"), "a=1&a=3&b=2&c=");
	/* Byte order: uppercase sorts before lowercase, '-' before digits. */
	ck_assert_str_eq(canonical_query_of("b=1&B=2&a-=3&a1=4"), "B=2&a-=3&a1=4&b=1");
	ck_assert_str_eq(canonical_query_of("&&a=1&"), "a=1");
	ck_assert_str_eq(canonical_query_of(""), "");
	ck_assert_str_eq(canonical_query_of(NULL), "");
}
END_TEST

START_TEST(query_names_and_values_are_decoded_then_encoded)
{
	/* Raw and pre-encoded spellings sign alike. */
	ck_assert_str_eq(canonical_query_of("k=a b"), "k=a%20b");
	ck_assert_str_eq(canonical_query_of("k=a%20b"), "k=a%20b");
	ck_assert_str_eq(canonical_query_of("k=a%2fb"), "k=a%2Fb");
	ck_assert_str_eq(canonical_query_of("k=a/b:c"), "k=a%2Fb%3Ac");
	/* '+' is a literal plus, and a stray '%' is itself encoded. */
	ck_assert_str_eq(canonical_query_of("k=a+b"), "k=a%2Bb");
	ck_assert_str_eq(canonical_query_of("k=100%&j=%zz"), "j=%25zz&k=100%25");
	/* Only the first '=' separates name from value. */
	ck_assert_str_eq(canonical_query_of("k=a=b"), "k=a%3Db");
	/* Sorting happens on the encoded form. */
	ck_assert_str_eq(canonical_query_of("%E1%88%B4=1&Z=2"), "%E1%88%B4=1&Z=2");
}
END_TEST

START_TEST(header_values_are_trimmed_and_inner_blanks_collapsed)
{
	const struct txp_sigv4_header h[] = {
		{ "Host", "example.amazonaws.com" },
		{ "X-A", "   lead and trail   " },
		{ "X-B", "a   b\t\t c" },
		{ "X-C", "" },
		{ "X-D", " \t " },
		{ "X-E", "\"a   b\"" },
	};
	struct txp_sigv4_signed *s = NULL;

	ck_assert_int_eq(sign_req("GET", "/", NULL, h, 6, TXP_SIGV4_DEFAULT_FLAGS, NULL, &s), 0);
	ck_assert_str_eq(canon_line(s, 3), "host:example.amazonaws.com");
	ck_assert_str_eq(canon_line(s, 4), "x-a:lead and trail");
	ck_assert_str_eq(canon_line(s, 5), "x-amz-date:20150830T123600Z");
	ck_assert_str_eq(canon_line(s, 6), "x-b:a b c");
	ck_assert_str_eq(canon_line(s, 7), "x-c:");
	ck_assert_str_eq(canon_line(s, 8), "x-d:");
	ck_assert_str_eq(canon_line(s, 9), "x-e:\"a b\"");
	ck_assert_str_eq(s->signed_headers, "host;x-a;x-amz-date;x-b;x-c;x-d;x-e");
	txp_sigv4_signed_free(s);
}
END_TEST

START_TEST(header_names_lowercase_sort_and_repeated_values_join_in_order)
{
	const struct txp_sigv4_header h[] = {
		{ "Zeta", "z" },        { "HOST", "example.amazonaws.com" },
		{ "My-Header", "3" },   { "alpha", "a" },
		{ "my-header", " 1 " }, { "MY-HEADER", "2" },
	};
	struct txp_sigv4_signed *s = NULL;

	ck_assert_int_eq(sign_req("GET", "/", NULL, h, 6, TXP_SIGV4_DEFAULT_FLAGS, NULL, &s), 0);
	ck_assert_str_eq(canon_line(s, 3), "alpha:a");
	ck_assert_str_eq(canon_line(s, 4), "host:example.amazonaws.com");
	ck_assert_str_eq(canon_line(s, 5), "my-header:3,1,2");
	ck_assert_str_eq(canon_line(s, 6), "x-amz-date:20150830T123600Z");
	ck_assert_str_eq(canon_line(s, 7), "zeta:z");
	ck_assert_str_eq(canon_line(s, 8), "");
	ck_assert_str_eq(canon_line(s, 9), "alpha;host;my-header;x-amz-date;zeta");
	ck_assert_str_eq(canon_line(s, 10), EMPTY_SHA256);
	txp_sigv4_signed_free(s);
}
END_TEST

START_TEST(signer_refuses_headers_it_adds_and_malformed_input)
{
	const struct txp_sigv4_header auth[] = { { "Host", "h" }, { "Authorization", "x" } };
	const struct txp_sigv4_header date[] = { { "Host", "h" }, { "X-Amz-Date", "20150830T123600Z" } };
	const struct txp_sigv4_header token[] = { { "Host", "h" }, { "X-Amz-Security-Token", "t" } };
	const struct txp_sigv4_header sha[] = { { "Host", "h" }, { "x-amz-content-sha256", "UNSIGNED-PAYLOAD" } };
	const struct txp_sigv4_header nohost[] = { { "X-A", "1" } };
	const struct txp_sigv4_header crlf[] = { { "Host", "h" }, { "X-A", "1\r\nX-Injected: 2" } };
	const struct txp_sigv4_header badname[] = { { "Host", "h" }, { "X A", "1" } };
	const struct txp_sigv4_header emptyname[] = { { "Host", "h" }, { "", "1" } };
	struct txp_sigv4_credentials with_token = { EXAMPLE_AKID, EXAMPLE_SECRET, "tok" };
	struct txp_sigv4_signed *s = NULL;

	ck_assert_int_eq(sign_req("GET", "/", NULL, auth, 2, 0, NULL, &s), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(sign_req("GET", "/", NULL, date, 2, 0, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "/", NULL, token, 2, 0, &with_token, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "/", NULL, sha, 2, TXP_SIGV4_SIGN_BODY, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "/", NULL, nohost, 1, 0, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "/", NULL, crlf, 2, 0, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "/", NULL, badname, 2, 0, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "/", NULL, emptyname, 2, 0, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("GET", "relative", NULL, host_only, 1, 0, NULL, &s), -EINVAL);
	ck_assert_int_eq(sign_req("", "/", NULL, host_only, 1, 0, NULL, &s), -EINVAL);
	ck_assert_ptr_null(s);
	/* Without a session token, a caller's X-Amz-Security-Token is an ordinary header. */
	ck_assert_int_eq(sign_req("GET", "/", NULL, token, 2, 0, NULL, &s), 0);
	txp_sigv4_signed_free(s);
	/* Without SIGN_BODY, a caller's x-amz-content-sha256 is signed as given. */
	s = NULL;
	ck_assert_int_eq(sign_req("GET", "/", NULL, sha, 2, 0, NULL, &s), 0);
	ck_assert_str_eq(s->signed_headers, "host;x-amz-content-sha256;x-amz-date");
	txp_sigv4_signed_free(s);
}
END_TEST

START_TEST(signer_refuses_bad_parameters_and_says_why)
{
	struct txp_sigv4_request req = { .method = "GET", .path = "/", .headers = host_only, .n_headers = 1 };
	struct txp_sigv4_params params = {
		.creds = &example_creds,
		.region = "us-east-1",
		.service = "service",
		.now = T_20150830_123600,
	};
	struct txp_sigv4_signed *s = NULL;
	char err[256] = "";

	params.region = "us/east";
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "region"));
	params.region = "us-east-1";
	params.now = -1;
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "time"));
	params.now = T_20150830_123600;
	params.creds = NULL;
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &s, NULL, 0), -EINVAL);
	ck_assert_ptr_null(s);
	/* The secret never appears in error messages. */
	params.creds = &example_creds;
	req.n_headers = 0;
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(strstr(err, EXAMPLE_SECRET));
}
END_TEST

START_TEST(session_token_is_sent_and_signed_unless_omitted)
{
	struct txp_sigv4_credentials with_token = { EXAMPLE_AKID, EXAMPLE_SECRET, "TOKEN123" };
	struct txp_sigv4_signed *s = NULL;

	ck_assert_int_eq(sign_req("GET", "/", NULL, host_only, 1, TXP_SIGV4_DEFAULT_FLAGS, &with_token, &s), 0);
	ck_assert_str_eq(s->signed_headers, "host;x-amz-date;x-amz-security-token");
	ck_assert_uint_eq(s->n_add_headers, 3);
	ck_assert_str_eq(s->add_headers[0].name, "X-Amz-Date");
	ck_assert_str_eq(s->add_headers[0].value, "20150830T123600Z");
	ck_assert_str_eq(s->add_headers[1].name, "X-Amz-Security-Token");
	ck_assert_str_eq(s->add_headers[1].value, "TOKEN123");
	ck_assert_str_eq(s->add_headers[2].name, "Authorization");
	ck_assert_str_eq(s->add_headers[2].value, s->authorization);
	txp_sigv4_signed_free(s);

	s = NULL;
	ck_assert_int_eq(sign_req("GET", "/", NULL, host_only, 1,
	                          TXP_SIGV4_DEFAULT_FLAGS | TXP_SIGV4_OMIT_SESSION_TOKEN, &with_token, &s),
	                 0);
	ck_assert_str_eq(s->signed_headers, "host;x-amz-date");
	ck_assert_uint_eq(s->n_add_headers, 3);
	ck_assert_str_eq(s->add_headers[1].name, "X-Amz-Security-Token");
	ck_assert_ptr_null(strstr(s->canonical_request, "TOKEN123"));
	txp_sigv4_signed_free(s);

	/* An empty token is no token. */
	with_token.session_token = "";
	s = NULL;
	ck_assert_int_eq(sign_req("GET", "/", NULL, host_only, 1, TXP_SIGV4_DEFAULT_FLAGS, &with_token, &s), 0);
	ck_assert_uint_eq(s->n_add_headers, 2);
	txp_sigv4_signed_free(s);
}
END_TEST

START_TEST(payload_hash_is_computed_or_taken_verbatim)
{
	struct txp_sigv4_request req = {
		.method = "PUT",
		.path = "/",
		.headers = host_only,
		.n_headers = 1,
		.payload = "Param1=value1",
		.payload_len = 13,
	};
	struct txp_sigv4_params params = {
		.creds = &example_creds,
		.region = "us-east-1",
		.service = "s3",
		.now = T_20150830_123600,
		.flags = TXP_SIGV4_SIGN_BODY | TXP_SIGV4_SINGLE_ENCODE_PATH,
	};
	struct txp_sigv4_signed *s = NULL;

	/* SHA-256("Param1=value1"), as in the suite's post-x-www-form-urlencoded case. */
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &s, NULL, 0), 0);
	ck_assert_str_eq(s->payload_hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	ck_assert_str_eq(s->signed_headers, "host;x-amz-content-sha256;x-amz-date");
	ck_assert_uint_eq(s->n_add_headers, 3);
	ck_assert_str_eq(s->add_headers[1].name, "x-amz-content-sha256");
	ck_assert_str_eq(s->add_headers[1].value, s->payload_hash);
	txp_sigv4_signed_free(s);

	req.payload_hash = TXP_SIGV4_UNSIGNED_PAYLOAD;
	s = NULL;
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &s, NULL, 0), 0);
	ck_assert_str_eq(s->payload_hash, "UNSIGNED-PAYLOAD");
	/* method, uri, query, host, x-amz-content-sha256, x-amz-date, blank, signed list, hash */
	ck_assert_str_eq(canon_line(s, 4), "x-amz-content-sha256:UNSIGNED-PAYLOAD");
	ck_assert_str_eq(canon_line(s, 8), "UNSIGNED-PAYLOAD");
	txp_sigv4_signed_free(s);
}
END_TEST

START_TEST(amz_date_formats_utc_and_rejects_out_of_range)
{
	char out[TXP_SIGV4_AMZ_DATE_BYTES];

	ck_assert_int_eq(txp_sigv4_amz_date(0, out), 0);
	ck_assert_str_eq(out, "19700101T000000Z");
	ck_assert_int_eq(txp_sigv4_amz_date(T_20150830_123600, out), 0);
	ck_assert_str_eq(out, "20150830T123600Z");
	ck_assert_int_eq(txp_sigv4_amz_date(951782400, out), 0); /* leap day */
	ck_assert_str_eq(out, "20000229T000000Z");
	/* 2100 is not a leap year: the day after 28 February is 1 March. */
	ck_assert_int_eq(txp_sigv4_amz_date((time_t)4107542399LL, out), 0);
	ck_assert_str_eq(out, "21000228T235959Z");
	ck_assert_int_eq(txp_sigv4_amz_date((time_t)4107542400LL, out), 0);
	ck_assert_str_eq(out, "21000301T000000Z");
	ck_assert_int_eq(txp_sigv4_amz_date((time_t)4133980799LL, out), 0);
	ck_assert_str_eq(out, "21001231T235959Z");
	ck_assert_int_eq(txp_sigv4_amz_date((time_t)253402300799LL, out), 0);
	ck_assert_str_eq(out, "99991231T235959Z");
	ck_assert_int_eq(txp_sigv4_amz_date((time_t)253402300800LL, out), -EINVAL);
	ck_assert_int_eq(txp_sigv4_amz_date(-1, out), -EINVAL);
}
END_TEST

/* memmem is a GNU extension. */
static bool contains(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= hlen; i++) {
		if (memcmp((const char *)hay + i, needle, nlen) == 0)
			return true;
	}
	return false;
}

START_TEST(key_cache_derives_once_per_day_and_misses_on_any_change)
{
	struct txp_sigv4_key_cache cache;
	struct txp_sigv4_credentials rotated = { EXAMPLE_AKID, "another-secret", NULL };
	struct txp_sigv4_credentials other_id = { "AKIDOTHER", EXAMPLE_SECRET, NULL };
	unsigned char key[TXP_SIGV4_KEY_BYTES], again[TXP_SIGV4_KEY_BYTES], direct[TXP_SIGV4_KEY_BYTES];
	static const unsigned char zero[sizeof(cache)];

	txp_sigv4_key_cache_init(&cache);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150830", "us-east-1", "iam", key), 0);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150830", "us-east-1", "iam", again), 1);
	ck_assert_mem_eq(key, again, sizeof(key));
	ck_assert_int_eq(txp_sigv4_derive_key(EXAMPLE_SECRET, "20150830", "us-east-1", "iam", direct), 0);
	ck_assert_mem_eq(key, direct, sizeof(key));
	/* The secret is not kept in the cache. */
	ck_assert(!contains(&cache, sizeof(cache), EXAMPLE_SECRET, strlen(EXAMPLE_SECRET)));

	/* The date changes at midnight UTC: one miss, then hits again. */
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150831", "us-east-1", "iam", key), 0);
	ck_assert_mem_ne(key, direct, sizeof(key));
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150831", "us-east-1", "iam", key), 1);

	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150831", "eu-west-1", "iam", key), 0);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150831", "eu-west-1", "sns", key), 0);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &rotated, "20150831", "eu-west-1", "sns", key), 0);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &other_id, "20150831", "eu-west-1", "sns", key), 0);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &other_id, "20150831", "eu-west-1", "sns", key), 1);

	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "2015083", "eu-west-1", "sns", key), -EINVAL);
	txp_sigv4_key_cache_clear(&cache);
	ck_assert_mem_eq(&cache, zero, sizeof(cache));
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &other_id, "20150831", "eu-west-1", "sns", key), 0);
	txp_sigv4_key_cache_clear(&cache);
}
END_TEST

START_TEST(signing_through_the_cache_gives_the_same_signature)
{
	struct txp_sigv4_key_cache cache;
	struct txp_sigv4_request req = { .method = "GET", .path = "/", .headers = host_only, .n_headers = 1 };
	struct txp_sigv4_params params = {
		.creds = &example_creds,
		.region = "us-east-1",
		.service = "service",
		.now = T_20150830_123600,
		.flags = TXP_SIGV4_DEFAULT_FLAGS,
	};
	struct txp_sigv4_signed *plain = NULL, *first = NULL, *second = NULL, *next_day = NULL;
	unsigned char key[TXP_SIGV4_KEY_BYTES];

	txp_sigv4_key_cache_init(&cache);
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &plain, NULL, 0), 0);
	/* The suite's get-vanilla signature. */
	ck_assert_str_eq(plain->signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	params.cache = &cache;
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &first, NULL, 0), 0);
	ck_assert_int_eq(txp_sigv4_key_cache_get(&cache, &example_creds, "20150830", "us-east-1", "service", key), 1);
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &second, NULL, 0), 0);
	ck_assert_str_eq(first->signature, plain->signature);
	ck_assert_str_eq(second->signature, plain->signature);
	params.now += 86400;
	ck_assert_int_eq(txp_sigv4_sign(&req, &params, &next_day, NULL, 0), 0);
	ck_assert_str_ne(next_day->signature, plain->signature);
	ck_assert_str_eq(cache.date, "20150831");
	txp_sigv4_signed_free(plain);
	txp_sigv4_signed_free(first);
	txp_sigv4_signed_free(second);
	txp_sigv4_signed_free(next_day);
	txp_sigv4_signed_free(NULL);
	txp_sigv4_key_cache_clear(&cache);
}
END_TEST

START_TEST(authorization_value_has_the_documented_shape)
{
	struct txp_sigv4_signed *s = NULL;

	ck_assert_int_eq(sign_req("GET", "/", NULL, host_only, 1, TXP_SIGV4_DEFAULT_FLAGS, NULL, &s), 0);
	ck_assert_str_eq(s->authorization,
	                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	                 "SignedHeaders=host;x-amz-date, "
	                 "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	ck_assert_str_eq(s->string_to_sign, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
	                                    "aws4_request\n"
	                                    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	txp_sigv4_signed_free(s);
}
END_TEST

static Suite *sigv4_suite(void)
{
	Suite *s = suite_create("sigv4");
	TCase *docs = tcase_create("documented_examples");
	TCase *steps = tcase_create("steps");

	tcase_add_test(docs, documented_examples_sign_as_published);
	tcase_add_test(docs, documented_signing_keys_derive_as_published);
	suite_add_tcase(s, docs);

	tcase_add_test(steps, uri_encode_escapes_everything_but_unreserved);
	tcase_add_test(steps, path_is_encoded_twice_except_for_s3);
	tcase_add_test(steps, path_normalization_removes_dot_segments_and_empty_segments);
	tcase_add_test(steps, query_parameters_sort_by_name_then_value);
	tcase_add_test(steps, query_names_and_values_are_decoded_then_encoded);
	tcase_add_test(steps, header_values_are_trimmed_and_inner_blanks_collapsed);
	tcase_add_test(steps, header_names_lowercase_sort_and_repeated_values_join_in_order);
	tcase_add_test(steps, signer_refuses_headers_it_adds_and_malformed_input);
	tcase_add_test(steps, signer_refuses_bad_parameters_and_says_why);
	tcase_add_test(steps, session_token_is_sent_and_signed_unless_omitted);
	tcase_add_test(steps, payload_hash_is_computed_or_taken_verbatim);
	tcase_add_test(steps, amz_date_formats_utc_and_rejects_out_of_range);
	tcase_add_test(steps, key_cache_derives_once_per_day_and_misses_on_any_change);
	tcase_add_test(steps, signing_through_the_cache_gives_the_same_signature);
	tcase_add_test(steps, authorization_value_has_the_documented_shape);
	suite_add_tcase(s, steps);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	find_data_dir();
	sr = srunner_create(sigv4_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
