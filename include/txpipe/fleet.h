/* fleet.h: several txpiped hosts screening as one system, with DynamoDB as the shared state. */
#ifndef TXPIPE_FLEET_H
#define TXPIPE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct txp_config;
struct txp_txn;
struct txp_aws_client;
struct txp_fleet_lease;

/*
 * The fleet table ([fleet] table), shared by every fleet module: one string
 * hash key and no sort key; items are told apart by the key's prefix
 * ("feed|...", "members": shared screening state; "lease|<journal id>":
 * journal leases).  Every item carries the TTL attribute, epoch seconds, so
 * what dead hosts leave behind disappears by itself.
 */
#define TXP_FLEET_KEY_ATTRIBUTE "pk"
#define TXP_FLEET_TTL_ATTRIBUTE "expires"

/* Longest instance id, without its NUL ([fleet] instance_id's bound). */
#define TXP_FLEET_INSTANCE_ID_MAX 64

/*
 * Whether `id` may name a host in the fleet: 1 to TXP_FLEET_INSTANCE_ID_MAX
 * bytes of letters, digits, '-', '_' and '.'.  It becomes part of DynamoDB
 * attribute names and lease items, so nothing else is allowed.
 */
int txp_fleet_instance_id_valid(const char *id);

/*
 * This host's instance id: [fleet] instance_id when set; else, when [aws]
 * imds is on, the EC2 instance id read through IMDSv2 from [aws]
 * imds_endpoint (a session token, then meta-data/instance-id, one second
 * each at most: called once at start, before the loop runs); else the
 * hostname.  Writes it NUL-terminated into `out` (at least
 * TXP_FLEET_INSTANCE_ID_MAX + 1 bytes).  Returns 0, or -EINVAL with a
 * message in `err` when no valid id can be found (a configured id is
 * checked by txp_config_validate()).
 */
int txp_fleet_instance_id(const struct txp_config *cfg, char *out, size_t outlen, char *err, size_t errlen);

/* ---- The event feed: encoding (feed.c, pure) ---------------------------- */

/*
 * What another host needs of one decided transaction to update its rule
 * stages' state exactly as the deciding host did (txp_fraud_apply,
 * txp_compliance_apply): when, how much, and under which keys.  The keys
 * are the keyed 16-byte pseudonyms the state is kept under (customer_key,
 * merchant_key, card_token: txn.h), never a raw identifier, name or card
 * number.
 */
struct txp_fleet_event {
	int64_t ms;         /* received_ms on the deciding host */
	int64_t amount;     /* minor units of currency */
	int64_t amount_usd; /* USD cents, when usd_known */
	bool usd_known;
	bool has_card;
	char currency[4];
	uint8_t customer[16], merchant[16], card[16];
};

/* One encoded event: flags, ms, amount, amount_usd (little-endian 64-bit),
 * currency (3 bytes), the three keys (16 bytes each; card zero without). */
#define TXP_FLEET_EVENT_BYTES 76
/* A feed item's payload: version byte, 32-bit little-endian count, then
 * the events.  At most TXP_FLEET_ITEM_EVENTS events (about 350 KB, under
 * DynamoDB's 400 KB item limit once base64 and the key are added). */
#define TXP_FLEET_FEED_VERSION 1
#define TXP_FLEET_ITEM_HEADER 5
#define TXP_FLEET_ITEM_EVENTS 3400

/*
 * The event of decided transaction `t`, when it is one the stages count
 * (screened: not rejected, error or duplicate, with a customer key).
 * Returns 0, or -EINVAL when `t` is not such a transaction or a key is not
 * 32 hex digits (merchant_key must be set: [fleet] on).
 */
int txp_fleet_event_from_txn(const struct txp_txn *t, struct txp_fleet_event *ev);

/* Fills a zeroed `t` from `ev` as an apply-only transaction
 * (t->fleet_apply): the fields txp_fraud_apply() and txp_compliance_apply()
 * read. */
void txp_fleet_event_to_txn(const struct txp_fleet_event *ev, struct txp_txn *t);

/* Writes TXP_FLEET_EVENT_BYTES bytes. */
void txp_fleet_event_encode(const struct txp_fleet_event *ev, uint8_t *out);

/* Reads one event; -EINVAL when the bytes cannot be one (unknown flags, a
 * currency that is not three capital letters, a negative time or amount,
 * key bytes for a card that is absent). */
int txp_fleet_event_decode(const uint8_t *in, struct txp_fleet_event *ev);

/* Writes a payload header for `count` events into `out`. */
void txp_fleet_item_header(uint8_t out[TXP_FLEET_ITEM_HEADER], uint32_t count);

/*
 * Checks a whole payload and calls `each(arg, ev)` for each event in order.
 * Returns the number of events, or -EINVAL when the payload is truncated,
 * too long, of another version or holds an event that does not decode:
 * then `each` is not called at all (checked first).
 */
int txp_fleet_item_decode(const uint8_t *buf, size_t len, void (*each)(void *arg, const struct txp_fleet_event *ev),
                          void *arg);

/* ---- Membership: the "members" item (feed.c, pure) ----------------------- */

/* One host's attribute h_<instance> of the members item. */
struct txp_fleet_member {
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	uint64_t first;       /* first seq of its current feed epoch */
	uint64_t last;        /* newest seq published, every one before it too */
	int64_t heartbeat_ms; /* its wall clock when it last wrote the attribute */
	/* Its run before this one (pf, pl), which readers finish before
	 * going on to `first`; prev_first 0: none kept. */
	uint64_t prev_first, prev_last;
};

/*
 * Reads a GetItem response for the members item ({"Item":{...}} or {} when
 * there is none yet) into `out` (at most `max`; more are ignored and
 * counted in *skipped with malformed ones: a wrong type, an invalid id,
 * last < first - 1).  Returns the number of members, or -EINVAL when the
 * body is not such a response.
 */
int txp_fleet_members_parse(const char *body, size_t len, struct txp_fleet_member *out, size_t max, size_t *skipped);

/*
 * Where a reader goes on in the feed of host `m` when `next`, the first seq
 * it has not read, is before m->first (the host restarted): `next` while it
 * is in the run before (prev_first..prev_last), which it finishes first;
 * prev_first when it is older still (the rest of that older run is lost to
 * it); else m->first.
 */
uint64_t txp_fleet_member_resume(const struct txp_fleet_member *m, uint64_t next);

/*
 * Reads a feed item's key "feed|<instance>|<seq>" (`key`, `len` bytes).
 * Returns 0 and fills `id` (TXP_FLEET_INSTANCE_ID_MAX + 1 bytes) and *seq,
 * or -EINVAL.
 */
int txp_fleet_feed_key_parse(const char *key, size_t len, char *id, uint64_t *seq);

/* ---- The shared screening state at run time (sync.c) --------------------- */

/* What the fleet needs of the daemon, on the loop thread. */
struct txp_fleet_ops {
	/* Hands apply-only transactions to the pipeline; returns how many it
	 * took (fewer when full: the rest are offered again later). */
	uint32_t (*apply)(void *arg, struct txp_txn **ts, uint32_t n);
	/* The shared state became stale (`stale` true) or fresh again. */
	void (*stale)(void *arg, bool stale);
	/* fresh mode: transactions held by txp_fleet_hold() may now be
	 * screened (txp_pipeline_release). */
	void (*release)(void *arg, struct txp_txn **ts, uint32_t n);
	/* fresh mode: a reply held by txp_fleet_note() may leave
	 * (txp_server_release). */
	void (*reply_release)(void *arg, struct txp_txn *t);
	uint32_t hold_max; /* transactions held at most; more are not held */
	void *arg;
};

struct txp_fleet_stats {
	uint64_t sync_lag_ms; /* since the start of the last read that was applied */
	uint64_t hosts_seen;  /* other hosts with a live heartbeat */
	uint64_t events_published, events_applied, events_queued, events_dropped;
	uint64_t events_late; /* applied but older than a window (set by the caller) */
	uint64_t feed_write_requests, feed_write_items;
	uint64_t feed_read_requests, feed_read_items;
	uint64_t members_reads, members_writes;
	uint64_t throttles, errors;
	uint64_t stale_decisions;
	uint64_t held; /* fresh mode: transactions waiting now */
	uint64_t held_total;
	bool stale;
};

struct txp_fleet;

/*
 * Starts sharing screening state through [fleet] table: every
 * sync_interval_ms this host publishes the events of the transactions it
 * decided (txp_fleet_note) and reads and applies the other hosts'.  `cfg`
 * is borrowed for the fleet's life (the daemon's, which a reload updates
 * in place); `aws` is the daemon's client; `instance_id` is this host's
 * (txp_fleet_instance_id, resolved once at start).  Returns 0 or a negative errno
 * with the reason in err.  Free with txp_fleet_destroy() once the loop has
 * run after txp_fleet_close().
 */
int txp_fleet_create(struct txp_fleet **out, uv_loop_t *loop, struct txp_aws_client *aws, const struct txp_config *cfg,
                     const char *instance_id, const struct txp_fleet_ops *ops, char *err, size_t errlen);

/* A decided transaction (loop thread), after the journal's ack: its event
 * joins the next publish when the stages counted it.  In fresh mode its
 * reply is held (t->held) until the event is published: the fleet keeps
 * `t` until then, and releases it with ops.reply_release (or leaves that
 * to txp_fleet_ack_release when the journal holds it too). */
void txp_fleet_note(struct txp_fleet *f, struct txp_txn *t);

/*
 * fresh mode, the pipeline's gate (txp_pipeline_set_hold): keeps `t` until
 * a read of the feed that starts after now has been applied (ops.release),
 * and returns true; false in fast mode, for another host's events, when
 * hold_max are held, or while the shared state is stale.
 */
bool txp_fleet_hold(struct txp_fleet *f, struct txp_txn *t);

/*
 * fresh mode: the journal's hold on the reply of `t` ends (ack.h).  Returns
 * true when the fleet still holds it until its event is published (the
 * fleet then lets it go through ops.reply_release), false when the caller
 * should release it now.
 */
bool txp_fleet_ack_release(struct txp_fleet *f, struct txp_txn *t);

/* An apply-only transaction came back from the pipeline: freed here. */
void txp_fleet_applied(struct txp_fleet *f, struct txp_txn *t);

/* This host's instance id. */
const char *txp_fleet_id(const struct txp_fleet *f);

void txp_fleet_stats(const struct txp_fleet *f, struct txp_fleet_stats *out);

/* Stops the timers; calls in flight end when the AWS client closes. */
void txp_fleet_close(struct txp_fleet *f);

/* Frees everything, queued apply transactions included.  NULL is safe. */
void txp_fleet_destroy(struct txp_fleet *f);

/* ---- first decision wins (records.c, pure) ---- */

/* The records table's key ([dynamodb] table, provision.c) and the
 * attribute a fleet host adds to each record it stores.  Records stored by
 * earlier builds also carry TXP_FLEET_FINGERPRINT (BLAKE2b-128 of the
 * item), which the verdict below ignores. */
#define TXP_FLEET_RECORD_KEY "transaction_id"
#define TXP_FLEET_DECIDED_BY "decided_by"
#define TXP_FLEET_FINGERPRINT "fingerprint"

/*
 * A PutItem request body storing `item` (AttributeValue JSON, "{...}") in
 * `table` only if no record of its transaction_id exists
 * (ConditionExpression attribute_not_exists), with decided_by added.
 * Returns a malloc'd body (caller frees) with *len, or NULL (out of
 * memory, or an item that is not a JSON object).
 */
char *txp_fleet_put_body(const char *table, const char *item, size_t item_len, const char *decided_by, size_t *len);

/*
 * A TransactWriteItems request body with one such conditional Put for
 * each of the n items (n at most 100; no two of one transaction_id), each
 * asking for the stored record when its condition fails
 * (ReturnValuesOnConditionCheckFailure ALL_OLD), so a conflict needs no
 * read-back.  The whole transaction is written or none of it (DynamoDB
 * API Reference, TransactWriteItems).  Malloc'd (caller frees), or NULL.
 */
char *txp_fleet_transact_body(const char *table, const char *const *items, const uint32_t *lens, size_t n,
                              const char *decided_by, size_t *len);

/* Why each Put of a cancelled transaction was refused, in order. */
struct txp_fleet_cancel {
	char code[48]; /* "None" (refused only because another was), "ConditionalCheckFailed", ... */
	char *old;     /* ConditionalCheckFailed with the stored item: {"Item":{...}}, as a GetItem
	                * answer for txp_fleet_stored_verdict (malloc'd, caller frees); else NULL */
	size_t old_len;
};

/*
 * Reads the CancellationReasons of a TransactionCanceledException body
 * into out[0..n-1].  Returns 0, or -EINVAL when the body does not carry
 * exactly n reasons, -ENOMEM; on failure nothing is left to free.
 */
int txp_fleet_cancellations(const char *body, size_t len, struct txp_fleet_cancel *out, size_t n);

/* A GetItem request body reading the record of `id` with a strongly
 * consistent read.  Malloc'd (caller frees), or NULL. */
char *txp_fleet_get_body(const char *table, const char *id, size_t *len);

enum txp_fleet_verdict {
	TXP_FLEET_MISSING,  /* no record: the put may be retried */
	TXP_FLEET_OURS,     /* the stored record is ours: stored already (a retry, a replay) */
	TXP_FLEET_CONFLICT, /* another decision was stored first: it wins */
};

/*
 * Reads a GetItem response after a conditional put failed: whether the
 * stored record is ours, the record `item` (the item we put, AttributeValue
 * JSON) would store: the same attributes with equal values, decided_by and
 * TXP_FLEET_FINGERPRINT apart.  The item is built from the decided
 * transaction the same way live and on journal replay (item.h), so a
 * record delivered twice is ours, and two decisions of one transaction_id
 * (received at different times, by one host or two) differ at least in
 * received_at and the stage times.  For a conflict, `winner`
 * gets the stored decided_by ("" when the record has none: stored by a
 * host outside the fleet) and *reply a malloc'd reply line (caller
 * frees) saying the stored decision: transaction_id, status, risk_score,
 * reasons, the error of a rejected record, and decided_by.  Returns the
 * verdict, or -EINVAL for a body that is not a GetItem response, -ENOMEM.
 */
int txp_fleet_stored_verdict(const char *body, size_t len, const char *item, size_t item_len, char *winner,
                             size_t winner_len, char **reply, size_t *reply_len);

/* ---- journal leases (lease.c) ---- */

/*
 * A lease item "lease|<journal id>" in the fleet table says who delivers a
 * journal's records: owner (a daemon's instance id, or "adopt@<instance
 * id>" for txpipectl journal adopt) and expires (epoch seconds, also the
 * table's TTL).  A running daemon renews its own every third of [fleet]
 * lease_ms; a lease whose expires has passed is free.  Taking one is a
 * conditional PutItem (absent, expired, or already the taker's), renewing a
 * conditional UpdateItem and releasing a conditional DeleteItem (both only
 * while the owner is still the taker), so two hosts never both hold it.
 */
#define TXP_FLEET_LEASE_PREFIX "lease|"
#define TXP_FLEET_LEASE_OWNER_MAX 96
#define TXP_FLEET_ADOPT_PREFIX "adopt@"

struct txp_fleet_lease_state {
	bool found;
	char owner[TXP_FLEET_LEASE_OWNER_MAX + 1];
	int64_t expires_s;
};

/* Request bodies (malloc'd, caller frees; NULL when out of memory). */
char *txp_fleet_lease_take_body(const char *table, const char *journal_id, const char *owner, int64_t now_s,
                                int64_t expires_s, size_t *len);
char *txp_fleet_lease_renew_body(const char *table, const char *journal_id, const char *owner, int64_t expires_s,
                                 size_t *len);
char *txp_fleet_lease_release_body(const char *table, const char *journal_id, const char *owner, size_t *len);
char *txp_fleet_lease_get_body(const char *table, const char *journal_id, size_t *len);

/* Reads a GetItem response into *st (found false when there is no item).
 * Returns 0, or -EINVAL when the body is not a GetItem response. */
int txp_fleet_lease_parse(const char *body, size_t len, struct txp_fleet_lease_state *st);

/* Whether the lease as read stops `owner` from taking it at now_s: held by
 * someone else and not expired (the take condition, as a pure function). */
bool txp_fleet_lease_blocks(const struct txp_fleet_lease_state *st, const char *owner, int64_t now_s);

struct txp_fleet_lease;

/*
 * Takes the lease of `journal_id` for `owner` for cfg's [fleet] lease_ms,
 * through synchronous calls at cfg's [dynamodb] endpoint on the [fleet]
 * table (called at start, before the loop runs).  `before` (may be NULL)
 * gets the lease as it was.  Returns 0 and *out (held); -EBUSY with err
 * naming the holder and how long its lease still runs (*out NULL); or
 * another negative errno with err when DynamoDB did not answer or failed:
 * *out is then set but not held, and txp_fleet_lease_keep() keeps trying to
 * take it (so an outage does not stop a daemon from starting; conditional
 * writes keep a journal delivered twice harmless).  Ownership: *out is the
 * caller's, freed by txp_fleet_lease_release().
 */
int txp_fleet_lease_take(struct txp_fleet_lease **out, const struct txp_config *cfg, const char *journal_id,
                         const char *owner, struct txp_fleet_lease_state *before, char *err, size_t errlen);

/* Renews the lease (takes it, when not held yet) every third of lease_ms
 * on `loop` through `client` (shared, not owned), until
 * txp_fleet_lease_stop().  A renewal refused because the lease has another
 * owner is logged at err (someone adopted this journal) and counted.
 * Returns 0 or a negative errno. */
int txp_fleet_lease_keep(struct txp_fleet_lease *l, struct uv_loop_s *loop, struct txp_aws_client *client);

/* Stops renewing (closes the timer; a renewal in flight ends with the
 * client's close).  Loop thread. */
void txp_fleet_lease_stop(struct txp_fleet_lease *l);

/* Renewals refused because another owner holds the lease. */
uint64_t txp_fleet_lease_lost(const struct txp_fleet_lease *l);

/* Deletes the lease item if it was taken and is still ours
 * (synchronously), then frees l.  Call once the loop no longer runs its timer or a renewal.  NULL is
 * safe.  Returns 0, or a negative errno (the lease then expires by itself). */
int txp_fleet_lease_release(struct txp_fleet_lease *l);

#endif
