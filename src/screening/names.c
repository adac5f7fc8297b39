/* names.c: sanctions name screening: the keyed index (building, freeing, sizes) and the screening entry point. */
#include "txpipe/names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names_int.h"

/* The design is described in names.h. */

/* ---- Building ---------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap > 0 ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int pool_add(struct txp_names *ix, const char *s, size_t n, uint32_t *off)
{
	if (grow((void **)&ix->pool, &ix->pool_cap, ix->pool_len + n + 1, 1) < 0)
		return -ENOMEM;
	*off = (uint32_t)ix->pool_len;
	memcpy(ix->pool + ix->pool_len, s, n);
	ix->pool[ix->pool_len + n] = '\0';
	ix->pool_len += n + 1;
	return 0;
}

int names__add_entry(struct txp_names *ix, unsigned list, const char *id, size_t idlen)
{
	struct entry_rec *e;

	if (grow((void **)&ix->entries, &ix->cap_entries, ix->nentries + 1, sizeof(*ix->entries)) < 0)
		return -ENOMEM;
	e = &ix->entries[ix->nentries];
	e->list = list;
	if (pool_add(ix, id, idlen, &e->id_off) < 0)
		return -ENOMEM;
	ix->nentries++;
	return 0;
}

/* Bit c - 'a' for each letter, bit 26 + d % 6 for digit d. */
uint32_t names__letter_mask(const char *w, size_t n)
{
	uint32_t m = 0;

	for (size_t i = 0; i < n; i++)
		m |= w[i] >= 'a' ? 1u << (w[i] - 'a') : 1u << (26 + (w[i] - '0') % 6);
	return m;
}

void names__letter_levels(const char *w, size_t n, uint32_t lv[3])
{
	lv[0] = lv[1] = lv[2] = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t b = names__letter_mask(w + i, 1);
		/* The first level it is not yet on. */
		uint32_t *at = !(lv[0] & b) ? &lv[0] : !(lv[1] & b) ? &lv[1] : &lv[2];
		*at |= b;
	}
}

static int intern_rehash(struct txp_names *ix)
{
	size_t size = ix->intern != NULL ? (ix->intern_mask + 1) * 2 : 1024;
	uint32_t *t = calloc(size, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	for (uint32_t id = 0; id < ix->nutok; id++) {
		size_t h = names__key_hash(ix->pool + ix->utok_off[id], ix->utok_len[id]) & (size - 1);
		while (t[h] != 0)
			h = (h + 1) & (size - 1);
		t[h] = id + 1;
	}
	free(ix->intern);
	ix->intern = t;
	ix->intern_mask = size - 1;
	return 0;
}

/* The id of the distinct token w[0, n), added when new. */
static int intern(struct txp_names *ix, const char *w, size_t n, uint32_t *id)
{
	size_t h;

	if ((ix->intern == NULL || ix->nutok * 2 >= ix->intern_mask) && intern_rehash(ix) < 0)
		return -ENOMEM;
	for (h = names__key_hash(w, n) & ix->intern_mask; ix->intern[h] != 0; h = (h + 1) & ix->intern_mask) {
		uint32_t i = ix->intern[h] - 1;
		if (ix->utok_len[i] == n && memcmp(ix->pool + ix->utok_off[i], w, n) == 0) {
			*id = i;
			return 0;
		}
	}
	if (grow((void **)&ix->utok_off, &ix->cap_utok, ix->nutok + 1, sizeof(*ix->utok_off)) < 0 ||
	    grow((void **)&ix->utok_len, &ix->cap_utok_len, ix->nutok + 1, sizeof(*ix->utok_len)) < 0 ||
	    grow((void **)&ix->utok_mask, &ix->cap_utok_mask, ix->nutok + 1, sizeof(*ix->utok_mask)) < 0 ||
	    grow((void **)&ix->utok_first, &ix->cap_utok_first, ix->nutok + 1, sizeof(*ix->utok_first)) < 0 ||
	    pool_add(ix, w, n, &ix->utok_off[ix->nutok]) < 0)
		return -ENOMEM;
	ix->utok_len[ix->nutok] = (uint8_t)n;
	ix->utok_mask[ix->nutok] = names__letter_mask(w, n);
	ix->utok_first[ix->nutok] = w[0];
	*id = (uint32_t)ix->nutok++;
	ix->intern[h] = *id + 1;
	if (n >= 2) {
		/* Initials are no key: every name has one. */
		uint64_t keys[TOKEN_MAX + 1];
		int nk = names__token_keys(w, n, keys);
		if (grow((void **)&ix->pairs, &ix->cap_pairs, ix->npairs + (size_t)nk, sizeof(*ix->pairs)) < 0)
			return -ENOMEM;
		for (int k = 0; k < nk; k++) {
			ix->pairs[ix->npairs].h = keys[k];
			ix->pairs[ix->npairs++].name = *id;
		}
	}
	return 0;
}

/* Adds a name of the last entry; a name that normalises to nothing is
 * skipped (it could only match everything or nothing). */
int names__add_name(struct txp_names *ix, const char *name, size_t len, int latin1)
{
	struct toks t;
	struct name_rec *nr;

	names__tokenize(name, len, latin1, &t);
	if (t.n == 0)
		return 0;
	if (grow((void **)&ix->names, &ix->cap_names, ix->nnames + 1, sizeof(*ix->names)) < 0 ||
	    grow((void **)&ix->letters, &ix->cap_letters, ix->nnames + 1, sizeof(*ix->letters)) < 0 ||
	    grow((void **)&ix->ntoks, &ix->cap_tok, ix->ntok + (size_t)t.n, sizeof(*ix->ntoks)) < 0)
		return -ENOMEM;
	nr = &ix->names[ix->nnames];
	nr->entry = (uint32_t)(ix->nentries - 1);
	nr->tok = (uint32_t)ix->ntok;
	nr->ntok = (uint8_t)t.n;
	nr->nfull = 0;
	nr->dup = 0;
	ix->letters[ix->nnames].first = ix->letters[ix->nnames].init = 0;
	for (int i = 0; i < t.n; i++) {
		uint32_t id;
		if (intern(ix, names__tok(&t, i), t.len[i], &id) < 0)
			return -ENOMEM;
		for (int j = 0; j < i; j++)
			if (ix->ntoks[nr->tok + (uint32_t)j] == id)
				nr->dup = 1;
		ix->ntoks[ix->ntok++] = id;
		ix->letters[ix->nnames].first |= names__letter_mask(names__tok(&t, i), 1);
		if (t.len[i] >= 2)
			nr->nfull++;
		else
			ix->letters[ix->nnames].init |= names__letter_mask(names__tok(&t, i), 1);
	}
	ix->shapes[nr->nfull][nr->ntok - nr->nfull] = true;
	ix->nnames++;
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* Sorts the pairs into postings and the key table; frees the pairs. */
int names__build_table(struct txp_names *ix)
{
	size_t nkeys = 0, size = 16;
	struct slot *cur = NULL;
	uint32_t *fill;

	if (ix->npairs > 0)
		qsort(ix->pairs, ix->npairs, sizeof(*ix->pairs), pair_cmp);
	for (size_t i = 0; i < ix->npairs; i++)
		if (i == 0 || ix->pairs[i].h != ix->pairs[i - 1].h)
			nkeys++;
	while (size < nkeys * 2)
		size *= 2;
	ix->table = calloc(size, sizeof(*ix->table));
	ix->post = malloc((ix->npairs > 0 ? ix->npairs : 1) * sizeof(*ix->post));
	if (ix->table == NULL || ix->post == NULL)
		return -ENOMEM;
	ix->mask = size - 1;
	/* Sorted by key, each key's names are consecutive: one slot each,
	 * pointing at its run of postings. */
	for (size_t i = 0; i < ix->npairs; i++) {
		const struct pair *p = &ix->pairs[i];
		if (i > 0 && p->h == ix->pairs[i - 1].h && p->name == ix->pairs[i - 1].name)
			continue; /* a name holding the key twice counts once */
		if (i == 0 || p->h != ix->pairs[i - 1].h) {
			size_t s = p->h & ix->mask;
			while (ix->table[s].h != 0)
				s = (s + 1) & ix->mask;
			cur = &ix->table[s];
			cur->h = p->h;
			cur->off = (uint32_t)ix->npost;
		}
		{
			struct post_rec *pr = &ix->post[ix->npost++];
			uint32_t lv[3];
			size_t len = ix->utok_len[p->name];

			memset(pr, 0, sizeof(*pr));
			pr->id = p->name;
			names__letter_levels(ix->pool + ix->utok_off[p->name], len, lv);
			pr->lv[0] = lv[0];
			pr->lv[1] = lv[1];
			pr->len = (uint8_t)len;
			memcpy(pr->pre, ix->pool + ix->utok_off[p->name], len < 3 ? len : 3);
		}
		cur->n++;
	}
	/* Token -> names, by counting: names in index order, each once. */
	ix->tn_off = calloc(ix->nutok + 1, sizeof(*ix->tn_off));
	ix->tn_init = malloc((ix->nutok > 0 ? ix->nutok : 1) * sizeof(*ix->tn_init));
	ix->tn_mid = malloc((ix->nutok > 0 ? ix->nutok : 1) * sizeof(*ix->tn_mid));
	ix->tn = malloc((ix->ntok > 0 ? ix->ntok : 1) * sizeof(*ix->tn));
	fill = calloc(ix->nutok + 1, sizeof(*fill));
	if (ix->tn_off == NULL || ix->tn_init == NULL || ix->tn_mid == NULL || ix->tn == NULL || fill == NULL) {
		free(fill);
		return -ENOMEM;
	}
	/* Each run holds its names by class (see names__class): those of two
	 * or more full tokens and no initial, then those with initials, then
	 * those of one full token (see txp_names_screen). */
	for (int pass = 0; pass < 1 + NAME_CLASSES; pass++) {
		if (pass == 2)
			for (uint32_t id = 0; id < ix->nutok; id++)
				ix->tn_init[id] = ix->tn_off[id] + fill[id];
		if (pass == 3)
			for (uint32_t id = 0; id < ix->nutok; id++)
				ix->tn_mid[id] = ix->tn_off[id] + fill[id];
		for (uint32_t n = 0; n < ix->nnames; n++) {
			const struct name_rec *nr = &ix->names[n];
			if (pass > 0 && names__class(nr) != pass - 1)
				continue;
			for (uint32_t j = 0; j < nr->ntok; j++) {
				uint32_t id = ix->ntoks[nr->tok + j], k;
				for (k = 0; k < j && ix->ntoks[nr->tok + k] != id; k++)
					;
				if (k < j)
					continue; /* the token twice in one name */
				if (pass == 0)
					ix->tn_off[id + 1]++;
				else
					ix->tn[ix->tn_off[id] + fill[id]++] = n;
			}
		}
		if (pass == 0)
			for (size_t i = 0; i < ix->nutok; i++)
				ix->tn_off[i + 1] += ix->tn_off[i];
	}
	free(fill);
	names__fill_align_need(ix);
	free(ix->pairs);
	ix->pairs = NULL;
	ix->npairs = ix->cap_pairs = 0;
	return 0;
}

static const struct slot *lookup(const struct txp_names *ix, uint64_t h)
{
	size_t s;

	if (ix->table == NULL)
		return NULL;
	for (s = h & ix->mask; ix->table[s].h != 0; s = (s + 1) & ix->mask)
		if (ix->table[s].h == h)
			return &ix->table[s];
	return NULL;
}

/* Shrinks the arrays to their length and counts the bytes. */
void names__finish(struct txp_names *ix)
{
	void *p;

	free(ix->intern);
	ix->intern = NULL;
	if (ix->nentries > 0 && (p = realloc(ix->entries, ix->nentries * sizeof(*ix->entries))) != NULL) {
		ix->entries = p;
		ix->cap_entries = ix->nentries;
	}
	if (ix->nnames > 0 && (p = realloc(ix->names, ix->nnames * sizeof(*ix->names))) != NULL) {
		ix->names = p;
		ix->cap_names = ix->nnames;
	}
	if (ix->nnames > 0 && (p = realloc(ix->letters, ix->nnames * sizeof(*ix->letters))) != NULL) {
		ix->letters = p;
		ix->cap_letters = ix->nnames;
	}
	if (ix->pool_len > 0 && (p = realloc(ix->pool, ix->pool_len)) != NULL) {
		ix->pool = p;
		ix->pool_cap = ix->pool_len;
	}
	ix->bytes = sizeof(*ix) + ix->cap_entries * sizeof(*ix->entries) + ix->cap_names * sizeof(*ix->names) +
	            ix->cap_letters * sizeof(*ix->letters) + ix->cap_tok * sizeof(*ix->ntoks) +
	            ix->cap_utok * sizeof(*ix->utok_off) + ix->cap_utok_len +
	            ix->cap_utok_mask * sizeof(*ix->utok_mask) + ix->cap_utok_first + ix->pool_cap +
	            (ix->table != NULL ? (ix->mask + 1) * sizeof(*ix->table) : 0) +
	            (ix->post != NULL ? (ix->npost > 0 ? ix->npost : 1) * sizeof(*ix->post) : 0) +
	            (ix->tn_off != NULL ? (ix->nutok + 1) * sizeof(*ix->tn_off) : 0) +
	            (ix->tn_init != NULL ? ix->nutok * sizeof(*ix->tn_init) : 0) +
	            (ix->tn_mid != NULL ? ix->nutok * sizeof(*ix->tn_mid) : 0) +
	            (ix->tn != NULL ? (ix->ntok > 0 ? ix->ntok : 1) * sizeof(*ix->tn) : 0);
}

void txp_names_free(struct txp_names *ix)
{
	if (ix == NULL)
		return;
	free(ix->entries);
	free(ix->names);
	free(ix->letters);
	free(ix->ntoks);
	free(ix->utok_off);
	free(ix->utok_len);
	free(ix->utok_mask);
	free(ix->utok_first);
	free(ix->intern);
	free(ix->pool);
	free(ix->table);
	free(ix->post);
	free(ix->tn_off);
	free(ix->tn_init);
	free(ix->tn_mid);
	free(ix->tn);
	free(ix->pairs);
	free(ix);
}

size_t txp_names_entries(const struct txp_names *ix)
{
	return ix != NULL ? ix->nentries : 0;
}

size_t txp_names_names(const struct txp_names *ix)
{
	return ix != NULL ? ix->nnames : 0;
}

size_t txp_names_memory(const struct txp_names *ix)
{
	return ix != NULL ? ix->bytes : 0;
}

/* ---- Screening ------------------------------------------------------------- */

/* The names a run must hold for a one-full-token query to compare its
 * token before walking them (a comparison costs a few names' walk). */
#define SIM_BEFORE_WALK 4
/* Likewise for a query of two or more full tokens, whose names are met
 * through its other tokens too. */
#define SIM_BEFORE_LONG_WALK 12

/* How far ahead of its use a name's state or record is prefetched: about
 * a cache miss's worth of the work on the names between. */
#define WALK_AHEAD 8
/* Bytes of a key's postings asked for ahead of the first pass. */
#define POST_AHEAD 256

struct txp_names_scratch *txp_names_scratch_new(void)
{
	return calloc(1, sizeof(struct txp_names_scratch));
}

void txp_names_scratch_free(struct txp_names_scratch *s)
{
	if (s == NULL)
		return;
	free(s->ns);
	free(s->cand);
	free(s->ts);
	free(s->qids);
	free(s->memo);
	free(s);
}

static void *scratch_array(void **p, size_t n, size_t size)
{
	void *q = calloc(n > 0 ? n : 1, size);

	if (q != NULL) {
		free(*p);
		*p = q;
	}
	return q;
}

/* Grows the scratch to an index of n names and ntok distinct tokens;
 * fresh arrays are zero, so every stamp is older than gen 1. */
static int scratch_fit(struct txp_names_scratch *s, size_t n, size_t ntok)
{
	if (n <= s->cap && ntok <= s->mcap)
		return 0;
	n = n > s->cap ? n : s->cap;
	ntok = ntok > s->mcap ? ntok : s->mcap;
	s->cap = s->mcap = 0;
	if (scratch_array((void **)&s->ns, n, sizeof(*s->ns)) == NULL ||
	    scratch_array((void **)&s->cand, n, sizeof(*s->cand)) == NULL ||
	    scratch_array((void **)&s->ts, ntok, sizeof(*s->ts)) == NULL ||
	    scratch_array((void **)&s->memo, ntok, sizeof(*s->memo)) == NULL)
		return -ENOMEM;
	s->cap = n;
	s->mcap = ntok;
	s->gen = 0;
	return 0;
}

/* Makes room for `n` entries in a growable scratch array. */
static int scratch_room(uint32_t **p, size_t *cap, size_t n)
{
	size_t c = *cap > 0 ? *cap : 1024;
	uint32_t *q;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	q = realloc(*p, c * sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

/*
 * The fewest query tokens (of qf full ones and qi initials) a listed name
 * of class `cls` (NAME_PLAIN or NAME_INITIALS) must share keys with for
 * names__bound() to reach `threshold`, over the shapes of the names of
 * that class listed: at least 2, and qf + 1 when none can.  By class,
 * because a listed initial may align with a query token by its first
 * letter alone, so the few names with initials (K. A. VALIEVA) reach the
 * threshold sharing keys with fewer of a long query's tokens than the
 * many without: apart, the query's commonest tokens are walked for those
 * few only.  Computed once per thread, index and threshold
 * (names__bound() is cheap, but this tries every shape).
 */
static unsigned mmin(const struct txp_names *ix, struct txp_names_scratch *s, int cls, int qf, int qi,
                     unsigned threshold)
{
	if (s->mmin_threshold != threshold || s->mmin_serial != ix->serial) {
		for (int c = NAME_PLAIN; c <= NAME_INITIALS; c++) {
			for (int f = 0; f <= MAX_TOKENS; f++) {
				for (int i = 0; f + i <= MAX_TOKENS; i++) {
					int m;
					for (m = 2; m <= f; m++) {
						bool reach = false;
						for (int lf = 2; lf <= MAX_TOKENS && !reach; lf++)
							for (int li = c == NAME_PLAIN ? 0 : 1;
							     lf + li <= MAX_TOKENS && (c != NAME_PLAIN || li == 0) &&
							     !reach;
							     li++)
								reach = ix->shapes[lf][li] &&
								        names__bound(f, i, lf, li, m) >= threshold;
						if (reach)
							break;
					}
					s->mmin[c][f][i] = (uint8_t)m;
				}
			}
		}
		s->mmin_threshold = threshold;
		s->mmin_serial = ix->serial;
	}
	return s->mmin[cls][qf][qi];
}

/* Writes into out the ids of the n postings at pr whose token may align
 * with query token mq (names__may_align_hw); returns how many: the loop
 * a screening spends most in.  Apart from txp_names_screen, whose many
 * live values would otherwise leave the query token's in memory,
 * reloaded on every posting; and twice, the second for the x86-64 CPUs
 * with a popcnt instruction (nearly all; the build targets any), which
 * counts the shared letters in one instruction instead of twelve. */
static inline size_t filter_loop(const struct post_rec *pr, uint32_t n, struct may_q mq, uint32_t *out, bool hw)
{
	size_t k = 0;

	for (uint32_t p = 0; p < n; p++) {
		out[k] = pr[p].id;
		k += names__may_align_hw(mq, &pr[p], hw);
	}
	return k;
}

__attribute__((noinline)) static size_t filter_run(const struct post_rec *pr, uint32_t n, struct may_q mq,
                                                   uint32_t *out)
{
	return filter_loop(pr, n, mq, out, false);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((noinline, target("popcnt"))) static size_t filter_run_popcnt(const struct post_rec *pr, uint32_t n,
                                                                            struct may_q mq, uint32_t *out)
{
	return filter_loop(pr, n, mq, out, true);
}
#define HAVE_POPCNT() __builtin_cpu_supports("popcnt")
#else
#define filter_run_popcnt filter_run
#define HAVE_POPCNT() 0
#endif

/* What txp_names_screen's candidates are weighed with: the query, its
 * shape and initials, the query tokens skipped for each class and the
 * threshold. */
struct cand_pass {
	const struct toks *q;
	unsigned threshold;
	int nq_full, nq_init;
	uint32_t qfirst;
	const uint32_t *qinit;
	unsigned skipc[2];
	int nskipped[2];
};

/*
 * Scores the candidates that can reach the floor, in the order met;
 * returns the best score and its name in *best_name (0 and 0 when none
 * scores).  Apart from txp_names_screen, whose many live values would
 * otherwise leave this loop's in memory, reloaded on every candidate.
 */
__attribute__((noinline)) static unsigned score_cands(const struct txp_names *ix, struct txp_names_scratch *s,
                                                      const struct cand_pass *cp, size_t ncand,
                                                      uint32_t *best_name)
{
	const struct toks *q = cp->q;
	const uint32_t *cand = s->cand, *qinit = cp->qinit;
	struct name_state *ns = s->ns;
	unsigned best = 0, threshold = cp->threshold, skipc[2] = { cp->skipc[0], cp->skipc[1] };
	int nq_full = cp->nq_full, nq_init = cp->nq_init, nskipped[2] = { cp->nskipped[0], cp->nskipped[1] };
	uint32_t qfirst = cp->qfirst;
	uint16_t gen = s->gen;
	uint32_t bn = 0;

	for (size_t c = 0; c < ncand; c++) {
		uint32_t n = cand[c];
		const struct name_rec *nr = &ix->names[n];

		/* The candidates' records lie at random: a few ahead are
		 * asked for, and the tokens of those whose record has come by
		 * then. */
		if (c + WALK_AHEAD < ncand)
			__builtin_prefetch(&ix->names[cand[c + WALK_AHEAD]]);
		if (c + WALK_AHEAD / 2 < ncand)
			__builtin_prefetch(&ix->ntoks[ix->names[cand[c + WALK_AHEAD / 2]].tok]);
		int need = nq_full < 2 || nr->nfull < 2 ? 1 : 2, cls = names__class(nr);
		unsigned sc, floor = best > threshold ? best : threshold;
		unsigned skipped = cls != NAME_SINGLE ? skipc[cls] : 0; /* query tokens not walked for it */
		int li = nr->ntok - nr->nfull, qa = nq_init, la = li;

		/* The initials on either side that can align at all: an
		 * initial aligns only with a token starting with its letter
		 * (the one full token of "M AND S TRADING" otherwise lets every
		 * TRADING name through the bound to be scored).  Two initials
		 * of one letter are one bit: then each is counted. */
		if (nq_init > 0)
			for (int k = qa = 0; k < nq_init; k++)
				qa += (qinit[k] & ix->letters[n].first) != 0;
		if (li > 0 && (int)names__bits64(ix->letters[n].init) == li)
			la = (int)names__bits64(ix->letters[n].init & qfirst);

		/* A repeated token is counted once however many query tokens
		 * it matches: the count bounds nothing for such a name. */
		if (nr->dup)
			ns[n].cnt = (uint8_t)nq_full;
		else if (skipped != 0 && ns[n].cnt + nskipped[cls] >= need &&
		         names__bound_reaches(nq_full, nq_init, nr->nfull, li, ns[n].cnt + nskipped[cls], qa, la,
		                              floor)) {
			/* The skipped query tokens it holds a token of, asked
			 * only of the names that could reach the floor; not
			 * through the token already counted (one listed token
			 * near two query tokens is one piece of evidence). */
			unsigned bits = 0;
			for (uint32_t j = 0; j < nr->ntok; j++)
				__builtin_prefetch(&s->ts[ix->ntoks[nr->tok + j]]);
			for (uint32_t j = 0; j < nr->ntok; j++) {
				uint32_t id = ix->ntoks[nr->tok + j];
				/* The first pass marked, on each token a query
				 * token kept, that query token's bit. */
				if (id != ns[n].last_id && s->ts[id].gen == gen)
					bits |= s->ts[id].bits;
			}
			/* Only the tokens skipped for its class: the others were
			 * walked for it, and counted. */
			bits &= skipped;
			ns[n].cnt = (uint8_t)(ns[n].cnt + names__bits64(bits));
		}

		if (ns[n].cnt < need ||
		    !names__bound_reaches(nq_full, nq_init, nr->nfull, li, ns[n].cnt, qa, la, floor))
			continue;
		sc = names__score(q, ix, nr, s);
		if (sc > best || (sc == best && sc > 0 && n < bn)) {
			best = sc;
			bn = n;
		}
		if (best == 1000)
			break; /* nothing scores higher */
	}
	*best_name = bn;
	return best;
}

int txp_names_screen(const struct txp_names *ix, struct txp_names_scratch *s, const char *name, unsigned threshold,
                     struct txp_names_hit *hit)
{
	struct toks q;
	uint64_t qkeys[MAX_TOKENS][TOKEN_MAX + 1]; /* each query token's keys */
	const struct slot *qslot[MAX_TOKENS][TOKEN_MAX + 1];
	int qnk[MAX_TOKENS];
	int qsame[MAX_TOKENS]; /* an earlier query token spelled alike, or -1 */
	size_t ncand = 0, len;
	uint32_t cost[MAX_TOKENS] = { 0 };
	size_t qstart[MAX_TOKENS + 1], nqids = 0;
	unsigned skipq = 0;           /* query tokens whose names of two or more full tokens are not all walked */
	unsigned skipc[2] = { 0, 0 }; /* of those, the ones whose names of class NAME_PLAIN, NAME_INITIALS are not */
	int nq_full = 0, nskipped[2];
	unsigned best = 0;
	uint32_t best_name = 0, *cand;
	uint16_t gen;
	const uint32_t *tn;
	struct name_state *ns;
	uint32_t qfirst = 0, qinit[MAX_TOKENS]; /* letters the query's tokens, its initials start with */
	int nq_init = 0;
	bool popcnt = HAVE_POPCNT();

	if (ix == NULL || ix->nnames == 0 || name == NULL)
		return 0;
	len = strnlen(name, TXP_NAME_MAX * 4);
	names__tokenize(name, len, 0, &q);
	for (int i = 0; i < q.n; i++) {
		q.mask[i] = names__letter_mask(names__tok(&q, i), q.len[i]);
		names__letter_levels(names__tok(&q, i), q.len[i], q.lv[i]);
		qfirst |= names__letter_mask(names__tok(&q, i), 1);
		if (q.len[i] >= 2)
			nq_full++;
		else
			qinit[nq_init++] = q.mask[i];
	}
	if (nq_full == 0)
		return 0;
	if (scratch_fit(s, ix->nnames, ix->nutok) < 0)
		return -ENOMEM;
	if (++s->gen == 0) {
		memset(s->ns, 0, s->cap * sizeof(*s->ns));
		memset(s->ts, 0, s->mcap * sizeof(*s->ts));
		memset(s->memo, 0, s->mcap * sizeof(*s->memo));
		s->gen = 1;
	}
	/* In locals: the stores into the state arrays could alias them. */
	gen = s->gen;
	ns = s->ns;
	cand = s->cand;
	tn = ix->tn;
	/*
	 * Candidates: the names holding a distinct token that shares a key
	 * with a query token, and whose letters, length and prefix as the
	 * posting holds them can reach PAIR_FLOOR with it, count that query
	 * token once.  Jaro-Winkler itself is computed only for the names
	 * that pass the counts (computing it for every such token costs more
	 * than walking their few names).  A name of two or more full tokens must share keys with two
	 * query tokens, so it is always met through the query's other tokens:
	 * the names of the commonest query token (Mohammed: thousands) are
	 * not walked, only its names of one full token; whether a candidate
	 * holds it is checked on the candidate's own tokens.  The first pass
	 * marks the tokens each query token meets and counts their names.
	 */
	/* The slots of every key first, then their postings, prefetched: a
	 * screening meets the table (megabytes) and the postings at random,
	 * each a cache miss that costs as much as the work on it, and apart
	 * they are waited for together instead of one after another. */
	for (int i = 0; i < q.n; i++) {
		/* A token given twice (Ahmad ... AL-AHMAD, FEDERAL ...
		 * FEDERAL) meets the same listed tokens: its keys are not
		 * looked up again (below). */
		qsame[i] = -1;
		for (int j = 0; j < i && qsame[i] < 0; j++)
			if (q.len[j] == q.len[i] && memcmp(names__tok(&q, j), names__tok(&q, i), q.len[i]) == 0)
				qsame[i] = j;
		qnk[i] = q.len[i] >= 2 && qsame[i] < 0 ? names__token_keys(names__tok(&q, i), q.len[i], qkeys[i]) : 0;
		for (int k = 0; k < qnk[i]; k++)
			__builtin_prefetch(&ix->table[qkeys[i][k] & ix->mask]);
	}
	for (int i = 0; i < q.n; i++)
		for (int k = 0; k < qnk[i]; k++) {
			qslot[i][k] = lookup(ix, qkeys[i][k]);
			if (qslot[i][k] != NULL) {
				/* A key's postings are read in order; a run of a
				 * few lines is asked for whole (POST_AHEAD at most). */
				const char *p0 = (const char *)&ix->post[qslot[i][k]->off];
				const char *p1 = (const char *)&ix->post[qslot[i][k]->off + qslot[i][k]->n];
				for (const char *p = p0; p < p1 && p < p0 + POST_AHEAD; p += 64)
					__builtin_prefetch(p);
			}
		}
	for (int i = 0; i < q.n; i++) {
		size_t kept;
		struct may_q mq = names__may_q(ix, &q, i);

		qstart[i] = nqids;
		if (qsame[i] >= 0 && q.len[i] >= 2) {
			/* The tokens the earlier one kept, in the same order:
			 * its postings, filtered and deduplicated alike (a query
			 * of two full tokens or more compares none of them
			 * first), would give the same list. */
			int j = qsame[i];
			if (scratch_room(&s->qids, &s->qids_cap, nqids + (qstart[j + 1] - qstart[j])) < 0)
				return -ENOMEM;
			for (size_t x = qstart[j]; x < qstart[j + 1]; x++) {
				s->ts[s->qids[x]].bits |= (uint16_t)(1u << i);
				s->qids[nqids++] = s->qids[x];
			}
			cost[i] = cost[j];
			continue;
		}
		/* Two passes: the postings that can align, read in order,
		 * then their tokens' states and runs, which lie at random and
		 * are asked for a few ahead (one after another they are
		 * waited for one by one). */
		for (int k = 0; k < qnk[i]; k++) {
			const struct slot *sl = qslot[i][k];
			if (sl == NULL)
				continue;
			if (scratch_room(&s->qids, &s->qids_cap, nqids + sl->n) < 0)
				return -ENOMEM;
			/* Only the tokens that can align with this one count,
			 * judged on the posting itself: most met through a
			 * shared key are far apart (SCOTT meets every
			 * S-K-consonant token), and their state and names,
			 * walked, counted and dismissed one by one, each cost
			 * a cache miss or more.  A token left out has no key
			 * bit, so names__score() does not compare it either
			 * (it could not align). */
			nqids += (popcnt ? filter_run_popcnt : filter_run)(&ix->post[sl->off], sl->n, mq, s->qids + nqids);
		}
		kept = qstart[i];
		for (size_t x = qstart[i]; x < nqids; x++) {
			uint32_t id = s->qids[x];
			struct tok_state *ts = &s->ts[id];

			if (x + WALK_AHEAD < nqids) {
				__builtin_prefetch(&s->ts[s->qids[x + WALK_AHEAD]]);
				__builtin_prefetch(&ix->tn_off[s->qids[x + WALK_AHEAD]]);
			}
			if (ts->gen != gen) {
				ts->gen = gen;
				ts->bits = 0;
			}
			if (ts->bits & (1u << i))
				continue;
			ts->bits |= (uint16_t)(1u << i);
			/* With one full token, a name scores only when a token
			 * of it aligns with that one: the others' names are not
			 * walked (they would all be scored, the query's initials
			 * loosening every bound).  Comparing costs a few names'
			 * walk. */
			if (nq_full == 1 && ix->tn_off[id + 1] - ix->tn_off[id] >= SIM_BEFORE_WALK &&
			    names__sim(&q, i, ix, s, id) == 0)
				continue;
			s->qids[kept++] = id;
			cost[i] += ix->tn_off[id + 1] - ix->tn_off[id];
		}
		nqids = kept;
	}
	qstart[q.n] = nqids;
	/* A name of two or more full tokens sharing keys with m query tokens
	 * shares them with at least one of any nq_full - m + 1 of them: the
	 * m - 1 commonest are not walked for the names of its class. */
	if (nq_full >= 2) {
		int nskip[2], most;

		for (int c = NAME_PLAIN; c <= NAME_INITIALS; c++) {
			unsigned m = mmin(ix, s, c, nq_full, q.n - nq_full, threshold);
			nskip[c] = (int)m > nq_full ? nq_full : (int)m - 1;
		}
		most = nskip[NAME_PLAIN] > nskip[NAME_INITIALS] ? nskip[NAME_PLAIN] : nskip[NAME_INITIALS];
		for (int k = 0; k < most; k++) {
			int worst = -1;
			for (int i = 0; i < q.n; i++)
				if (q.len[i] >= 2 && !(skipq & (1u << i)) && (worst < 0 || cost[i] > cost[worst]))
					worst = i;
			skipq |= 1u << worst;
			for (int c = NAME_PLAIN; c <= NAME_INITIALS; c++)
				if (k < nskip[c])
					skipc[c] |= 1u << worst;
		}
	}
	nskipped[NAME_PLAIN] = __builtin_popcount(skipc[NAME_PLAIN]);
	nskipped[NAME_INITIALS] = __builtin_popcount(skipc[NAME_INITIALS]);
	for (int i = 0; i < q.n; i++) {
		for (size_t x = qstart[i]; x < qstart[i + 1]; x++) {
			uint32_t id = s->qids[x];
			/* The run's classes in turn, the skipped ones left out;
			 * the class bounds read only when needed (most tokens
			 * are walked whole or for NAME_SINGLE only). */
			bool sp = skipc[NAME_PLAIN] & (1u << i), si = skipc[NAME_INITIALS] & (1u << i);
			uint32_t range[2][2], end = ix->tn_off[id + 1];
			int nrange = 1;

			range[0][1] = end;
			if (!sp && !si) {
				range[0][0] = ix->tn_off[id];
			} else if (sp && si) {
				range[0][0] = ix->tn_mid[id];
			} else if (sp) {
				range[0][0] = ix->tn_init[id];
			} else {
				range[0][0] = ix->tn_off[id];
				range[0][1] = ix->tn_init[id];
				range[1][0] = ix->tn_mid[id];
				range[1][1] = end;
				nrange = 2;
			}
			/* A token met through a shared key whose letters could
			 * align but which does not (Jaro-Winkler under
			 * PAIR_FLOOR) is no evidence for its names, and their
			 * counts bound the score all the same without it: a
			 * long run is compared before it is walked. */
			if ((range[0][1] - range[0][0]) + (nrange > 1 ? range[1][1] - range[1][0] : 0) >=
			            SIM_BEFORE_LONG_WALK &&
			    names__sim(&q, i, ix, s, id) == 0)
				continue;
			for (int r = 0; r < nrange; r++) {
				for (uint32_t t = range[r][0]; t < range[r][1]; t++) {
					uint32_t n = tn[t];
					struct name_state *st = &ns[n];
					/* The names' states are met at random:
					 * a few ahead are asked for now. */
					if (t + WALK_AHEAD < range[r][1])
						__builtin_prefetch(&ns[tn[t + WALK_AHEAD]]);
					if (st->gen != gen) {
						st->gen = gen;
						st->cnt = 0;
						st->last = 0xff;
						cand[ncand++] = n;
					}
					/* One listed token sharing keys with two
					 * query tokens (George Green: both have the
					 * key of GRG) is one piece of evidence. */
					if (st->last != (uint8_t)i && !(st->cnt > 0 && st->last_id == id)) {
						st->last = (uint8_t)i;
						st->last_id = id;
						st->cnt++;
					}
				}
			}
		}
	}
	{
		struct cand_pass cp = { &q, threshold, nq_full, nq_init, qfirst, qinit,
		                        { skipc[NAME_PLAIN], skipc[NAME_INITIALS] },
		                        { nskipped[NAME_PLAIN], nskipped[NAME_INITIALS] } };
		best = score_cands(ix, s, &cp, ncand, &best_name);
	}
	if (best == 0 || best < threshold)
		return 0;
	{
		const struct entry_rec *e = &ix->entries[ix->names[best_name].entry];
		hit->list = ix->labels[e->list];
		hit->entry = ix->pool + e->id_off;
		hit->score = best > 1000 ? 1000 : best;
	}
	return 1;
}
