/* test_blake2b.c: the keyed BLAKE2b against the BLAKE2 team's keyed answers and libsodium's on every length. */
#include "txp_build_config.h"

#include "txpipe/blake2b.h"

#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The keyed known answers of the BLAKE2 reference code (blake2b-kat.txt):
 * key 00 01 .. 3f, message 00 01 .. (n - 1), 64-byte digest. */
START_TEST(reference_keyed_answers)
{
	static const struct {
		size_t len;
		const char *digest;
	} v[] = {
		{ 0, "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
		     "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568" },
		{ 255, "142709d62e28fcccd0af97fad0f8465b971e82201dc51070faa0372aa43e9248"
		       "4be1c1e73ba10906d5d1853db6a4106e0a7bf9800d373d6dee2d46d62ef2a461" },
	};
	uint8_t key[64], msg[255], d[64];
	char h[129];
	struct txp_blake2b_key k;

	for (int i = 0; i < 64; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 255; i++)
		msg[i] = (uint8_t)i;
	ck_assert_int_eq(txp_blake2b_key_init(&k, key, sizeof(key), 64), 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		txp_blake2b(&k, d, msg, v[i].len);
		hex(d, sizeof(d), h);
		ck_assert_str_eq(h, v[i].digest);
	}
	txp_blake2b_key_wipe(&k);
}
END_TEST

/* The same digest as crypto_generichash() for every key length txpipe
 * could use and then some, every output length, every message length up
 * to three blocks and a bit, whole and fed in pieces: the stored tokens and
 * pseudonyms were made with libsodium and must not change. */
START_TEST(same_as_libsodium_on_every_length)
{
	static const size_t keylens[] = { 1, 16, 32, 63, 64 }, outlens[] = { 1, 16, 20, 32, 64 };
	uint8_t key[64], msg[400], want[64], got[64];

	randombytes_buf(key, sizeof(key));
	randombytes_buf(msg, sizeof(msg));
	for (size_t a = 0; a < sizeof(keylens) / sizeof(keylens[0]); a++)
		for (size_t b = 0; b < sizeof(outlens) / sizeof(outlens[0]); b++) {
			struct txp_blake2b_key k;

			ck_assert_int_eq(txp_blake2b_key_init(&k, key, keylens[a], outlens[b]), 0);
			for (size_t n = 0; n <= sizeof(msg); n++) {
				struct txp_blake2b s;
				size_t cut = n == 0 ? 0 : (size_t)randombytes_uniform((uint32_t)n + 1), cut2;

				ck_assert_int_eq(crypto_generichash(want, outlens[b], msg, n, key, keylens[a]), 0);
				txp_blake2b(&k, got, msg, n);
				ck_assert_msg(memcmp(got, want, outlens[b]) == 0, "key %zu out %zu len %zu", keylens[a],
				              outlens[b], n);
				/* In three pieces, one possibly empty. */
				cut2 = cut + (size_t)randombytes_uniform((uint32_t)(n - cut) + 1);
				memset(got, 0, sizeof(got));
				txp_blake2b_start(&s, &k);
				txp_blake2b_update(&s, msg, cut);
				txp_blake2b_update(&s, msg + cut, cut2 - cut);
				txp_blake2b_update(&s, msg + cut2, n - cut2);
				txp_blake2b_final(&s, got);
				ck_assert_msg(memcmp(got, want, outlens[b]) == 0, "pieces %zu/%zu/%zu: key %zu out %zu",
				              cut, cut2 - cut, n - cut2, keylens[a], outlens[b]);
			}
			txp_blake2b_key_wipe(&k);
		}
}
END_TEST

/* label, its NUL, then the value: as libsodium hashes the same bytes. */
START_TEST(labelled_is_the_label_its_nul_and_the_value)
{
	uint8_t key[32], want[16], got[16];
	struct txp_blake2b_key k;

	randombytes_buf(key, sizeof(key));
	ck_assert_int_eq(txp_blake2b_key_init(&k, key, sizeof(key), sizeof(got)), 0);
	ck_assert_int_eq(crypto_generichash(want, sizeof(want), (const unsigned char *)"customer_id\0alice", 17, key,
	                                    sizeof(key)),
	                 0);
	txp_blake2b_labelled(&k, got, "customer_id", "alice", 5);
	ck_assert_mem_eq(got, want, sizeof(want));
	txp_blake2b_key_wipe(&k);
}
END_TEST

START_TEST(lengths_out_of_range_are_refused)
{
	struct txp_blake2b_key k;
	uint8_t key[65] = { 1 };

	ck_assert_int_eq(txp_blake2b_key_init(&k, key, 0, 16), -EINVAL);
	ck_assert_int_eq(txp_blake2b_key_init(&k, key, 65, 16), -EINVAL);
	ck_assert_int_eq(txp_blake2b_key_init(&k, key, 32, 0), -EINVAL);
	ck_assert_int_eq(txp_blake2b_key_init(&k, key, 32, 65), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("blake2b");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_add_test(tc, reference_keyed_answers);
	tcase_add_test(tc, same_as_libsodium_on_every_length);
	tcase_add_test(tc, labelled_is_the_label_its_nul_and_the_value);
	tcase_add_test(tc, lengths_out_of_range_are_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
