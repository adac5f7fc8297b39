/* test_fleet_feed.c: the fleet feed's event encoding, item payloads, feed keys and the members item. */
#include "txpipe/fleet.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/txn.h"

static struct txp_txn *decided(void)
{
	struct txp_txn *t = txp_txn_new();

	ck_assert_ptr_nonnull(t);
	t->status = TXP_STATUS_REVIEW;
	t->received_ms = INT64_C(1793577600123);
	t->amount = 999999;
	strcpy(t->currency, "EUR");
	t->amount_usd_known = true;
	t->amount_usd = 1079998;
	strcpy(t->customer_key, "00112233445566778899aabbccddeeff");
	strcpy(t->merchant_key, "ffeeddccbbaa99887766554433221100");
	strcpy(t->card_token, "0123456789abcdef0123456789abcdef");
	t->has_card = true;
	return t;
}

START_TEST(event_round_trips_through_the_wire_and_back_to_a_txn)
{
	struct txp_txn *t = decided(), *back = txp_txn_new();
	struct txp_fleet_event ev, ev2;
	uint8_t wire[TXP_FLEET_EVENT_BYTES];

	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), 0);
	txp_fleet_event_encode(&ev, wire);
	ck_assert_int_eq(txp_fleet_event_decode(wire, &ev2), 0);
	ck_assert_mem_eq(&ev, &ev2, sizeof(ev));
	txp_fleet_event_to_txn(&ev2, back);
	ck_assert(back->fleet_apply);
	ck_assert_int_eq(back->received_ms, t->received_ms);
	ck_assert_int_eq(back->amount, t->amount);
	ck_assert_str_eq(back->currency, "EUR");
	ck_assert(back->amount_usd_known);
	ck_assert_int_eq(back->amount_usd, t->amount_usd);
	ck_assert_str_eq(back->customer_key, t->customer_key);
	ck_assert_str_eq(back->merchant_key, t->merchant_key);
	ck_assert_str_eq(back->card_token, t->card_token);
	ck_assert(back->has_card);
	/* No raw identifier travels: the wire holds only the keyed ones. */
	ck_assert_str_eq(back->customer_id, "");
	ck_assert_str_eq(back->merchant_id, "");
	txp_txn_free(t);
	txp_txn_free(back);
}
END_TEST

/* The reader reuses the transactions that applied events (sync.c): a
 * cleared one owns nothing and takes the next event as a new one does. */
START_TEST(a_cleared_txn_takes_an_event_like_a_new_one)
{
	struct txp_txn *t = decided(), *fresh = txp_txn_new();
	struct txp_fleet_event ev;

	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), 0);
	t->line = strdup("{\"card_number\":\"4000056655665556\"}");
	t->line_len = strlen(t->line);
	t->reply = strdup("{}");
	strcpy(t->names[0], "Jane Doe");
	txp_txn_clear(t);
	ck_assert_ptr_null(t->line);
	ck_assert_ptr_null(t->reply);
	ck_assert_str_eq(t->names[0], "");
	txp_fleet_event_to_txn(&ev, t);
	txp_fleet_event_to_txn(&ev, fresh);
	ck_assert_mem_eq(t, fresh, sizeof(*t));
	txp_txn_free(t);
	txp_txn_free(fresh);
}
END_TEST

START_TEST(event_without_card_or_rate_round_trips)
{
	struct txp_txn *t = decided(), *back = txp_txn_new();
	struct txp_fleet_event ev, ev2;
	uint8_t wire[TXP_FLEET_EVENT_BYTES];

	t->has_card = false;
	t->card_token[0] = '\0';
	t->amount_usd_known = false;
	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), 0);
	txp_fleet_event_encode(&ev, wire);
	ck_assert_int_eq(txp_fleet_event_decode(wire, &ev2), 0);
	txp_fleet_event_to_txn(&ev2, back);
	ck_assert(!back->has_card);
	ck_assert_str_eq(back->card_token, "");
	ck_assert(!back->amount_usd_known);
	ck_assert_int_eq(back->amount_usd, 0);
	txp_txn_free(t);
	txp_txn_free(back);
}
END_TEST

START_TEST(only_screened_transactions_make_events)
{
	struct txp_txn *t = decided();
	struct txp_fleet_event ev;

	t->status = TXP_STATUS_REJECTED;
	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), -EINVAL);
	t->status = TXP_STATUS_APPROVED;
	t->duplicate = true;
	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), -EINVAL);
	t->duplicate = false;
	t->fleet_apply = true; /* another host's: never published again */
	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), -EINVAL);
	t->fleet_apply = false;
	strcpy(t->merchant_key, "not hex at all, not 32 digits!!!");
	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), -EINVAL);
	t->merchant_key[0] = '\0'; /* [fleet] off: no merchant pseudonym */
	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), -EINVAL);
	txp_txn_free(t);
}
END_TEST

START_TEST(event_decode_rejects_what_no_encoder_writes)
{
	struct txp_txn *t = decided();
	struct txp_fleet_event ev, out;
	uint8_t wire[TXP_FLEET_EVENT_BYTES], bad[TXP_FLEET_EVENT_BYTES];

	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), 0);
	txp_fleet_event_encode(&ev, wire);
	memcpy(bad, wire, sizeof(bad));
	bad[0] |= 0x80; /* unknown flag */
	ck_assert_int_eq(txp_fleet_event_decode(bad, &out), -EINVAL);
	memcpy(bad, wire, sizeof(bad));
	bad[8] = 0x80; /* negative time */
	ck_assert_int_eq(txp_fleet_event_decode(bad, &out), -EINVAL);
	memcpy(bad, wire, sizeof(bad));
	bad[26] = 'u'; /* currency not capitals */
	ck_assert_int_eq(txp_fleet_event_decode(bad, &out), -EINVAL);
	memcpy(bad, wire, sizeof(bad));
	bad[0] &= (uint8_t)~2u; /* no card, yet card bytes */
	ck_assert_int_eq(txp_fleet_event_decode(bad, &out), -EINVAL);
	memcpy(bad, wire, sizeof(bad));
	bad[0] &= (uint8_t)~1u; /* no rate, yet a USD amount */
	ck_assert_int_eq(txp_fleet_event_decode(bad, &out), -EINVAL);
	txp_txn_free(t);
}
END_TEST

static unsigned seen;

static void count_event(void *arg, const struct txp_fleet_event *ev)
{
	ck_assert_ptr_eq(arg, &seen);
	ck_assert_int_eq(ev->amount, 999999 + (int64_t)seen);
	seen++;
}

START_TEST(item_payload_round_trips_and_truncation_or_garbage_is_rejected_whole)
{
	struct txp_txn *t = decided();
	struct txp_fleet_event ev;
	size_t len = TXP_FLEET_ITEM_HEADER + 3 * TXP_FLEET_EVENT_BYTES;
	uint8_t *buf = malloc(len + 1);

	ck_assert_int_eq(txp_fleet_event_from_txn(t, &ev), 0);
	txp_fleet_item_header(buf, 3);
	for (unsigned i = 0; i < 3; i++) {
		ev.amount = 999999 + i;
		txp_fleet_event_encode(&ev, buf + TXP_FLEET_ITEM_HEADER + i * TXP_FLEET_EVENT_BYTES);
	}
	seen = 0;
	ck_assert_int_eq(txp_fleet_item_decode(buf, len, count_event, &seen), 3);
	ck_assert_uint_eq(seen, 3);
	/* Truncated, too long, other version, empty: nothing is handed on. */
	seen = 0;
	ck_assert_int_eq(txp_fleet_item_decode(buf, len - 1, count_event, &seen), -EINVAL);
	ck_assert_int_eq(txp_fleet_item_decode(buf, len + 1, count_event, &seen), -EINVAL);
	ck_assert_int_eq(txp_fleet_item_decode(buf, 3, count_event, &seen), -EINVAL);
	ck_assert_int_eq(txp_fleet_item_decode(buf, 0, count_event, &seen), -EINVAL);
	buf[0] = 2;
	ck_assert_int_eq(txp_fleet_item_decode(buf, len, count_event, &seen), -EINVAL);
	buf[0] = TXP_FLEET_FEED_VERSION;
	/* One bad event in the last place: the first two are not applied. */
	buf[TXP_FLEET_ITEM_HEADER + 2 * TXP_FLEET_EVENT_BYTES + 25] = '1';
	ck_assert_int_eq(txp_fleet_item_decode(buf, len, count_event, &seen), -EINVAL);
	ck_assert_uint_eq(seen, 0);
	txp_fleet_item_header(buf, 0);
	ck_assert_int_eq(txp_fleet_item_decode(buf, TXP_FLEET_ITEM_HEADER, count_event, &seen), 0);
	free(buf);
	txp_txn_free(t);
}
END_TEST

START_TEST(feed_keys_parse_and_bad_ones_are_refused)
{
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	uint64_t seq;
	const char *bad[] = {
		"feed|a|", "feed||5", "feed|a b|5", "feed|a|5x", "feed|a|-5", "fee|a|5", "feed|a|123456789012345678901",
		"feed|a"
	};

	ck_assert_int_eq(txp_fleet_feed_key_parse("feed|i-0abc.x_1|1793577600123", 29, id, &seq), 0);
	ck_assert_str_eq(id, "i-0abc.x_1");
	ck_assert_uint_eq(seq, UINT64_C(1793577600123));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(txp_fleet_feed_key_parse(bad[i], strlen(bad[i]), id, &seq), -EINVAL);
}
END_TEST

START_TEST(members_item_parses_hosts_and_skips_malformed_ones)
{
	struct txp_fleet_member m[4];
	size_t skipped;
	const char *body =
	        "{\"Item\":{\"pk\":{\"S\":\"members\"},"
	        "\"h_a\":{\"M\":{\"f\":{\"N\":\"100\"},\"l\":{\"N\":\"105\"},\"t\":{\"N\":\"1793577600000\"}}},"
	        "\"h_b\":{\"M\":{\"f\":{\"N\":\"200\"},\"l\":{\"N\":\"199\"},\"t\":{\"N\":\"1793577600001\"}}},"
	        "\"h_c\":{\"M\":{\"f\":{\"N\":\"300\"},\"l\":{\"N\":\"2\"},\"t\":{\"N\":\"1\"}}},"
	        "\"h_d d\":{\"M\":{\"f\":{\"N\":\"1\"},\"l\":{\"N\":\"1\"},\"t\":{\"N\":\"1\"}}},"
	        "\"h_e\":{\"S\":\"x\"},"
	        "\"h_f\":{\"M\":{\"f\":{\"N\":\"-1\"},\"l\":{\"N\":\"1\"},\"t\":{\"N\":\"1\"}}}}}";
	int n = txp_fleet_members_parse(body, strlen(body), m, 4, &skipped);

	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(skipped, 4);
	ck_assert_str_eq(m[0].id, "a");
	ck_assert_uint_eq(m[0].first, 100);
	ck_assert_uint_eq(m[0].last, 105);
	ck_assert_int_eq(m[0].heartbeat_ms, INT64_C(1793577600000));
	/* Nothing published yet in this run: last is first - 1. */
	ck_assert_str_eq(m[1].id, "b");
	ck_assert_uint_eq(m[1].last, 199);
	/* No item yet, or an empty answer: no members, no error. */
	ck_assert_int_eq(txp_fleet_members_parse("{}", 2, m, 4, &skipped), 0);
	ck_assert_int_eq(txp_fleet_members_parse("[1]", 3, m, 4, &skipped), -EINVAL);
	ck_assert_int_eq(txp_fleet_members_parse("{\"Item\":3}", 10, m, 4, &skipped), -EINVAL);
	ck_assert_int_eq(txp_fleet_members_parse("{\"Item\":", 8, m, 4, &skipped), -EINVAL);
	/* More hosts than room: the rest are counted, not written. */
	ck_assert_int_eq(txp_fleet_members_parse(body, strlen(body), m, 1, &skipped), 1);
	ck_assert_uint_eq(skipped, 5);
}
END_TEST

START_TEST(a_restarted_host_keeps_its_run_before_and_readers_finish_it_first)
{
	struct txp_fleet_member m[3];
	size_t skipped;
	const char *body = "{\"Item\":{"
	                   "\"h_a\":{\"M\":{\"f\":{\"N\":\"500\"},\"l\":{\"N\":\"502\"},\"t\":{\"N\":\"1\"},"
	                   "\"pf\":{\"N\":\"100\"},\"pl\":{\"N\":\"110\"}}},"
	                   /* A range that is not before this run, or empty, is none. */
	                   "\"h_b\":{\"M\":{\"f\":{\"N\":\"500\"},\"l\":{\"N\":\"502\"},\"t\":{\"N\":\"1\"},"
	                   "\"pf\":{\"N\":\"400\"},\"pl\":{\"N\":\"500\"}}},"
	                   "\"h_c\":{\"M\":{\"f\":{\"N\":\"500\"},\"l\":{\"N\":\"502\"},\"t\":{\"N\":\"1\"},"
	                   "\"pf\":{\"N\":\"110\"},\"pl\":{\"N\":\"100\"}}}}}";
	int n = txp_fleet_members_parse(body, strlen(body), m, 3, &skipped);
	const struct txp_fleet_member *a = NULL;

	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(skipped, 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(m[i].id, "a") == 0) {
			a = &m[i];
		} else {
			ck_assert_uint_eq(m[i].prev_first, 0);
			ck_assert_uint_eq(m[i].prev_last, 0);
			/* No run before kept: on to this run. */
			ck_assert_uint_eq(txp_fleet_member_resume(&m[i], 105), 500);
		}
	}
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->prev_first, 100);
	ck_assert_uint_eq(a->prev_last, 110);
	/* A reader in the middle of the run before finishes it... */
	ck_assert_uint_eq(txp_fleet_member_resume(a, 105), 105);
	ck_assert_uint_eq(txp_fleet_member_resume(a, 110), 110);
	/* ...one that had read all of it goes on to this run... */
	ck_assert_uint_eq(txp_fleet_member_resume(a, 111), 500);
	/* ...one still in an older run starts the run before... */
	ck_assert_uint_eq(txp_fleet_member_resume(a, 50), 100);
	/* ...and one already in this run stays. */
	ck_assert_uint_eq(txp_fleet_member_resume(a, 501), 501);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fleet_feed");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, event_round_trips_through_the_wire_and_back_to_a_txn);
	tcase_add_test(tc, event_without_card_or_rate_round_trips);
	tcase_add_test(tc, a_cleared_txn_takes_an_event_like_a_new_one);
	tcase_add_test(tc, only_screened_transactions_make_events);
	tcase_add_test(tc, event_decode_rejects_what_no_encoder_writes);
	tcase_add_test(tc, item_payload_round_trips_and_truncation_or_garbage_is_rejected_whole);
	tcase_add_test(tc, feed_keys_parse_and_bad_ones_are_refused);
	tcase_add_test(tc, members_item_parses_hosts_and_skips_malformed_ones);
	tcase_add_test(tc, a_restarted_host_keeps_its_run_before_and_readers_finish_it_first);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
