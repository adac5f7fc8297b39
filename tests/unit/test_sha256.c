/* test_sha256.c: txp_sha256 against FIPS 180-4's examples and libsodium's SHA-256 on every length. */
#include "txp_build_config.h"

#include "txpipe/sha256.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t d[TXP_SHA256_BYTES], char out[2 * TXP_SHA256_BYTES + 1])
{
	for (unsigned i = 0; i < TXP_SHA256_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* NIST's published examples for SHA-256 (CSRC, "Examples with intermediate values", SHA256.pdf
 * and SHA2_Additional.pdf). */
START_TEST(published_examples)
{
	static const struct {
		const char *msg;
		const char *digest;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	uint8_t d[TXP_SHA256_BYTES];
	char h[2 * TXP_SHA256_BYTES + 1];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		txp_sha256(d, v[i].msg, strlen(v[i].msg));
		hex(d, h);
		ck_assert_str_eq(h, v[i].digest);
	}
}
END_TEST

/* One million 'a's (FIPS 180-2, appendix B.3). */
START_TEST(a_million_a)
{
	size_t n = 1000000;
	char *m = malloc(n);
	uint8_t d[TXP_SHA256_BYTES];
	char h[2 * TXP_SHA256_BYTES + 1];

	ck_assert_ptr_nonnull(m);
	memset(m, 'a', n);
	txp_sha256(d, m, n);
	hex(d, h);
	ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}
END_TEST

/* Every length from 0 to 1,100 bytes (every padding case, one and two final blocks, many
 * full blocks) and some larger ones, on random data at odd offsets, equals libsodium's. */
START_TEST(equals_the_portable_path_on_every_length)
{
	size_t max = 70000;
	uint8_t *buf = malloc(max + 8);
	uint8_t a[TXP_SHA256_BYTES], b[TXP_SHA256_BYTES];

	ck_assert_ptr_nonnull(buf);
	randombytes_buf(buf, max + 8);
	for (size_t len = 0; len <= max; len = len < 1100 ? len + 1 : len * 2 + 13) {
		const uint8_t *p = buf + (len % 7);

		txp_sha256(a, p, len);
		txp_sha256_portable(b, p, len);
		ck_assert_msg(memcmp(a, b, sizeof(a)) == 0, "length %zu differs", len);
	}
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("sha256");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	printf("sha256: SHA extensions %s on this CPU\n", txp_sha256_accelerated() ? "used" : "absent");
	tcase_add_test(tc, published_examples);
	tcase_add_test(tc, a_million_a);
	tcase_add_test(tc, equals_the_portable_path_on_every_length);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
