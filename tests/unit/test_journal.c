/* test_journal.c: the journal on disk: durability, rotation, deletion, replay, repair, disk-full recovery. */
#include "txpipe/journal.h"
#include "txpipe/log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Helpers: a scratch directory, the loop, records, a replay collector. ---- */

static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/txp-journal-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char mnt[128];

	/* In case the disk-full test failed before unmounting its tmpfs. */
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	umount2(mnt, MNT_DETACH);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct state {
	uv_loop_t loop;
	struct txp_journal *j;
	uint64_t durable; /* last reported */
	uint64_t durable_calls;
	bool durable_out_of_order;
	int errors[64]; /* error callback arguments in order */
	int nerrors;
	uint64_t drops[64][2]; /* dropped ranges reported, in order */
	int ndrops;
	bool drop_after_durable; /* a range reported after durable passed into it */
	/* Replay. */
	uint64_t replayed[4096];
	char *items[4096];
	size_t nreplayed;
	uint64_t recent[4096];
	size_t nrecent;
};

static void on_durable(void *arg, uint64_t seq)
{
	struct state *st = arg;

	if (seq <= st->durable)
		st->durable_out_of_order = true;
	st->durable = seq;
	st->durable_calls++;
}

static void on_error(void *arg, int err)
{
	struct state *st = arg;

	if (st->nerrors < 64)
		st->errors[st->nerrors++] = err;
}

static void on_dropped(void *arg, uint64_t first, uint64_t last)
{
	struct state *st = arg;

	ck_assert_uint_le(first, last);
	if (st->durable >= first)
		st->drop_after_durable = true;
	if (st->ndrops < 64) {
		st->drops[st->ndrops][0] = first;
		st->drops[st->ndrops][1] = last;
		st->ndrops++;
	}
}

/* Whether `seq` lies in a reported dropped range. */
static bool was_dropped(const struct state *st, uint64_t seq)
{
	for (int i = 0; i < st->ndrops; i++)
		if (seq >= st->drops[i][0] && seq <= st->drops[i][1])
			return true;
	return false;
}

static void on_undelivered(void *arg, uint64_t seq, const struct txp_journal_accepted *a)
{
	struct state *st = arg;

	ck_assert_uint_lt(st->nreplayed, 4096);
	ck_assert_uint_eq(strlen((const char *)a->record), a->record_len);
	st->replayed[st->nreplayed] = seq;
	st->items[st->nreplayed] = strdup((const char *)a->record);
	st->nreplayed++;
}

static void on_recent(void *arg, uint64_t seq, const struct txp_journal_accepted *a)
{
	struct state *st = arg;

	(void)a;
	ck_assert_uint_lt(st->nrecent, 4096);
	st->recent[st->nrecent++] = seq;
}

static void replay_clear(struct state *st)
{
	for (size_t i = 0; i < st->nreplayed; i++)
		free(st->items[i]);
	st->nreplayed = 0;
	st->nrecent = 0;
}

static struct txp_journal_options small_options(void)
{
	return (struct txp_journal_options){
		.segment_bytes = 4096,
		.max_bytes = UINT64_C(1) << 30,
		.commit_bytes = 64 << 10,
		.commit_interval_ms = 1,
		.retry_interval_ms = 20,
	};
}

static int open_journal(struct state *st, const char *path, struct txp_journal_options o)
{
	char err[512];
	int rc;

	replay_clear(st);
	o.on_undelivered = on_undelivered;
	o.on_recent = on_recent;
	o.replay_arg = st;
	if (o.now_ms == 0)
		o.now_ms = INT64_C(1764000000000);
	rc = txp_journal_open(&st->j, &st->loop, path, &o, err, sizeof(err));
	if (rc == 0) {
		txp_journal_on_durable(st->j, on_durable, st);
		txp_journal_on_error(st->j, on_error, st);
		txp_journal_on_dropped(st->j, on_dropped, st);
	} else {
		fprintf(stderr, "open: %s\n", err);
	}
	return rc;
}

static void state_init(struct state *st)
{
	memset(st, 0, sizeof(*st));
	ck_assert_int_eq(uv_loop_init(&st->loop), 0);
}

static void close_journal(struct state *st)
{
	txp_journal_close(st->j);
	st->j = NULL;
	ck_assert_int_eq(uv_run(&st->loop, UV_RUN_DEFAULT), 0);
}

static void state_done(struct state *st)
{
	if (st->j != NULL)
		close_journal(st);
	replay_clear(st);
	ck_assert_int_eq(uv_loop_close(&st->loop), 0);
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until `done` holds or `timeout_ms` pass; returns whether it held. */
static bool run_until(struct state *st, bool (*done)(struct state *, uint64_t), uint64_t arg, uint64_t timeout_ms)
{
	uv_timer_t t;
	uint64_t end;
	bool ok;

	uv_timer_init(&st->loop, &t);
	uv_timer_start(&t, tick, 2, 2);
	uv_update_time(&st->loop);
	end = uv_now(&st->loop) + timeout_ms;
	while (!(ok = done(st, arg)) && uv_now(&st->loop) < end)
		uv_run(&st->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&st->loop, UV_RUN_NOWAIT);
	return ok;
}

static bool durable_at_least(struct state *st, uint64_t seq)
{
	return st->durable >= seq;
}

static bool segments_at_most(struct state *st, uint64_t n)
{
	struct txp_journal_stats s;

	txp_journal_stats(st->j, &s);
	return s.segments <= n;
}

static uint64_t append_one(struct state *st, int id, size_t pad)
{
	char item[2048];
	struct txp_journal_accepted a = {
		.received_ms = INT64_C(1764000000000) - 1000 * id,
		.amount = 100 + id,
		.currency = "USD",
		.customer_key = "c0ffee",
		.customer_key_len = 6,
		.merchant_id = "m-1",
		.merchant_id_len = 3,
		.card_token = "",
	};
	uint64_t seq = 0;

	ck_assert_uint_lt(pad, 1900);
	snprintf(item, sizeof(item), "{\"transaction_id\":{\"S\":\"t-%d\"},\"pad\":{\"S\":\"%*s\"}}", id, (int)pad, "");
	a.record = (const uint8_t *)item;
	a.record_len = (uint32_t)strlen(item);
	ck_assert_int_eq(txp_journal_append_accepted(st->j, &a, &seq), 0);
	return seq;
}

/* Segment files in `path` (live ones, not *.corrupt). */
static int count_files(const char *path, const char *suffix)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);

		if (strncmp(e->d_name, "journal-", 8) == 0 && l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Path of the n-th segment file in name order (0 = oldest). */
static void nth_segment(const char *path, int n, char *out, size_t len)
{
	struct dirent **list;
	int count = scandir(path, &list, NULL, alphasort), k = 0;

	ck_assert_int_ge(count, 0);
	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		size_t l = strlen(list[i]->d_name);

		if (strncmp(list[i]->d_name, "journal-", 8) == 0 && l > 4 &&
		    strcmp(list[i]->d_name + l - 4, ".seg") == 0 && k++ == n)
			snprintf(out, len, "%s/%s", path, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	ck_assert_msg(out[0] != '\0', "no segment %d", n);
}

static off_t file_size(const char *path)
{
	struct stat sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	return sb.st_size;
}

/* Captures stderr (where txp_log writes) into a file while `on`. */
static int saved_stderr = -1;
static char logpath[96];

static void capture_logs(bool on)
{
	if (on) {
		int fd;

		snprintf(logpath, sizeof(logpath), "%s.log", dir);
		fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		ck_assert_int_ge(fd, 0);
		saved_stderr = dup(2);
		dup2(fd, 2);
		close(fd);
	} else {
		dup2(saved_stderr, 2);
		close(saved_stderr);
	}
}

static bool log_has(const char *needle)
{
	char buf[8192];
	FILE *f = fopen(logpath, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

/* ---- Tests ---- */

START_TEST(durable_callback_reports_increasing_sequence_numbers_up_to_the_last_append)
{
	struct state st;
	uint64_t last = 0;

	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 10; i++)
			last = append_one(&st, round * 10 + i, 10);
		uv_run(&st.loop, UV_RUN_NOWAIT);
	}
	ck_assert_uint_eq(last, 200);
	ck_assert(run_until(&st, durable_at_least, last, 5000));
	ck_assert_uint_eq(st.durable, last);
	ck_assert(!st.durable_out_of_order);
	ck_assert(!txp_journal_full(st.j));
	state_done(&st);
}
END_TEST

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(group_commit_shares_one_sync_between_records_queued_together)
{
	struct state st;
	struct txp_journal_options o = small_options();
	struct txp_journal_stats s;
	uint64_t last = 0, first;
	long long t0;

	o.segment_bytes = 1 << 20;
	o.commit_interval_ms = 1000; /* long enough that the loop queues all the rest first */
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	/* After a quiet spell a record is synced at once, without waiting
	 * out the interval for company. */
	t0 = mono_ms();
	first = append_one(&st, 0, 10);
	ck_assert(run_until(&st, durable_at_least, first, 5000));
	ck_assert_int_lt(mono_ms() - t0, 900);
	txp_journal_stats(st.j, &s);
	ck_assert_uint_eq(s.syncs, 1);
	/* The next records fall within the interval of that sync: they
	 * wait for it to pass and share one sync. */
	for (int i = 1; i < 50; i++)
		last = append_one(&st, i, 10);
	ck_assert(run_until(&st, durable_at_least, last, 5000));
	ck_assert_int_ge(mono_ms() - t0, 900);
	txp_journal_stats(st.j, &s);
	ck_assert_uint_eq(s.syncs, 2);
	ck_assert_uint_eq(st.durable_calls, 2);
	ck_assert_uint_eq(s.durable_seq, 50);
	ck_assert_uint_eq(s.undelivered, 50);

	/* commit_bytes reached: written without waiting out the interval. */
	o.commit_interval_ms = 10000;
	o.commit_bytes = 4096;
	close_journal(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	/* The first record is synced at once; the interval runs from there. */
	first = append_one(&st, 0, 100);
	ck_assert(run_until(&st, durable_at_least, first, 3000));
	/* Stop at the record that takes the queue to commit_bytes: that one
	 * wakes the writer; a later one could wait out the interval. */
	last = append_one(&st, 0, 100);
	txp_journal_stats(st.j, &s);
	ck_assert_uint_gt(s.queued_bytes, 100); /* the writer waits for more */
	for (uint64_t queued = s.queued_bytes; queued + s.queued_bytes <= 4096; queued += s.queued_bytes)
		last = append_one(&st, 0, 100);
	ck_assert_uint_eq(st.durable, first);
	last = append_one(&st, 0, 100);
	ck_assert(run_until(&st, durable_at_least, last, 3000));
	ck_assert_uint_eq(st.durable, last);
	state_done(&st);
}
END_TEST

START_TEST(restart_continues_sequence_numbers_even_when_everything_was_deleted)
{
	struct state st;
	uint64_t a, b, d;

	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	a = append_one(&st, 1, 10);
	b = append_one(&st, 2, 10);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(b, 2);
	close_journal(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	ck_assert_uint_eq(st.nreplayed, 2);
	ck_assert_uint_eq(append_one(&st, 3, 10), 3);
	ck_assert_int_eq(txp_journal_deliver(st.j, (uint64_t[]){ 1, 2, 3 }, 3, &d), 0);
	ck_assert_uint_eq(d, 4);
	ck_assert(run_until(&st, durable_at_least, d, 3000));
	close_journal(&st);
	/* The records are delivered; at the next open the old segments go,
	 * and the sequence still continues. */
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	ck_assert_uint_eq(st.nreplayed, 0);
	ck_assert(run_until(&st, segments_at_most, 1, 3000));
	close_journal(&st);
	ck_assert_int_eq(count_files(dir, ".seg"), 1);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	ck_assert_uint_eq(append_one(&st, 4, 10), 5);
	state_done(&st);
}
END_TEST

START_TEST(segments_rotate_at_segment_bytes_and_go_once_delivered)
{
	struct state st;
	uint64_t seqs[60], last, d;
	struct txp_journal_stats s;

	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	for (int i = 0; i < 60; i++)
		seqs[i] = append_one(&st, i, 300); /* ~400 bytes: ~10 per segment */
	last = seqs[59];
	ck_assert(run_until(&st, durable_at_least, last, 5000));
	txp_journal_stats(st.j, &s);
	ck_assert_uint_ge(s.segments, 6);
	ck_assert_int_eq(count_files(dir, ".seg"), (int)s.segments);
	/* No segment exceeds segment_bytes. */
	for (int i = 0; i < (int)s.segments; i++) {
		char p[256];

		nth_segment(dir, i, p, sizeof(p));
		ck_assert_int_le(file_size(p), 4096);
	}
	/* Delivering all but the first keeps the oldest segment (it holds the
	 * undelivered one) and every later segment whose DELIVERED records
	 * refer back into it... */
	ck_assert_int_eq(txp_journal_deliver(st.j, seqs + 1, 59, &d), 0);
	ck_assert(run_until(&st, durable_at_least, d, 3000));
	txp_journal_stats(st.j, &s);
	ck_assert_uint_ge(s.segments, 2);
	ck_assert_uint_eq(s.undelivered, 1);
	/* ...and once it is delivered too, only the newest is left. */
	ck_assert_int_eq(txp_journal_deliver(st.j, seqs, 1, &d), 0);
	ck_assert(run_until(&st, durable_at_least, d, 3000));
	ck_assert(run_until(&st, segments_at_most, 1, 3000));
	txp_journal_stats(st.j, &s);
	ck_assert_uint_eq(s.undelivered, 0);
	ck_assert_int_eq(count_files(dir, ".seg"), 1);
	close_journal(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	ck_assert_uint_eq(st.nreplayed, 0);
	state_done(&st);
}
END_TEST

START_TEST(full_turns_true_above_max_bytes_and_false_after_delivery)
{
	struct state st;
	struct txp_journal_options o = small_options();
	uint64_t seqs[40], d;
	int n = 0;

	o.max_bytes = 8192;
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	while (!txp_journal_full(st.j) && n < 40) {
		seqs[n] = append_one(&st, n, 300);
		n++;
	}
	ck_assert(txp_journal_full(st.j));
	ck_assert_int_lt(n, 40);
	ck_assert(run_until(&st, durable_at_least, seqs[n - 1], 3000));
	ck_assert(txp_journal_full(st.j));
	/* Appends still work: nothing is dropped, the daemon refuses instead. */
	seqs[n] = append_one(&st, n, 300);
	n++;
	ck_assert_int_eq(txp_journal_deliver(st.j, seqs, (size_t)n, &d), 0);
	ck_assert(run_until(&st, durable_at_least, d, 3000));
	ck_assert(run_until(&st, segments_at_most, 1, 3000));
	ck_assert(!txp_journal_full(st.j));
	state_done(&st);
}
END_TEST

START_TEST(retain_ms_keeps_delivered_segments_for_velocity_then_deletes_them)
{
	struct state st;
	struct txp_journal_options o = small_options();
	struct txp_journal_stats s;
	uint64_t seqs[30], d;

	o.retain_ms = 400;
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	for (int i = 0; i < 30; i++)
		seqs[i] = append_one(&st, i, 300);
	ck_assert_int_eq(txp_journal_deliver(st.j, seqs, 30, &d), 0);
	ck_assert(run_until(&st, durable_at_least, d, 3000));
	txp_journal_stats(st.j, &s);
	ck_assert_uint_eq(s.undelivered, 0);
	ck_assert_uint_ge(s.segments, 3); /* delivered, but still retained */
	/* The idle writer wakes up for them without further appends. */
	ck_assert(run_until(&st, segments_at_most, 1, 3000));
	state_done(&st);
}
END_TEST

/* xorshift64*: deterministic randomness for the model test. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

START_TEST(replay_yields_exactly_the_undelivered_records_after_random_appends_and_deliveries)
{
	struct state st;
	/* The model: for each sequence number, whether it is an undelivered
	 * ACCEPTED record and its item. */
	static bool open_rec[20000];
	static char *item_of[20000];
	uint64_t rs = 0x9E3779B97F4A7C15u, maxseq = 0;
	int id = 0;

	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	for (int round = 0; round < 12; round++) {
		int ops = 50 + (int)(rnd(&rs) % 150);

		for (int k = 0; k < ops; k++) {
			uint64_t r = rnd(&rs) % 10;

			if (r < 6 || maxseq == 0) {
				uint64_t seq = append_one(&st, id, (size_t)(rnd(&rs) % 600));
				char buf[64];

				ck_assert_uint_lt(seq, 20000);
				snprintf(buf, sizeof(buf), "\"t-%d\"", id);
				item_of[seq] = strdup(buf);
				open_rec[seq] = true;
				maxseq = seq;
				id++;
			} else {
				/* Deliver 1-4 sequence numbers, some already delivered
				 * or not ACCEPTED at all: both must be harmless. */
				uint64_t pick[4], d;
				int n = 1 + (int)(rnd(&rs) % 4);

				for (int i = 0; i < n; i++) {
					pick[i] = 1 + rnd(&rs) % maxseq;
					open_rec[pick[i]] = false;
				}
				ck_assert_int_eq(txp_journal_deliver(st.j, pick, (size_t)n, &d), 0);
				maxseq = d;
			}
			if (rnd(&rs) % 16 == 0)
				uv_run(&st.loop, UV_RUN_NOWAIT);
		}
		close_journal(&st);
		ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
		size_t want = 0;

		for (uint64_t s = 1; s <= maxseq; s++) {
			if (!open_rec[s])
				continue;
			ck_assert_msg(want < st.nreplayed, "round %d: seq %" PRIu64 " not replayed", round, s);
			ck_assert_uint_eq(st.replayed[want], s);
			ck_assert_ptr_nonnull(strstr(st.items[want], item_of[s]));
			want++;
		}
		ck_assert_uint_eq(st.nreplayed, want);
	}
	for (int i = 0; i < 20000; i++)
		free(item_of[i]);
	state_done(&st);
}
END_TEST

START_TEST(recent_records_are_replayed_for_velocity_delivered_or_not)
{
	struct state st;
	struct txp_journal_options o = small_options();
	uint64_t d;

	o.segment_bytes = 1 << 20;
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	for (int i = 0; i < 10; i++)
		append_one(&st, i, 10); /* received 0, 1, ... 9 s before now */
	ck_assert_int_eq(txp_journal_deliver(st.j, (uint64_t[]){ 1, 2, 3 }, 3, &d), 0);
	close_journal(&st);
	o.recent_ms = 4500; /* ids 0-4 */
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	ck_assert_uint_eq(st.nrecent, 5);
	for (uint64_t i = 0; i < 5; i++)
		ck_assert_uint_eq(st.recent[i], i + 1);
	ck_assert_uint_eq(st.nreplayed, 7);
	ck_assert_uint_eq(st.replayed[0], 4);
	state_done(&st);
}
END_TEST

START_TEST(torn_tail_of_the_last_segment_is_cut_and_logged)
{
	struct state st;
	struct txp_journal_options o = small_options();
	char seg[256];
	off_t full;
	int fd;

	o.segment_bytes = 1 << 20;
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	for (int i = 0; i < 5; i++)
		append_one(&st, i, 50);
	close_journal(&st);
	nth_segment(dir, 0, seg, sizeof(seg));
	full = file_size(seg);
	/* kill -9 in the middle of a write: the last record is half there. */
	fd = open(seg, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, full - 7), 0);
	close(fd);

	capture_logs(true);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	capture_logs(false);
	ck_assert(log_has("journal_tail_truncated"));
	ck_assert(log_has("bytes_cut="));
	ck_assert_uint_eq(st.nreplayed, 4);
	ck_assert_uint_eq(st.replayed[3], 4);
	/* The torn record's number is reused: it was never durable. */
	ck_assert_uint_eq(append_one(&st, 9, 10), 5);
	ck_assert(run_until(&st, durable_at_least, 5, 3000));
	close_journal(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	ck_assert_uint_eq(st.nreplayed, 5);
	unlink(logpath);
	state_done(&st);
}
END_TEST

/* Flips one byte at `at` in `path`. */
static void flip(const char *path, off_t at)
{
	uint8_t byte;
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &byte, 1, at), 1);
	byte ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

/* The whole file, malloc'ed. */
static uint8_t *slurp(const char *path, size_t *len)
{
	off_t size = file_size(path);
	uint8_t *p = malloc((size_t)size + 1);
	int fd = open(path, O_RDONLY);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, p, (size_t)size), size);
	close(fd);
	*len = (size_t)size;
	return p;
}

START_TEST(damage_in_an_older_segment_loses_only_the_damaged_record)
{
	struct state st;
	struct txp_journal_stats s;
	char seg[256], bad[300];
	uint8_t *before, *kept;
	size_t blen, klen;
	off_t size;
	int nseg;

	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	for (int i = 0; i < 40; i++)
		append_one(&st, i, 300);
	close_journal(&st);
	nseg = count_files(dir, ".seg");
	ck_assert_int_ge(nseg, 3);
	/* Flip a byte in the middle of the second segment. */
	nth_segment(dir, 1, seg, sizeof(seg));
	size = file_size(seg);
	flip(seg, size / 2);
	before = slurp(seg, &blen);

	capture_logs(true);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	capture_logs(false);
	ck_assert(log_has("level=err event=journal_segment_damaged"));
	ck_assert(log_has("records_skipped=1 "));
	/* The damaged bytes are kept aside, exactly as found. */
	snprintf(bad, sizeof(bad), "%s.corrupt", seg);
	kept = slurp(bad, &klen);
	ck_assert_uint_eq(klen, blen);
	ck_assert(memcmp(kept, before, blen) == 0);
	free(kept);
	free(before);
	/* Every record but the damaged one comes back, in order, the ones
	 * after it in the same segment included. */
	ck_assert_uint_eq(st.nreplayed, 39);
	for (size_t i = 1; i < st.nreplayed; i++)
		ck_assert_uint_lt(st.replayed[i - 1], st.replayed[i]);
	ck_assert_uint_eq(st.replayed[st.nreplayed - 1], 40);
	txp_journal_stats(st.j, &s);
	ck_assert_uint_eq(s.skipped_records, 1);
	ck_assert_uint_eq(s.damaged_segments, 1);
	close_journal(&st);
	/* A second open finds the same and says so, without another copy. */
	capture_logs(true);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	capture_logs(false);
	ck_assert(log_has("level=warning event=journal_segment_damaged"));
	ck_assert_uint_eq(st.nreplayed, 39);
	unlink(logpath);
	state_done(&st);
}
END_TEST

START_TEST(an_older_segment_damaged_to_its_end_keeps_its_valid_part_and_is_quarantined)
{
	struct state st;
	char seg[256], bad[300];
	off_t size;

	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	for (int i = 0; i < 40; i++)
		append_one(&st, i, 300);
	close_journal(&st);
	ck_assert_int_ge(count_files(dir, ".seg"), 3);
	/* Nothing valid after the damage: the second segment's end is garbage. */
	nth_segment(dir, 1, seg, sizeof(seg));
	size = file_size(seg);
	for (off_t at = size * 3 / 4; at < size; at += 16)
		flip(seg, at);

	capture_logs(true);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	capture_logs(false);
	ck_assert(log_has("level=err event=journal_segment_corrupt"));
	snprintf(bad, sizeof(bad), "%s.corrupt", seg);
	ck_assert_int_eq(file_size(bad), size);
	ck_assert_int_le(file_size(seg), size * 3 / 4);
	ck_assert_int_gt(file_size(seg), 0);
	ck_assert_uint_lt(st.nreplayed, 40);
	ck_assert_uint_ge(st.nreplayed, 36);
	ck_assert_uint_eq(st.replayed[st.nreplayed - 1], 40);
	close_journal(&st);
	/* The repair is durable: a second open finds nothing wrong. */
	capture_logs(true);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	capture_logs(false);
	ck_assert(!log_has("journal_segment_corrupt"));
	unlink(logpath);
	state_done(&st);
}
END_TEST

START_TEST(damage_in_the_middle_of_the_last_segment_keeps_the_records_after_it)
{
	struct state st;
	struct txp_journal_options o = small_options();
	struct txp_journal_stats s;
	char seg[256], bad[300];
	off_t size;

	o.segment_bytes = 1 << 20;
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	for (int i = 0; i < 100; i++)
		append_one(&st, i, 300);
	close_journal(&st);
	ck_assert_int_eq(count_files(dir, ".seg"), 1);
	nth_segment(dir, 0, seg, sizeof(seg));
	size = file_size(seg);
	flip(seg, size / 2);
	/* And a torn tail as well: the last record half written. */
	ck_assert_int_eq(truncate(seg, size - 7), 0);

	capture_logs(true);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	capture_logs(false);
	ck_assert(log_has("event=journal_segment_damaged"));
	ck_assert(log_has("event=journal_tail_truncated"));
	snprintf(bad, sizeof(bad), "%s.corrupt", seg);
	ck_assert_int_eq(file_size(bad), size - 7); /* taken before the tail was cut */
	/* 100 records, one damaged, one torn. */
	ck_assert_uint_eq(st.nreplayed, 98);
	ck_assert_uint_eq(st.replayed[97], 99);
	txp_journal_stats(st.j, &s);
	ck_assert_uint_eq(s.skipped_records, 1);
	/* Appends continue after the last whole record. */
	ck_assert_uint_eq(append_one(&st, 200, 10), 100);
	ck_assert(run_until(&st, durable_at_least, 100, 3000));
	close_journal(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	ck_assert_uint_eq(st.nreplayed, 99);
	unlink(logpath);
	state_done(&st);
}
END_TEST

START_TEST(a_second_open_of_the_same_directory_is_refused)
{
	struct state st, other;

	state_init(&st);
	state_init(&other);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	ck_assert_int_eq(open_journal(&other, dir, small_options()), -EBUSY);
	other.j = NULL;
	state_done(&other);
	state_done(&st);
}
END_TEST

/* A child about to be killed tells its parent, through a pipe, the highest
 * sequence number reported durable so far. */
static void tell_durable(int fd, const struct state *c)
{
	ck_assert_int_eq(write(fd, &c->durable, sizeof(c->durable)), (ssize_t)sizeof(c->durable));
}

/* The parent's side: the last figure told before the child died (0 if
 * none); closes fd. */
static uint64_t last_told(int fd)
{
	uint64_t v, last = 0;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		last = v;
	close(fd);
	return last;
}

START_TEST(records_reported_durable_survive_kill_9)
{
	int fds[2];
	pid_t pid;
	uint64_t acked = 0;
	struct state st;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct state c;

		state_init(&c);
		if (open_journal(&c, dir, small_options()) != 0)
			_exit(1);
		/* Append in bursts; after each durable report, tell the parent,
		 * and die without any shutdown while more is queued. */
		for (int i = 0; i < 300; i++) {
			append_one(&c, i, (size_t)(i % 200));
			if (i % 30 == 29) {
				run_until(&c, durable_at_least, (uint64_t)i - 10, 2000);
				tell_durable(fds[1], &c);
			}
		}
		raise(SIGKILL);
	}
	close(fds[1]);
	acked = last_told(fds[0]);
	waitpid(pid, NULL, 0);
	ck_assert_uint_ge(acked, 280);
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, small_options()), 0);
	ck_assert_uint_ge(st.nreplayed, acked);
	for (uint64_t i = 0; i < acked; i++)
		ck_assert_uint_eq(st.replayed[i], i + 1);
	state_done(&st);
}
END_TEST

/* The newest segment file's size, or -1 when there is none. */
static off_t newest_segment_size(const char *path)
{
	int n = count_files(path, ".seg");
	char seg[256];

	if (n == 0)
		return -1;
	nth_segment(path, n - 1, seg, sizeof(seg));
	return file_size(seg);
}

START_TEST(preallocated_segments_are_used_cut_when_full_and_their_zeros_survive_kill_9)
{
	struct txp_journal_options o = small_options();
	int fds[2], status;
	pid_t pid;
	uint64_t acked = 0;
	struct state st;

	o.segment_bytes = 64 << 10;
	o.preallocate = true;
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct state c;
		int i = 0;

		state_init(&c);
		if (open_journal(&c, dir, o) != 0)
			_exit(1);
		/* The first segment was made at open, before any spare: once
		 * the spare is ready the writer moves to it, and from then on
		 * the newest file is segment_bytes long from the start. */
		while (newest_segment_size(dir) != (off_t)o.segment_bytes) {
			if (i == 2000)
				_exit(2);
			append_one(&c, i, 100);
			run_until(&c, durable_at_least, (uint64_t)++i, 2000);
		}
		/* Past two rotations of preallocated segments. */
		for (int k = 0; k < 400; k++, i++) {
			append_one(&c, i, 200);
			if (k % 20 == 19) {
				run_until(&c, durable_at_least, (uint64_t)i, 2000);
				tell_durable(fds[1], &c);
			}
		}
		/* Dies with zeros after the records of the active segment. */
		if (newest_segment_size(dir) != (off_t)o.segment_bytes)
			_exit(3);
		raise(SIGKILL);
	}
	close(fds[1]);
	acked = last_told(fds[0]);
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFSIGNALED(status), "child exited with %d", WEXITSTATUS(status));
	ck_assert_uint_ge(acked, 380);
	/* Full segments were cut to their records when the writer left them. */
	for (int k = 0; k + 1 < count_files(dir, ".seg"); k++) {
		char seg[256];

		nth_segment(dir, k, seg, sizeof(seg));
		ck_assert_int_lt(file_size(seg), (off_t)o.segment_bytes);
	}
	ck_assert_int_ge(count_files(dir, ".seg"), 3);
	capture_logs(true);
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, dir, o), 0);
	capture_logs(false);
	/* The zeros are no damage: nothing logged, nothing lost. */
	ck_assert(!log_has("journal_tail_truncated"));
	ck_assert(!log_has("journal_segment"));
	ck_assert_uint_ge(st.nreplayed, acked);
	for (uint64_t i = 0; i < acked; i++)
		ck_assert_uint_eq(st.replayed[i], i + 1);
	unlink(logpath);
	state_done(&st);
	/* ...and cut at open: every segment now ends with its last record. */
	for (int k = 0; k < count_files(dir, ".seg"); k++) {
		char seg[256];

		nth_segment(dir, k, seg, sizeof(seg));
		ck_assert_int_lt(file_size(seg), (off_t)o.segment_bytes);
	}
}
END_TEST

/* Disk full: needs a file system that fills up, a tmpfs of `kib` KiB at
 * <dir>/mnt; false (and says why) when it cannot be mounted. */
static bool mount_small(char *mnt, size_t len, int kib)
{
	char opts[32];

	snprintf(mnt, len, "%s/mnt", dir);
	snprintf(opts, sizeof(opts), "size=%dk", kib);
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
		fprintf(stderr, "SKIP disk_full test: needs root to mount a tmpfs (%s)\n", strerror(errno));
		return false;
	}
	return true;
}

START_TEST(disk_full_drops_what_it_could_not_write_reports_it_and_recovers)
{
	struct state st;
	struct txp_journal_options o = small_options();
	struct txp_journal_stats s;
	char mnt[128], filler[160];
	uint64_t last = 0, durable_before, acked[400];
	int fd, n = 0, nacked = 0;
	static char block[4096];

	if (!mount_small(mnt, sizeof(mnt), 256))
		return;
	/* Leave about 40 KiB free. */
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < (256 - 40) / 4; i++)
		ck_assert_int_eq(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	close(fd);

	o.segment_bytes = 16 << 10;
	o.preallocate = _i == 1; /* the loop: without, then with a spare segment taking room */
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, mnt, o), 0);
	/* Append until the writer fails. */
	while (st.nerrors == 0 && n < 400) {
		last = append_one(&st, n++, 500);
		run_until(&st, durable_at_least, last, 50);
	}
	ck_assert_int_ge(st.nerrors, 1);
	ck_assert_int_eq(st.errors[0], -ENOSPC);
	/* What failed is reported dropped, never durable: every appended
	 * record is one or the other, and the report comes first. */
	ck_assert(run_until(&st, durable_at_least, 0, 200));
	ck_assert_int_ge(st.ndrops, 1);
	ck_assert(!st.drop_after_durable);
	ck_assert(was_dropped(&st, last));
	durable_before = st.durable;
	ck_assert_uint_lt(durable_before, last);
	for (uint64_t q = 1; q <= last; q++)
		if (!was_dropped(&st, q))
			acked[nacked++] = q;
	ck_assert_uint_eq((uint64_t)nacked, durable_before);
	txp_journal_stats(st.j, &s);
	ck_assert_uint_ge(s.dropped_records, 1);
	ck_assert_uint_ge(s.write_errors, 1);

	/* Space comes back: new records become durable again. */
	ck_assert_int_eq(unlink(filler), 0);
	for (int i = 0; i < 5; i++)
		last = append_one(&st, n++, 500);
	ck_assert(run_until(&st, durable_at_least, last, 5000));
	ck_assert_int_eq(st.errors[st.nerrors - 1], 0);
	ck_assert(!txp_journal_full(st.j));
	for (int i = 0; i < 5; i++)
		acked[nacked++] = last - 4 + (uint64_t)i;
	close_journal(&st);

	/* Exactly what was acknowledged comes back. */
	ck_assert_int_eq(open_journal(&st, mnt, o), 0);
	ck_assert_uint_eq(st.nreplayed, (size_t)nacked);
	for (size_t i = 0; i < st.nreplayed; i++)
		ck_assert_uint_eq(st.replayed[i], acked[i]);
	state_done(&st);
	ck_assert_int_eq(umount(mnt), 0);
}
END_TEST

static bool journal_accepting(struct state *st, uint64_t unused)
{
	(void)unused;
	return !txp_journal_full(st->j);
}

/*
 * The journal alone fills the disk, then delivery catches up: the journal
 * must free its segments and accept again by itself, though the DELIVERED
 * records that would free them may not fit.
 */
START_TEST(a_disk_the_journal_filled_frees_itself_once_delivery_catches_up)
{
	struct state st;
	struct txp_journal_options o = small_options();
	struct txp_journal_stats s;
	char mnt[128];
	uint64_t seqs[1000], d = 0, last;
	int n = 0, nd = 0, refused_at;

	if (!mount_small(mnt, sizeof(mnt), 256))
		return;
	o.segment_bytes = 32 << 10;
	o.reserve_bytes = 24 << 10;
	o.preallocate = _i == 1; /* the loop: without, then with a spare segment */
	state_init(&st);
	ck_assert_int_eq(open_journal(&st, mnt, o), 0);
	/* Fill until the headroom check refuses... */
	while (!txp_journal_full(st.j) && n < 1000) {
		seqs[n] = append_one(&st, n, 500);
		run_until(&st, durable_at_least, seqs[n], 50);
		n++;
	}
	ck_assert(txp_journal_full(st.j));
	txp_journal_stats(st.j, &s);
	ck_assert(s.low_space);
	refused_at = n;
	/* ...and past it, as transactions already in flight do, until the
	 * disk is really full. */
	while (st.nerrors == 0 && n < 1000) {
		seqs[n] = append_one(&st, n, 500);
		run_until(&st, durable_at_least, seqs[n], 20);
		n++;
	}
	ck_assert_int_eq(st.errors[0], -ENOSPC);
	ck_assert_int_gt(n, refused_at);
	/* Delivery catches up with everything durable, a few per call. */
	for (int i = 0; i < n; i += 8) {
		uint64_t batch[8];
		int k = 0;

		for (int m = i; m < n && m < i + 8; m++)
			if (seqs[m] <= st.durable)
				batch[k++] = seqs[m];
		nd += k;
		if (k > 0)
			ck_assert_int_eq(txp_journal_deliver(st.j, batch, (size_t)k, &d), 0);
		run_until(&st, durable_at_least, d, 20);
	}
	/* It recovers by itself, within a bound. */
	ck_assert_msg(run_until(&st, journal_accepting, 0, 10000), "the journal did not recover");
	txp_journal_stats(st.j, &s);
	ck_assert(!s.low_space);
	ck_assert_int_eq(s.error, 0);
	ck_assert_uint_eq(s.undelivered, 0);
	last = append_one(&st, 5000, 500);
	ck_assert(run_until(&st, durable_at_least, last, 5000));
	close_journal(&st);
	/* A restart redelivers only the new record, not everything. */
	ck_assert_int_eq(open_journal(&st, mnt, o), 0);
	ck_assert_uint_eq(st.nreplayed, 1);
	ck_assert_uint_eq(st.replayed[0], last);
	fprintf(stderr, "disk filled by the journal: %d appended, refused from %d, %d delivered\n", n, refused_at, nd);
	state_done(&st);
	ck_assert_int_eq(umount(mnt), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	txp_log_setup(TXP_LOG_WARNING, TXP_LOG_FORMAT_KV);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, durable_callback_reports_increasing_sequence_numbers_up_to_the_last_append);
	tcase_add_test(tc, group_commit_shares_one_sync_between_records_queued_together);
	tcase_add_test(tc, restart_continues_sequence_numbers_even_when_everything_was_deleted);
	tcase_add_test(tc, segments_rotate_at_segment_bytes_and_go_once_delivered);
	tcase_add_test(tc, full_turns_true_above_max_bytes_and_false_after_delivery);
	tcase_add_test(tc, retain_ms_keeps_delivered_segments_for_velocity_then_deletes_them);
	tcase_add_test(tc, replay_yields_exactly_the_undelivered_records_after_random_appends_and_deliveries);
	tcase_add_test(tc, recent_records_are_replayed_for_velocity_delivered_or_not);
	tcase_add_test(tc, torn_tail_of_the_last_segment_is_cut_and_logged);
	tcase_add_test(tc, damage_in_an_older_segment_loses_only_the_damaged_record);
	tcase_add_test(tc, damage_in_the_middle_of_the_last_segment_keeps_the_records_after_it);
	tcase_add_test(tc, an_older_segment_damaged_to_its_end_keeps_its_valid_part_and_is_quarantined);
	tcase_add_test(tc, a_second_open_of_the_same_directory_is_refused);
	tcase_add_test(tc, records_reported_durable_survive_kill_9);
	tcase_add_test(tc, preallocated_segments_are_used_cut_when_full_and_their_zeros_survive_kill_9);
	tcase_add_loop_test(tc, disk_full_drops_what_it_could_not_write_reports_it_and_recovers, 0, 2);
	tcase_add_loop_test(tc, a_disk_the_journal_filled_frees_itself_once_delivery_catches_up, 0, 2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
