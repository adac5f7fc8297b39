/* velocity.c: the rule stages' bounded key table and bucketed sliding windows. */
#include "txpipe/velocity.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* Moves the ring forward to bucket `b`, clearing the slots that fall out. */
static void window_advance(struct txp_window *w, int64_t b)
{
	if (b <= w->head)
		return;
	if (b - w->head >= TXP_WINDOW_SLOTS) {
		memset(w->count, 0, sizeof(w->count));
		memset(w->sum, 0, sizeof(w->sum));
	} else {
		for (int64_t i = w->head + 1; i <= b; i++) {
			w->count[i % TXP_WINDOW_SLOTS] = 0;
			w->sum[i % TXP_WINDOW_SLOTS] = 0;
		}
	}
	w->head = b;
}

bool txp_window_add(struct txp_window *w, int64_t width, int64_t now, int64_t amount)
{
	int64_t b = now / width;
	unsigned slot;

	window_advance(w, b);
	/* An event older than the head (another host's, applied a few sync
	 * intervals late) goes to its own bucket while the ring still holds
	 * it, so it leaves the window when it would have; older than the
	 * ring, it is already outside the window. */
	if (w->head - b >= TXP_WINDOW_SLOTS)
		return false;
	slot = (unsigned)(b % TXP_WINDOW_SLOTS);
	if (w->count[slot] != UINT32_MAX)
		w->count[slot]++;
	w->sum[slot] = sat_add(w->sum[slot], amount > 0 ? amount : 0);
	return true;
}

void txp_window_totals(struct txp_window *w, int64_t width, int64_t now, uint64_t *count, int64_t *sum)
{
	uint64_t c = 0;
	int64_t s = 0;

	window_advance(w, now / width);
	for (unsigned i = 0; i < TXP_WINDOW_SLOTS; i++) {
		c += w->count[i];
		s = sat_add(s, w->sum[i]);
	}
	*count = c;
	*sum = s;
}

static void window_small_advance(struct txp_window_small *w, int64_t b)
{
	if (b <= w->head)
		return;
	if (b - w->head >= TXP_WINDOW_SLOTS) {
		memset(w->count, 0, sizeof(w->count));
		memset(w->sum, 0, sizeof(w->sum));
	} else {
		for (int64_t i = w->head + 1; i <= b; i++) {
			w->count[i % TXP_WINDOW_SLOTS] = 0;
			w->sum[i % TXP_WINDOW_SLOTS] = 0;
		}
	}
	w->head = b;
}

bool txp_window_small_add(struct txp_window_small *w, int64_t width, int64_t now, int64_t amount)
{
	int64_t b = now / width;
	unsigned slot;
	uint64_t s;

	window_small_advance(w, b);
	if (w->head - b >= TXP_WINDOW_SLOTS)
		return false; /* as txp_window_add() */
	slot = (unsigned)(b % TXP_WINDOW_SLOTS);
	if (w->count[slot] != UINT16_MAX)
		w->count[slot]++;
	/* Saturate rather than wrap: a full bucket still reaches every
	 * threshold the config table allows (see velocity.h). */
	s = (uint64_t)w->sum[slot] + (amount > 0 ? (uint64_t)amount : 0);
	if (amount > 0 && (uint64_t)amount > UINT32_MAX)
		s = UINT32_MAX;
	w->sum[slot] = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
	return true;
}

void txp_window_small_totals(struct txp_window_small *w, int64_t width, int64_t now, uint64_t *count, int64_t *sum)
{
	uint64_t c = 0, s = 0;

	window_small_advance(w, now / width);
	for (unsigned i = 0; i < TXP_WINDOW_SLOTS; i++) {
		c += w->count[i];
		s += w->sum[i];
	}
	*count = c;
	*sum = (int64_t)s;
}

#define NIL UINT32_MAX

struct entry {
	uint64_t hash;
	int64_t last_seen;
	uint32_t prev, next; /* LRU list: prev is more recent */
	                     /* payload follows, 8-byte aligned */
};

/*
 * The index is read before it is written: a lookup probes, and an insert
 * then fills the empty slot the probe found.  The first read of a page no
 * one has touched maps the kernel's shared zero page, and the write that
 * follows must replace that mapping: a second fault, and a TLB shootdown
 * (an IPI to every CPU the daemon's threads ran on).  Keys land at random
 * places in the index, so under a load of new customers nearly every insert
 * paid both, in turns of the event loop of 4 ms and more.  So each block of
 * the index is touched first by a write, of the zero it still holds: one
 * fault, no shootdown, and still no memory for blocks no key has reached.
 * A block is 4 KiB, the smallest page size; a bit per block says it has
 * been written.
 */
#define INDEX_BLOCK_SLOTS (4096 / sizeof(uint32_t))

struct txp_keytab {
	uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES];
	size_t max_keys, used, stride, payload_size;
	uint32_t *index;   /* entry number + 1; 0 is empty */
	uint64_t *written; /* a bit per index block: touched (see above) */
	size_t mask;
	unsigned char *entries;
	uint32_t lru_head, lru_tail; /* most and least recently seen */
	uint64_t overflows, evictions;
};

static struct entry *entry_at(const struct txp_keytab *kt, uint32_t i)
{
	return (struct entry *)(void *)(kt->entries + (size_t)i * kt->stride);
}

static void *payload_of(struct entry *e)
{
	return (unsigned char *)e + sizeof(struct entry);
}

/* Words of the index's written-block bitmap. */
static size_t written_words(const struct txp_keytab *kt)
{
	size_t blocks = (kt->mask + 1 + INDEX_BLOCK_SLOTS - 1) / INDEX_BLOCK_SLOTS;

	return (blocks + 63) / 64;
}

/*
 * `len` bytes of zeroed, lazily backed memory, or NULL.  Backed by 2 MB
 * transparent huge pages where the kernel offers them (Debian's default,
 * transparent_hugepage = madvise; advice only, ignored without THP): keys
 * land at random in the index, so with 4 KB pages nearly every new key of a
 * fresh daemon costs a page fault in it, and each new entry one per page of
 * entries.  Such a fault cost about 18 us on a 2-vCPU VM whose page tables
 * go through its hypervisor (bench/txpprobe prints the cost), which halved a
 * freshly started daemon's throughput at 5 million customers until every
 * page was touched.
 * The price: an index is resident in full after the first few thousand keys
 * (its 4 bytes a slot, txpiped.ini(5)); entries still grow with the keys, in
 * 2 MB steps.
 */
static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, len, MADV_HUGEPAGE);
#endif
	return p;
}

struct txp_keytab *txp_keytab_create(size_t max_keys, size_t payload_size,
                                     const uint8_t hash_key[TXP_KEYTAB_HASH_KEY_BYTES])
{
	struct txp_keytab *kt;
	size_t cap = 2;

	if (max_keys == 0 || max_keys > (size_t)1 << 30)
		return NULL;
	while (cap < max_keys * 2)
		cap *= 2;
	kt = calloc(1, sizeof(*kt));
	if (kt == NULL)
		goto err;
	memcpy(kt->hash_key, hash_key, TXP_KEYTAB_HASH_KEY_BYTES);
	kt->max_keys = max_keys;
	kt->payload_size = payload_size;
	kt->stride = (sizeof(struct entry) + payload_size + 7) & ~(size_t)7;
	kt->mask = cap - 1;
	kt->lru_head = kt->lru_tail = NIL;
	/* Both arrays are anonymous mappings of their own: zero pages that
	 * cost nothing until a key touches them, so a table sized for the
	 * host's whole day (max_tracked_keys = 0) has its entries resident
	 * only as far as keys have arrived (the index, touched at random, is
	 * resident after the first keys: map_zeroed).  MAP_NORESERVE: the kernel's heuristic overcommit
	 * does not count a reservation that may never be used in full.  (Not
	 * malloc: a sanitizer's allocator would touch the shadow of all of it
	 * at start.) */
	kt->written = calloc(written_words(kt), sizeof(kt->written[0]));
	if (kt->written == NULL)
		goto err_after_kt;
	kt->index = map_zeroed(cap * sizeof(kt->index[0]));
	if (kt->index == NULL)
		goto err_after_written;
	kt->entries = map_zeroed(max_keys * kt->stride);
	if (kt->entries == NULL)
		goto err_after_index;
	return kt;

err_after_index:
	munmap(kt->index, (kt->mask + 1) * sizeof(kt->index[0]));
err_after_written:
	free(kt->written);
err_after_kt:
	free(kt);
err:
	return NULL;
}

void txp_keytab_destroy(struct txp_keytab *kt)
{
	if (kt == NULL)
		return;
	sodium_memzero(kt->hash_key, sizeof(kt->hash_key));
	munmap(kt->entries, kt->max_keys * kt->stride);
	munmap(kt->index, (kt->mask + 1) * sizeof(kt->index[0]));
	free(kt->written);
	free(kt);
}

uint64_t txp_keytab_hash(const struct txp_keytab *kt, const char *key)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, (const unsigned char *)key, strlen(key), kt->hash_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

/* Index slot `i`, its block first touched by a write (see struct txp_keytab). */
static uint32_t index_slot(struct txp_keytab *kt, size_t i)
{
	size_t b = i / INDEX_BLOCK_SLOTS;
	uint64_t bit = UINT64_C(1) << (b % 64);

	if ((kt->written[b / 64] & bit) == 0) {
		/* Never written, so all zero: store the zero it holds. */
		*(volatile uint32_t *)&kt->index[i] = 0;
		kt->written[b / 64] |= bit;
	}
	return kt->index[i];
}

/* Index position of `hash`, or the empty slot where it would go. */
static size_t index_find(struct txp_keytab *kt, uint64_t hash, bool *found)
{
	size_t i = (size_t)hash & kt->mask;

	while (index_slot(kt, i) != 0) {
		if (entry_at(kt, kt->index[i] - 1)->hash == hash) {
			*found = true;
			return i;
		}
		i = (i + 1) & kt->mask;
	}
	*found = false;
	return i;
}

/* Removes index slot `i` and shifts back the entries of its run that would
 * otherwise become unreachable (Knuth's Algorithm R for linear probing). */
static void index_remove(struct txp_keytab *kt, size_t i)
{
	size_t j = i;

	kt->index[i] = 0;
	for (;;) {
		size_t k;

		j = (j + 1) & kt->mask;
		if (index_slot(kt, j) == 0)
			return;
		k = (size_t)entry_at(kt, kt->index[j] - 1)->hash & kt->mask;
		/* The entry at j may move to i unless its home k lies
		 * cyclically in (i, j]. */
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		kt->index[i] = kt->index[j];
		kt->index[j] = 0;
		i = j;
	}
}

static void lru_unlink(struct txp_keytab *kt, struct entry *e)
{
	if (e->prev != NIL)
		entry_at(kt, e->prev)->next = e->next;
	else
		kt->lru_head = e->next;
	if (e->next != NIL)
		entry_at(kt, e->next)->prev = e->prev;
	else
		kt->lru_tail = e->prev;
}

static void lru_push_head(struct txp_keytab *kt, uint32_t n, struct entry *e)
{
	e->prev = NIL;
	e->next = kt->lru_head;
	if (kt->lru_head != NIL)
		entry_at(kt, kt->lru_head)->prev = n;
	kt->lru_head = n;
	if (kt->lru_tail == NIL)
		kt->lru_tail = n;
}

static bool expired(const struct entry *e, int64_t now, int64_t ttl_ms)
{
	return now - e->last_seen >= ttl_ms;
}

void *txp_keytab_get(struct txp_keytab *kt, uint64_t hash, int64_t now, int64_t ttl_ms, bool *fresh)
{
	bool found;
	size_t pos = index_find(kt, hash, &found);
	struct entry *e;
	uint32_t n;

	if (found) {
		n = kt->index[pos] - 1;
		e = entry_at(kt, n);
		*fresh = expired(e, now, ttl_ms);
		if (*fresh)
			memset(payload_of(e), 0, kt->payload_size);
		if (now > e->last_seen)
			e->last_seen = now;
		if (kt->lru_head != n) {
			lru_unlink(kt, e);
			lru_push_head(kt, n, e);
		}
		return payload_of(e);
	}
	if (kt->used < kt->max_keys) {
		n = (uint32_t)kt->used++;
	} else {
		/* Full: only the least recently seen entry can be expired. */
		n = kt->lru_tail;
		e = entry_at(kt, n);
		if (!expired(e, now, ttl_ms)) {
			kt->overflows++;
			return NULL;
		}
		bool present;
		index_remove(kt, index_find(kt, e->hash, &present));
		lru_unlink(kt, e);
		kt->evictions++;
		/* Removal may have shifted the run `pos` was in. */
		pos = index_find(kt, hash, &found);
	}
	e = entry_at(kt, n);
	e->hash = hash;
	e->last_seen = now;
	memset(payload_of(e), 0, kt->payload_size);
	kt->index[pos] = n + 1;
	lru_push_head(kt, n, e);
	*fresh = true;
	return payload_of(e);
}

void *txp_keytab_peek(struct txp_keytab *kt, uint64_t hash)
{
	bool found;
	size_t pos = index_find(kt, hash, &found);

	return found ? payload_of(entry_at(kt, kt->index[pos] - 1)) : NULL;
}

void txp_keytab_stats(const struct txp_keytab *kt, struct txp_keytab_stats *out)
{
	out->used = kt->used;
	out->max_keys = kt->max_keys;
	out->overflows = kt->overflows;
	out->evictions = kt->evictions;
	out->bytes = sizeof(*kt) + written_words(kt) * sizeof(kt->written[0]) + (kt->mask + 1) * sizeof(kt->index[0]) +
	             kt->max_keys * kt->stride;
}

size_t txp_keytab_bytes_per_key(size_t payload_size)
{
	return ((sizeof(struct entry) + payload_size + 7) & ~(size_t)7) + 16;
}

uint64_t txp_state_auto_keys(uint64_t phys_bytes, unsigned shards, size_t bytes_per_key)
{
	uint64_t keys;

	if (shards == 0)
		shards = 1;
	if (bytes_per_key == 0)
		bytes_per_key = 1;
	keys = phys_bytes / 100 * TXP_STATE_MEMORY_PERCENT / shards / bytes_per_key;
	if (keys < TXP_STATE_AUTO_MIN_KEYS)
		keys = TXP_STATE_AUTO_MIN_KEYS;
	if (keys > (uint64_t)1 << 30)
		keys = (uint64_t)1 << 30;
	return keys;
}
