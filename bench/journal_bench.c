/* journal_bench.c: appends/s and durable records/s of the journal with group commit on a given disk. */
#include "txpipe/journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Usage: journal_bench DIR [seconds [record_bytes [commit_interval_ms [commit_bytes]]]]
 *
 * Phase 1 appends 100k records as fast as the loop can (the cost of
 * txp_journal_append on the loop thread).  Phase 2 runs for `seconds`: the
 * loop keeps at most 8 MiB queued, delivers every record 25 at a time once
 * it is durable (as the daemon does after a DynamoDB BatchWriteItem), and
 * the figures are durable records per second, fdatasync calls per second
 * and records per sync.  DIR should be empty or a journal; it is used as is.
 */

struct bench {
	uv_loop_t *loop;
	struct txp_journal *j;
	uv_idle_t idle;
	uv_timer_t stop;
	struct txp_journal_accepted rec;
	uint64_t appended, durable, delivered_upto, first_seq;
	bool stopping;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_durable(void *arg, uint64_t seq)
{
	struct bench *b = arg;
	uint64_t batch[25];

	b->durable = seq;
	while (!b->stopping && b->delivered_upto + 25 <= seq) {
		for (int i = 0; i < 25; i++)
			batch[i] = b->delivered_upto + 1 + (uint64_t)i;
		b->delivered_upto += 25;
		txp_journal_deliver(b->j, batch, 25, NULL);
	}
}

static void on_idle(uv_idle_t *h)
{
	struct bench *b = h->data;
	struct txp_journal_stats s;

	txp_journal_stats(b->j, &s);
	if (s.queued_bytes > (8u << 20))
		return;
	for (int i = 0; i < 256; i++) {
		b->rec.received_ms++;
		if (txp_journal_append_accepted(b->j, &b->rec, NULL) == 0)
			b->appended++;
	}
}

static void on_stop(uv_timer_t *t)
{
	struct bench *b = t->data;

	b->stopping = true;
	uv_idle_stop(&b->idle);
	uv_close((uv_handle_t *)&b->idle, NULL);
	uv_close((uv_handle_t *)&b->stop, NULL);
}

int main(int argc, char **argv)
{
	struct txp_journal_options o = { 0 };
	struct txp_journal_stats s0, s1;
	struct bench b = { 0 };
	char err[512], *item;
	double seconds = argc > 2 ? atof(argv[2]) : 5, t0, t1;
	size_t item_len = argc > 3 ? strtoul(argv[3], NULL, 10) : 600;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [seconds [record_bytes [commit_interval_ms [commit_bytes]]]]\n",
		        argv[0]);
		return 2;
	}
	o.commit_interval_ms = argc > 4 ? strtoull(argv[4], NULL, 10) : 2;
	o.commit_bytes = argc > 5 ? strtoull(argv[5], NULL, 10) : 256u << 10;
	item = malloc(item_len + 1);
	if (item == NULL)
		return 1;
	memset(item, 'x', item_len);
	item[item_len] = '\0';
	b.rec = (struct txp_journal_accepted){
		.received_ms = 1764000000000,
		.amount = 12345,
		.amount_usd_known = true,
		.amount_usd = 13300,
		.currency = "EUR",
		.customer_key = "0123456789abcdef0123456789abcdef",
		.customer_key_len = 32,
		.merchant_id = "merchant-0001",
		.merchant_id_len = 13,
		.card_token = "fedcba9876543210fedcba9876543210",
		.card_token_len = 32,
		.record = (const uint8_t *)item,
		.record_len = (uint32_t)item_len,
	};
	b.loop = uv_default_loop();
	rc = txp_journal_open(&b.j, b.loop, argv[1], &o, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	txp_journal_on_durable(b.j, on_durable, &b);
	txp_journal_stats(b.j, &s0);
	b.delivered_upto = s0.next_seq - 1;

	/* Phase 1: the loop thread's cost per append, in bursts of 1000 as a
	 * busy loop iteration would queue them, the writer draining between. */
	double spent = 0;
	uint64_t seq = 0;

	for (int round = 0; round < 100; round++) {
		t0 = now_s();
		for (int i = 0; i < 1000; i++)
			txp_journal_append_accepted(b.j, &b.rec, &seq);
		spent += now_s() - t0;
		while (b.durable < seq)
			uv_run(b.loop, UV_RUN_ONCE);
	}
	printf("record: %zu bytes on disk (payload %zu)\n", txp_journal_record_size(txp_journal_accepted_size(&b.rec)),
	       txp_journal_accepted_size(&b.rec));
	printf("append (loop thread): %.0f appends/s (%.2f us each)\n", 100000 / spent, spent * 1e6 / 100000);

	/* Latency at low load: one record at a time, append to durable report. */
	double lat[200];

	for (int i = 0; i < 200; i++) {
		t0 = now_s();
		txp_journal_append_accepted(b.j, &b.rec, &seq);
		while (b.durable < seq)
			uv_run(b.loop, UV_RUN_ONCE);
		lat[i] = now_s() - t0;
	}
	for (int i = 1; i < 200; i++)
		for (int k = i; k > 0 && lat[k - 1] > lat[k]; k--) {
			double t = lat[k];

			lat[k] = lat[k - 1];
			lat[k - 1] = t;
		}
	printf("append to durable, one at a time: median %.2f ms, p99 %.2f ms\n", lat[100] * 1e3, lat[197] * 1e3);

	/* Phase 2: sustained durable throughput with deliveries. */
	uv_idle_init(b.loop, &b.idle);
	b.idle.data = &b;
	uv_idle_start(&b.idle, on_idle);
	uv_timer_init(b.loop, &b.stop);
	b.stop.data = &b;
	uv_timer_start(&b.stop, on_stop, (uint64_t)(seconds * 1000), 0);
	txp_journal_stats(b.j, &s0);
	t0 = now_s();
	while (!b.stopping)
		uv_run(b.loop, UV_RUN_ONCE);
	t1 = now_s();
	txp_journal_stats(b.j, &s1);
	printf("commit_interval_ms=%" PRIu64 " commit_bytes=%" PRIu64 "\n", o.commit_interval_ms, o.commit_bytes);
	printf("durable: %.0f records/s, ACCEPTED and DELIVERED (%.1f MB/s), %.0f fdatasync/s, %.1f records "
	       "per sync, %.2f ms per sync\n",
	       (double)(s1.durable_seq - s0.durable_seq) / (t1 - t0),
	       (double)(s1.durable_seq - s0.durable_seq) *
	               (double)txp_journal_record_size(txp_journal_accepted_size(&b.rec)) / (t1 - t0) / 1e6,
	       (double)(s1.syncs - s0.syncs) / (t1 - t0),
	       (double)(s1.durable_seq - s0.durable_seq) / (double)(s1.syncs - s0.syncs + (s1.syncs == s0.syncs)),
	       (t1 - t0) * 1e3 / (double)(s1.syncs - s0.syncs + (s1.syncs == s0.syncs)));
	printf("journal: %" PRIu64 " segments, %" PRIu64 " bytes, %" PRIu64 " undelivered\n", s1.segments,
	       s1.disk_bytes, s1.undelivered);
	txp_journal_close(b.j);
	uv_run(b.loop, UV_RUN_DEFAULT);
	uv_loop_close(b.loop);
	free(item);
	return 0;
}
