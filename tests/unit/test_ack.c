/* test_ack.c: when replies may leave (every ack mode), duplicates, DELIVERED marks, replay and memory failure. */
#include "txpipe/ack.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn_fixture.h"
#include "txpipe/record.h"

/*
 * A fake journal, delivery and server behind struct txp_ack_ops: each
 * records what it was asked, so the tests read the module's decisions
 * without a loop, a disk or AWS.
 */
#define MAX_TXNS 16
struct world {
	uint64_t next_seq;
	int append_rc; /* what append returns (0: appends) */
	unsigned appended;
	uint64_t marked[64]; /* sequence numbers marked DELIVERED */
	size_t n_marked;
	unsigned mark_records; /* DELIVERED records written */
	unsigned flushes_scheduled;
	unsigned n_delivered;
	char delivered_id[MAX_TXNS][TXP_ID_MAX + 1];
	struct txp_txn *released[MAX_TXNS];
	unsigned n_released;
	unsigned rebuilt;
};

static int fake_append(void *arg, struct txp_txn *t)
{
	struct world *w = arg;

	if (w->append_rc < 0)
		return w->append_rc;
	t->journal_seq = ++w->next_seq;
	w->appended++;
	return 0;
}

static int fake_mark(void *arg, const uint64_t *seqs, size_t n)
{
	struct world *w = arg;

	for (size_t i = 0; i < n && w->n_marked < 64; i++)
		w->marked[w->n_marked++] = seqs[i];
	w->mark_records++;
	return 0;
}

static void fake_schedule(void *arg)
{
	((struct world *)arg)->flushes_scheduled++;
}

static void fake_deliver(void *arg, struct txp_txn *t)
{
	struct world *w = arg;

	if (w->n_delivered < MAX_TXNS)
		snprintf(w->delivered_id[w->n_delivered], sizeof(w->delivered_id[0]), "%s", t->transaction_id);
	w->n_delivered++;
}

static void fake_release(void *arg, struct txp_txn *t)
{
	struct world *w = arg;

	ck_assert(t->held);
	t->held = false;
	if (w->n_released < MAX_TXNS)
		w->released[w->n_released] = t;
	w->n_released++;
}

static void fake_rebuild(void *arg, const struct txp_journal_accepted *rec)
{
	(void)rec;
	((struct world *)arg)->rebuilt++;
}

/* realloc that fails from the `fail_after`-th call on (-1: never). */
static int fail_after = -1;
static void *failing_realloc(void *p, size_t n)
{
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	return realloc(p, n);
}

struct fixture {
	struct world w;
	struct txp_dedup *dedup;
	struct txp_ack *ack;
	struct txp_txn *t[MAX_TXNS];
	unsigned n;
};

static void setup(struct fixture *f, enum txp_journal_ack mode, bool delivery)
{
	struct txp_ack_options o = { .mode = mode, .dedup_window_ms = 600000, .velocity_rebuild = true };
	struct txp_ack_ops ops = {
		.append = fake_append,
		.mark_delivered = fake_mark,
		.schedule_flush = fake_schedule,
		.deliver = delivery ? fake_deliver : NULL,
		.release = fake_release,
		.rebuild = fake_rebuild,
		.realloc = failing_realloc,
		.arg = &f->w,
	};

	memset(f, 0, sizeof(*f));
	fail_after = -1;
	f->dedup = txp_dedup_create(1024, 600000);
	ck_assert_ptr_nonnull(f->dedup);
	o.dedup = f->dedup;
	ck_assert_int_eq(txp_ack_create(&f->ack, &o, &ops), 0);
	txp_ack_start(f->ack, 0);
}

static void teardown(struct fixture *f)
{
	txp_ack_destroy(f->ack);
	txp_dedup_destroy(f->dedup);
	for (unsigned i = 0; i < f->n; i++)
		txp_txn_free(f->t[i]);
}

/* A decided transaction with id `id`, its reply built, as it leaves the
 * pipeline; amount in cents. */
static struct txp_txn *decided(struct fixture *f, const char *id, int64_t amount)
{
	struct txp_txn *t = txp_test_decided();

	ck_assert_ptr_nonnull(t);
	snprintf(t->transaction_id, sizeof(t->transaction_id), "%s", id);
	t->has_id = true;
	t->amount = amount;
	t->received_ms = 1700000000000;
	snprintf(t->customer_key, sizeof(t->customer_key), "%s", t->customer_pseud);
	ck_assert_int_eq(txp_txn_build_reply(t), 0);
	f->t[f->n++] = t;
	return t;
}

static bool has(const char *reply, const char *text)
{
	return reply != NULL && strstr(reply, text) != NULL;
}

START_TEST(journaled_replies_wait_for_their_record_to_be_durable)
{
	struct fixture f;
	struct txp_txn *a, *b;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	a = decided(&f, "a", 100);
	b = decided(&f, "b", 200);
	txp_ack_completed(f.ack, a);
	txp_ack_completed(f.ack, b);
	ck_assert(a->held && b->held);
	ck_assert_uint_eq(a->journal_seq, 1);
	ck_assert_uint_eq(b->journal_seq, 2);
	ck_assert_uint_eq(f.w.n_delivered, 2); /* delivery does not wait for durability */
	txp_ack_durable(f.ack, 1);
	ck_assert_uint_eq(f.w.n_released, 1);
	ck_assert_ptr_eq(f.w.released[0], a);
	ck_assert(b->held);
	/* Delivery alone does not release a journaled reply. */
	txp_ack_delivered(f.ack, 2);
	ck_assert(b->held);
	txp_ack_durable(f.ack, 2);
	ck_assert_uint_eq(f.w.n_released, 2);
	ck_assert_ptr_eq(f.w.released[1], b);
	teardown(&f);
}
END_TEST

START_TEST(stored_replies_wait_for_delivery_in_any_order)
{
	struct fixture f;
	struct txp_txn *a, *b, *c;

	setup(&f, TXP_JOURNAL_ACK_STORED, true);
	a = decided(&f, "a", 100);
	b = decided(&f, "b", 200);
	c = decided(&f, "c", 300);
	txp_ack_completed(f.ack, a);
	txp_ack_completed(f.ack, b);
	txp_ack_completed(f.ack, c);
	/* Durability alone does not release a stored reply. */
	txp_ack_durable(f.ack, 3);
	ck_assert_uint_eq(f.w.n_released, 0);
	txp_ack_delivered(f.ack, 2);
	ck_assert_uint_eq(f.w.n_released, 1);
	ck_assert_ptr_eq(f.w.released[0], b);
	txp_ack_delivered(f.ack, 3);
	txp_ack_delivered(f.ack, 1);
	ck_assert_uint_eq(f.w.n_released, 3);
	ck_assert(!a->held && !c->held);
	teardown(&f);
}
END_TEST

START_TEST(stored_without_delivery_waits_for_durability)
{
	struct fixture f;
	struct txp_txn *a;

	setup(&f, TXP_JOURNAL_ACK_STORED, false);
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	ck_assert(a->held);
	txp_ack_durable(f.ack, 1);
	ck_assert(!a->held);
	teardown(&f);
}
END_TEST

START_TEST(decided_replies_leave_at_once)
{
	struct fixture f;
	struct txp_txn *a;

	setup(&f, TXP_JOURNAL_ACK_DECIDED, true);
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	ck_assert(!a->held);
	ck_assert_uint_eq(f.w.appended, 1); /* still journaled and delivered */
	ck_assert_uint_eq(f.w.n_delivered, 1);
	teardown(&f);
}
END_TEST

START_TEST(delivered_marks_are_batched_into_one_record_per_flush)
{
	struct fixture f;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "t%d", i);
		txp_ack_completed(f.ack, decided(&f, id, 100 + i));
	}
	txp_ack_delivered(f.ack, 3);
	txp_ack_delivered(f.ack, 1);
	ck_assert_uint_eq(f.w.flushes_scheduled, 1);
	ck_assert_uint_eq(f.w.mark_records, 0);
	txp_ack_flush(f.ack);
	ck_assert_uint_eq(f.w.mark_records, 1);
	ck_assert_uint_eq(f.w.n_marked, 2);
	ck_assert_uint_eq(f.w.marked[0], 3);
	ck_assert_uint_eq(f.w.marked[1], 1);
	txp_ack_flush(f.ack); /* nothing new: no empty record */
	ck_assert_uint_eq(f.w.mark_records, 1);
	txp_ack_delivered(f.ack, 2);
	ck_assert_uint_eq(f.w.flushes_scheduled, 2);
	teardown(&f);
}
END_TEST

START_TEST(without_delivery_records_are_marked_delivered_at_once)
{
	struct fixture f;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, false);
	txp_ack_completed(f.ack, decided(&f, "a", 100));
	txp_ack_flush(f.ack);
	ck_assert_uint_eq(f.w.n_marked, 1);
	ck_assert_uint_eq(f.w.marked[0], 1);
	teardown(&f);
}
END_TEST

START_TEST(a_resubmission_gets_the_first_decision_never_before_it_is_durable)
{
	struct fixture f;
	struct txp_txn *a, *again;
	struct txp_ack_stats st;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	/* Scored again while the first is in flight (not durable yet). */
	again = decided(&f, "a", 100);
	again->status = TXP_STATUS_DECLINED;
	txp_ack_completed(f.ack, again);
	ck_assert(again->duplicate);
	ck_assert(has(again->reply, "\"duplicate\":true"));
	ck_assert_int_eq(again->status, a->status);
	ck_assert_uint_eq(f.w.appended, 1);    /* neither journaled */
	ck_assert_uint_eq(f.w.n_delivered, 1); /* nor stored again */
	ck_assert(again->held);
	txp_ack_durable(f.ack, 1);
	ck_assert(!a->held && !again->held);
	/* First the original, then its duplicate: line order is the server's. */
	ck_assert_ptr_eq(f.w.released[0], a);
	txp_ack_stats(f.ack, &st);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_uint_eq(st.held_now, 0);
	teardown(&f);
}
END_TEST

/* With inline stages the validation stage's check is final (dedup_final):
 * the completion does not look again.  So a transaction marked final is
 * journaled as the stages decided it, even with its id in the window
 * (inline, the stages would have found it there); one not marked is
 * looked up and answered as a duplicate. */
START_TEST(a_final_duplicate_check_is_not_repeated)
{
	struct fixture f;
	struct txp_txn *a, *again;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	again = decided(&f, "a", 100);
	again->dedup_final = true;
	txp_ack_completed(f.ack, again);
	ck_assert(!again->duplicate);
	ck_assert_uint_eq(f.w.appended, 2);
	again = decided(&f, "a", 100);
	txp_ack_completed(f.ack, again);
	ck_assert(again->duplicate);
	ck_assert_uint_eq(f.w.appended, 2);
	txp_ack_durable(f.ack, 2);
	teardown(&f);
}
END_TEST

START_TEST(a_decision_stored_first_elsewhere_is_the_reply_and_the_duplicate_answer)
{
	struct fixture f;
	struct txp_txn *a, *again;
	const char *won = "{\"transaction_id\":\"a\",\"status\":\"declined\",\"risk_score\":90,"
	                  "\"reasons\":[\"amount_high\"],\"decided_by\":\"host-b\"}\n";

	setup(&f, TXP_JOURNAL_ACK_STORED, true);
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	ck_assert(has(a->reply, "\"status\":\"review\""));
	/* Delivery found another host's decision stored first (fleet mode). */
	txp_ack_stored_elsewhere(f.ack, a->journal_seq, strdup(won), strlen(won));
	ck_assert(a->held);
	txp_ack_delivered(f.ack, a->journal_seq);
	ck_assert_uint_eq(f.w.n_released, 1);
	ck_assert_str_eq(a->reply, won);
	ck_assert_uint_eq(a->reply_len, strlen(won));
	/* A resubmission within the window gets the stored decision too. */
	again = decided(&f, "a", 100);
	txp_ack_completed(f.ack, again);
	ck_assert(again->duplicate);
	ck_assert(has(again->reply, "\"status\":\"declined\""));
	ck_assert(has(again->reply, "\"decided_by\":\"host-b\""));
	ck_assert(has(again->reply, "\"duplicate\":true"));
	ck_assert_int_eq(again->status, TXP_STATUS_DECLINED);
	/* Nothing holds a record that is not waiting: the reply is freed (ASan sees a leak otherwise). */
	txp_ack_stored_elsewhere(f.ack, 99, strdup(won), strlen(won));
	teardown(&f);
}
END_TEST

START_TEST(a_reply_that_cannot_be_held_is_refused_not_sent_early)
{
	struct fixture f;
	struct txp_txn *a;
	struct txp_ack_stats st;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	fail_after = 0; /* the hold queue cannot grow */
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	ck_assert(!a->held);
	ck_assert_int_eq(a->status, TXP_STATUS_ERROR);
	ck_assert(has(a->reply, "\"code\":\"overloaded\""));
	/* Not kept, so neither journaled, stored nor remembered as decided:
	 * the producer's retry is decided afresh. */
	ck_assert_uint_eq(f.w.appended, 0);
	ck_assert_uint_eq(f.w.n_delivered, 0);
	ck_assert_uint_eq(txp_dedup_count(f.dedup), 0);
	txp_ack_stats(f.ack, &st);
	ck_assert_uint_eq(st.hold_failures, 1);
	/* Memory back: the retry is kept and held as usual. */
	fail_after = -1;
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	ck_assert(a->held);
	ck_assert_uint_eq(f.w.appended, 1);
	teardown(&f);
}
END_TEST

START_TEST(a_duplicate_that_cannot_be_held_is_refused)
{
	struct fixture f;
	struct txp_txn *t;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	/* Fill the hold queue's first block (1,024 entries), so the next
	 * hold must grow it; nothing is durable yet. */
	for (int i = 0; i < 1024; i++) {
		t = txp_test_decided();
		snprintf(t->transaction_id, sizeof(t->transaction_id), "fill%d", i);
		ck_assert_int_eq(txp_txn_build_reply(t), 0);
		txp_ack_completed(f.ack, t);
		ck_assert(t->held);
		txp_txn_free(t); /* never released below: the queue is forgotten */
	}
	/* The same transaction again: a duplicate whose first decision is
	 * not durable, so its reply would have to wait. */
	t = txp_test_decided();
	snprintf(t->transaction_id, sizeof(t->transaction_id), "fill7");
	ck_assert_int_eq(txp_txn_build_reply(t), 0);
	f.t[f.n++] = t;
	fail_after = 0;
	txp_ack_completed(f.ack, t);
	ck_assert(!t->held);
	ck_assert(!t->duplicate);
	ck_assert(has(t->reply, "\"code\":\"overloaded\""));
	ck_assert(!has(t->reply, "\"duplicate\""));
	txp_ack_forget_held(f.ack);
	teardown(&f);
}
END_TEST

START_TEST(a_journal_that_refuses_the_record_gets_overloaded)
{
	struct fixture f;
	struct txp_txn *a;
	struct txp_ack_stats st;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	f.w.append_rc = -ENOSPC;
	a = decided(&f, "a", 100);
	txp_ack_completed(f.ack, a);
	ck_assert(!a->held);
	ck_assert(has(a->reply, "\"code\":\"overloaded\""));
	ck_assert_uint_eq(f.w.n_delivered, 0);
	ck_assert_uint_eq(txp_dedup_count(f.dedup), 0);
	txp_ack_stats(f.ack, &st);
	ck_assert_uint_eq(st.append_failures, 1);
	ck_assert_uint_eq(st.held_now, 0);
	teardown(&f);
}
END_TEST

START_TEST(replies_of_records_the_journal_dropped_are_refused_and_forgotten)
{
	struct fixture f;
	struct txp_txn *a, *b, *c, *again;
	struct txp_dedup_hit hit;
	struct txp_ack_stats st;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	a = decided(&f, "a", 100);
	b = decided(&f, "b", 200);
	c = decided(&f, "c", 300);
	txp_ack_completed(f.ack, a);
	txp_ack_completed(f.ack, b);
	txp_ack_completed(f.ack, c);
	txp_ack_durable(f.ack, 1);
	/* Records 2 and 3 could not be written. */
	txp_ack_dropped(f.ack, 2, 3);
	ck_assert(!b->held && !c->held);
	ck_assert(has(b->reply, "\"code\":\"overloaded\""));
	ck_assert(has(c->reply, "\"code\":\"overloaded\""));
	ck_assert(!has(a->reply, "overloaded"));
	/* Their ids are forgotten, a's is not: a retry of b is decided afresh. */
	ck_assert(!txp_dedup_get(f.dedup, "b", b->fingerprint, b->received_ms + 1, &hit));
	ck_assert(txp_dedup_get(f.dedup, "a", a->fingerprint, a->received_ms + 1, &hit));
	free(hit.reply);
	again = decided(&f, "b", 200);
	txp_ack_completed(f.ack, again);
	ck_assert(!again->duplicate);
	ck_assert_uint_eq(again->journal_seq, 4);
	txp_ack_stats(f.ack, &st);
	ck_assert_uint_eq(st.dropped_replies, 2);
	ck_assert_uint_eq(st.held_now, 1);
	txp_ack_durable(f.ack, 4);
	ck_assert(!again->held);
	teardown(&f);
}
END_TEST

START_TEST(lines_without_an_id_are_answered_and_never_kept)
{
	struct fixture f;
	struct txp_txn *t;

	setup(&f, TXP_JOURNAL_ACK_STORED, true);
	t = decided(&f, "", 100);
	t->has_id = false;
	t->status = TXP_STATUS_REJECTED;
	txp_ack_completed(f.ack, t);
	ck_assert(!t->held);
	ck_assert_uint_eq(f.w.appended, 0);
	ck_assert_uint_eq(f.w.n_delivered, 1); /* counted by delivery as not stored */
	teardown(&f);
}
END_TEST

/* An ACCEPTED record of `t`, as the journal hands it to replay. */
static void record_of(struct txp_txn *t, uint8_t *buf, size_t cap, struct txp_journal_accepted *a)
{
	ck_assert_int_eq(txp_record_accepted(t, "1.0-test", buf, cap, a), 0);
}

START_TEST(replay_refills_the_duplicate_window_and_the_velocity_windows)
{
	struct fixture f;
	struct txp_journal_accepted rec;
	uint8_t buf[TXP_RECORD_MAX];
	struct txp_dedup_hit hit;
	struct txp_txn *t, *again;
	struct txp_ack_stats st;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	t = decided(&f, "old", 100);
	record_of(t, buf, sizeof(buf), &rec);
	txp_ack_replay_recent(f.ack, 7, &rec, t->received_ms + 1000);
	ck_assert(txp_dedup_get(f.dedup, "old", t->fingerprint, t->received_ms + 2000, &hit));
	ck_assert_uint_eq(hit.journal_seq, 7);
	free(hit.reply);
	/* Older than the duplicate window: velocity only. */
	t = decided(&f, "older", 100);
	record_of(t, buf, sizeof(buf), &rec);
	txp_ack_replay_recent(f.ack, 8, &rec, t->received_ms + 600001);
	ck_assert(!txp_dedup_get(f.dedup, "older", t->fingerprint, t->received_ms + 600001, &hit));
	ck_assert_uint_eq(f.w.rebuilt, 2);
	/* A resubmission after the restart is answered from the replay. */
	txp_ack_start(f.ack, 8);
	again = decided(&f, "old", 100);
	txp_ack_completed(f.ack, again);
	ck_assert(again->duplicate);
	ck_assert(!again->held); /* its record is durable already */
	ck_assert_uint_eq(f.w.appended, 0);
	txp_ack_stats(f.ack, &st);
	ck_assert_uint_eq(st.replayed_recent, 2);
	ck_assert_uint_eq(st.velocity_rebuilt, 2);
	ck_assert_uint_eq(st.replay_dedup, 1);
	teardown(&f);
}
END_TEST

START_TEST(replay_delivers_undelivered_records_again_with_their_item)
{
	struct fixture f;
	struct txp_journal_accepted rec;
	uint8_t buf[TXP_RECORD_MAX];
	struct txp_txn *t;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	t = decided(&f, "pending", 100);
	record_of(t, buf, sizeof(buf), &rec);
	txp_ack_replay_undelivered(f.ack, 5, &rec);
	ck_assert_uint_eq(f.w.n_delivered, 1);
	ck_assert_str_eq(f.w.delivered_id[0], "pending");
	teardown(&f);
}
END_TEST

START_TEST(replay_without_delivery_keeps_records_in_the_journal)
{
	struct fixture f;
	struct txp_journal_accepted rec;
	uint8_t buf[TXP_RECORD_MAX];
	struct txp_ack_stats st;

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, false);
	record_of(decided(&f, "pending", 100), buf, sizeof(buf), &rec);
	txp_ack_replay_undelivered(f.ack, 5, &rec);
	txp_ack_flush(f.ack);
	ck_assert_uint_eq(f.w.n_marked, 0); /* not marked: delivered once delivery is on */
	txp_ack_stats(f.ack, &st);
	ck_assert_uint_eq(st.replayed_undelivered, 1);
	teardown(&f);
}
END_TEST

START_TEST(a_damaged_record_is_skipped_on_replay)
{
	struct fixture f;
	struct txp_journal_accepted rec;
	uint8_t buf[TXP_RECORD_MAX];

	setup(&f, TXP_JOURNAL_ACK_JOURNALED, true);
	record_of(decided(&f, "x", 100), buf, sizeof(buf), &rec);
	rec.record_len = 3; /* lengths that do not add up */
	txp_ack_replay_undelivered(f.ack, 5, &rec);
	txp_ack_replay_recent(f.ack, 5, &rec, 1700000000000);
	ck_assert_uint_eq(f.w.n_delivered, 0);
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ack");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, journaled_replies_wait_for_their_record_to_be_durable);
	tcase_add_test(tc, stored_replies_wait_for_delivery_in_any_order);
	tcase_add_test(tc, stored_without_delivery_waits_for_durability);
	tcase_add_test(tc, a_decision_stored_first_elsewhere_is_the_reply_and_the_duplicate_answer);
	tcase_add_test(tc, decided_replies_leave_at_once);
	tcase_add_test(tc, delivered_marks_are_batched_into_one_record_per_flush);
	tcase_add_test(tc, without_delivery_records_are_marked_delivered_at_once);
	tcase_add_test(tc, a_resubmission_gets_the_first_decision_never_before_it_is_durable);
	tcase_add_test(tc, a_final_duplicate_check_is_not_repeated);
	tcase_add_test(tc, a_reply_that_cannot_be_held_is_refused_not_sent_early);
	tcase_add_test(tc, a_duplicate_that_cannot_be_held_is_refused);
	tcase_add_test(tc, a_journal_that_refuses_the_record_gets_overloaded);
	tcase_add_test(tc, replies_of_records_the_journal_dropped_are_refused_and_forgotten);
	tcase_add_test(tc, lines_without_an_id_are_answered_and_never_kept);
	tcase_add_test(tc, replay_refills_the_duplicate_window_and_the_velocity_windows);
	tcase_add_test(tc, replay_delivers_undelivered_records_again_with_their_item);
	tcase_add_test(tc, replay_without_delivery_keeps_records_in_the_journal);
	tcase_add_test(tc, a_damaged_record_is_skipped_on_replay);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
