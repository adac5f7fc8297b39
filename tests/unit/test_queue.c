/* test_queue.c: the intrusive list: order, removal anywhere, removal while walking, moving a whole list. */
#include "txpipe/queue.h"

#include <check.h>
#include <stdlib.h>

struct item {
	int v;
	struct txp_queue link;
};

/* The values of `h` in order, as digits ("" when empty). */
static const char *values(struct txp_queue *h)
{
	static char buf[32];
	struct txp_queue *q;
	size_t n = 0;

	txp_queue_foreach (q, h)
		buf[n++] = (char)('0' + txp_queue_data(q, struct item, link)->v);
	buf[n] = '\0';
	return buf;
}

START_TEST(inserts_keep_order_and_data_finds_the_holder)
{
	struct txp_queue h;
	struct item it[4] = { { 1, { 0 } }, { 2, { 0 } }, { 3, { 0 } }, { 4, { 0 } } };

	txp_queue_init(&h);
	ck_assert(txp_queue_empty(&h));
	ck_assert_ptr_null(txp_queue_first(&h));
	txp_queue_insert_tail(&h, &it[1].link);
	txp_queue_insert_tail(&h, &it[2].link);
	txp_queue_insert_head(&h, &it[0].link);
	txp_queue_insert_tail(&h, &it[3].link);
	ck_assert_str_eq(values(&h), "1234");
	ck_assert_ptr_eq(txp_queue_data(txp_queue_first(&h), struct item, link), &it[0]);
}
END_TEST

START_TEST(removal_anywhere_and_twice_is_safe)
{
	struct txp_queue h;
	struct item it[3] = { { 1, { 0 } }, { 2, { 0 } }, { 3, { 0 } } };

	txp_queue_init(&h);
	for (int i = 0; i < 3; i++)
		txp_queue_insert_tail(&h, &it[i].link);
	txp_queue_remove(&it[1].link);
	ck_assert_str_eq(values(&h), "13");
	txp_queue_remove(&it[1].link); /* a removed link is an empty list */
	ck_assert_str_eq(values(&h), "13");
	txp_queue_remove(&it[0].link);
	txp_queue_remove(&it[2].link);
	ck_assert(txp_queue_empty(&h));
}
END_TEST

START_TEST(the_safe_walk_allows_removing_the_current_link)
{
	struct txp_queue h, *q, *n;
	struct item it[5];

	txp_queue_init(&h);
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		txp_queue_insert_tail(&h, &it[i].link);
	}
	txp_queue_foreach_safe (q, n, &h)
		if (txp_queue_data(q, struct item, link)->v % 2 == 0)
			txp_queue_remove(q);
	ck_assert_str_eq(values(&h), "13");
}
END_TEST

START_TEST(move_appends_a_whole_list_and_empties_it)
{
	struct txp_queue a, b;
	struct item it[4] = { { 1, { 0 } }, { 2, { 0 } }, { 3, { 0 } }, { 4, { 0 } } };

	txp_queue_init(&a);
	txp_queue_init(&b);
	txp_queue_move(&a, &b); /* empty into empty */
	ck_assert(txp_queue_empty(&b));
	txp_queue_insert_tail(&a, &it[2].link);
	txp_queue_insert_tail(&a, &it[3].link);
	txp_queue_insert_tail(&b, &it[0].link);
	txp_queue_insert_tail(&b, &it[1].link);
	txp_queue_move(&a, &b);
	ck_assert(txp_queue_empty(&a));
	ck_assert_str_eq(values(&b), "1234");
	/* Links stay usable in their new list. */
	txp_queue_remove(&it[3].link);
	ck_assert_str_eq(values(&b), "123");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, inserts_keep_order_and_data_finds_the_holder);
	tcase_add_test(tc, removal_anywhere_and_twice_is_safe);
	tcase_add_test(tc, the_safe_walk_allows_removing_the_current_link);
	tcase_add_test(tc, move_appends_a_whole_list_and_empties_it);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
