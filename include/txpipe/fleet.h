/* fleet.h: several txpiped hosts screening as one system, with DynamoDB as the shared state. */
#ifndef TXPIPE_FLEET_H
#define TXPIPE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct txp_config;
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

/* ---- first decision wins (records.c, pure) ---- */

/* The records table's key ([dynamodb] table, provision.c) and the two
 * attributes a fleet host adds to each record it stores. */
#define TXP_FLEET_RECORD_KEY "transaction_id"
#define TXP_FLEET_DECIDED_BY "decided_by"
#define TXP_FLEET_FINGERPRINT "fingerprint"
/* BLAKE2b-128 of the item, in hex. */
#define TXP_FLEET_FINGERPRINT_HEX 32

/*
 * The fingerprint of a record: BLAKE2b-128 of its item's bytes, in
 * lowercase hex, NUL-terminated.  The item is built from the decided
 * transaction the same way live and on journal replay (item.h), so a
 * record delivered twice has one fingerprint, and two decisions of one
 * transaction_id (received at different times, by different hosts) have
 * two.
 */
void txp_fleet_fingerprint(const char *item, size_t len, char out[TXP_FLEET_FINGERPRINT_HEX + 1]);

/*
 * A PutItem request body storing `item` (AttributeValue JSON, "{...}") in
 * `table` only if no record of its transaction_id exists
 * (ConditionExpression attribute_not_exists), with decided_by and the
 * fingerprint added.  Returns a malloc'd body (caller frees) with *len,
 * or NULL (out of memory, or an item that is not a JSON object).
 */
char *txp_fleet_put_body(const char *table, const char *item, size_t item_len, const char *decided_by,
                         const char *fingerprint, size_t *len);

/* A GetItem request body reading the record of `id` with a strongly
 * consistent read.  Malloc'd (caller frees), or NULL. */
char *txp_fleet_get_body(const char *table, const char *id, size_t *len);

enum txp_fleet_verdict {
	TXP_FLEET_MISSING,  /* no record: the put may be retried */
	TXP_FLEET_OURS,     /* the stored record has our fingerprint: stored already (a retry, a replay) */
	TXP_FLEET_CONFLICT, /* another decision was stored first: it wins */
};

/*
 * Reads a GetItem response after a conditional put failed: whether the
 * stored record is ours (same fingerprint).  For a conflict, `winner`
 * gets the stored decided_by ("" when the record has none: stored by a
 * host outside the fleet) and *reply a malloc'd reply line (caller
 * frees) saying the stored decision: transaction_id, status, risk_score,
 * reasons, the error of a rejected record, and decided_by.  Returns the
 * verdict, or -EINVAL for a body that is not a GetItem response, -ENOMEM.
 */
int txp_fleet_stored_verdict(const char *body, size_t len, const char *fingerprint, char *winner, size_t winner_len,
                             char **reply, size_t *reply_len);

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
struct uv_loop_s;
struct txp_aws_client;
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
