/* test_durable.c: the real txpiped and its journal: ack modes, crash and restart, velocity rebuild, duplicates, damage. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "txpipe/journal.h"

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* At most this many requests outstanding on a connection: a client that
 * writes everything before reading anything deadlocks against the
 * daemon's backpressure once the replies fill the socket buffers. */
#define PIPELINE_DEPTH 64

static int decided_reply(int fd)
{
	json_t *r = trecv_reply(fd, 20000);
	int decided;

	ck_assert_ptr_nonnull(r);
	decided = strcmp(tstatus(r), "approved") == 0 || strcmp(tstatus(r), "review") == 0 ||
	          strcmp(tstatus(r), "declined") == 0;
	json_decref(r);
	return decided;
}

/* Sends n transactions on one connection, pipelined; returns how many got
 * a decision (approved, review or declined). */
static int send_many(struct tdaemon *d, const char *prefix, int n)
{
	char line[512], id[64];
	int fd = tconnect(d->socket), decided = 0, received = 0;

	for (int i = 0; i < n; i++) {
		if (i - received >= PIPELINE_DEPTH) {
			decided += decided_reply(fd);
			received++;
		}
		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		ttxn_line(line, sizeof(line), id, i % 3 == 0 ? "c-x" : "c-y", "12.50");
		tsend_str(fd, line);
	}
	for (; received < n; received++)
		decided += decided_reply(fd);
	tclose(fd);
	return decided;
}

START_TEST(journaled_ack_waits_for_the_commit)
{
	struct tdaemon d;
	long long t0, ms;
	json_t *r;

	/* A record right after a sync waits for the interval to pass (the
	 * first one, after a quiet spell, is synced at once). */
	tdaemon_start(&d, "[journal]\nack = journaled\ncommit_interval_ms = 500ms\n");
	r = tdaemon_send_txn(&d, "warm", "c-1", "10.00");
	json_decref(r);
	t0 = mono_ms();
	r = tdaemon_send_txn(&d, "ack-j", "c-1", "10.00");
	ms = mono_ms() - t0;
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(tstatus(r), "approved");
	/* The interval runs from when the writer took the warm record, before
	 * its sync and its reply, so what is left of it here is a little under
	 * 500 ms: anything near that shows the reply waited for the commit (an
	 * unheld reply takes a millisecond or two). */
	ck_assert_int_ge(ms, 250);
	ck_assert_int_ge(tdaemon_istat(&d, "journal", "durable_seq"), 2);
	json_decref(r);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(decided_ack_answers_before_the_commit)
{
	struct tdaemon d;
	long long t0, ms;
	json_t *r;

	tdaemon_start(&d, "[journal]\nack = decided\ncommit_interval_ms = 500ms\n");
	r = tdaemon_send_txn(&d, "warm", "c-1", "10.00");
	json_decref(r);
	t0 = mono_ms();
	r = tdaemon_send_txn(&d, "ack-d", "c-1", "10.00");
	ms = mono_ms() - t0;
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(tstatus(r), "approved");
	ck_assert_int_lt(ms, 300);
	json_decref(r);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(acknowledged_records_survive_kill_9)
{
	struct tdaemon d;
	int decided;

	tdaemon_start(&d, NULL);
	decided = send_many(&d, "k9", 300);
	ck_assert_int_gt(decided, 0);
	tdaemon_kill(&d);
	tdaemon_launch(&d, NULL);
	/* [aws] enabled = false: each record counts as delivered once it is
	 * durable, and is kept for the velocity rebuild. */
	ck_assert_int_eq(tdaemon_istat(&d, "ack", "replayed_recent"), decided);
	ck_assert(tdaemon_log_contains(&d, "event=journal_replayed"));
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* Four transactions of one customer, a crash, the fifth: the short-window
 * count rule (5 by default) fires only if the history came back. */
static bool velocity_survives_restart(const char *extra)
{
	struct tdaemon d;
	char id[32];
	bool fired;
	json_t *r;

	tdaemon_start(&d, extra);
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "v-%d", i);
		r = tdaemon_send_txn(&d, id, "c-velocity", i % 2 ? "11.00" : "13.00");
		ck_assert_ptr_nonnull(r);
		ck_assert(!thas_reason(r, "velocity_customer_count_short"));
		json_decref(r);
	}
	tdaemon_kill(&d);
	tdaemon_launch(&d, extra);
	r = tdaemon_send_txn(&d, "v-4", "c-velocity", "17.00");
	ck_assert_ptr_nonnull(r);
	fired = thas_reason(r, "velocity_customer_count_short");
	json_decref(r);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
	return fired;
}

START_TEST(velocity_windows_are_rebuilt_from_the_journal)
{
	ck_assert(velocity_survives_restart(NULL));
}
END_TEST

START_TEST(without_rebuild_a_restart_resets_the_windows)
{
	ck_assert(!velocity_survives_restart("[journal]\nvelocity_rebuild = false\n"));
}
END_TEST

START_TEST(a_resubmission_gets_the_first_decision_marked_duplicate)
{
	struct tdaemon d;
	json_t *a, *b, *c;

	tdaemon_start(&d, NULL);
	a = tdaemon_send_txn(&d, "dup-1", "c-dup", "5000.00");
	ck_assert_ptr_nonnull(a);
	ck_assert(json_object_get(a, "duplicate") == NULL);
	/* The same content under the same id: not scored again. */
	b = tdaemon_send_txn(&d, "dup-1", "c-dup", "5000.00");
	ck_assert_ptr_nonnull(b);
	ck_assert(json_is_true(json_object_get(b, "duplicate")));
	ck_assert_str_eq(tstatus(b), tstatus(a));
	ck_assert_int_eq(json_integer_value(json_object_get(b, "risk_score")),
	                 json_integer_value(json_object_get(a, "risk_score")));
	ck_assert_int_eq(tdaemon_istat(&d, "ack", "duplicates"), 1);
	/* Other content under the same id is no resubmission: an error. */
	json_decref(b);
	b = tdaemon_send_txn(&d, "dup-1", "c-dup", "1.00");
	ck_assert_str_eq(tstatus(b), "rejected");
	ck_assert(json_object_get(b, "duplicate") == NULL);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "error"), "code")),
	                 "duplicate_id_conflict");
	/* The window, content included, is rebuilt from the journal after a
	 * crash. */
	tdaemon_kill(&d);
	tdaemon_launch(&d, NULL);
	c = tdaemon_send_txn(&d, "dup-1", "c-dup", "5000.00");
	ck_assert_ptr_nonnull(c);
	ck_assert(json_is_true(json_object_get(c, "duplicate")));
	ck_assert_str_eq(tstatus(c), tstatus(a));
	json_decref(c);
	c = tdaemon_send_txn(&d, "dup-1", "c-dup", "1.00");
	ck_assert_str_eq(tstatus(c), "rejected");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "error"), "code")),
	                 "duplicate_id_conflict");
	/* A rejected id is not remembered: the fixed line is screened. */
	json_decref(b);
	b = tdaemon_send_txn(&d, "dup-2", "c-dup", "-1");
	ck_assert_str_eq(tstatus(b), "rejected");
	json_decref(c);
	c = tdaemon_send_txn(&d, "dup-2", "c-dup", "1.00");
	ck_assert(json_object_get(c, "duplicate") == NULL);
	ck_assert_str_eq(tstatus(c), "approved");
	json_decref(a);
	json_decref(b);
	json_decref(c);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

/* ---- damage between runs ---------------------------------------------- */

/* Segment file names in d's journal, sorted (their names sort by sequence). */
static int segments(struct tdaemon *d, char names[][600], int max)
{
	char dir[300];
	struct dirent **list;
	int n, k = 0;

	snprintf(dir, sizeof(dir), "%s/journal", d->dir);
	n = scandir(dir, &list, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(list[i]->d_name);
		if (k < max && l > 4 && strcmp(list[i]->d_name + l - 4, ".seg") == 0)
			snprintf(names[k++], 600, "%s/%s", dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return k;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int count_accepted(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	(void)offset;
	*(int *)arg += rec->type == TXP_JOURNAL_ACCEPTED;
	return 0;
}

/* Reads segment `path` and scans its first `limit` bytes (all of them when
 * it is shorter) with `fn`, from the first sequence number its name gives;
 * returns its bytes (the caller frees them) and their number in *len. */
static uint8_t *scan_segment(const char *path, size_t limit, txp_journal_scan_fn fn, void *arg, size_t *len)
{
	struct txp_journal_scan_result res;
	const char *base = strrchr(path, '/') + 1;
	uint64_t first = strtoull(base + strlen("journal-"), NULL, 16);
	uint8_t *buf = slurp(path, len);

	txp_journal_scan(buf, limit < *len ? limit : *len, first, UINT64_MAX, fn, arg, &res);
	return buf;
}

/* ACCEPTED records in the valid prefix of `path` once bytes from
 * `damage_at` on are ignored (SIZE_MAX: the whole file). */
static int accepted_before(const char *path, size_t damage_at, size_t *file_len, size_t *first_record_end)
{
	size_t len;
	int n = 0;
	uint8_t *buf = scan_segment(path, damage_at, count_accepted, &n, &len);

	if (file_len != NULL)
		*file_len = len;
	if (first_record_end != NULL) {
		struct txp_journal_record rec;
		ck_assert_int_eq(txp_journal_record_decode(buf, len, &rec), TXP_JOURNAL_OK);
		*first_record_end = txp_journal_record_size(rec.len);
	}
	free(buf);
	return n;
}

struct spanning {
	size_t at;          /* the byte asked about */
	size_t start, size; /* the record holding it; size 0: none */
};

static int find_spanning(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	struct spanning *sp = arg;
	size_t size = txp_journal_record_size(rec->len);

	if (offset <= sp->at && sp->at < offset + size) {
		sp->start = offset;
		sp->size = size;
	}
	return 0;
}

/* The middle of the record of `path` that holds byte `at`: a cut there
 * always tears a record, where a cut at a boundary between two would
 * leave a clean end. */
static size_t mid_record(const char *path, size_t at)
{
	struct spanning sp = { at, 0, 0 };
	size_t len;

	free(scan_segment(path, SIZE_MAX, find_spanning, &sp, &len));
	ck_assert_uint_gt(sp.size, 1);
	return sp.start + sp.size / 2;
}

static void flip_byte(const char *path, size_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

START_TEST(a_torn_tail_is_cut_and_everything_before_it_kept)
{
	struct tdaemon d;
	char seg[4][600];
	size_t len, first_end;
	int n, want;

	tdaemon_start(&d, NULL);
	ck_assert_int_eq(send_many(&d, "torn", 200), 200);
	ck_assert_int_eq(tdaemon_terminate(&d, 15000), 0);
	n = segments(&d, seg, 4);
	ck_assert_int_ge(n, 1);
	/* Tear the last segment in the middle of a record, as a crash
	 * during a write would: the record around its halfway point (half
	 * the length itself may fall between two records). */
	want = accepted_before(seg[n - 1], SIZE_MAX, &len, &first_end);
	ck_assert_int_gt(want, 10);
	ck_assert_int_eq(truncate(seg[n - 1], (off_t)mid_record(seg[n - 1], len / 2)), 0);
	want = accepted_before(seg[n - 1], SIZE_MAX, NULL, NULL);
	tdaemon_launch(&d, NULL);
	/* The socket listens during the replay; a request waits for it. */
	ck_assert_int_eq(tdaemon_istat(&d, "ack", "replayed_recent"), want);
	ck_assert(tdaemon_log_contains(&d, "event=journal_tail_truncated"));
	/* And it goes on journaling. */
	ck_assert_int_eq(send_many(&d, "after-torn", 10), 10);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

START_TEST(flipped_bytes_lose_only_the_damaged_records)
{
	struct tdaemon d;
	char seg[8][600], bad[620];
	size_t len;
	int n, skipped;

	/* 1 MiB segments and enough records for several. */
	tdaemon_start(&d, "[journal]\nsegment_bytes = 1M\n");
	ck_assert_int_eq(send_many(&d, "flip", 2500), 2500);
	ck_assert_int_eq(tdaemon_terminate(&d, 15000), 0);
	n = segments(&d, seg, 8);
	ck_assert_int_ge(n, 2);
	/* A flipped byte in the middle of the first segment and one in the
	 * middle of the last: each costs the record it hit (none when that
	 * was a DELIVERED record), and every record after it, in the same
	 * segment or later ones, is kept. */
	(void)accepted_before(seg[0], SIZE_MAX, &len, NULL);
	flip_byte(seg[0], len / 2);
	(void)accepted_before(seg[n - 1], SIZE_MAX, &len, NULL);
	flip_byte(seg[n - 1], len / 2);
	tdaemon_launch(&d, "[journal]\nsegment_bytes = 1M\n");
	skipped = tdaemon_istat(&d, "journal", "skipped_records");
	ck_assert_int_le(skipped, 2);
	ck_assert_int_eq(tdaemon_istat(&d, "journal", "damaged_segments"), 2);
	ck_assert_int_ge(tdaemon_istat(&d, "ack", "replayed_recent"), 2500 - skipped);
	ck_assert(tdaemon_log_contains(&d, "level=err event=journal_segment_damaged"));
	ck_assert(!tdaemon_log_contains(&d, "event=journal_tail_truncated"));
	/* The damaged segments are kept aside as found. */
	snprintf(bad, sizeof(bad), "%s.corrupt", seg[0]);
	ck_assert_int_eq(access(bad, F_OK), 0);
	snprintf(bad, sizeof(bad), "%s.corrupt", seg[n - 1]);
	ck_assert_int_eq(access(bad, F_OK), 0);
	ck_assert_int_eq(send_many(&d, "after-flip", 10), 10);
	ck_assert_int_eq(tdaemon_stop(&d, 15000), 0);
}
END_TEST

static Suite *durable_suite(void)
{
	Suite *s = suite_create("durable");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, journaled_ack_waits_for_the_commit);
	tcase_add_test(tc, decided_ack_answers_before_the_commit);
	tcase_add_test(tc, acknowledged_records_survive_kill_9);
	tcase_add_test(tc, velocity_windows_are_rebuilt_from_the_journal);
	tcase_add_test(tc, without_rebuild_a_restart_resets_the_windows);
	tcase_add_test(tc, a_resubmission_gets_the_first_decision_marked_duplicate);
	tcase_add_test(tc, a_torn_tail_is_cut_and_everything_before_it_kept);
	tcase_add_test(tc, flipped_bytes_lose_only_the_damaged_records);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(durable_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
