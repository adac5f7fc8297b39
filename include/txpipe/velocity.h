/* velocity.h: bounded per-key state for the rule stages: a key table and bucketed sliding windows. */
#ifndef TXPIPE_VELOCITY_H
#define TXPIPE_VELOCITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Sliding windows as a ring of time buckets.
 *
 * A window of length L ms is cut into TXP_WINDOW_BUCKETS buckets of width
 * g = ceil(L / TXP_WINDOW_BUCKETS) ms; bucket number b covers [b*g, (b+1)*g).
 * The ring keeps one more slot than that, the current partial bucket, so at
 * time `now` the window holds every event whose bucket is one of the last
 * TXP_WINDOW_BUCKETS + 1 buckets.  The effect: an event at time t is counted
 * while now - t <= L (always, also exactly at the window length) and is gone
 * once now >= t + L + g, i.e. windows over-count by less than one bucket
 * (1/12 of their length) and never under-count, so nobody can slip under a
 * threshold by timing.  An event in the last millisecond of its bucket
 * leaves exactly at t + L + 1.
 *
 * Counts are saturating 32-bit per bucket, sums saturating 64-bit (USD
 * cents); totals are summed over the slots on demand, so saturation never
 * corrupts later subtraction.
 */
#define TXP_WINDOW_BUCKETS 12
#define TXP_WINDOW_SLOTS (TXP_WINDOW_BUCKETS + 1)

struct txp_window {
	int64_t head; /* bucket number of the newest slot */
	uint32_t count[TXP_WINDOW_SLOTS];
	int64_t sum[TXP_WINDOW_SLOTS];
};

/* Bucket width for a window of `length_ms` (>= TXP_WINDOW_BUCKETS). */
static inline int64_t txp_window_width(int64_t length_ms)
{
	return (length_ms + TXP_WINDOW_BUCKETS - 1) / TXP_WINDOW_BUCKETS;
}

/*
 * Records one event of `amount` (negative counts as 0) at `now` (>= 0).  An
 * event older than the newest bucket (a fleet peer's, applied late: see
 * fleet.h) is counted in its own bucket while the ring still holds it, so it
 * leaves the window exactly when it would have in order; one older than the
 * ring is outside the window already and is not counted: returns false
 * then, true when counted.
 */
bool txp_window_add(struct txp_window *w, int64_t width, int64_t now, int64_t amount);

/* The number and summed amount of events in the window at `now`. */
void txp_window_totals(struct txp_window *w, int64_t width, int64_t now, uint64_t *count, int64_t *sum);

/*
 * The compact window for per-customer state, where millions of keys live at
 * once: the same ring and the same over-count-never-under-count edges as
 * struct txp_window, in 88 bytes instead of 168.  Counts are saturating
 * 16-bit and sums saturating 32-bit USD cents per bucket, totals summed in
 * 64 bits.  A saturated bucket alone already reaches 65,535 events or
 * $42,949,672.95, so a threshold at or below those (the config table's
 * bounds for the customer and structuring thresholds,
 * TXP_WINDOW_SMALL_MAX_COUNT and TXP_WINDOW_SMALL_MAX_USD) fires exactly as
 * with unbounded counters.  Only the customer's average for
 * high_amount_relative can read low, and only for a customer whose
 * two-hour bucket passed $42.9 million.
 */
#define TXP_WINDOW_SMALL_MAX_COUNT UINT64_C(65535)
#define TXP_WINDOW_SMALL_MAX_USD UINT64_C(42949672)

struct txp_window_small {
	int64_t head; /* bucket number of the newest slot */
	uint32_t sum[TXP_WINDOW_SLOTS];
	uint16_t count[TXP_WINDOW_SLOTS];
};

/* As txp_window_add(): `amount` in USD cents, negative counts as 0. */
bool txp_window_small_add(struct txp_window_small *w, int64_t width, int64_t now, int64_t amount);

/* As txp_window_totals(). */
void txp_window_small_totals(struct txp_window_small *w, int64_t width, int64_t now, uint64_t *count, int64_t *sum);

/*
 * A key table: a fixed number of entries, each a small header plus a
 * caller-defined payload, found by a 64-bit keyed SipHash of the key
 * (libsodium crypto_shorthash).  Only the hash is stored, never the key, so
 * the table holds no customer identifiers; two keys share state only on a
 * 64-bit collision (about n^2 / 2^65 for n keys: 1e-7 at a million keys),
 * and the hash key is secret so nobody can aim for one.
 *
 * Entries are linked in least-recently-seen order.  An entry whose last use
 * is `ttl_ms` or more before `now` is expired: its windows are empty, so it
 * may be reused.  When every entry is in use and the least recently seen
 * one is not expired, txp_keytab_get() refuses (and counts an overflow)
 * rather than drop live state: evicting live keys would let anyone hide a
 * customer's history by flooding the table with fresh keys.
 *
 * Lookup, insert and eviction are O(1) expected: open addressing with linear
 * probing in an index of at least twice as many slots as entries, deletion
 * by backward shift (no tombstones).
 *
 * Memory: max_keys * (entry header 24 B + payload, rounded to 8) plus the
 * index, 4 B * the next power of two >= 2 * max_keys, each one anonymous
 * mapping touched only as keys arrive (each 4 KiB of the index first by a
 * write, so the kernel never maps its zero page there: velocity.c), plus
 * a bit per 4 KiB of index that records it.
 *
 * Not thread-safe: a table belongs to one thread.
 */
struct txp_keytab;

#define TXP_KEYTAB_HASH_KEY_BYTES 16

struct txp_keytab_stats {
	size_t used; /* entries holding a key */
	size_t max_keys;
	uint64_t overflows; /* refused inserts: table full of live keys */
	uint64_t evictions; /* expired entries reused for new keys */
	size_t bytes;       /* memory held */
};

/*
 * Creates a table of `max_keys` entries (1..2^30) with `payload_size`
 * bytes of payload each, hashing with `hash_key`.  Returns NULL on a bad
 * size or allocation failure.  Free with txp_keytab_destroy().
 */
struct txp_keytab *txp_keytab_create(size_t max_keys, size_t payload_size,
                                     const uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES]);

/* NULL is safe. */
void txp_keytab_destroy(struct txp_keytab *kt);

/* The keyed hash of `key`. */
uint64_t txp_keytab_hash(const struct txp_keytab *kt, const char *key);

/*
 * Finds the entry for `hash` or makes one, marks it seen at `now` and
 * returns its payload (8-byte aligned).  A new or expired entry's payload is
 * zeroed and *fresh set to true.  Returns NULL, counting an overflow, when
 * the table is full of live entries.  The pointer is valid until the next
 * call.
 */
void *txp_keytab_get(struct txp_keytab *kt, uint64_t hash, int64_t now, int64_t ttl_ms, bool *fresh);

/* Finds the entry for `hash` without creating or touching it; NULL if absent. */
void *txp_keytab_peek(struct txp_keytab *kt, uint64_t hash);

void txp_keytab_stats(const struct txp_keytab *kt, struct txp_keytab_stats *out);

/*
 * Resident bytes one key costs in a full table with `payload_size` bytes of
 * payload: the entry (header 24 B + payload, rounded to 8) plus its share of
 * the index at the worst power-of-two rounding (16 B; 8 to 16 B in
 * practice).
 */
size_t txp_keytab_bytes_per_key(size_t payload_size);

/*
 * Sizing from the host (max_tracked_keys = 0): the screening state may take
 * TXP_STATE_MEMORY_PERCENT of physical memory when every table is full.
 * Given the host's `phys_bytes`, the number of `shards` and the bytes one
 * key costs across all of a shard's tables, returns the keys per table per
 * shard, at least TXP_STATE_AUTO_MIN_KEYS (the old fixed default) and at
 * most 2^30 (the table's limit).  Pure: the caller reads the memory size.
 * Memory is touched only as keys arrive, so a large table costs nothing
 * until it fills.
 */
#define TXP_STATE_MEMORY_PERCENT 50
#define TXP_STATE_AUTO_MIN_KEYS 65536
uint64_t txp_state_auto_keys(uint64_t phys_bytes, unsigned shards, size_t bytes_per_key);

#endif
