/* names_int.h: sanctions name screening internals shared by names.c, names_lists.c and names_match.c (not installed). */
#ifndef TXP_NAMES_INT_H
#define TXP_NAMES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "txpipe/names.h"

#define MAX_LISTS 8
#define MAX_TOKENS 16
#define TOKEN_MAX 32
#define LIST_NAME_MAX 1024         /* a listed name, bytes (OFAC's longest is ~350) */
#define LIST_FILE_MAX (256u << 20) /* 256 MiB: OFAC's sdn.csv is 4 MB */
#define PAIR_FLOOR 800             /* below this Jaro-Winkler, tokens are not aligned */
#define EXCUSE_FLOOR 950           /* a middle name is excused only when every other pair is this close */

struct name_rec {
	uint32_t entry; /* index into entries */
	uint32_t tok;   /* first token's index into ntoks */
	uint8_t ntok;
	uint8_t nfull; /* tokens of two or more characters */
	uint8_t dup;   /* a token appears twice (GOMEZ GOMEZ, Viviana) */
};

/* The letters (names__letter_mask) a listed name's tokens start with, and
 * its initials': which initials of a query can align with it, and which
 * of its own can (see names__bound_aligned).  Apart from name_rec, as only
 * a query or a name with initials reads them. */
struct name_letters {
	uint32_t first, init;
};

struct entry_rec {
	uint32_t id_off; /* into pool */
	uint32_t list;
};

struct slot {
	uint64_t h; /* 0: empty */
	uint32_t off, n;
};

/* A distinct token as a key's posting holds it: its id and enough of it to
 * dismiss most tokens met through a shared key that cannot align with the
 * query's token (their letters, length or prefix keep Jaro-Winkler under
 * PAIR_FLOOR) while reading the posting in order, without touching the
 * token's text, state or names (each a cache miss away). */
struct post_rec {
	uint32_t id;
	uint32_t lv[2]; /* symbols occurring at least once, twice (names__letter_levels) */
	uint8_t len;
	char pre[3]; /* its first three characters, NUL-padded; right after len */
};
_Static_assert(offsetof(struct post_rec, pre) == offsetof(struct post_rec, len) + 1, "len, pre adjacent");

struct txp_names {
	char labels[MAX_LISTS][TXP_NAMES_LABEL_MAX + 1];
	unsigned nlists;
	struct entry_rec *entries;
	size_t nentries, cap_entries;
	struct name_rec *names;
	size_t nnames, cap_names;
	struct name_letters *letters; /* by name */
	size_t cap_letters;
	/* Each name's tokens as ids of distinct tokens, so a query compares
	 * a token spelled alike in many names (Mohammed) once. */
	uint32_t *ntoks;
	size_t ntok, cap_tok;
	uint32_t *utok_off; /* distinct token -> its text in pool */
	uint8_t *utok_len;
	uint32_t *utok_mask; /* letters present (see names__letter_mask) */
	/* Its first character: all an initial's similarity with a token
	 * reads (names__score), one small array away, not the pool. */
	char *utok_first;
	size_t nutok, cap_utok, cap_utok_len, cap_utok_mask, cap_utok_first;
	uint32_t *intern; /* building only: id + 1 by hash of the text */
	size_t intern_mask;
	char *pool;
	size_t pool_len, pool_cap;
	struct slot *table; /* key -> run of distinct tokens in post */
	size_t mask;
	struct post_rec *post;
	size_t npost;
	/* Distinct token -> its run of names in tn, by class: [tn_off,
	 * tn_init) NAME_PLAIN, [tn_init, tn_mid) NAME_INITIALS, [tn_mid, next
	 * tn_off) NAME_SINGLE.  Apart, so that the first pass and a walk of
	 * a whole run read one small dense array (tn_off, nutok + 1). */
	uint32_t *tn_off, *tn_init, *tn_mid;
	uint32_t *tn;
	size_t bytes;
	uint64_t serial; /* unique per index built: keys the scratch's mmin table */
	/* The fewest matching characters two full tokens of lengths ql and ll
	 * with a common prefix of p (at most 4) need for Jaro-Winkler to
	 * reach PAIR_FLOOR: [ql][ll][p], TOKEN_MAX + 1 when none is enough. */
	uint8_t align_need[TOKEN_MAX + 1][TOKEN_MAX + 1][5];
	/* The shapes of the listed names: [full tokens][initials] present. */
	bool shapes[MAX_TOKENS + 1][MAX_TOKENS + 1];
	/* Building only: (key hash, distinct token) pairs, sorted into the table. */
	struct pair {
		uint64_t h;
		uint32_t name; /* the distinct token's id */
	} * pairs;
	size_t npairs, cap_pairs;
};

/* A query's similarities with each distinct listed token it meets are
 * computed once per screening (every query token at once). */
#define MEMO_Q MAX_TOKENS

/* Per-name and per-token state of one screening, each in one small cell
 * (8 and 4 bytes) so that meeting a name or a token costs one cache line,
 * not three: the lists are walked in random order and these arrays
 * outgrow L1 and L2, so the smaller the cells the fewer misses.  The
 * screening stamps are 16 bits: every 65,535 screenings the arrays are
 * cleared (txp_names_screen). */
struct name_state {
	uint16_t gen;     /* the screening that last met the name */
	uint8_t cnt;      /* query tokens it shares a key with */
	uint8_t last;     /* the last query token counted */
	uint32_t last_id; /* the listed token the last count came through */
};

struct tok_state {
	uint16_t gen;  /* the screening that last met the token */
	uint16_t bits; /* query tokens it shares a key with */
};

/* One distinct token's similarities with the query's tokens, touched only
 * when a candidate is scored. */
struct memo_row {
	uint16_t gen;   /* the screening that last cleared `valid` */
	uint16_t valid; /* query tokens whose cell is filled */
	uint16_t sim[MEMO_Q];
};

struct txp_names_scratch {
	size_t cap, mcap;
	uint16_t gen;
	struct name_state *ns;
	uint32_t *cand;
	struct tok_state *ts;
	struct memo_row *memo;
	uint32_t *qids; /* the distinct tokens each query token meets, in turn */
	size_t qids_cap;
	/* The fewest query tokens a name must share keys with to reach the
	 * threshold, by full tokens and initials of the query (see mmin()). */
	unsigned mmin_threshold;
	uint64_t mmin_serial;
	uint8_t mmin[2][MAX_TOKENS + 1][MAX_TOKENS + 1]; /* [NAME_PLAIN or NAME_INITIALS] */
};

/* A listed name's class, which decides where its names stand in each
 * token's run and which query tokens it must be met through. */
enum { NAME_PLAIN, NAME_INITIALS, NAME_SINGLE, NAME_CLASSES };

/* Two or more full tokens and no initial; two or more full tokens and an
 * initial or more; one full token. */
static inline int names__class(const struct name_rec *nr)
{
	return nr->nfull < 2 ? NAME_SINGLE : nr->ntok > nr->nfull ? NAME_INITIALS : NAME_PLAIN;
}

/* A name cut into tokens: token i is the string at buf + i * (TOKEN_MAX + 1). */
struct toks {
	char buf[MAX_TOKENS * (TOKEN_MAX + 1)];
	uint8_t len[MAX_TOKENS];
	uint32_t mask[MAX_TOKENS];   /* filled by txp_names_screen */
	uint32_t lv[MAX_TOKENS][3];  /* likewise (names__letter_levels) */
	int n;
};

/* Token i of t, NUL-terminated. */
static inline const char *names__tok(const struct toks *t, int i)
{
	return t->buf + (size_t)i * (TOKEN_MAX + 1);
}

/* ---- names_match.c: normalisation, keys, scoring ------------------------ */

/* Cuts name[0, len) into folded tokens in t ("LAST, First" turned round, stopwords dropped). */
void names__tokenize(const char *name, size_t len, int latin1, struct toks *t);
/* The hash of s[0, n) as an index key (never 0, the empty slot). */
uint64_t names__key_hash(const char *s, size_t n);
/* Fills keys with the hashed keys of token w[0, n); returns how many. */
int names__token_keys(const char *w, size_t n, uint64_t keys[TOKEN_MAX + 1]);
/* The similarity that aligns query token i of q with distinct token id:
 * 0, or PAIR_FLOOR to 1000; computed once per screening (s's memo). */
unsigned names__sim(const struct toks *q, int i, const struct txp_names *ix, struct txp_names_scratch *s, uint32_t id);
/* Fills ix->align_need. */
void names__fill_align_need(struct txp_names *ix);
/* Bits set in x (no popcnt instruction assumed: the build targets any
 * x86-64, where __builtin_popcountll is a library call). */
static inline unsigned names__bits64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Query token i as names__may_align() reads it: in locals, held in
 * registers across a key's postings (stores into the screening's arrays
 * could otherwise alias the query and reload it on every posting). */
struct may_q {
	const uint8_t (*need)[5]; /* ix->align_need[its length] */
	uint32_t lv[3];           /* its names__letter_levels */
	uint32_t pre;             /* its first three characters, little-endian */
	size_t len;
};

static inline struct may_q names__may_q(const struct txp_names *ix, const struct toks *q, int i)
{
	const unsigned char *qt = (const unsigned char *)names__tok(q, i);
	struct may_q mq = { ix->align_need[q->len[i]],
		            { q->lv[i][0], q->lv[i][1], q->lv[i][2] },
		            (uint32_t)qt[0] | (uint32_t)qt[1] << 8 | (uint32_t)qt[2] << 16,
		            q->len[i] };
	return mq;
}

/* Whether the query token mq (a full one) may align with the distinct
 * token of posting `pr`: false when an upper bound of their Jaro-
 * Winkler similarity is under PAIR_FLOOR.  Inline and without branches
 * but one: it runs on every posting a screening reads.  `hw`: counting
 * bits with __builtin_popcountll, for a caller compiled for the popcnt
 * instruction (see filter_run() in names.c). */
static inline bool names__may_align_hw(struct may_q mq, const struct post_rec *pr, bool hw)
{
	/* Its length and first three characters, little-endian: one load
	 * where the byte order allows (len and pre are adjacent). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t lp;
	memcpy(&lp, (const unsigned char *)pr + offsetof(struct post_rec, len), sizeof(lp));
#else
	const unsigned char *lt = (const unsigned char *)pr->pre;
	uint32_t lp = pr->len | (uint32_t)lt[0] << 8 | (uint32_t)lt[1] << 16 | (uint32_t)lt[2] << 24;
#endif
	size_t ll = lp & 0xff, p, lim = mq.len < ll ? mq.len : ll;
	/* A character matches one of its kind: at most the fewer of each
	 * symbol's occurrences match.  The posting knows its token's up to
	 * two; beyond that the query's count bounds it, so a symbol three
	 * times in the query and twice or more in the token bounds nothing
	 * (rare: MOHAMMED). */
	uint64_t both = (uint64_t)(mq.lv[0] & pr->lv[0]) << 32 | (mq.lv[1] & pr->lv[1]);
	size_t m = (hw ? (unsigned)__builtin_popcountll(both) : names__bits64(both)) +
	           ((mq.lv[2] & pr->lv[1]) != 0 ? TOKEN_MAX : 0);
	/* The common prefix as far as the posting holds it (three
	 * characters, the fourth assumed to agree), from the first
	 * differing byte. */
	uint32_t diff = mq.pre ^ lp >> 8;

	p = diff != 0 ? (size_t)__builtin_ctz(diff) / 8 : 3;
	p = p < lim ? p : lim;
	p += p == 3 && lim > 3;
	return m >= mq.need[ll][p];
}

/* names__may_align_hw() for any caller. */
static inline bool names__may_align_q(struct may_q mq, const struct post_rec *pr)
{
	return names__may_align_hw(mq, pr, false);
}

/* Whether query token i of q (a full one) may align with the distinct
 * token of posting `pr` (names__may_align_q). */
static inline bool names__may_align(const struct txp_names *ix, const struct toks *q, int i, const struct post_rec *pr)
{
	return names__may_align_q(names__may_q(ix, q, i), pr);
}

/* Scores query q against listed name nr of ix, in thousandths, using s's memo. */
unsigned names__score(const struct toks *q, const struct txp_names *ix, const struct name_rec *nr,
                      struct txp_names_scratch *s);
/* An upper bound of names__score() from token counts alone (see names_match.c). */
unsigned names__bound(int qf, int qi, int lf, int li, int shared);
/* The same with, of the qi and li initials, only qa and la able to align
 * (a token on the other side starts with their letter). */
unsigned names__bound_aligned(int qf, int qi, int lf, int li, int shared, int qa, int la);

/*
 * names__bound_aligned() as a fraction, 2 * m / total (0 when total is
 * not positive): aligned pairs weigh at most 2 * shared (two full
 * tokens) + qa (a query initial's) + la (a listed initial's, the query's
 * token full); a side loses a unit of weight per initial of the other
 * side aligned with one of its full tokens, so at most la (query side)
 * and qa (listed side), and one side at most an excused middle name.
 */
static inline void names__bound_parts(int qf, int qi, int lf, int li, int shared, int qa, int la, int *m_out,
                                      int *total_out)
{
	int wq = 2 * qf + qi, wl = 2 * lf + li;
	int m = 2 * shared + qa + la, dq, dl, total;

	m = m < wq ? m : wq;
	m = m < wl ? m : wl;
	dq = wq - la > m ? wq - la : m;
	dl = wl - qa > m ? wl - qa : m;
	total = dq + dl - (qf + qi >= 3 || lf + li >= 3 ? 2 : 0);
	total = total > 2 * m ? total : 2 * m;
	*m_out = m;
	*total_out = total;
}

/* Whether names__bound_aligned() >= floor, without its division: it is
 * asked of every candidate. */
static inline bool names__bound_reaches(int qf, int qi, int lf, int li, int shared, int qa, int la, unsigned floor)
{
	int m, total;

	names__bound_parts(qf, qi, lf, li, shared, qa, la, &m, &total);
	/* floor(2000 m / total) >= floor exactly when 2000 m >= floor * total. */
	return total > 0 ? 2000u * (unsigned)m >= floor * (unsigned)total : floor == 0;
}

/* ---- names.c: building the index ---------------------------------------- */

/* Appends an entry with id[0, idlen) under list `list`; 0 or -errno. */
int names__add_entry(struct txp_names *ix, unsigned list, const char *id, size_t idlen);
/* Bit c - 'a' for each letter of w[0, n), bit 26 + d % 6 for digit d. */
uint32_t names__letter_mask(const char *w, size_t n);
/* The symbols of names__letter_mask occurring in w[0, n) at least once,
 * twice and three times, in lv[0], lv[1], lv[2]: the characters two
 * tokens can match are at most popcount(a.lv[k] & b.lv[k]) summed (one of
 * a kind matches one of its kind), exactly so below three of a kind. */
void names__letter_levels(const char *w, size_t n, uint32_t lv[3]);
/* Adds a name to the last entry (skipped when it normalises to nothing); 0 or -errno. */
int names__add_name(struct txp_names *ix, const char *name, size_t len, int latin1);
/* Sorts the key pairs into postings and the key table, freeing the pairs; 0 or -errno. */
int names__build_table(struct txp_names *ix);
/* Shrinks the index's arrays to their length and counts its bytes. */
void names__finish(struct txp_names *ix);

#endif
