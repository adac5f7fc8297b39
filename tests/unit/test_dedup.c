/* test_dedup.c: the duplicate window: replies marked duplicate, expiry, the bound, rebuilding replies from items. */
#include "txpipe/dedup.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An unknown fingerprint (all zero), which matches any: these tests are about
 * ids; the content checks are below. */
static const uint8_t fp0[TXP_FINGERPRINT_BYTES];

static const char reply_a[] = "{\"transaction_id\":\"a\",\"status\":\"approved\",\"risk_score\":0,\"reasons\":[]}\n";

START_TEST(lookup_returns_the_first_reply_marked_duplicate)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	struct txp_dedup_hit hit;
	json_t *j;

	ck_assert_ptr_nonnull(d);
	ck_assert(!txp_dedup_get(d, "a", fp0, 10, &hit));
	ck_assert_int_eq(txp_dedup_put(d, "a", fp0, TXP_STATUS_APPROVED, 7, reply_a, strlen(reply_a), 10, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", fp0, 20, &hit));
	ck_assert_int_eq(hit.status, TXP_STATUS_APPROVED);
	ck_assert_uint_eq(hit.journal_seq, 7);
	ck_assert_uint_eq(hit.reply_len, strlen(reply_a) + strlen("\"duplicate\":true,"));
	ck_assert_int_eq(hit.reply[hit.reply_len - 1], '\n');
	j = json_loadb(hit.reply, hit.reply_len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_is_true(json_object_get(j, "duplicate")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "approved");
	ck_assert_str_eq(json_string_value(json_object_get(j, "transaction_id")), "a");
	json_decref(j);
	free(hit.reply);
	ck_assert(!txp_dedup_get(d, "b", fp0, 20, &hit));
	ck_assert_uint_eq(txp_dedup_count(d), 1);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(second_put_keeps_the_first_decision)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	static const char other[] = "{\"transaction_id\":\"a\",\"status\":\"declined\",\"reasons\":[]}\n";
	struct txp_dedup_hit hit;

	ck_assert_int_eq(txp_dedup_put(d, "a", fp0, TXP_STATUS_APPROVED, 1, reply_a, strlen(reply_a), 10, NULL), 0);
	ck_assert_int_eq(txp_dedup_put(d, "a", fp0, TXP_STATUS_DECLINED, 2, other, strlen(other), 11, &hit), 1);
	ck_assert_int_eq(hit.status, TXP_STATUS_APPROVED);
	ck_assert_uint_eq(hit.journal_seq, 1);
	ck_assert_ptr_nonnull(strstr(hit.reply, "approved"));
	free(hit.reply);
	ck_assert_uint_eq(txp_dedup_count(d), 1);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(a_forgotten_id_is_screened_again)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	struct txp_dedup_hit hit;
	static const uint8_t fp[TXP_FINGERPRINT_BYTES] = { 1 };

	ck_assert_int_eq(txp_dedup_put(d, "a", fp, TXP_STATUS_APPROVED, 7, reply_a, strlen(reply_a), 10, NULL), 0);
	/* Another record's number: not this entry, kept. */
	txp_dedup_forget(d, "a", 8);
	ck_assert(txp_dedup_get(d, "a", fp, 20, &hit));
	free(hit.reply);
	txp_dedup_forget(d, "b", 7);
	txp_dedup_forget(d, "a", 7);
	ck_assert(!txp_dedup_get(d, "a", fp, 20, &hit));
	/* Its resubmission is remembered with its own decision. */
	ck_assert_int_eq(txp_dedup_put(d, "a", fp, TXP_STATUS_REVIEW, 9, reply_a, strlen(reply_a), 30, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", fp, 40, &hit));
	ck_assert_int_eq(hit.status, TXP_STATUS_REVIEW);
	ck_assert_uint_eq(hit.journal_seq, 9);
	free(hit.reply);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(entries_expire_after_the_window)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	struct txp_dedup_hit hit;

	ck_assert_int_eq(txp_dedup_put(d, "a", fp0, TXP_STATUS_APPROVED, 1, reply_a, strlen(reply_a), 10, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", fp0, 1010, &hit));
	free(hit.reply);
	ck_assert(!txp_dedup_get(d, "a", fp0, 1011, &hit));
	/* Expired: the same id is decided afresh and remembered again. */
	ck_assert_int_eq(txp_dedup_put(d, "a", fp0, TXP_STATUS_REVIEW, 5, reply_a, strlen(reply_a), 1011, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", fp0, 1012, &hit));
	ck_assert_int_eq(hit.status, TXP_STATUS_REVIEW);
	free(hit.reply);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(the_oldest_entries_go_beyond_the_bound)
{
	/* 64 stripes of 2: at most 128 entries, oldest first per stripe. */
	struct txp_dedup *d = txp_dedup_create(128, 1000000);
	struct txp_dedup_hit hit;
	char id[16];
	unsigned kept = 0;

	for (unsigned i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "id-%u", i);
		ck_assert_int_eq(
		        txp_dedup_put(d, id, fp0, TXP_STATUS_APPROVED, i + 1, reply_a, strlen(reply_a), 10, NULL), 0);
	}
	ck_assert_uint_le(txp_dedup_count(d), 128);
	for (unsigned i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "id-%u", i);
		if (txp_dedup_get(d, id, fp0, 10, &hit)) {
			kept++;
			free(hit.reply);
			ck_assert_uint_ge(i, 10000 - 2000); /* only recent ones survive */
		}
	}
	ck_assert_uint_eq(kept, txp_dedup_count(d));
	ck_assert_uint_ge(kept, 64);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(put_refuses_what_is_not_a_reply)
{
	struct txp_dedup *d = txp_dedup_create(10, 1000);
	char long_id[TXP_ID_MAX + 2];

	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	ck_assert_int_eq(txp_dedup_put(d, "a", fp0, TXP_STATUS_APPROVED, 1, "x", 1, 10, NULL), -EINVAL);
	ck_assert_int_eq(txp_dedup_put(d, long_id, fp0, TXP_STATUS_APPROVED, 1, reply_a, strlen(reply_a), 10, NULL),
	                 -EINVAL);
	ck_assert_ptr_null(txp_dedup_create(0, 1000));
	txp_dedup_destroy(d);
	txp_dedup_destroy(NULL);
}
END_TEST

/* txp_dedup_fingerprint() under a raw 32-byte key. */
static void fingerprint(const uint8_t key[32], struct txp_txn *t)
{
	struct txp_blake2b_key k;

	ck_assert_int_eq(txp_blake2b_key_init(&k, key, 32, TXP_FINGERPRINT_BYTES), 0);
	txp_dedup_fingerprint(&k, t);
	txp_blake2b_key_wipe(&k);
}

static struct txp_txn *content(const char *id, int64_t amount, const char *merchant_country)
{
	struct txp_txn *t = txp_txn_new();
	static const uint8_t key[32] = { 1, 2, 3 };

	ck_assert_ptr_nonnull(t);
	t->has_id = true;
	strcpy(t->transaction_id, id);
	t->amount = amount;
	strcpy(t->currency, "USD");
	strcpy(t->customer_key, "00112233445566778899aabbccddeeff");
	strcpy(t->merchant_id, "m-1");
	strcpy(t->merchant_country, merchant_country);
	strcpy(t->customer_country, "DE");
	t->received_ms = 20;
	fingerprint(key, t);
	return t;
}

START_TEST(the_fingerprint_covers_amount_currency_parties_and_countries)
{
	static const uint8_t key[32] = { 1, 2, 3 }, other_key[32] = { 9 };
	struct txp_txn *a = content("x", 350, "DE"), *b = content("y", 350, "DE");
	uint8_t first[TXP_FINGERPRINT_BYTES];

	/* The id is not content: the same content under two ids hashes alike. */
	ck_assert_mem_eq(a->fingerprint, b->fingerprint, TXP_FINGERPRINT_BYTES);
	ck_assert(!sodium_is_zero(a->fingerprint, TXP_FINGERPRINT_BYTES));
	memcpy(first, a->fingerprint, sizeof(first));
#define CHANGED(stmt)                                                                          \
	do {                                                                                   \
		struct txp_txn *c = content("x", 350, "DE");                                   \
		stmt;                                                                          \
		fingerprint(key, c);                                                           \
		ck_assert_msg(memcmp(c->fingerprint, first, sizeof(first)) != 0, "%s", #stmt); \
		txp_txn_free(c);                                                               \
	} while (0)
	CHANGED(c->amount = 950000);
	CHANGED(strcpy(c->currency, "EUR"));
	CHANGED(c->customer_key[0] = 'f');
	CHANGED(strcpy(c->merchant_id, "m-2"));
	CHANGED(strcpy(c->card_token, "aa"));
	CHANGED(strcpy(c->merchant_country, "IR"));
	CHANGED(strcpy(c->customer_country, "KP"));
	/* Fields run together differently are other content. */
	CHANGED((strcpy(c->merchant_id, "m-1D"), strcpy(c->merchant_country, "E")));
#undef CHANGED
	/* Keyed: without the key nobody can test guesses against a journal. */
	fingerprint(other_key, b);
	ck_assert(memcmp(b->fingerprint, first, sizeof(first)) != 0);
	txp_txn_free(a);
	txp_txn_free(b);
}
END_TEST

/* The journal keeps fingerprints across versions, so their bytes must not
 * change: libsodium's keyed BLAKE2b of the documented layout ("fingerprint"
 * and its NUL, the amount as 8 little-endian bytes, then each field's
 * length byte and bytes) gives the same. */
START_TEST(the_fingerprint_is_the_keyed_blake2b_of_its_layout)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	static const char *const fields[] = { "USD", "00112233445566778899aabbccddeeff", "m-1", "", "DE", "DE" };
	struct txp_txn *t = content("x", 350, "DE");
	crypto_generichash_state h;
	uint8_t want[TXP_FINGERPRINT_BYTES], amount[8] = { 350 % 256, 350 / 256 };

	crypto_generichash_init(&h, key, sizeof(key), sizeof(want));
	crypto_generichash_update(&h, (const unsigned char *)"fingerprint", 12);
	crypto_generichash_update(&h, amount, sizeof(amount));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		unsigned char len = (unsigned char)strlen(fields[i]);

		crypto_generichash_update(&h, &len, 1);
		crypto_generichash_update(&h, (const unsigned char *)fields[i], len);
	}
	crypto_generichash_final(&h, want, sizeof(want));
	ck_assert_mem_eq(t->fingerprint, want, sizeof(want));
	txp_txn_free(t);
}
END_TEST

START_TEST(the_same_id_with_other_content_is_a_conflict)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	struct txp_txn *first = content("2024120600000008", 350, "DE");
	struct txp_txn *other = content("2024120600000008", 950000, "IR");
	struct txp_dedup_hit hit;

	ck_assert_int_eq(txp_dedup_put(d, first->transaction_id, first->fingerprint, TXP_STATUS_APPROVED, 3, reply_a,
	                               strlen(reply_a), 10, NULL),
	                 0);
	ck_assert(txp_dedup_get(d, first->transaction_id, other->fingerprint, 20, &hit));
	ck_assert(hit.conflict);
	ck_assert_ptr_null(hit.reply);
	/* The same content is the duplicate, and so is an unknown fingerprint
	 * (a record journaled before fingerprints). */
	ck_assert(txp_dedup_get(d, first->transaction_id, first->fingerprint, 20, &hit));
	ck_assert(!hit.conflict);
	ck_assert_ptr_nonnull(hit.reply);
	free(hit.reply);
	ck_assert(txp_dedup_get(d, first->transaction_id, fp0, 20, &hit));
	ck_assert(!hit.conflict);
	free(hit.reply);
	/* put reports the conflict the same way. */
	ck_assert_int_eq(txp_dedup_put(d, first->transaction_id, other->fingerprint, TXP_STATUS_DECLINED, 4, reply_a,
	                               strlen(reply_a), 11, &hit),
	                 1);
	ck_assert(hit.conflict);
	txp_txn_free(first);
	txp_txn_free(other);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(check_answers_a_duplicate_and_refuses_a_conflict)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	struct txp_txn *first = content("t-1", 350, "DE");
	struct txp_txn *again = content("t-1", 350, "DE");
	struct txp_txn *other = content("t-1", 950000, "IR");
	struct txp_txn *fresh = content("t-2", 950000, "IR");
	json_t *j;

	ck_assert_int_eq(txp_dedup_put(d, first->transaction_id, first->fingerprint, TXP_STATUS_APPROVED, 3, reply_a,
	                               strlen(reply_a), 10, NULL),
	                 0);
	ck_assert(!txp_dedup_check(NULL, again));
	ck_assert(!txp_dedup_check(d, fresh));
	ck_assert(!fresh->duplicate);

	ck_assert(txp_dedup_check(d, again));
	ck_assert(again->duplicate);
	ck_assert_int_eq(again->status, TXP_STATUS_APPROVED);
	ck_assert_uint_eq(again->journal_seq, 3);
	j = json_loadb(again->reply, again->reply_len, 0, NULL);
	ck_assert(json_is_true(json_object_get(j, "duplicate")));
	json_decref(j);

	/* Scored in flight: the conflict replaces the decision. */
	other->scored = true;
	other->risk_score = 100;
	txp_txn_add_reason(other, "sanctions_country", 0);
	other->status = TXP_STATUS_DECLINED;
	ck_assert(txp_dedup_check(d, other));
	ck_assert(other->duplicate); /* neither kept nor stored */
	ck_assert_int_eq(other->status, TXP_STATUS_REJECTED);
	ck_assert_uint_eq(other->journal_seq, 0);
	ck_assert_str_eq(other->error.code, "duplicate_id_conflict");
	ck_assert_str_eq(other->error.field, "transaction_id");
	j = json_loadb(other->reply, other->reply_len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "rejected");
	ck_assert_ptr_null(json_object_get(j, "duplicate"));
	ck_assert_ptr_null(json_object_get(j, "risk_score"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
	                 "duplicate_id_conflict");
	json_decref(j);
	txp_txn_free(first);
	txp_txn_free(again);
	txp_txn_free(other);
	txp_txn_free(fresh);
	txp_dedup_destroy(d);
}
END_TEST

struct reader {
	struct txp_dedup *d;
	unsigned found;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	struct txp_dedup_hit hit;
	char id[16];

	for (unsigned i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "id-%u", i % 5000);
		if (txp_dedup_get(r->d, id, fp0, 10, &hit)) {
			r->found++;
			free(hit.reply);
		}
	}
	return NULL;
}

START_TEST(readers_on_other_threads_see_whole_entries)
{
	struct txp_dedup *d = txp_dedup_create(1024, 1000000);
	struct reader r[3];
	pthread_t th[3];
	char id[16];

	for (int k = 0; k < 3; k++) {
		r[k] = (struct reader){ .d = d };
		ck_assert_int_eq(pthread_create(&th[k], NULL, read_loop, &r[k]), 0);
	}
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id-%u", i);
		ck_assert_int_ge(
		        txp_dedup_put(d, id, fp0, TXP_STATUS_APPROVED, i + 1, reply_a, strlen(reply_a), 10, NULL), 0);
	}
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
	ck_assert_uint_le(txp_dedup_count(d), 1024);
	txp_dedup_destroy(d);
}
END_TEST

static Suite *dedup_suite(void)
{
	Suite *s = suite_create("dedup");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, lookup_returns_the_first_reply_marked_duplicate);
	tcase_add_test(tc, second_put_keeps_the_first_decision);
	tcase_add_test(tc, a_forgotten_id_is_screened_again);
	tcase_add_test(tc, entries_expire_after_the_window);
	tcase_add_test(tc, the_oldest_entries_go_beyond_the_bound);
	tcase_add_test(tc, put_refuses_what_is_not_a_reply);
	tcase_add_test(tc, readers_on_other_threads_see_whole_entries);
	tcase_add_test(tc, the_fingerprint_covers_amount_currency_parties_and_countries);
	tcase_add_test(tc, the_fingerprint_is_the_keyed_blake2b_of_its_layout);
	tcase_add_test(tc, the_same_id_with_other_content_is_a_conflict);
	tcase_add_test(tc, check_answers_a_duplicate_and_refuses_a_conflict);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(dedup_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
