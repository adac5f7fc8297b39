/* dedup.c: recently decided transaction ids and their replies, in lock-striped hash tables. */
#include "txpipe/dedup.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/blake2b.h"
#include "txpipe/le.h"
#include "txpipe/log.h"

/* Stripes: a power of two, enough that a handful of workers and the loop
 * rarely want the same lock at once. */
#define STRIPES 64u

struct entry {
	struct entry *chain; /* next in the bucket */
	struct entry *newer; /* next in insertion order */
	uint64_t hash;
	int64_t ms;
	uint64_t seq;
	uint8_t status;
	uint8_t fp[TXP_FINGERPRINT_BYTES]; /* the first submission's content */
	uint32_t reply_len;
	char id[TXP_ID_MAX + 1];
	char reply[]; /* the duplicate's reply line */
};

struct stripe {
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t mask;
	struct entry *oldest, *newest;
	size_t n, cap;
};

struct txp_dedup {
	uint64_t window_ms;
	unsigned char key[crypto_shorthash_KEYBYTES];
	struct stripe stripes[STRIPES];
};

/* SipHash under a random key: producers choose the ids, so they must not
 * be able to aim them at one bucket. */
static uint64_t id_hash(const struct txp_dedup *d, const char *id)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h = 0;

	crypto_shorthash(out, (const unsigned char *)id, strlen(id), d->key);
	for (unsigned i = 0; i < sizeof(out); i++)
		h |= (uint64_t)out[i] << (8 * i);
	return h;
}

struct txp_dedup *txp_dedup_create(size_t max_entries, uint64_t window_ms)
{
	struct txp_dedup *d;
	size_t per = (max_entries + STRIPES - 1) / STRIPES, nb = 1;
	unsigned i;

	if (max_entries == 0 || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->window_ms = window_ms;
	randombytes_buf(d->key, sizeof(d->key));
	/* Load factor at most 1/2. */
	while (nb < per * 2)
		nb <<= 1;
	for (i = 0; i < STRIPES; i++) {
		struct stripe *s = &d->stripes[i];
		if (pthread_mutex_init(&s->mu, NULL) != 0)
			goto err;
		s->buckets = calloc(nb, sizeof(*s->buckets));
		if (s->buckets == NULL) {
			pthread_mutex_destroy(&s->mu);
			goto err;
		}
		s->mask = nb - 1;
		s->cap = per;
	}
	return d;

err:
	while (i-- > 0) {
		pthread_mutex_destroy(&d->stripes[i].mu);
		free(d->stripes[i].buckets);
	}
	free(d);
	return NULL;
}

void txp_dedup_destroy(struct txp_dedup *d)
{
	if (d == NULL)
		return;
	for (unsigned i = 0; i < STRIPES; i++) {
		struct stripe *s = &d->stripes[i];
		struct entry *e = s->oldest, *next;
		for (; e != NULL; e = next) {
			next = e->newer;
			free(e);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	sodium_memzero(d->key, sizeof(d->key));
	free(d);
}

static struct stripe *stripe_of(struct txp_dedup *d, uint64_t h)
{
	return &d->stripes[h & (STRIPES - 1)];
}

static struct entry **slot_of(struct stripe *s, uint64_t h)
{
	return &s->buckets[(h >> 6) & s->mask];
}

static bool expired(const struct txp_dedup *d, const struct entry *e, int64_t now_ms)
{
	return now_ms - e->ms > (int64_t)d->window_ms;
}

/* Drops the oldest entry; stripe lock held. */
static void evict_oldest(struct stripe *s)
{
	struct entry *e = s->oldest, **pp = slot_of(s, e->hash);

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	s->oldest = e->newer;
	if (s->oldest == NULL)
		s->newest = NULL;
	s->n--;
	free(e);
}

static struct entry *find(struct stripe *s, uint64_t h, const char *id)
{
	for (struct entry *e = *slot_of(s, h); e != NULL; e = e->chain)
		if (e->hash == h && strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static bool fp_known(const uint8_t fp[TXP_FINGERPRINT_BYTES])
{
	return !sodium_is_zero(fp, TXP_FINGERPRINT_BYTES);
}

/* Copies what a lookup returns; stripe lock held.  A resubmission whose
 * content differs is a conflict, and gets no reply to replay. */
static bool fill_hit(const struct entry *e, const uint8_t fp[TXP_FINGERPRINT_BYTES], struct txp_dedup_hit *hit)
{
	/* Not secret (keyed hashes), so no constant-time compare needed;
	 * unknown on either side (a record from before fingerprints) is
	 * taken as the same content, as it was before. */
	hit->conflict = fp_known(e->fp) && fp_known(fp) && memcmp(e->fp, fp, TXP_FINGERPRINT_BYTES) != 0;
	hit->status = (enum txp_status)e->status;
	hit->journal_seq = e->seq;
	hit->reply = NULL;
	hit->reply_len = 0;
	if (hit->conflict)
		return true;
	hit->reply = malloc(e->reply_len);
	if (hit->reply == NULL)
		return false;
	memcpy(hit->reply, e->reply, e->reply_len);
	hit->reply_len = e->reply_len;
	return true;
}

int txp_dedup_put(struct txp_dedup *d, const char *id, const uint8_t fp[TXP_FINGERPRINT_BYTES], enum txp_status status,
                  uint64_t journal_seq, const char *reply, size_t reply_len, int64_t now_ms, struct txp_dedup_hit *hit)
{
	static const char mark[] = "\"duplicate\":true,";
	uint64_t h = id_hash(d, id);
	struct stripe *s = stripe_of(d, h);
	struct entry *e, **slot;
	size_t idlen = strlen(id);
	int rc = 0;

	if (idlen > TXP_ID_MAX || reply_len < 2 || reply[0] != '{')
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	while (s->oldest != NULL && (s->n >= s->cap || expired(d, s->oldest, now_ms)))
		evict_oldest(s);
	e = find(s, h, id);
	if (e != NULL && !expired(d, e, now_ms)) {
		rc = hit == NULL || fill_hit(e, fp, hit) ? 1 : -ENOMEM;
		goto out;
	}
	/* An expired entry of the same id is left to age out: lookups skip it
	 * and the new one is found first (it heads the bucket). */
	e = malloc(sizeof(*e) + reply_len + sizeof(mark) - 1);
	if (e == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	e->hash = h;
	e->ms = now_ms;
	e->seq = journal_seq;
	e->status = (uint8_t)status;
	memcpy(e->fp, fp, TXP_FINGERPRINT_BYTES);
	memcpy(e->id, id, idlen + 1);
	/* The first reply with "duplicate":true as its first member. */
	e->reply[0] = '{';
	memcpy(e->reply + 1, mark, sizeof(mark) - 1);
	memcpy(e->reply + sizeof(mark), reply + 1, reply_len - 1);
	e->reply_len = (uint32_t)(reply_len + sizeof(mark) - 1);
	slot = slot_of(s, h);
	e->chain = *slot;
	*slot = e;
	e->newer = NULL;
	if (s->newest != NULL)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
	s->n++;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool txp_dedup_get(struct txp_dedup *d, const char *id, const uint8_t fp[TXP_FINGERPRINT_BYTES], int64_t now_ms,
                   struct txp_dedup_hit *hit)
{
	uint64_t h = id_hash(d, id);
	struct stripe *s = stripe_of(d, h);
	struct entry *e;
	bool found = false;

	pthread_mutex_lock(&s->mu);
	e = find(s, h, id);
	if (e != NULL && !expired(d, e, now_ms))
		found = fill_hit(e, fp, hit);
	pthread_mutex_unlock(&s->mu);
	return found;
}

void txp_dedup_forget(struct txp_dedup *d, const char *id, uint64_t journal_seq)
{
	uint64_t h = id_hash(d, id);
	struct stripe *s = stripe_of(d, h);
	struct entry *e;

	pthread_mutex_lock(&s->mu);
	e = find(s, h, id);
	/* Backdated far past any window rather than unlinked (the
	 * insertion order is a singly linked list): lookups skip it, a new
	 * put of the same id goes before it in the bucket, and it ages out
	 * in turn.  Half of INT64_MIN: now_ms minus it cannot overflow. */
	if (e != NULL && e->seq == journal_seq)
		e->ms = INT64_MIN / 2;
	pthread_mutex_unlock(&s->mu);
}

size_t txp_dedup_count(struct txp_dedup *d)
{
	size_t n = 0;

	for (unsigned i = 0; i < STRIPES; i++) {
		pthread_mutex_lock(&d->stripes[i].mu);
		n += d->stripes[i].n;
		pthread_mutex_unlock(&d->stripes[i].mu);
	}
	return n;
}

/* One length-prefixed string of the fingerprint, so that no two field
 * lists hash alike ("ab","c" and "a","bc"). */
static void fp_str(struct txp_blake2b *h, const char *s)
{
	size_t n = strnlen(s, 255);
	unsigned char len = (unsigned char)n;

	txp_blake2b_update(h, &len, 1);
	txp_blake2b_update(h, s, n);
}

void txp_dedup_fingerprint(const struct txp_blake2b_key *k, struct txp_txn *t)
{
	static const char label[] = "fingerprint";
	struct txp_blake2b h;
	uint8_t amount[8], digest[TXP_BLAKE2B_OUT_MAX];

	txp_le_put64(amount, (uint64_t)t->amount);
	txp_blake2b_start(&h, k);
	txp_blake2b_update(&h, label, sizeof(label)); /* with its NUL */
	txp_blake2b_update(&h, amount, sizeof(amount));
	fp_str(&h, t->currency);
	fp_str(&h, t->customer_key);
	fp_str(&h, t->merchant_id);
	fp_str(&h, t->card_token);
	fp_str(&h, t->merchant_country);
	fp_str(&h, t->customer_country);
	txp_blake2b_final(&h, digest);
	memcpy(t->fingerprint, digest, TXP_FINGERPRINT_BYTES);
	sodium_memzero(digest, sizeof(digest));
}

bool txp_dedup_check(struct txp_dedup *d, struct txp_txn *t)
{
	struct txp_dedup_hit hit;

	if (d == NULL || !t->has_id || !txp_dedup_get(d, t->transaction_id, t->fingerprint, t->received_ms, &hit))
		return false;
	t->duplicate = true;
	if (hit.conflict) {
		/* Replaying the first decision would answer for a transaction
		 * that was never screened, and storing this one would overwrite
		 * the first under the same key: neither, an error instead. */
		t->scored = false;
		t->n_reasons = 0;
		t->alerts = 0;
		t->journal_seq = 0;
		free(t->reply);
		t->reply = NULL;
		t->reply_len = 0;
		txp_txn_fail(t, TXP_STATUS_REJECTED, "duplicate_id_conflict", "transaction_id",
		             "transaction_id was used recently by a transaction with a different amount, currency, "
		             "parties or countries; a resubmission must repeat them, a new transaction needs a "
		             "new transaction_id");
		if (txp_txn_build_reply(t) < 0)
			txp_log_err("reply_build_failed", "reason=out_of_memory");
		return true;
	}
	free(t->reply);
	t->reply = hit.reply;
	t->reply_len = (uint32_t)hit.reply_len;
	t->status = hit.status;
	t->journal_seq = hit.journal_seq;
	return true;
}
