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

static const char reply_a[] = "{\"transaction_id\":\"a\",\"status\":\"approved\",\"risk_score\":0,\"reasons\":[]}\n";

START_TEST(lookup_returns_the_first_reply_marked_duplicate)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	struct txp_dedup_hit hit;
	json_t *j;

	ck_assert_ptr_nonnull(d);
	ck_assert(!txp_dedup_get(d, "a", 10, &hit));
	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_APPROVED, 7, reply_a, strlen(reply_a), 10, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", 20, &hit));
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
	ck_assert(!txp_dedup_get(d, "b", 20, &hit));
	ck_assert_uint_eq(txp_dedup_count(d), 1);
	txp_dedup_destroy(d);
}
END_TEST

START_TEST(second_put_keeps_the_first_decision)
{
	struct txp_dedup *d = txp_dedup_create(100, 1000);
	static const char other[] = "{\"transaction_id\":\"a\",\"status\":\"declined\",\"reasons\":[]}\n";
	struct txp_dedup_hit hit;

	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_APPROVED, 1, reply_a, strlen(reply_a), 10, NULL), 0);
	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_DECLINED, 2, other, strlen(other), 11, &hit), 1);
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

	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_APPROVED, 7, reply_a, strlen(reply_a), 10, NULL), 0);
	/* Another record's number: not this entry, kept. */
	txp_dedup_forget(d, "a", 8);
	ck_assert(txp_dedup_get(d, "a", 20, &hit));
	free(hit.reply);
	txp_dedup_forget(d, "b", 7);
	txp_dedup_forget(d, "a", 7);
	ck_assert(!txp_dedup_get(d, "a", 20, &hit));
	/* Its resubmission is remembered with its own decision. */
	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_REVIEW, 9, reply_a, strlen(reply_a), 30, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", 40, &hit));
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

	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_APPROVED, 1, reply_a, strlen(reply_a), 10, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", 1010, &hit));
	free(hit.reply);
	ck_assert(!txp_dedup_get(d, "a", 1011, &hit));
	/* Expired: the same id is decided afresh and remembered again. */
	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_REVIEW, 5, reply_a, strlen(reply_a), 1011, NULL), 0);
	ck_assert(txp_dedup_get(d, "a", 1012, &hit));
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
		ck_assert_int_eq(txp_dedup_put(d, id, TXP_STATUS_APPROVED, i + 1, reply_a, strlen(reply_a), 10, NULL), 0);
	}
	ck_assert_uint_le(txp_dedup_count(d), 128);
	for (unsigned i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "id-%u", i);
		if (txp_dedup_get(d, id, 10, &hit)) {
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
	ck_assert_int_eq(txp_dedup_put(d, "a", TXP_STATUS_APPROVED, 1, "x", 1, 10, NULL), -EINVAL);
	ck_assert_int_eq(txp_dedup_put(d, long_id, TXP_STATUS_APPROVED, 1, reply_a, strlen(reply_a), 10, NULL),
	                 -EINVAL);
	ck_assert_ptr_null(txp_dedup_create(0, 1000));
	txp_dedup_destroy(d);
	txp_dedup_destroy(NULL);
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
		if (txp_dedup_get(r->d, id, 10, &hit)) {
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
		r[k] = (struct reader){.d = d};
		ck_assert_int_eq(pthread_create(&th[k], NULL, read_loop, &r[k]), 0);
	}
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id-%u", i);
		ck_assert_int_ge(txp_dedup_put(d, id, TXP_STATUS_APPROVED, i + 1, reply_a, strlen(reply_a), 10, NULL), 0);
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
