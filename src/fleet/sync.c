/* sync.c: the shared screening state at run time: publish this host's events, read and apply the others'. */
#include "txp_build_config.h"

#include "txpipe/fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/aws/client.h"
#include "txpipe/aws/error.h"
#include "txpipe/base64.h"
#include "txpipe/clock.h"
#include "txpipe/config.h"
#include "txpipe/log.h"
#include "txpipe/pipeline.h"
#include "txpipe/retry.h"
#include "txpipe/sbuf.h"
#include "txpipe/txn.h"

/*
 * The layout (txpiped(8), FLEET):
 *   pk = "feed|<instance>|<seq>"  d (B): a payload of events (feed.c), expires (N)
 *   pk = "members"                h_<instance> (M): f (first seq of this run), l (newest seq
 *                                 published with every one before it), t (heartbeat, wall ms),
 *                                 pf, pl (the run before, when it published: readers finish it)
 * A host writes its items with BatchWriteItem, then sets its own h_ attribute
 * with UpdateItem; a reader GetItem's "members" and BatchGetItem's the items
 * it has not read, in seq order per host.  Seqs start at the wall clock in ms
 * at start, one per item: a restarted host never reuses one (that would take
 * more than one item per millisecond, 3,400 events each).
 *
 * The tick runs every quarter of sync_interval_ms, so that the fast-mode
 * bound (an event counted elsewhere within two ticks and four round trips
 * of its decision, txpiped(8)) is at most the interval whenever a round
 * trip takes at most an eighth of it: sync_interval_ms is the promise,
 * the tick the means.
 */
#define MEMBERS_PK "members"
#define BATCH_WRITE_MAX 25 /* BatchWriteItem's limit */
#define BATCH_GET_MAX 100  /* BatchGetItem's limit */
#define MAX_PEERS 256
#define HEARTBEAT_MS 1000     /* members written at least this often when idle */
#define HOST_TIMEOUT_MS 30000 /* a heartbeat older than this: host ignored */
#define APPLY_BATCH 64
#define APPLY_QUEUE_HIGH 65536 /* events waiting for the pipeline before reads pause */
#define BACKOFF_MAX_MS 5000
#define APPLY_SPARE 512 /* applied transactions kept for the next events (1.3 MB) */
#define ITEM_BUF (TXP_FLEET_ITEM_HEADER + (size_t)TXP_FLEET_ITEM_EVENTS * TXP_FLEET_EVENT_BYTES)

struct peer {
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	uint64_t first, last, next; /* next: the first seq not yet applied */
	/* Its run before, being finished while next < first (then
	 * prev_first <= next <= prev_last). */
	uint64_t prev_first, prev_last;
	int64_t heartbeat_ms;
	bool live;
};

/* An item built from this host's events, waiting to be written. */
struct out_item {
	uint64_t seq;
	uint8_t *buf; /* header and events */
	size_t len;
	uint32_t events;
	bool sending, written;
};

struct txp_fleet {
	uv_loop_t *loop;
	uv_timer_t tick;
	struct txp_aws_client *aws;
	const struct txp_config *cfg;
	struct txp_fleet_ops ops;
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	char *table_json; /* the table name as a JSON string */
	struct txp_retry_policy backoff;
	bool closing;

	/* Publishing.  `pending_buf` (ITEM_BUF bytes) holds the encoded
	 * events not yet in an item after an item header's room: a tick hands
	 * the whole buffer to the item (cut_items).  `spare_buf`: a written
	 * item's buffer, kept for the next pending one. */
	uint8_t *pending_buf, *spare_buf;
	uint32_t npending;
	struct out_item *items; /* FIFO, written ones leave from the front */
	size_t nitems, items_cap;
	uint64_t first_seq, next_seq, published;
	/* This host's run before (from its attribute at start; 0: none),
	 * written with its own so that readers finish it. */
	uint64_t prev_first, prev_last;
	bool writing, members_writing, members_dirty;
	bool write_due;           /* a tick found a write in flight: write when it ends */
	uint64_t last_members_ms; /* loop time */
	uint64_t write_not_before;
	unsigned write_failures;

	/* Reading. */
	struct peer peers[MAX_PEERS];
	size_t npeers;
	bool read_once; /* a members read succeeded */
	bool reading;
	bool read_due;                       /* a tick found a read in flight: read again when it ends */
	uint64_t read_started, last_ok_read; /* loop time of the start of the last complete read */
	uint64_t read_not_before;
	unsigned read_failures;
	bool stale;

	/* Events read, waiting for room in the pipeline. */
	struct txp_fleet_event *applyq;
	size_t applyq_head, applyq_len, applyq_cap;
	struct txp_txn *batch[APPLY_BATCH];
	uint32_t nbatch;
	/* Transactions back from applying an event, cleared, for the next
	 * ones: saves an allocation and txp_txn_free()'s wipe per event. */
	struct txp_txn *spare[APPLY_SPARE];
	size_t nspare;
	bool flushing;

	/* fresh mode.  `held`: transactions waiting before the stages, each
	 * for the read numbered `need` (a read that starts after it came), in
	 * arrival order so `need` never decreases.  A read's events must also
	 * have come back from the stages (applied_total reached ready_mark)
	 * before the transactions it serves go on.  `replies`: decided ones
	 * whose reply waits for the item holding their event (`seq`) to be
	 * visible in the members item, in seq order. */
	bool fresh;
	struct held {
		struct txp_txn *t;
		uint64_t need;
	} * held;
	size_t held_head, held_len, held_cap;
	uint64_t reads_started, read_gen, ready_gen, ready_mark;
	uint64_t enq_total, applied_total;
	struct reply {
		struct txp_txn *t;
		uint64_t seq;
		uint64_t since; /* loop time it was held */
		bool ack_held;
	} * replies;
	size_t nreplies, replies_cap;
	uint64_t sending_l, visible;

	struct txp_fleet_stats st;
};

static uint64_t stale_after(const struct txp_fleet *f)
{
	return f->cfg->fleet.stale_after_ms;
}

/* The period of the tick: a quarter of the interval (see the top). */
static uint64_t tick_ms(const struct txp_config *cfg)
{
	return cfg->fleet.sync_interval_ms >= 4 ? cfg->fleet.sync_interval_ms / 4 : 1;
}

/* Seconds the feed items live: a little over the longest window that
 * counts them, after which no host can use them. */
static int64_t item_ttl_s(const struct txp_config *cfg)
{
	uint64_t w = cfg->fraud.window_long_ms;

	if (cfg->fraud.repeat_window_ms > w)
		w = cfg->fraud.repeat_window_ms;
	if (cfg->fraud.card_test_window_ms > w)
		w = cfg->fraud.card_test_window_ms;
	if (cfg->compliance.structuring_window_ms > w)
		w = cfg->compliance.structuring_window_ms;
	return (int64_t)(w / 1000) + 3600;
}

static void set_stale(struct txp_fleet *f, bool stale)
{
	if (stale == f->stale) {
		/* Again while stale: a reload may have changed stale_action. */
		if (stale && f->ops.stale != NULL)
			f->ops.stale(f->ops.arg, true);
		return;
	}
	f->stale = stale;
	if (stale)
		txp_log_warn("fleet_state_stale", "last_read_ms_ago=%llu stale_after_ms=%llu",
		             (unsigned long long)(uv_now(f->loop) - f->last_ok_read),
		             (unsigned long long)stale_after(f));
	else
		txp_log_notice("fleet_state_fresh", "hosts=%llu", (unsigned long long)f->st.hosts_seen);
	if (f->ops.stale != NULL)
		f->ops.stale(f->ops.arg, stale);
}

static void release_held(struct txp_fleet *f, bool all);

static void check_stale(struct txp_fleet *f)
{
	set_stale(f, uv_now(f->loop) - f->last_ok_read > stale_after(f));
	/* Nothing waits for a read that cannot be had: decided now, marked
	 * fleet_state_stale. */
	if (f->stale && f->held_len > 0)
		release_held(f, true);
}

/* Counts a failed call and returns the loop time before which the next
 * one should not start (capped exponential backoff with full jitter,
 * starting at one tick). */
static uint64_t failed(struct txp_fleet *f, const struct txp_aws_result *r, unsigned *failures, const char *what)
{
	uint64_t delay;

	if (txp_aws_is_throttling(r->http_status, r->code))
		f->st.throttles++;
	else
		f->st.errors++;
	if (*failures == 0)
		txp_log_warn("fleet_call_failed", "call=%s kind=%s status=%ld code=\"%s\" message=\"%s\"", what,
		             txp_aws_kind_name(r->kind), r->http_status, r->code, r->message);
	delay = txp_retry_delay_ms(&f->backoff, *failures, randombytes_random() | (uint64_t)randombytes_random() << 32);
	if (*failures < 30)
		(*failures)++;
	return uv_now(f->loop) + delay;
}

static void succeeded(unsigned *failures, const char *what)
{
	if (*failures > 0)
		txp_log_notice("fleet_call_recovered", "call=%s failures=%u", what, *failures);
	*failures = 0;
}

/* Runs the tick now rather than at the end of the interval: fresh mode,
 * something waits. */
static void kick(struct txp_fleet *f)
{
	if (!f->closing)
		uv_timer_start(&f->tick, f->tick.timer_cb, 0, tick_ms(f->cfg));
}

/* Lets held transactions go on: those served by the last complete read
 * (all of them with `all`), once its events are through the stages. */
static void release_held(struct txp_fleet *f, bool all)
{
	struct txp_txn *go[APPLY_BATCH];
	uint32_t n = 0;

	if (!all && f->applied_total < f->ready_mark)
		return;
	while (f->held_len > 0) {
		struct held *h = &f->held[f->held_head];

		if (!all && h->need > f->ready_gen)
			break;
		go[n++] = h->t;
		f->held_head = (f->held_head + 1) % f->held_cap;
		f->held_len--;
		if (n == APPLY_BATCH) {
			f->ops.release(f->ops.arg, go, n);
			n = 0;
		}
	}
	if (n > 0)
		f->ops.release(f->ops.arg, go, n);
	f->st.held = f->held_len;
}

/* Lets the replies whose events are visible to the other hosts leave
 * (all of them with `all`). */
static void release_replies(struct txp_fleet *f, bool all)
{
	uint64_t now = uv_now(f->loop);
	size_t k = 0;

	/* A reply never waits longer than stale_after_ms for a publish that
	 * does not come (DynamoDB down): answering goes on. */
	while (k < f->nreplies &&
	       (all || f->replies[k].seq <= f->visible || f->replies[k].since + stale_after(f) <= now)) {
		/* Held by the journal too: its release lets it go. */
		if (!f->replies[k].ack_held)
			f->ops.reply_release(f->ops.arg, f->replies[k].t);
		k++;
	}
	if (k == 0)
		return; /* also when none was ever held: replies is NULL then */
	memmove(f->replies, f->replies + k, (f->nreplies - k) * sizeof(f->replies[0]));
	f->nreplies -= k;
}

bool txp_fleet_hold(struct txp_fleet *f, struct txp_txn *t)
{
	if (!f->fresh || t->fleet_apply || f->closing || f->stale || f->held_len >= f->ops.hold_max)
		return false;
	if (f->held_len == f->held_cap) {
		size_t cap = f->held_cap ? f->held_cap * 2 : 256;
		struct held *q = malloc(cap * sizeof(*q));

		if (q == NULL)
			return false;
		for (size_t i = 0; i < f->held_len; i++)
			q[i] = f->held[(f->held_head + i) % f->held_cap];
		free(f->held);
		f->held = q;
		f->held_cap = cap;
		f->held_head = 0;
	}
	f->held[(f->held_head + f->held_len) % f->held_cap] = (struct held){ t, f->reads_started + 1 };
	f->held_len++;
	f->st.held = f->held_len;
	f->st.held_total++;
	if (!f->reading)
		kick(f);
	return true;
}

bool txp_fleet_ack_release(struct txp_fleet *f, struct txp_txn *t)
{
	for (size_t k = 0; k < f->nreplies; k++)
		if (f->replies[k].t == t) {
			f->replies[k].ack_held = false;
			return true;
		}
	return false;
}

/* ---- Applying the others' events ----------------------------------------- */

static void apply_flush(struct txp_fleet *f)
{
	if (f->flushing || f->closing)
		return;
	f->flushing = true;
	for (;;) {
		uint32_t taken;

		while (f->nbatch < APPLY_BATCH && f->applyq_len > 0) {
			struct txp_txn *t = f->nspare > 0 ? f->spare[--f->nspare] : txp_txn_new();

			if (t == NULL)
				break;
			txp_fleet_event_to_txn(&f->applyq[f->applyq_head], t);
			t->t_received = txp_now_ns();
			f->batch[f->nbatch++] = t;
			f->applyq_head = (f->applyq_head + 1) % f->applyq_cap;
			f->applyq_len--;
		}
		if (f->nbatch == 0)
			break;
		taken = f->ops.apply(f->ops.arg, f->batch, f->nbatch);
		memmove(f->batch, f->batch + taken, (f->nbatch - taken) * sizeof(f->batch[0]));
		f->nbatch -= taken;
		if (f->nbatch > 0)
			break; /* the pipeline is full: txp_fleet_applied() comes back */
	}
	f->flushing = false;
}

static void enqueue_event(void *arg, const struct txp_fleet_event *ev)
{
	struct txp_fleet *f = arg;

	if (f->applyq_len == f->applyq_cap) {
		size_t cap = f->applyq_cap ? f->applyq_cap * 2 : 1024;
		struct txp_fleet_event *q = malloc(cap * sizeof(*q));

		if (q == NULL) {
			f->st.events_dropped++;
			return;
		}
		for (size_t i = 0; i < f->applyq_len; i++)
			q[i] = f->applyq[(f->applyq_head + i) % f->applyq_cap];
		free(f->applyq);
		f->applyq = q;
		f->applyq_cap = cap;
		f->applyq_head = 0;
	}
	f->applyq[(f->applyq_head + f->applyq_len) % f->applyq_cap] = *ev;
	f->applyq_len++;
	f->enq_total++;
}

void txp_fleet_applied(struct txp_fleet *f, struct txp_txn *t)
{
	f->st.events_applied++;
	f->applied_total++;
	if (f->nspare < APPLY_SPARE) {
		txp_txn_clear(t);
		f->spare[f->nspare++] = t;
	} else {
		txp_txn_free(t);
	}
	if (f->applyq_len > 0 || f->nbatch > 0)
		apply_flush(f);
	if (f->held_len > 0 && f->applied_total == f->ready_mark)
		release_held(f, false);
}

/* ---- Reading ------------------------------------------------------------- */

static void read_members(struct txp_fleet *f);
static void read_feed(struct txp_fleet *f);
static void write_members(struct txp_fleet *f);

static void read_done(struct txp_fleet *f, bool complete)
{
	f->reading = false;
	if (complete) {
		f->last_ok_read = f->read_started;
		check_stale(f);
		f->ready_gen = f->read_gen;
		f->ready_mark = f->enq_total;
		release_held(f, false);
	}
	/* Some came during this read: they need the next one, now. */
	if (f->held_len > 0 && f->held[(f->held_head + f->held_len - 1) % f->held_cap].need > f->read_gen)
		kick(f);
	/* A tick came during this read (round trips longer than half a
	 * tick): the read it would have started starts now, so the bound
	 * loses the round trips only, not a tick.  At most one read a tick. */
	else if (f->read_due && !f->closing && uv_now(f->loop) >= f->read_not_before &&
	         f->applyq_len < APPLY_QUEUE_HIGH) {
		f->read_due = false;
		read_members(f);
	}
}

static struct peer *peer_find(struct txp_fleet *f, const char *id)
{
	for (size_t i = 0; i < f->npeers; i++)
		if (strcmp(f->peers[i].id, id) == 0)
			return &f->peers[i];
	return NULL;
}

/* The newest seq readable from pe->next on without a jump: the end of the
 * run before while that is being finished. */
static uint64_t peer_end(const struct peer *pe)
{
	return pe->next < pe->first ? pe->prev_last : pe->last;
}

/* Past one seq; from the end of the run before to this run's first. */
static void peer_advance(struct peer *pe)
{
	pe->next++;
	if (pe->next < pe->first && pe->next > pe->prev_last)
		pe->next = pe->first;
}

/* This host's own attribute, read at start: the run it last published
 * (or the one that run kept, when it published nothing) is kept as the
 * run before, for the others to finish. */
static void adopt_own(struct txp_fleet *f, const struct txp_fleet_member *m)
{
	if (m->first == f->first_seq)
		return;
	if (m->last >= m->first) {
		f->prev_first = m->first;
		f->prev_last = m->last;
	} else if (m->prev_first != 0) {
		f->prev_first = m->prev_first;
		f->prev_last = m->prev_last;
	}
	if (f->prev_first != 0)
		txp_log_notice("fleet_previous_run", "first_seq=%" PRIu64 " last_seq=%" PRIu64, f->prev_first,
		               f->prev_last);
}

static void on_members_read(void *arg, const struct txp_aws_result *r)
{
	struct txp_fleet *f = arg;
	struct txp_fleet_member m[MAX_PEERS];
	size_t skipped;
	int64_t wall = txp_wall_ms();
	uint64_t live = 0;
	int n;

	f->st.members_reads++;
	if (f->closing) {
		f->reading = false;
		return;
	}
	if (r->kind != TXP_AWS_OK) {
		f->read_not_before = failed(f, r, &f->read_failures, "members_read");
		read_done(f, false);
		return;
	}
	n = txp_fleet_members_parse(r->body, r->body_len, m, MAX_PEERS, &skipped);
	if (n < 0) {
		struct txp_aws_result bad = *r;
		snprintf(bad.code, sizeof(bad.code), "bad_members_item");
		f->read_not_before = failed(f, &bad, &f->read_failures, "members_read");
		read_done(f, false);
		return;
	}
	succeeded(&f->read_failures, "members_read");
	for (int i = 0; i < n; i++) {
		struct peer *p;
		size_t idlen;

		if (strcmp(m[i].id, f->id) == 0) {
			if (!f->read_once)
				adopt_own(f, &m[i]);
			continue;
		}
		p = peer_find(f, m[i].id);
		if (p == NULL) {
			if (f->npeers == MAX_PEERS)
				continue;
			p = &f->peers[f->npeers++];
			memset(p, 0, sizeof(*p));
			idlen = strnlen(m[i].id, sizeof(p->id) - 1);
			memcpy(p->id, m[i].id, idlen);
			p->id[idlen] = '\0';
			/* Hosts already there when this one started: their
			 * feed from now on (this host's own history comes
			 * from its journal).  Hosts that start later: their
			 * whole run. */
			p->next = f->read_once ? m[i].first : m[i].last + 1;
		}
		/* It restarted: a new run of seqs, after the rest of the run
		 * before. */
		if (m[i].first > p->next)
			p->next = txp_fleet_member_resume(&m[i], p->next);
		p->first = m[i].first;
		p->last = m[i].last;
		p->prev_first = m[i].prev_first;
		p->prev_last = m[i].prev_last;
		p->heartbeat_ms = m[i].heartbeat_ms;
		p->live = wall - m[i].heartbeat_ms <= HOST_TIMEOUT_MS;
		live += p->live;
	}
	/* Hosts whose attribute was removed (silent longer than any window)
	 * are forgotten. */
	for (size_t p = 0; p < f->npeers;) {
		bool present = false;
		for (int i = 0; i < n && !present; i++)
			present = strcmp(m[i].id, f->peers[p].id) == 0;
		if (present) {
			p++;
			continue;
		}
		f->peers[p] = f->peers[--f->npeers];
	}
	f->st.hosts_seen = live;
	/* Its attribute waited for this read (adopt_own). */
	if (!f->read_once) {
		f->read_once = true;
		write_members(f);
	}
	read_feed(f);
}

static void read_members(struct txp_fleet *f)
{
	struct txp_sbuf b = { 0 };
	char *body;
	size_t len;

	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_str(&b, f->table_json);
	txp_sbuf_str(&b, ",\"Key\":{\"pk\":{\"S\":\"" MEMBERS_PK "\"}},\"ConsistentRead\":true}");
	body = txp_sbuf_finish(&b, &len);
	if (body == NULL)
		return;
	f->reading = true;
	f->read_started = uv_now(f->loop);
	f->read_gen = ++f->reads_started;
	if (txp_aws_call(f->aws, TXP_AWS_DYNAMODB, "GetItem", body, len, on_members_read, f) < 0)
		f->reading = false;
	free(body);
}

/* One item of a BatchGetItem answer. */
struct got {
	struct peer *peer;
	uint64_t seq;
	const char *b64;
};

static void on_feed_read(void *arg, const struct txp_aws_result *r)
{
	struct txp_fleet *f = arg;
	json_t *root, *list, *item, *unproc;
	struct got got[BATCH_GET_MAX];
	size_t ngot = 0, i;
	bool progress = false, behind = false;

	if (f->closing) {
		f->reading = false;
		return;
	}
	if (r->kind != TXP_AWS_OK) {
		f->read_not_before = failed(f, r, &f->read_failures, "feed_read");
		read_done(f, false);
		return;
	}
	root = json_loadb(r->body != NULL ? r->body : "", r->body_len, 0, NULL);
	if (!json_is_object(root)) {
		struct txp_aws_result bad = *r;
		snprintf(bad.code, sizeof(bad.code), "bad_response");
		json_decref(root);
		f->read_not_before = failed(f, &bad, &f->read_failures, "feed_read");
		read_done(f, false);
		return;
	}
	list = json_object_get(json_object_get(root, "Responses"), f->cfg->fleet.table);
	json_array_foreach (list, i, item) {
		const char *pk = json_string_value(json_object_get(json_object_get(item, "pk"), "S"));
		const char *d = json_string_value(json_object_get(json_object_get(item, "d"), "B"));
		char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
		uint64_t seq;

		if (pk == NULL || d == NULL || ngot == BATCH_GET_MAX ||
		    txp_fleet_feed_key_parse(pk, strlen(pk), id, &seq) < 0)
			continue;
		got[ngot].peer = peer_find(f, id);
		got[ngot].seq = seq;
		got[ngot].b64 = d;
		if (got[ngot].peer != NULL)
			ngot++;
	}
	f->st.feed_read_items += ngot;
	unproc = json_object_get(json_object_get(root, "UnprocessedKeys"), f->cfg->fleet.table);
	/* Apply in seq order per host, stopping at the first one missing
	 * (unprocessed: read again next time). */
	for (size_t p = 0; p < f->npeers; p++) {
		struct peer *pe = &f->peers[p];
		bool found = true;

		while (found && pe->next <= peer_end(pe)) {
			found = false;
			for (size_t g = 0; g < ngot; g++) {
				uint8_t *bin;
				size_t blen = 0, cap, b64len;
				const char *b64 = got[g].b64;

				if (got[g].peer != pe || got[g].seq != pe->next)
					continue;
				found = true;
				b64len = strlen(b64);
				cap = b64len / 4 * 3;
				bin = malloc(cap + 1);
				if (bin != NULL && txp_base64_decode(b64, b64len, bin, cap, &blen) == 0 &&
				    txp_fleet_item_decode(bin, blen, enqueue_event, f) >= 0) {
					/* applied (queued for the stages) */
				} else {
					f->st.errors++;
					txp_log_warn("fleet_item_invalid", "host=%s seq=%" PRIu64, pe->id, pe->next);
				}
				free(bin);
				peer_advance(pe);
				progress = true;
				break;
			}
		}
		if (pe->live && pe->next <= peer_end(pe))
			behind = true;
	}
	/* An item neither returned nor unprocessed does not exist (its TTL
	 * passed, or it was never written whole): skip it, or the host's
	 * feed would stall there forever. */
	if (json_array_size(json_object_get(unproc, "Keys")) == 0) {
		for (size_t p = 0; p < f->npeers; p++) {
			struct peer *pe = &f->peers[p];
			if (pe->live && pe->next <= peer_end(pe) && !progress && f->read_failures == 0) {
				txp_log_warn("fleet_item_missing", "host=%s seq=%" PRIu64, pe->id, pe->next);
				f->st.errors++;
				peer_advance(pe);
				progress = true;
			}
		}
	}
	json_decref(root);
	succeeded(&f->read_failures, "feed_read");
	apply_flush(f);
	if (behind && progress && f->applyq_len < APPLY_QUEUE_HIGH) {
		read_feed(f); /* more to catch up: the same read goes on */
		return;
	}
	read_done(f, !behind);
}

/* Asks for up to BATCH_GET_MAX items the live peers have published and this
 * host has not read, the oldest of each first; ends the read when none. */
static void read_feed(struct txp_fleet *f)
{
	struct txp_sbuf b = { 0 };
	unsigned nkeys = 0;
	char *body;
	size_t len;
	bool more = true;

	txp_sbuf_str(&b, "{\"RequestItems\":{");
	txp_sbuf_str(&b, f->table_json);
	txp_sbuf_str(&b, ":{\"ConsistentRead\":true,\"Keys\":[");
	/* Round robin over the peers, one seq each per round, so one busy
	 * host cannot starve the others' feeds. */
	for (uint64_t k = 0; more && nkeys < BATCH_GET_MAX; k++) {
		more = false;
		for (size_t p = 0; p < f->npeers && nkeys < BATCH_GET_MAX; p++) {
			struct peer *pe = &f->peers[p];

			if (!pe->live || pe->next + k > peer_end(pe))
				continue;
			more = true;
			txp_sbuf_str(&b, nkeys > 0 ? ",{\"pk\":{\"S\":\"feed|" : "{\"pk\":{\"S\":\"feed|");
			txp_sbuf_str(&b, pe->id);
			txp_sbuf_str(&b, "|");
			txp_sbuf_uint(&b, pe->next + k);
			txp_sbuf_str(&b, "\"}}");
			nkeys++;
		}
	}
	txp_sbuf_str(&b, "]}}}");
	body = txp_sbuf_finish(&b, &len);
	if (nkeys == 0 || body == NULL) {
		free(body);
		read_done(f, body != NULL);
		return;
	}
	f->st.feed_read_requests++;
	if (txp_aws_call(f->aws, TXP_AWS_DYNAMODB, "BatchGetItem", body, len, on_feed_read, f) < 0)
		read_done(f, false);
	free(body);
}

/* ---- Publishing ---------------------------------------------------------- */

static void write_items(struct txp_fleet *f);

/* An item buffer (ITEM_BUF bytes): the spare one, else a new one. */
static uint8_t *item_buf_get(struct txp_fleet *f)
{
	uint8_t *buf = f->spare_buf;

	f->spare_buf = NULL;
	return buf != NULL ? buf : malloc(ITEM_BUF);
}

/* Keeps one written item's buffer for the next: at 25,000 events a
 * second an item is 190 KB every tick, and a fresh one each time is
 * mapped, faulted in page by page and unmapped (a TLB shootdown on every
 * CPU) by the allocator. */
static void item_buf_put(struct txp_fleet *f, uint8_t *buf)
{
	if (f->spare_buf == NULL)
		f->spare_buf = buf;
	else
		free(buf);
}

/* Makes the pending events an item: its buffer becomes the item's, and a
 * spare or new one the pending buffer (nothing copied).  At most
 * TXP_FLEET_ITEM_EVENTS are ever pending (txp_fleet_note), so one item. */
static void cut_items(struct txp_fleet *f)
{
	struct out_item *it;
	uint8_t *next;

	if (f->npending == 0)
		return;
	if (f->nitems == f->items_cap) {
		size_t cap = f->items_cap ? f->items_cap * 2 : 16;
		struct out_item *ni = realloc(f->items, cap * sizeof(*ni));
		if (ni == NULL)
			return;
		f->items = ni;
		f->items_cap = cap;
	}
	next = item_buf_get(f);
	if (next == NULL)
		return; /* the events wait for the next tick */
	it = &f->items[f->nitems++];
	memset(it, 0, sizeof(*it));
	it->buf = f->pending_buf;
	it->len = TXP_FLEET_ITEM_HEADER + (size_t)f->npending * TXP_FLEET_EVENT_BYTES;
	txp_fleet_item_header(it->buf, f->npending);
	it->events = f->npending;
	it->seq = f->next_seq++;
	f->pending_buf = next;
	f->npending = 0;
}

static bool pk_is(const char *pk, const char *id, uint64_t seq)
{
	char want[TXP_FLEET_INSTANCE_ID_MAX + 32];

	snprintf(want, sizeof(want), "feed|%s|%" PRIu64, id, seq);
	return strcmp(pk, want) == 0;
}

static void on_items_written(void *arg, const struct txp_aws_result *r)
{
	struct txp_fleet *f = arg;
	json_t *root = NULL, *un;
	size_t popped = 0, i;
	bool unprocessed = false;

	f->writing = false;
	if (f->closing)
		return;
	if (r->kind == TXP_AWS_OK)
		root = json_loadb(r->body != NULL ? r->body : "", r->body_len, 0, NULL);
	if (!json_is_object(root)) {
		struct txp_aws_result bad = *r;
		if (r->kind == TXP_AWS_OK)
			snprintf(bad.code, sizeof(bad.code), "bad_response");
		for (size_t k = 0; k < f->nitems; k++)
			f->items[k].sending = false;
		f->write_not_before = failed(f, &bad, &f->write_failures, "feed_write");
		json_decref(root);
		return;
	}
	succeeded(&f->write_failures, "feed_write");
	un = json_object_get(json_object_get(root, "UnprocessedItems"), f->cfg->fleet.table);
	for (size_t k = 0; k < f->nitems; k++) {
		struct out_item *it = &f->items[k];
		json_t *req;
		bool left = false;

		if (!it->sending)
			continue;
		it->sending = false;
		json_array_foreach (un, i, req) {
			const char *pk = json_string_value(json_object_get(
			        json_object_get(json_object_get(json_object_get(req, "PutRequest"), "Item"), "pk"),
			        "S"));
			if (pk != NULL && pk_is(pk, f->id, it->seq))
				left = true;
		}
		if (!left) {
			it->written = true;
			f->st.feed_write_items++;
			f->st.events_published += it->events;
		} else {
			unprocessed = true;
		}
	}
	/* DynamoDB returns items unprocessed when throttled: wait a
	 * tick before writing them again. */
	if (unprocessed) {
		f->st.throttles++;
		f->write_not_before = uv_now(f->loop) + tick_ms(f->cfg);
	}
	json_decref(root);
	/* Only a prefix of written items is published: a reader takes every
	 * seq up to `l` as there. */
	while (popped < f->nitems && f->items[popped].written) {
		f->published = f->items[popped].seq;
		f->st.events_queued -= f->items[popped].events;
		item_buf_put(f, f->items[popped].buf);
		popped++;
	}
	if (popped > 0)
		memmove(f->items, f->items + popped, (f->nitems - popped) * sizeof(f->items[0]));
	f->nitems -= popped;
	if (popped > 0) {
		f->members_dirty = true;
		write_members(f);
	}
	/* A tick came during this write: the items it cut go now rather
	 * than a tick later (at most one write a tick). */
	if (f->write_due && uv_now(f->loop) >= f->write_not_before) {
		f->write_due = false;
		write_items(f);
	}
}

static void write_items(struct txp_fleet *f)
{
	struct txp_sbuf b = { 0 };
	char *body;
	size_t len, n = 0, need = 64 + strlen(f->table_json);
	char expires[24];

	snprintf(expires, sizeof(expires), "%" PRId64, txp_wall_ms() / 1000 + item_ttl_s(f->cfg));
	/* Room for the whole body at once: an item is up to 350 KB, and
	 * growing by doubling from a kilobyte would copy it many times. */
	for (size_t k = 0, m = 0; k < f->nitems && m < BATCH_WRITE_MAX; k++)
		if (!f->items[k].written) {
			need += TXP_BASE64_LEN(f->items[k].len) + 160 + strlen(f->id);
			m++;
		}
	txp_sbuf_reserve(&b, need);
	txp_sbuf_str(&b, "{\"RequestItems\":{");
	txp_sbuf_str(&b, f->table_json);
	txp_sbuf_str(&b, ":[");
	for (size_t k = 0; k < f->nitems && n < BATCH_WRITE_MAX; k++) {
		struct out_item *it = &f->items[k];

		if (it->written)
			continue;
		txp_sbuf_str(&b, n > 0 ? ",{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"feed|"
		                       : "{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"feed|");
		txp_sbuf_str(&b, f->id);
		txp_sbuf_str(&b, "|");
		txp_sbuf_uint(&b, it->seq);
		txp_sbuf_str(&b, "\"},\"d\":{\"B\":\"");
		txp_sbuf_base64(&b, it->buf, it->len);
		txp_sbuf_str(&b, "\"},\"expires\":{\"N\":\"");
		txp_sbuf_str(&b, expires);
		txp_sbuf_str(&b, "\"}}}}");
		it->sending = true;
		n++;
	}
	txp_sbuf_str(&b, "]}}");
	body = txp_sbuf_finish(&b, &len);
	if (body == NULL || n == 0) {
		for (size_t k = 0; k < f->nitems; k++)
			f->items[k].sending = false;
		free(body);
		return;
	}
	f->writing = true;
	f->st.feed_write_requests++;
	if (txp_aws_call_take(f->aws, TXP_AWS_DYNAMODB, "BatchWriteItem", body, len, on_items_written, f) < 0) {
		f->writing = false;
		for (size_t k = 0; k < f->nitems; k++)
			f->items[k].sending = false;
	}
}

static void on_members_written(void *arg, const struct txp_aws_result *r)
{
	struct txp_fleet *f = arg;

	f->members_writing = false;
	f->st.members_writes++;
	if (f->closing)
		return;
	if (r->kind != TXP_AWS_OK) {
		f->members_dirty = true;
		f->write_not_before = failed(f, r, &f->write_failures, "members_write");
		return;
	}
	succeeded(&f->write_failures, "members_write");
	f->visible = f->sending_l;
	/* Items written while this was in flight: publish them now. */
	if (f->members_dirty)
		write_members(f);
	if (f->nreplies > 0) {
		release_replies(f, false);
		if (f->nreplies > 0 || f->npending > 0)
			kick(f);
	}
}

/* Sets this host's attribute of the members item, and removes those of
 * hosts silent for longer than any window (their feed is of no use). */
static void write_members(struct txp_fleet *f)
{
	struct txp_sbuf b = { 0 };
	int64_t wall = txp_wall_ms(), dead_ms = item_ttl_s(f->cfg) * 1000;
	unsigned ndead = 0;
	char *body;
	size_t len;

	/* Not before the first read: it brings the run before (adopt_own). */
	if (f->members_writing || !f->read_once)
		return;
	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_str(&b, f->table_json);
	txp_sbuf_str(&b, ",\"Key\":{\"pk\":{\"S\":\"" MEMBERS_PK "\"}},\"UpdateExpression\":\"SET #h = :v");
	for (size_t p = 0; p < f->npeers && ndead < 8; p++)
		if (wall - f->peers[p].heartbeat_ms > dead_ms) {
			txp_sbuf_str(&b, ndead == 0 ? " REMOVE #d" : ", #d");
			txp_sbuf_uint(&b, p);
			ndead++;
		}
	txp_sbuf_str(&b, "\",\"ExpressionAttributeNames\":{\"#h\":\"h_");
	txp_sbuf_str(&b, f->id);
	txp_sbuf_str(&b, "\"");
	ndead = 0;
	for (size_t p = 0; p < f->npeers && ndead < 8; p++)
		if (wall - f->peers[p].heartbeat_ms > dead_ms) {
			txp_sbuf_str(&b, ",\"#d");
			txp_sbuf_uint(&b, p);
			txp_sbuf_str(&b, "\":\"h_");
			txp_sbuf_str(&b, f->peers[p].id);
			txp_sbuf_str(&b, "\"");
			ndead++;
		}
	txp_sbuf_str(&b, "},\"ExpressionAttributeValues\":{\":v\":{\"M\":{\"f\":{\"N\":\"");
	txp_sbuf_uint(&b, f->first_seq);
	txp_sbuf_str(&b, "\"},\"l\":{\"N\":\"");
	txp_sbuf_uint(&b, f->published);
	txp_sbuf_str(&b, "\"},\"t\":{\"N\":\"");
	txp_sbuf_uint(&b, (unsigned long long)wall);
	if (f->prev_first != 0) {
		txp_sbuf_str(&b, "\"},\"pf\":{\"N\":\"");
		txp_sbuf_uint(&b, f->prev_first);
		txp_sbuf_str(&b, "\"},\"pl\":{\"N\":\"");
		txp_sbuf_uint(&b, f->prev_last);
	}
	txp_sbuf_str(&b, "\"}}}}}");
	body = txp_sbuf_finish(&b, &len);
	if (body == NULL)
		return;
	f->members_writing = true;
	f->members_dirty = false;
	f->sending_l = f->published;
	f->last_members_ms = uv_now(f->loop);
	if (txp_aws_call(f->aws, TXP_AWS_DYNAMODB, "UpdateItem", body, len, on_members_written, f) < 0) {
		f->members_writing = false;
		f->members_dirty = true;
	}
	free(body);
}

/* ---- The tick ------------------------------------------------------------ */

static void on_tick(uv_timer_t *h)
{
	struct txp_fleet *f = h->data;
	uint64_t now;

	now = uv_now(f->loop);
	check_stale(f);
	if (f->nreplies > 0)
		release_replies(f, f->stale);
	if (f->npending > 0)
		cut_items(f);
	f->write_due = f->writing;
	if (!f->writing && now >= f->write_not_before) {
		bool unwritten = false;
		for (size_t k = 0; k < f->nitems && !unwritten; k++)
			unwritten = !f->items[k].written;
		if (unwritten)
			write_items(f);
		else if (f->members_dirty || now - f->last_members_ms >= HEARTBEAT_MS)
			write_members(f);
	}
	f->read_due = f->reading;
	if (!f->reading && now >= f->read_not_before && f->applyq_len < APPLY_QUEUE_HIGH)
		read_members(f);
	apply_flush(f);
}

void txp_fleet_note(struct txp_fleet *f, struct txp_txn *t)
{
	struct txp_fleet_event ev;

	for (unsigned i = 0; i < t->n_reasons; i++)
		if (strcmp(t->reasons[i].code, "fleet_state_stale") == 0)
			f->st.stale_decisions++;
	if (txp_fleet_event_from_txn(t, &ev) < 0)
		return;
	/* Bounded: past the limit an event is dropped (counted).  The record
	 * itself is journaled and stored as always; only the other hosts'
	 * view of it is lost. */
	if (f->st.events_queued >= f->cfg->fleet.max_queued_events || f->closing) {
		f->st.events_dropped++;
		return;
	}
	if (f->npending == TXP_FLEET_ITEM_EVENTS)
		cut_items(f);
	if (f->npending == TXP_FLEET_ITEM_EVENTS) {
		f->st.events_dropped++;
		return;
	}
	if (f->fresh && f->replies_cap == f->nreplies) {
		size_t cap = f->replies_cap ? f->replies_cap * 2 : 256;
		struct reply *r = realloc(f->replies, cap * sizeof(*r));
		if (r != NULL) {
			f->replies = r;
			f->replies_cap = cap;
		}
	}
	if (f->fresh && !f->stale && f->nreplies < f->replies_cap) {
		/* The item this event goes in: items are cut from the front
		 * of the pending events, TXP_FLEET_ITEM_EVENTS at a time. */
		f->replies[f->nreplies++] = (struct reply){ t, f->next_seq + f->npending / TXP_FLEET_ITEM_EVENTS,
			                                    uv_now(f->loop), t->held };
		t->held = true;
		kick(f);
	}
	txp_fleet_event_encode(&ev,
	                       f->pending_buf + TXP_FLEET_ITEM_HEADER + (size_t)f->npending * TXP_FLEET_EVENT_BYTES);
	f->npending++;
	f->st.events_queued++;
}

/* ---- Life ---------------------------------------------------------------- */

int txp_fleet_create(struct txp_fleet **out, uv_loop_t *loop, struct txp_aws_client *aws, const struct txp_config *cfg,
                     const char *instance_id, const struct txp_fleet_ops *ops, char *err, size_t errlen)
{
	struct txp_fleet *f;
	struct txp_sbuf b = { 0 };
	size_t len;
	int rc;

	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		snprintf(err, errlen, "[fleet] out of memory");
		return -ENOMEM;
	}
	if (!txp_fleet_instance_id_valid(instance_id)) {
		snprintf(err, errlen, "[fleet] instance id %s is not valid", instance_id);
		rc = -EINVAL;
		goto err_after_alloc;
	}
	memcpy(f->id, instance_id, strlen(instance_id) + 1); /* valid: it fits */
	f->pending_buf = malloc(ITEM_BUF);
	txp_sbuf_json_str(&b, cfg->fleet.table);
	f->table_json = txp_sbuf_finish(&b, &len);
	if (f->pending_buf == NULL || f->table_json == NULL) {
		snprintf(err, errlen, "[fleet] out of memory");
		rc = -ENOMEM;
		goto err_after_bufs;
	}
	f->loop = loop;
	f->aws = aws;
	f->cfg = cfg;
	f->ops = *ops;
	f->fresh = cfg->fleet.mode == TXP_FLEET_FRESH;
	f->backoff.max_attempts = UINT32_MAX;
	f->backoff.base_delay_ms = tick_ms(cfg);
	f->backoff.max_delay_ms = BACKOFF_MAX_MS;
	f->backoff.jitter = true;
	f->first_seq = f->next_seq = (uint64_t)txp_wall_ms();
	f->published = f->first_seq - 1;
	f->members_dirty = true;
	f->last_ok_read = uv_now(loop);
	uv_timer_init(loop, &f->tick);
	f->tick.data = f;
	uv_timer_start(&f->tick, on_tick, 0, tick_ms(cfg));
	txp_log_notice(
	        "fleet_started", "instance=%s table=%s sync_interval_ms=%llu tick_ms=%llu mode=%s first_seq=%" PRIu64,
	        f->id, cfg->fleet.table, (unsigned long long)cfg->fleet.sync_interval_ms,
	        (unsigned long long)tick_ms(cfg), cfg->fleet.mode == TXP_FLEET_FRESH ? "fresh" : "fast", f->first_seq);
	*out = f;
	return 0;

err_after_bufs:
	free(f->table_json);
	free(f->pending_buf);
err_after_alloc:
	free(f);
	return rc;
}

const char *txp_fleet_id(const struct txp_fleet *f)
{
	return f->id;
}

void txp_fleet_stats(const struct txp_fleet *f, struct txp_fleet_stats *out)
{
	*out = f->st;
	out->sync_lag_ms = uv_now(f->loop) - f->last_ok_read;
	out->stale = f->stale;
}

static void on_tick_closed(uv_handle_t *h)
{
	(void)h;
}

void txp_fleet_close(struct txp_fleet *f)
{
	if (f == NULL || f->closing)
		return;
	/* Whatever waits goes on now, decided on what this host knows. */
	release_held(f, true);
	release_replies(f, true);
	f->closing = true;
	uv_timer_stop(&f->tick);
	uv_close((uv_handle_t *)&f->tick, on_tick_closed);
	if (f->st.events_queued > 0)
		txp_log_notice("fleet_unpublished", "events=%llu", (unsigned long long)f->st.events_queued);
}

void txp_fleet_destroy(struct txp_fleet *f)
{
	if (f == NULL)
		return;
	for (uint32_t i = 0; i < f->nbatch; i++)
		txp_txn_free(f->batch[i]);
	for (size_t i = 0; i < f->nspare; i++)
		txp_txn_free(f->spare[i]);
	for (size_t k = 0; k < f->nitems; k++)
		free(f->items[k].buf);
	free(f->items);
	free(f->applyq);
	free(f->held);
	free(f->replies);
	free(f->pending_buf);
	free(f->spare_buf);
	free(f->table_json);
	free(f);
}
