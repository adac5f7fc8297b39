/* test_base64.c: txp_sbuf_base64, txp_base64_decode and txp_hex_decode against RFC 4648's vectors and libsodium. */
#include "txp_build_config.h"

#include "txpipe/base64.h"

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4648, section 10 (test vectors). */
START_TEST(rfc4648_vectors)
{
	static const char *const v[][2] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct txp_sbuf b = { 0 };
		char out[8];
		size_t n;

		txp_sbuf_str(&b, "x");
		txp_sbuf_base64(&b, v[i][0], strlen(v[i][0]));
		ck_assert(!b.oom);
		ck_assert_str_eq(b.p + 1, v[i][1]);
		ck_assert_uint_eq(b.len, 1 + TXP_BASE64_LEN(strlen(v[i][0])));
		txp_sbuf_free(&b);
		ck_assert_int_eq(txp_base64_decode(v[i][1], strlen(v[i][1]), out, sizeof(out), &n), 0);
		ck_assert_uint_eq(n, strlen(v[i][0]));
		ck_assert(memcmp(out, v[i][0], n) == 0);
	}
}
END_TEST

/* Every length up to 1,000 bytes of random data encodes as libsodium
 * encodes it and decodes back. */
START_TEST(equals_libsodium_on_every_length)
{
	uint8_t bin[1000], back[1000];
	char ref[sodium_base64_ENCODED_LEN(1000, sodium_base64_VARIANT_ORIGINAL)];

	randombytes_buf(bin, sizeof(bin));
	for (size_t n = 0; n <= sizeof(bin); n++) {
		struct txp_sbuf b = { 0 };
		size_t got;

		sodium_bin2base64(ref, sizeof(ref), bin, n, sodium_base64_VARIANT_ORIGINAL);
		txp_sbuf_base64(&b, bin, n);
		ck_assert(!b.oom);
		ck_assert_msg(n == 0 ? b.p == NULL || strcmp(b.p, "") == 0 : strcmp(b.p, ref) == 0, "length %zu", n);
		ck_assert_int_eq(txp_base64_decode(ref, strlen(ref), back, n, &got), 0);
		ck_assert_uint_eq(got, n);
		ck_assert(memcmp(back, bin, n) == 0);
		if (n > 0)
			ck_assert_int_eq(txp_base64_decode(ref, strlen(ref), back, n - 1, &got), -ENOBUFS);
		txp_sbuf_free(&b);
	}
}
END_TEST

/* Damaged encodings (a character replaced, removed or added, padding
 * moved, leftover bits set) are accepted exactly when libsodium accepts
 * them, with the same bytes.  ASCII only: libsodium 1.0.18 reads a byte
 * of 0x80 or more as a negative char and takes some for letters
 * (non_ascii_is_rejected below). */
START_TEST(accepts_what_libsodium_accepts)
{
	static const char pick[] = "AZaz09+/=Q-_ \n.";
	uint8_t bin[40], a[64], b[64];
	char enc[sodium_base64_ENCODED_LEN(40, sodium_base64_VARIANT_ORIGINAL)], m[80];
	unsigned accepted = 0, rejected = 0;

	for (unsigned round = 0; round < 200000; round++) {
		size_t n = randombytes_uniform(sizeof(bin) + 1), len, at, an, bn;
		int ra, rb;

		randombytes_buf(bin, n);
		sodium_bin2base64(enc, sizeof(enc), bin, n, sodium_base64_VARIANT_ORIGINAL);
		len = strlen(enc);
		memcpy(m, enc, len + 1);
		at = len > 0 ? randombytes_uniform((uint32_t)len) : 0;
		switch (randombytes_uniform(4)) {
		case 0: /* replace */
			if (len > 0)
				m[at] = pick[randombytes_uniform(sizeof(pick) - 1)];
			break;
		case 1: /* remove */
			if (len > 0)
				memmove(m + at, m + at + 1, len - at);
			break;
		case 2: /* add */
			memmove(m + at + 1, m + at, len - at + 1);
			m[at] = pick[randombytes_uniform(sizeof(pick) - 1)];
			break;
		default: /* the last group's characters replaced: leftover bits, padding */
			for (size_t k = len >= 4 ? len - 4 : 0; k < len; k++)
				if (randombytes_uniform(2))
					m[k] = pick[randombytes_uniform(sizeof(pick) - 1)];
			break;
		}
		len = strlen(m);
		ra = txp_base64_decode(m, len, a, sizeof(a), &an);
		rb = sodium_base642bin(b, sizeof(b), m, len, NULL, &bn, NULL, sodium_base64_VARIANT_ORIGINAL);
		ck_assert_msg((ra == 0) == (rb == 0), "\"%s\": ours %d, libsodium's %d", m, ra, rb);
		if (ra == 0) {
			ck_assert_uint_eq(an, bn);
			ck_assert(memcmp(a, b, an) == 0);
			accepted++;
		} else {
			ck_assert_int_eq(ra, -EINVAL);
			rejected++;
		}
	}
	/* Both kinds were seen, so the comparison compared something. */
	ck_assert_uint_gt(accepted, 1000);
	ck_assert_uint_gt(rejected, 1000);
}
END_TEST

START_TEST(non_ascii_is_rejected)
{
	char m[] = "Zm9vYmFy";
	uint8_t out[8];
	size_t n;

	for (unsigned c = 0x80; c <= 0xff; c++) {
		for (size_t at = 0; at < 8; at++) {
			m[at] = (char)c;
			ck_assert_int_eq(txp_base64_decode(m, 8, out, sizeof(out), &n), -EINVAL);
			m[at] = "Zm9vYmFy"[at];
		}
	}
	ck_assert_int_eq(txp_base64_decode(m, 8, out, sizeof(out), &n), 0);
}
END_TEST

START_TEST(an_sbuf_out_of_memory_stays_so)
{
	struct txp_sbuf b = { .oom = true };

	txp_sbuf_base64(&b, "abc", 3);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

/* RFC 4648, section 10: the base16 vectors, upper case as there and lower case as txpipe writes. */
START_TEST(rfc4648_base16_vectors)
{
	static const char *const hex[] = { "", "66", "666F", "666F6F", "666F6F62", "666F6F6261", "666F6F626172" };
	uint8_t out[6];

	for (size_t i = 0; i < sizeof(hex) / sizeof(hex[0]); i++) {
		char lower[16];

		memset(out, 0xaa, sizeof(out));
		ck_assert_int_eq(txp_hex_decode(hex[i], out, i), 0);
		ck_assert_int_eq(memcmp(out, "foobar", i), 0);
		for (size_t k = 0; k <= strlen(hex[i]); k++)
			lower[k] = (char)(hex[i][k] >= 'A' && hex[i][k] <= 'F' ? hex[i][k] + 32 : hex[i][k]);
		memset(out, 0xaa, sizeof(out));
		ck_assert_int_eq(txp_hex_decode(lower, out, i), 0);
		ck_assert_int_eq(memcmp(out, "foobar", i), 0);
	}
}
END_TEST

/* Every byte value in every position of 32 digits: accepted, with the same
 * bytes, exactly when libsodium's sodium_hex2bin() accepts all 32; and a
 * string that ends early is refused without reading past its end. */
START_TEST(hex_accepts_what_libsodium_accepts)
{
	char hex[33] = "0123456789abcdefABCDEF0123456789";
	uint8_t ours[16], theirs[16];
	unsigned accepted = 0;

	for (unsigned c = 0; c <= 0xff; c++) {
		for (size_t at = 0; at < 32; at++) {
			size_t n = 0;
			int ok_theirs;

			hex[at] = (char)c;
			ok_theirs = c != 0 && sodium_hex2bin(theirs, sizeof(theirs), hex, 32, NULL, &n, NULL) == 0 &&
			            n == 16;
			if (ok_theirs) {
				ck_assert_int_eq(txp_hex_decode(hex, ours, 16), 0);
				ck_assert_int_eq(memcmp(ours, theirs, 16), 0);
				accepted++;
			} else {
				ck_assert_msg(txp_hex_decode(hex, ours, 16) == -EINVAL, "0x%02x at %zu accepted", c,
				              at);
			}
			hex[at] = "0123456789abcdefABCDEF0123456789"[at];
		}
	}
	/* 22 digits in 32 places. */
	ck_assert_uint_eq(accepted, 22 * 32);
	for (size_t len = 0; len < 32; len++) {
		char *cut = malloc(len + 1); /* exactly the string: ASan sees a read past it */

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, hex, len);
		cut[len] = '\0';
		ck_assert_int_eq(txp_hex_decode(cut, ours, 16), -EINVAL);
		free(cut);
	}
	/* Nor one digit too many: the string is the 2 * n digits. */
	ck_assert_int_eq(txp_hex_decode("0123456789abcdefABCDEF01234567890", ours, 16), -EINVAL);
	ck_assert_int_eq(txp_hex_decode("0123456789abcdefABCDEF0123456789", ours, 16), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("base64");
	TCase *tc = tcase_create("base64");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rfc4648_vectors);
	tcase_add_test(tc, equals_libsodium_on_every_length);
	tcase_add_test(tc, accepts_what_libsodium_accepts);
	tcase_add_test(tc, non_ascii_is_rejected);
	tcase_add_test(tc, an_sbuf_out_of_memory_stays_so);
	tcase_add_test(tc, rfc4648_base16_vectors);
	tcase_add_test(tc, hex_accepts_what_libsodium_accepts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
