/* names.c: sanctions name screening: OFAC and in-house list parsing, normalisation, keyed index, matching. */
#include "txpipe/names.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txpipe/file.h"

/* The design is described in names.h. */

#define MAX_LISTS 8
#define MAX_TOKENS 16
#define TOKEN_MAX 32
#define LIST_NAME_MAX 1024          /* a listed name, bytes (OFAC's longest is ~350) */
#define LIST_FILE_MAX (256u << 20)  /* 256 MiB: OFAC's sdn.csv is 4 MB */
#define PAIR_FLOOR 800              /* below this Jaro-Winkler, tokens are not aligned */
#define EXCUSE_FLOOR 950            /* a middle name is excused only when every other pair is this close */

struct name_rec {
	uint32_t entry; /* index into entries */
	uint32_t tok;   /* first token's index into ntoks */
	uint8_t ntok;
	uint8_t nfull;  /* tokens of two or more characters */
	uint8_t dup;    /* a token appears twice (GOMEZ GOMEZ, Viviana) */
};

struct entry_rec {
	uint32_t id_off; /* into pool */
	uint32_t list;
};

struct slot {
	uint64_t h; /* 0: empty */
	uint32_t off, n;
};

struct txp_names {
	char labels[MAX_LISTS][TXP_NAMES_LABEL_MAX + 1];
	unsigned nlists;
	struct entry_rec *entries;
	size_t nentries, cap_entries;
	struct name_rec *names;
	size_t nnames, cap_names;
	/* Each name's tokens as ids of distinct tokens, so a query compares
	 * a token spelled alike in many names (Mohammed) once. */
	uint32_t *ntoks;
	size_t ntok, cap_tok;
	uint32_t *utok_off; /* distinct token -> its text in pool */
	uint8_t *utok_len;
	uint32_t *utok_mask; /* letters present (see letter_mask) */
	size_t nutok, cap_utok, cap_utok_len, cap_utok_mask;
	uint32_t *intern;   /* building only: id + 1 by hash of the text */
	size_t intern_mask;
	char *pool;
	size_t pool_len, pool_cap;
	struct slot *table; /* key -> run of distinct token ids in post */
	size_t mask;
	uint32_t *post;
	size_t npost;
	uint32_t *tn_off;   /* distinct token -> run of names in tn (nutok + 1) */
	uint32_t *tn_mid;   /* where the run's names of one full token start */
	uint32_t *tn;
	size_t bytes;
	uint64_t serial; /* unique per index built: keys the scratch's mmin table */
	/* The shapes of the listed names: [full tokens][initials] present. */
	bool shapes[MAX_TOKENS + 1][MAX_TOKENS + 1];
	/* Building only: (key hash, distinct token) pairs, sorted into the table. */
	struct pair {
		uint64_t h;
		uint32_t name; /* the distinct token's id */
	} *pairs;
	size_t npairs, cap_pairs;
};

/* A query's similarities with each distinct listed token it meets are
 * computed once per screening (every query token at once). */
#define MEMO_Q MAX_TOKENS

/* Per-name and per-token state of one screening, each in one 8-byte cell
 * so that meeting a name or a token costs one cache line, not three:
 * the lists are walked in random order and these arrays outgrow L1. */
struct name_state {
	uint32_t gen;     /* the screening that last met the name */
	uint32_t last_id; /* the listed token the last count came through */
	uint8_t cnt;      /* query tokens it shares a key with */
	uint8_t last;     /* the last query token counted */
	uint16_t pad;
};

struct tok_state {
	uint32_t gen;  /* the screening that last met the token */
	uint16_t bits; /* query tokens it shares a key with */
	uint16_t pad;
};

/* One distinct token's similarities with the query's tokens, touched only
 * when a candidate is scored. */
struct memo_row {
	uint32_t gen;   /* the screening that last cleared `valid` */
	uint16_t valid; /* query tokens whose cell is filled */
	uint16_t sim[MEMO_Q];
};

struct txp_names_scratch {
	size_t cap, mcap;
	uint32_t gen;
	struct name_state *ns;
	uint32_t *cand;
	struct tok_state *ts;
	struct memo_row *memo;
	uint32_t *qids;   /* the distinct tokens each query token meets, in turn */
	size_t qids_cap;
	/* The distinct tokens the skipped query tokens meet: (id + 1) << 32
	 * | bits of those query tokens, open addressing. */
	uint64_t *skipset;
	size_t skipset_cap;
	/* The fewest query tokens a name must share keys with to reach the
	 * threshold, by full tokens and initials of the query (see mmin()). */
	unsigned mmin_threshold;
	uint64_t mmin_serial;
	uint8_t mmin[MAX_TOKENS + 1][MAX_TOKENS + 1];
};

/* A name cut into tokens: token i is the string at buf + i * (TOKEN_MAX + 1). */
struct toks {
	char buf[MAX_TOKENS * (TOKEN_MAX + 1)];
	uint8_t len[MAX_TOKENS];
	uint32_t mask[MAX_TOKENS]; /* filled by txp_names_screen */
	int n;
};

static const char *tok(const struct toks *t, int i)
{
	return t->buf + (size_t)i * (TOKEN_MAX + 1);
}

/* ---- Normalisation ------------------------------------------------------- */

/* ASCII for U+00C0..U+00FF; "" marks a non-letter (multiplication and
 * division signs). */
static const char *const latin1_fold[64] = {
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "th", "y",
};

/* U+0100..U+017F (Latin Extended-A), one base letter each; the two
 * ligatures (U+0132/3 IJ, U+0152/3 OE) are handled in fold(). */
static const char ext_a_fold[129] = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkklllllll"
                                    "lllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/*
 * What code point `cp` becomes: letters fold to lowercase ASCII (written
 * to out, returns its length), apostrophes and full stops are deleted
 * (returns 0), anything else separates words (returns -1).
 */
static int fold(uint32_t cp, char out[3])
{
	if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp >= 'A' && cp <= 'Z') {
		out[0] = (char)(cp - 'A' + 'a');
		return 1;
	}
	/* Deleted inside words: S.A. -> sa, O'Brien -> obrien, and the
	 * typographic apostrophes (U+2018, U+2019, U+02BC) and backtick that
	 * transliterations of Arabic use for ayn and hamza. */
	if (cp == '.' || cp == '\'' || cp == '`' || cp == 0x2018 || cp == 0x2019 || cp == 0x02bc)
		return 0;
	if (cp >= 0xc0 && cp <= 0xff) {
		const char *f = latin1_fold[cp - 0xc0];
		size_t n = strlen(f);
		if (n == 0)
			return -1;
		memcpy(out, f, n);
		return (int)n;
	}
	if (cp >= 0x100 && cp <= 0x17f) {
		if (cp == 0x132 || cp == 0x133 || cp == 0x152 || cp == 0x153) {
			out[0] = cp < 0x140 ? 'i' : 'o';
			out[1] = cp < 0x140 ? 'j' : 'e';
			return 2;
		}
		out[0] = ext_a_fold[cp - 0x100];
		return 1;
	}
	return -1;
}

/* The next code point of s[*i, len); invalid UTF-8 gives U+FFFD (a
 * separator) and advances one byte. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i, int latin1)
{
	unsigned char c = s[(*i)++];
	uint32_t cp;
	int more;

	if (latin1 || c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		more = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		more = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		more = 3;
	} else {
		return 0xfffd;
	}
	if (len - *i < (size_t)more)
		return 0xfffd;
	for (int k = 0; k < more; k++) {
		if ((s[*i + (size_t)k] & 0xc0) != 0x80)
			return 0xfffd;
		cp = cp << 6 | (s[*i + (size_t)k] & 0x3f);
	}
	*i += (size_t)more;
	return cp;
}

/*
 * Words that are not evidence of identity: legal-form suffixes, articles,
 * conjunctions, name particles and titles.  "ACME TRADING LTD" and "Acme
 * Trading Limited" are one party; two parties sharing "LLC" are not alike.
 */
#define S(w) {w, sizeof(w) - 1}
static const struct {
	const char *w;
	size_t n;
} stopwords[] = {
	S("ltd"), S("limited"), S("llc"), S("inc"), S("incorporated"), S("co"), S("corp"), S("corporation"),
	S("company"), S("sa"), S("sas"), S("sarl"), S("gmbh"), S("ag"), S("kg"), S("plc"), S("nv"), S("bv"), S("srl"),
	S("spa"), S("llp"), S("lp"), S("jsc"), S("ojsc"), S("cjsc"), S("pjsc"), S("ooo"), S("zao"), S("oao"),
	S("ltda"), S("pte"), S("pty"), S("bhd"), S("fze"), S("fzco"), S("the"), S("of"), S("and"), S("de"), S("del"),
	S("der"), S("la"), S("le"), S("du"), S("da"), S("al"), S("el"), S("bin"), S("ibn"), S("van"), S("von"),
	S("mr"), S("mrs"), S("ms"), S("dr"),
};
#undef S

static bool is_stopword(const char *w, size_t n)
{
	/* Every stopword is two to twelve letters; most tokens are longer or
	 * start differently, so compare the first letter before the rest. */
	if (n < 2 || n > 12)
		return false;
	for (size_t i = 0; i < sizeof(stopwords) / sizeof(stopwords[0]); i++)
		if (stopwords[i].n == n && stopwords[i].w[0] == w[0] && memcmp(stopwords[i].w, w, n) == 0)
			return true;
	return false;
}

/* Cuts name[0, len) into tokens (folded, "LAST, First" turned round,
 * stopwords dropped).  Tokens past MAX_TOKENS are ignored, characters past
 * TOKEN_MAX cut. */
static void tokenize(const char *name, size_t len, int latin1, struct toks *t)
{
	struct toks raw;
	int comma_at = -1, commas = 0, order[MAX_TOKENS], n = 0;
	size_t i = 0, cur = 0;
	bool in_word = false;

	raw.n = 0;
	while (i < len && raw.n < MAX_TOKENS) {
		uint32_t cp = next_cp((const unsigned char *)name, len, &i, latin1);
		char f[3];
		int k = fold(cp, f);

		if (k < 0) {
			if (in_word) {
				raw.buf[(size_t)raw.n * (TOKEN_MAX + 1) + cur] = '\0';
				raw.len[raw.n++] = (uint8_t)cur;
				in_word = false;
			}
			if (cp == ',') {
				commas++;
				comma_at = raw.n;
			}
			continue;
		}
		for (int j = 0; j < k; j++) {
			if (!in_word) {
				in_word = true;
				cur = 0;
			}
			if (cur < TOKEN_MAX)
				raw.buf[(size_t)raw.n * (TOKEN_MAX + 1) + cur++] = f[j];
		}
	}
	if (in_word && raw.n < MAX_TOKENS) {
		raw.buf[(size_t)raw.n * (TOKEN_MAX + 1) + cur] = '\0';
		raw.len[raw.n++] = (uint8_t)cur;
	}
	/* "LAST, First Middle" -> "First Middle LAST": the order decides
	 * which tokens are interior (middle names). */
	for (int j = 0; j < raw.n; j++)
		order[j] = j;
	if (commas == 1 && comma_at > 0 && comma_at < raw.n) {
		for (int j = 0; j < raw.n; j++)
			order[j] = (j + comma_at) % raw.n;
	}
	for (int j = 0; j < raw.n; j++) {
		const char *w = tok(&raw, order[j]);
		size_t wl = raw.len[order[j]];

		if (wl == 0 || is_stopword(w, wl))
			continue;
		memcpy(t->buf + (size_t)n * (TOKEN_MAX + 1), w, wl + 1);
		t->len[n++] = (uint8_t)wl;
	}
	/* A name of single letters only ("B R C", "K.M.A." once spaced) is
	 * an acronym, not initials: one token, so it can be keyed. */
	if (n >= 2) {
		int j;
		for (j = 0; j < n && t->len[j] == 1; j++)
			;
		if (j == n) {
			for (j = 0; j < n && j < TOKEN_MAX; j++)
				t->buf[j] = t->buf[(size_t)j * (TOKEN_MAX + 1)];
			t->buf[j] = '\0';
			t->len[0] = (uint8_t)j;
			n = 1;
		}
	}
	t->n = n;
}

int txp_names_normalise(const char *name, size_t len, int latin1, char *out, size_t cap)
{
	struct toks t;
	size_t o = 0;

	tokenize(name, len, latin1, &t);
	if (cap == 0)
		return t.n;
	for (int i = 0; i < t.n; i++) {
		size_t n = t.len[i];
		if (o + n + 2 > cap)
			break;
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, tok(&t, i), n);
		o += n;
	}
	out[o] = '\0';
	return t.n;
}

/* ---- Keys ---------------------------------------------------------------------- */

static char skel_map(char c)
{
	return c == 'c' || c == 'q' ? 'k' : c == 'z' ? 's' : c;
}

static bool is_vowel(char c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* The consonant skeleton of a token (see names.h); returns its length. */
static size_t skeleton(const char *w, size_t n, char out[TOKEN_MAX + 1])
{
	size_t k = 0;

	out[k++] = skel_map(w[0]);
	for (size_t i = 1; i < n; i++) {
		char c = skel_map(w[i]);
		if (is_vowel(c) || c == out[k - 1])
			continue;
		out[k++] = c;
	}
	out[k] = '\0';
	return k;
}

static uint64_t key_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	/* A final mix spreads FNV's low bits, which index the table. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h != 0 ? h : 1;
}

/*
 * The keys of a token of two or more characters: its skeleton, and each
 * single deletion of a skeleton of three or more (doubled letters the
 * deletion brings together collapsed again: HERNANDEZ typed HERNBNDEZ).
 * The deletions of a three-letter skeleton are two letters, which many
 * tokens share, so they keep the first letter and are salted apart from
 * the two-letter skeletons: they meet only each other (one consonant after
 * the first changed: HAMAS, HANAS).
 * Returns how many.
 */
static int token_keys(const char *w, size_t n, uint64_t keys[TOKEN_MAX + 1])
{
	char s[TOKEN_MAX + 1], d[TOKEN_MAX + 2];
	size_t len = skeleton(w, n, s);
	int k = 0;

	keys[k++] = key_hash(s, len);
	if (len < 3)
		return k;
	for (size_t i = len == 3 ? 1 : 0; i < len; i++) {
		size_t o = 0;
		for (size_t j = 0; j < len; j++)
			if (j != i && (o == 0 || d[o - 1] != s[j]))
				d[o++] = s[j];
		if (len == 3)
			d[o++] = '#'; /* the salt: no skeleton holds it */
		keys[k++] = key_hash(d, o);
	}
	return k;
}

/* ---- Jaro-Winkler ----------------------------------------------------------- */

unsigned txp_names_jaro_winkler(const char *a, size_t alen, const char *b, size_t blen)
{
	/* Tokens are at most TOKEN_MAX (32) characters: the matched flags fit
	 * in one word each, which keeps this cheap enough to run on every
	 * candidate pair. */
	uint64_t am = 0, bm = 0;
	size_t window, m = 0, trans = 0, prefix = 0, j = 0;
	double jaro;

	if (alen > 64 || blen > 64)
		return 0;
	if (alen == 0 || blen == 0)
		return alen == blen ? 1000 : 0;
	window = (alen > blen ? alen : blen) / 2;
	window = window > 0 ? window - 1 : 0;
	for (size_t i = 0; i < alen; i++) {
		size_t lo = i > window ? i - window : 0, hi = i + window + 1 < blen ? i + window + 1 : blen;
		for (size_t k = lo; k < hi; k++) {
			if (!(bm >> k & 1) && a[i] == b[k]) {
				am |= 1ull << i;
				bm |= 1ull << k;
				m++;
				break;
			}
		}
	}
	if (m == 0)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		if (!(am >> i & 1))
			continue;
		while (!(bm >> j & 1))
			j++;
		if (a[i] != b[j])
			trans++;
		j++;
	}
	jaro = ((double)m / (double)alen + (double)m / (double)blen + ((double)m - (double)trans / 2) / (double)m) / 3;
	while (prefix < 4 && prefix < alen && prefix < blen && a[prefix] == b[prefix])
		prefix++;
	/* Winkler's boost for a common prefix, scaling factor 0.1. */
	jaro += (double)prefix * 0.1 * (1 - jaro);
	return (unsigned)(jaro * 1000 + 0.5);
}

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

static int add_entry(struct txp_names *ix, unsigned list, const char *id, size_t idlen)
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
static uint32_t letter_mask(const char *w, size_t n)
{
	uint32_t m = 0;

	for (size_t i = 0; i < n; i++)
		m |= w[i] >= 'a' ? 1u << (w[i] - 'a') : 1u << (26 + (w[i] - '0') % 6);
	return m;
}

static int intern_rehash(struct txp_names *ix)
{
	size_t size = ix->intern != NULL ? (ix->intern_mask + 1) * 2 : 1024;
	uint32_t *t = calloc(size, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	for (uint32_t id = 0; id < ix->nutok; id++) {
		size_t h = key_hash(ix->pool + ix->utok_off[id], ix->utok_len[id]) & (size - 1);
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
	for (h = key_hash(w, n) & ix->intern_mask; ix->intern[h] != 0; h = (h + 1) & ix->intern_mask) {
		uint32_t i = ix->intern[h] - 1;
		if (ix->utok_len[i] == n && memcmp(ix->pool + ix->utok_off[i], w, n) == 0) {
			*id = i;
			return 0;
		}
	}
	if (grow((void **)&ix->utok_off, &ix->cap_utok, ix->nutok + 1, sizeof(*ix->utok_off)) < 0 ||
	    grow((void **)&ix->utok_len, &ix->cap_utok_len, ix->nutok + 1, sizeof(*ix->utok_len)) < 0 ||
	    grow((void **)&ix->utok_mask, &ix->cap_utok_mask, ix->nutok + 1, sizeof(*ix->utok_mask)) < 0 ||
	    pool_add(ix, w, n, &ix->utok_off[ix->nutok]) < 0)
		return -ENOMEM;
	ix->utok_len[ix->nutok] = (uint8_t)n;
	ix->utok_mask[ix->nutok] = letter_mask(w, n);
	*id = (uint32_t)ix->nutok++;
	ix->intern[h] = *id + 1;
	if (n >= 2) {
		/* Initials are no key: every name has one. */
		uint64_t keys[TOKEN_MAX + 1];
		int nk = token_keys(w, n, keys);
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
static int add_name(struct txp_names *ix, const char *name, size_t len, int latin1)
{
	struct toks t;
	struct name_rec *nr;

	tokenize(name, len, latin1, &t);
	if (t.n == 0)
		return 0;
	if (grow((void **)&ix->names, &ix->cap_names, ix->nnames + 1, sizeof(*ix->names)) < 0 ||
	    grow((void **)&ix->ntoks, &ix->cap_tok, ix->ntok + (size_t)t.n, sizeof(*ix->ntoks)) < 0)
		return -ENOMEM;
	nr = &ix->names[ix->nnames];
	nr->entry = (uint32_t)(ix->nentries - 1);
	nr->tok = (uint32_t)ix->ntok;
	nr->ntok = (uint8_t)t.n;
	nr->nfull = 0;
	nr->dup = 0;
	for (int i = 0; i < t.n; i++) {
		uint32_t id;
		if (intern(ix, tok(&t, i), t.len[i], &id) < 0)
			return -ENOMEM;
		for (int j = 0; j < i; j++)
			if (ix->ntoks[nr->tok + (uint32_t)j] == id)
				nr->dup = 1;
		ix->ntoks[ix->ntok++] = id;
		if (t.len[i] >= 2)
			nr->nfull++;
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
static int build_table(struct txp_names *ix)
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
		ix->post[ix->npost++] = p->name;
		cur->n++;
	}
	/* Token -> names, by counting: names in index order, each once. */
	ix->tn_off = calloc(ix->nutok + 1, sizeof(*ix->tn_off));
	ix->tn = malloc((ix->ntok > 0 ? ix->ntok : 1) * sizeof(*ix->tn));
	fill = calloc(ix->nutok + 1, sizeof(*fill));
	if (ix->tn_off == NULL || ix->tn == NULL || fill == NULL) {
		free(fill);
		return -ENOMEM;
	}
	ix->tn_mid = malloc((ix->nutok > 0 ? ix->nutok : 1) * sizeof(*ix->tn_mid));
	if (ix->tn_mid == NULL) {
		free(fill);
		return -ENOMEM;
	}
	/* Each run holds the names of two or more full tokens first, then
	 * those of one (see txp_names_screen). */
	for (int pass = 0; pass < 3; pass++) {
		if (pass == 2)
			for (uint32_t id = 0; id < ix->nutok; id++)
				ix->tn_mid[id] = ix->tn_off[id] + fill[id];
		for (uint32_t n = 0; n < ix->nnames; n++) {
			const struct name_rec *nr = &ix->names[n];
			if (pass > 0 && (nr->nfull >= 2) != (pass == 1))
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
static void finish(struct txp_names *ix)
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
	if (ix->pool_len > 0 && (p = realloc(ix->pool, ix->pool_len)) != NULL) {
		ix->pool = p;
		ix->pool_cap = ix->pool_len;
	}
	ix->bytes = sizeof(*ix) + ix->cap_entries * sizeof(*ix->entries) + ix->cap_names * sizeof(*ix->names) +
	            ix->cap_tok * sizeof(*ix->ntoks) + ix->cap_utok * sizeof(*ix->utok_off) + ix->cap_utok_len +
	            ix->cap_utok_mask * sizeof(*ix->utok_mask) +
	            ix->pool_cap +
	            (ix->table != NULL ? (ix->mask + 1) * sizeof(*ix->table) : 0) +
	            (ix->post != NULL ? (ix->npost > 0 ? ix->npost : 1) * sizeof(*ix->post) : 0) +
	            (ix->tn_off != NULL ? (ix->nutok + 1) * sizeof(*ix->tn_off) : 0) +
	            (ix->tn_mid != NULL ? ix->nutok * sizeof(*ix->tn_mid) : 0) +
	            (ix->tn != NULL ? (ix->ntok > 0 ? ix->ntok : 1) * sizeof(*ix->tn) : 0);
}

void txp_names_free(struct txp_names *ix)
{
	if (ix == NULL)
		return;
	free(ix->entries);
	free(ix->names);
	free(ix->ntoks);
	free(ix->utok_off);
	free(ix->utok_len);
	free(ix->utok_mask);
	free(ix->intern);
	free(ix->pool);
	free(ix->table);
	free(ix->post);
	free(ix->tn_off);
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

/* ---- CSV --------------------------------------------------------------------- */

#define MAX_FIELDS 16

struct csv {
	const char *p, *end;
	size_t line; /* of the record being read, 1-based */
	char *out;   /* field storage, one record */
	size_t out_cap;
	const char *field[MAX_FIELDS];
	size_t flen[MAX_FIELDS];
	int nfields;
};

/*
 * Reads the next record (RFC 4180: fields separated by commas, optionally
 * double-quoted with "" for a quote; a quoted field may span lines), CRLF
 * or LF ending it.  Blank lines are skipped.  Returns 1, 0 at the end, or
 * -EINVAL with `what` set (an unterminated quote, too many fields).
 */
static int csv_next(struct csv *c, const char **what)
{
	size_t o = 0;

	while (c->p < c->end && (*c->p == '\n' || *c->p == '\r' || *c->p == 0x1a)) {
		if (*c->p == '\n')
			c->line++;
		c->p++; /* blank lines, and the DOS end-of-file mark OFAC's file ends with */
	}
	if (c->p >= c->end)
		return 0;
	c->nfields = 0;
	for (;;) {
		bool quoted = false;
		size_t start = o;

		if (c->nfields == MAX_FIELDS) {
			*what = "too many fields";
			return -EINVAL;
		}
		if (c->p < c->end && *c->p == '"') {
			quoted = true;
			c->p++;
		}
		for (;;) {
			char ch;
			if (c->p >= c->end) {
				if (quoted) {
					*what = "unterminated quoted field";
					return -EINVAL;
				}
				break;
			}
			ch = *c->p;
			if (quoted && ch == '"') {
				if (c->p + 1 < c->end && c->p[1] == '"') {
					c->p += 2;
					c->out[o++] = '"';
					continue;
				}
				c->p++;
				quoted = false;
				/* After the closing quote only a separator may follow
				 * (OFAC writes none, but be exact). */
				continue;
			}
			if (!quoted && (ch == ',' || ch == '\n' || ch == '\r'))
				break;
			if (ch == '\n')
				c->line++;
			c->out[o++] = ch;
			c->p++;
		}
		c->field[c->nfields] = c->out + start;
		c->flen[c->nfields++] = o - start;
		c->out[o++] = '\0';
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		break;
	}
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p < c->end && *c->p == '\n') {
		c->p++;
		c->line++;
	}
	return 1;
}

/* A field with surrounding blanks removed; OFAC's "-0- " (empty) gives "". */
static void field_trim(const char **s, size_t *n)
{
	while (*n > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
	if (*n == 3 && memcmp(*s, "-0-", 3) == 0)
		*n = 0;
}

/*
 * OFAC remarks hold aliases as items separated by ';': "a.k.a. 'NAME'" or
 * "f.k.a. 'NAME'".  A name may itself hold apostrophes ('ABU-'UMAR'), so
 * the alias runs from the first quote of the item to its last.
 */
static int add_remark_aliases(struct txp_names *ix, const char *r, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i, a, b;
		while (j < n && r[j] != ';')
			j++;
		a = i;
		while (a < j && r[a] == ' ')
			a++;
		if (j - a > 8 && (memcmp(r + a, "a.k.a. '", 8) == 0 || memcmp(r + a, "f.k.a. '", 8) == 0)) {
			a += 8;
			b = j;
			while (b > a && r[b - 1] != '\'')
				b--;
			if (b > a + 1) {
				int rc = add_name(ix, r + a, b - 1 - a, 1);
				if (rc < 0)
					return rc;
			}
		}
		i = j + 1;
	}
	return 0;
}

static bool id_ok(const char *s, size_t n)
{
	if (n == 0 || n > TXP_NAMES_ENTRY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		/* No ':' or space: the stored item's token lists hold entries. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static int parse_ofac_record(struct txp_names *ix, unsigned list, struct csv *c, const char **what)
{
	const char *id = c->field[0], *name = c->field[1], *rem = c->field[11];
	size_t idn = c->flen[0], namen = c->flen[1], remn = c->flen[11];
	int rc;

	if (c->nfields != 12) {
		*what = "expected 12 fields (OFAC sdn.csv)";
		return -EINVAL;
	}
	field_trim(&id, &idn);
	field_trim(&name, &namen);
	field_trim(&rem, &remn);
	for (size_t i = 0; i < idn; i++)
		if (id[i] < '0' || id[i] > '9')
			idn = 0;
	if (idn == 0 || idn > 10) {
		*what = "ent_num (field 1) must be a number";
		return -EINVAL;
	}
	if (namen == 0 || namen > LIST_NAME_MAX) {
		*what = "SDN_Name (field 2) is empty or too long";
		return -EINVAL;
	}
	if ((rc = add_entry(ix, list, id, idn)) < 0 || (rc = add_name(ix, name, namen, 1)) < 0)
		return rc;
	return add_remark_aliases(ix, rem, remn);
}

static int parse_inhouse_record(struct txp_names *ix, unsigned list, struct csv *c, const char **what)
{
	const char *id = c->field[0];
	size_t idn = c->flen[0];
	int rc;

	if (c->nfields < 2) {
		*what = "expected id,name[,alias...]";
		return -EINVAL;
	}
	field_trim(&id, &idn);
	if (!id_ok(id, idn)) {
		*what = "id must be 1-64 characters of A-Z a-z 0-9 _ - .";
		return -EINVAL;
	}
	if ((rc = add_entry(ix, list, id, idn)) < 0)
		return rc;
	for (int f = 1; f < c->nfields; f++) {
		const char *s = c->field[f];
		size_t n = c->flen[f];
		field_trim(&s, &n);
		if (n == 0 && f > 1)
			continue; /* no alias in this column */
		if (n == 0 || n > LIST_NAME_MAX) {
			*what = f == 1 ? "name is empty or too long" : "alias is too long";
			return -EINVAL;
		}
		if ((rc = add_name(ix, s, n, 0)) < 0)
			return rc;
	}
	return 0;
}

/* Parses a whole list file already in memory into `ix` under list `list`. */
static int parse_list(struct txp_names *ix, unsigned list, bool ofac, const char *buf, size_t len,
                      const char *path, char *err, size_t errlen)
{
	struct csv c = {.p = buf, .end = buf + len, .line = 1};
	const char *what = NULL;
	bool header = !ofac;
	int rc = 0;

	c.out = malloc(len + MAX_FIELDS + 1);
	if (c.out == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	for (;;) {
		size_t line;
		const char *nl;

		/* The record starts after any blank lines csv_next skips. */
		nl = c.p;
		line = c.line;
		while (nl < c.end && (*nl == '\n' || *nl == '\r' || *nl == 0x1a))
			if (*nl++ == '\n')
				line++;
		if (!ofac && nl < c.end && *nl == '#') {
			/* In-house lists may carry comment lines. */
			while (nl < c.end && *nl != '\n')
				nl++;
			c.p = nl;
			c.line = line;
			continue;
		}
		rc = csv_next(&c, &what);
		if (rc == 0)
			break;
		if (rc > 0 && header) {
			const char *h0 = c.field[0], *h1 = c.nfields > 1 ? c.field[1] : "";
			size_t n0 = c.flen[0], n1 = c.nfields > 1 ? c.flen[1] : 0;
			field_trim(&h0, &n0);
			field_trim(&h1, &n1);
			header = false;
			if (n0 != 2 || memcmp(h0, "id", 2) != 0 || n1 != 4 || memcmp(h1, "name", 4) != 0) {
				what = "the first line must be the header id,name[,alias...]";
				rc = -EINVAL;
			} else {
				continue;
			}
		} else if (rc > 0) {
			rc = ofac ? parse_ofac_record(ix, list, &c, &what) : parse_inhouse_record(ix, list, &c, &what);
		}
		if (rc < 0) {
			if (rc == -ENOMEM)
				snprintf(err, errlen, "%s: out of memory", path);
			else
				snprintf(err, errlen, "%s:%zu: %s", path, line, what != NULL ? what : "malformed line");
			break;
		}
	}
	free(c.out);
	return rc < 0 ? rc : 0;
}

static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd, rc = 0;

	*buf = NULL;
	fd = txp_file_open_regular(path, true, LIST_FILE_MAX, &st, err, errlen);
	if (fd < 0)
		return fd;
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(*buf);
			*buf = NULL;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
out:
	close(fd);
	return rc;
}

static int load_one(struct txp_names *ix, const char *label, size_t lablen, const char *format, size_t fmtlen,
                    const char *path, char *err, size_t errlen)
{
	bool ofac;
	char *buf;
	size_t len = 0;
	int rc;

	if (fmtlen == 4 && memcmp(format, "ofac", 4) == 0) {
		ofac = true;
	} else if (fmtlen == 7 && memcmp(format, "inhouse", 7) == 0) {
		ofac = false;
	} else {
		snprintf(err, errlen, "\"%.*s\": unknown list format (expected ofac or inhouse)", (int)fmtlen, format);
		return -EINVAL;
	}
	if (lablen == 0 || lablen > TXP_NAMES_LABEL_MAX || !id_ok(label, lablen)) {
		snprintf(err, errlen, "\"%.*s\": a list label is 1-%d characters of A-Z a-z 0-9 _ - .", (int)lablen,
		         label, TXP_NAMES_LABEL_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < ix->nlists; i++) {
		if (strlen(ix->labels[i]) == lablen && memcmp(ix->labels[i], label, lablen) == 0) {
			snprintf(err, errlen, "\"%.*s\": two lists have this label; give one a LABEL= prefix",
			         (int)lablen, label);
			return -EINVAL;
		}
	}
	if (ix->nlists == MAX_LISTS) {
		snprintf(err, errlen, "at most %d name lists", MAX_LISTS);
		return -EINVAL;
	}
	memcpy(ix->labels[ix->nlists], label, lablen);
	ix->labels[ix->nlists][lablen] = '\0';
	rc = read_file(path, &buf, &len, err, errlen);
	if (rc < 0)
		return rc;
	rc = parse_list(ix, ix->nlists, ofac, buf, len, path, err, errlen);
	free(buf);
	if (rc == 0)
		ix->nlists++;
	return rc;
}

static int finalise(struct txp_names *ix, struct txp_names **out, char *err, size_t errlen)
{
	static atomic_uint_fast64_t serials;

	ix->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
	if (build_table(ix) < 0) {
		snprintf(err, errlen, "out of memory indexing names");
		txp_names_free(ix);
		return -ENOMEM;
	}
	finish(ix);
	*out = ix;
	return 0;
}

int txp_names_load_file(const char *label, const char *format, const char *path, struct txp_names **out,
                        char *err, size_t errlen)
{
	struct txp_names *ix = calloc(1, sizeof(*ix));
	int rc;

	*out = NULL;
	if (ix == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = load_one(ix, label, strlen(label), format, strlen(format), path, err, errlen);
	if (rc < 0) {
		txp_names_free(ix);
		return rc;
	}
	return finalise(ix, out, err, errlen);
}

int txp_names_load(const char *spec, struct txp_names **out, char *err, size_t errlen)
{
	struct txp_names *ix = calloc(1, sizeof(*ix));
	const char *p = spec != NULL ? spec : "";
	int rc = 0;

	*out = NULL;
	if (ix == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (*p != '\0' && rc == 0) {
		const char *item, *eq, *colon, *label, *fmt;
		size_t n, lablen, fmtlen;
		char path[4096];

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		item = p;
		p += n;
		while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		colon = memchr(item, ':', n);
		if (colon == NULL) {
			snprintf(err, errlen, "\"%.*s\": expected [LABEL=]FORMAT:PATH", (int)n, item);
			rc = -EINVAL;
			break;
		}
		eq = memchr(item, '=', (size_t)(colon - item));
		fmt = eq != NULL ? eq + 1 : item;
		fmtlen = (size_t)(colon - fmt);
		label = eq != NULL ? item : fmt;
		lablen = eq != NULL ? (size_t)(eq - item) : fmtlen;
		if ((size_t)(item + n - colon - 1) >= sizeof(path) || colon + 1 == item + n) {
			snprintf(err, errlen, "\"%.*s\": the path is empty or too long", (int)n, item);
			rc = -EINVAL;
			break;
		}
		memcpy(path, colon + 1, (size_t)(item + n - colon - 1));
		path[item + n - colon - 1] = '\0';
		rc = load_one(ix, label, lablen, fmt, fmtlen, path, err, errlen);
	}
	if (rc < 0) {
		txp_names_free(ix);
		return rc;
	}
	return finalise(ix, out, err, errlen);
}

/* ---- Screening ------------------------------------------------------------- */

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
	free(s->skipset);
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

/* Letters of w[0, n) absent from `mask`: characters that cannot match. */
static size_t absent(const char *w, size_t n, uint32_t mask)
{
	size_t x = 0;

	for (size_t i = 0; i < n; i++)
		x += !(letter_mask(w + i, 1) & mask);
	return x;
}

/*
 * Similarity of query token i and distinct token `id` for alignment: Jaro-
 * Winkler for two full tokens (0 under PAIR_FLOOR), 1000 or 0 for an
 * initial against a token by its first letter.  Most pairs met through a
 * shared key are far apart; an upper bound from the letters they do not
 * share (which cannot match) and their common prefix dismisses those
 * without the full computation.
 */
static unsigned pair_sim(const struct toks *q, int i, const struct txp_names *ix, uint32_t id)
{
	const char *qt = tok(q, i), *lt = ix->pool + ix->utok_off[id];
	size_t ql = q->len[i], ll = ix->utok_len[id];

	if (ql >= 2 && ll >= 2) {
		size_t ma = ql - absent(qt, ql, ix->utok_mask[id]), mb = ll - absent(lt, ll, q->mask[i]);
		size_t m = ma < mb ? ma : mb, p = 0;
		unsigned v;

		if (m == 0)
			return 0;
		while (p < 4 && p < ql && p < ll && qt[p] == lt[p])
			p++;
		/* Integer form of jaro <= (m/ql + m/ll + 1) / 3 and the boost:
		 * jw <= jaro + p/10 (1 - jaro), in thousandths. */
		{
			unsigned jaro = (unsigned)((1000 * m * ll + 1000 * m * ql + 1000 * ql * ll) / (3 * ql * ll));
			if (jaro + (unsigned)p * (1000 - jaro) / 10 + 1 < PAIR_FLOOR)
				return 0;
		}
		v = txp_names_jaro_winkler(qt, ql, lt, ll);
		return v >= PAIR_FLOOR ? v : 0;
	}
	return qt[0] == lt[0] ? 1000 : 0;
}

/* The similarity of query token i and distinct token `id`, computed once
 * per screening. */
static unsigned memo_sim(const struct toks *q, int i, const struct txp_names *ix, struct txp_names_scratch *s,
                         uint32_t id)
{
	struct memo_row *m = &s->memo[id];

	if (m->gen != s->gen) {
		m->gen = s->gen;
		m->valid = 0;
	}
	if (!(m->valid & (1u << i))) {
		m->sim[i] = (uint16_t)pair_sim(q, i, ix, id);
		m->valid |= (uint16_t)(1u << i);
	}
	return m->sim[i];
}

/* Scores the query against listed name `nr` (see names.h), thousandths. */
static unsigned score(const struct toks *q, const struct txp_names *ix, const struct name_rec *nr,
                      struct txp_names_scratch *s)
{
	unsigned sim[MAX_TOKENS][MAX_TOKENS];
	uint8_t llen[MAX_TOKENS];
	bool qused[MAX_TOKENS] = {0}, lused[MAX_TOKENS] = {0};
	int nl = nr->ntok, nq = q->n, full_pairs = 0;
	/* Weights in halves: a full token 2, an initial 1. */
	unsigned num = 0, wq = 0, wl = 0, weakest = 1000, weakest_full = 1000;
	int initial_pairs = 0;
	int qfree = 0, lfree = 0, qfree_at = -1, lfree_at = -1;

	/* Two full tokens are compared only when they share a key (the
	 * first pass of txp_names_screen marked those): spellings that share
	 * none are not the small differences the threshold is for, and long
	 * names would otherwise cost hundreds of comparisons each. */
	for (int j = 0; j < nl; j++) {
		uint32_t id = ix->ntoks[nr->tok + (uint32_t)j];
		const struct tok_state *ts = &s->ts[id];
		unsigned keyed = ts->gen == s->gen ? ts->bits : 0;

		llen[j] = ix->utok_len[id];
		for (int i = 0; i < nq; i++)
			sim[i][j] = (keyed & (1u << i)) || q->len[i] < 2 || llen[j] < 2 ? memo_sim(q, i, ix, s, id) : 0;
	}
	/* Best pairs first; with at most MAX_TOKENS a side, greedy is enough
	 * and keeps the cost predictable. */
	for (;;) {
		unsigned best = 0;
		int bi = -1, bj = -1;
		for (int i = 0; i < nq; i++) {
			if (qused[i])
				continue;
			for (int j = 0; j < nl; j++) {
				if (lused[j] || sim[i][j] <= best)
					continue;
				best = sim[i][j];
				bi = i;
				bj = j;
			}
		}
		if (bi < 0)
			break;
		qused[bi] = lused[bj] = true;
		{
			unsigned w = q->len[bi] >= 2 && llen[bj] >= 2 ? 2 : 1;
			num += w * best;
			if (best < weakest)
				weakest = best;
			wq += w;
			wl += w;
			if (w == 2) {
				full_pairs++;
				if (best < weakest_full)
					weakest_full = best;
			} else {
				initial_pairs++;
			}
		}
	}
	/* An initial is evidence only beside a full word that agrees
	 * closely: "J. Smith" is John Smith, but "JAK-A" is not Jack
	 * Anderson nor "SMT-K" Katherine Smith. */
	if (full_pairs == 0 || (full_pairs == 1 && initial_pairs > 0 && weakest_full < EXCUSE_FLOOR))
		return 0;
	for (int i = 0; i < nq; i++) {
		if (!qused[i]) {
			wq += q->len[i] >= 2 ? 2 : 1;
			qfree++;
			qfree_at = i;
		}
	}
	for (int j = 0; j < nl; j++) {
		if (!lused[j]) {
			wl += llen[j] >= 2 ? 2 : 1;
			lfree++;
			lfree_at = j;
		}
	}
	/* One middle name given on one side only is not evidence against,
	 * when every token of the other side aligns closely: a middle name
	 * missing and a first name only similar (Mary, Mayra) are two
	 * differences, and two different middle names are not a missing one. */
	if (weakest >= EXCUSE_FLOOR) {
		if (lfree == 1 && qfree == 0 && nl >= 3 && lfree_at > 0 && lfree_at < nl - 1)
			wl -= llen[lfree_at] >= 2 ? 2 : 1;
		if (qfree == 1 && lfree == 0 && nq >= 3 && qfree_at > 0 && qfree_at < nq - 1)
			wq -= q->len[qfree_at] >= 2 ? 2 : 1;
	}
	return (2 * num) / (wq + wl);
}

/*
 * An upper bound of score() from counts alone, so most candidates are
 * dismissed without comparing a letter.  qf/qi and lf/li are the full
 * tokens and initials of the query and the listed name, `shared` the
 * query's full tokens sharing a key with the name: a full pair is counted
 * as aligned only when its tokens share a key (true of equal tokens,
 * vowel changes and one changed consonant in a skeleton of four letters
 * or more; a typo in a shorter word elsewhere in a long name is the
 * recall this gives up, measured by tests/names_bench).  At best those
 * align exactly, with the initials; a side's weight loses at most one
 * unit per initial of the other side aligned with a full token, and one
 * side at most one excused middle name.
 */
static unsigned bound(int qf, int qi, int lf, int li, int shared)
{
	int wq = 2 * qf + qi, wl = 2 * lf + li;
	int m = 2 * shared + qi + li, dq, dl, total;

	m = m < wq ? m : wq;
	m = m < wl ? m : wl;
	dq = wq - li > m ? wq - li : m;
	dl = wl - qi > m ? wl - qi : m;
	total = dq + dl - (qf + qi >= 3 || lf + li >= 3 ? 2 : 0);
	total = total > 2 * m ? total : 2 * m;
	return total > 0 ? (unsigned)(2000 * m / total) : 0;
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

/* Adds the distinct tokens ids[0, n) met by skipped query token i. */
static int skipset_add(struct txp_names_scratch *s, size_t size, const uint32_t *ids, size_t n, int i)
{
	for (size_t x = 0; x < n; x++) {
		size_t h = (ids[x] * 2654435761u) & (size - 1);
		while (s->skipset[h] != 0 && (s->skipset[h] >> 32) != (uint64_t)ids[x] + 1)
			h = (h + 1) & (size - 1);
		s->skipset[h] |= ((uint64_t)ids[x] + 1) << 32 | 1u << i;
	}
	return 0;
}

/* The skipped query tokens that met distinct token `id`, as bits. */
static unsigned skipset_bits(const struct txp_names_scratch *s, size_t mask, uint32_t id)
{
	for (size_t h = (id * 2654435761u) & mask; s->skipset[h] != 0; h = (h + 1) & mask)
		if ((s->skipset[h] >> 32) == (uint64_t)id + 1)
			return (unsigned)(s->skipset[h] & 0xffff);
	return 0;
}

/*
 * The fewest query tokens (of qf full ones and qi initials) a listed name
 * of two or more full tokens must share keys with for bound() to reach
 * `threshold`, over the shapes of the names listed: at least 2, and
 * qf + 1 when none can.  Computed once per thread, index and threshold
 * (bound() is cheap, but this tries every shape).
 */
static unsigned mmin(const struct txp_names *ix, struct txp_names_scratch *s, int qf, int qi, unsigned threshold)
{
	if (s->mmin_threshold != threshold || s->mmin_serial != ix->serial) {
		for (int f = 0; f <= MAX_TOKENS; f++) {
			for (int i = 0; f + i <= MAX_TOKENS; i++) {
				int m;
				for (m = 2; m <= f; m++) {
					bool reach = false;
					for (int lf = 2; lf <= MAX_TOKENS && !reach; lf++)
						for (int li = 0; lf + li <= MAX_TOKENS && !reach; li++)
							reach = ix->shapes[lf][li] && bound(f, i, lf, li, m) >= threshold;
					if (reach)
						break;
				}
				s->mmin[f][i] = (uint8_t)m;
			}
		}
		s->mmin_threshold = threshold;
		s->mmin_serial = ix->serial;
	}
	return s->mmin[qf][qi];
}

int txp_names_screen(const struct txp_names *ix, struct txp_names_scratch *s, const char *name,
                     unsigned threshold, struct txp_names_hit *hit)
{
	struct toks q;
	uint64_t keys[TOKEN_MAX + 1];
	size_t ncand = 0, len;
	uint32_t cost[MAX_TOKENS] = {0};
	size_t qstart[MAX_TOKENS + 1], nqids = 0, skipmask = 0;
	unsigned skipq = 0; /* query tokens whose names of two or more full tokens are not walked */
	int nq_full = 0, nskipped;
	unsigned best = 0;
	uint32_t best_name = 0;

	if (ix == NULL || ix->nnames == 0 || name == NULL)
		return 0;
	len = strnlen(name, TXP_NAME_MAX * 4);
	tokenize(name, len, 0, &q);
	for (int i = 0; i < q.n; i++) {
		q.mask[i] = letter_mask(tok(&q, i), q.len[i]);
		if (q.len[i] >= 2)
			nq_full++;
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
	/*
	 * Candidates: the names holding a distinct token that shares a key
	 * with a query token count that query token once.  Sharing a key is
	 * the evidence here; the letters are compared only for the names that
	 * pass the counts (comparing every such token costs more than it
	 * saves).  A name of two or more full tokens must share keys with two
	 * query tokens, so it is always met through the query's other tokens:
	 * the names of the commonest query token (Mohammed: thousands) are
	 * not walked, only its names of one full token; whether a candidate
	 * holds it is checked on the candidate's own tokens.  The first pass
	 * marks the tokens each query token meets and counts their names.
	 */
	for (int i = 0; i < q.n; i++) {
		int nk;
		qstart[i] = nqids;
		if (q.len[i] < 2)
			continue;
		nk = token_keys(tok(&q, i), q.len[i], keys);
		for (int k = 0; k < nk; k++) {
			const struct slot *sl = lookup(ix, keys[k]);
			if (sl == NULL)
				continue;
			if (scratch_room(&s->qids, &s->qids_cap, nqids + sl->n) < 0)
				return -ENOMEM;
			for (uint32_t p = 0; p < sl->n; p++) {
				uint32_t id = ix->post[sl->off + p];
				struct tok_state *ts = &s->ts[id];
				if (ts->gen != s->gen) {
					ts->gen = s->gen;
					ts->bits = 0;
				}
				if (ts->bits & (1u << i))
					continue;
				ts->bits |= (uint16_t)(1u << i);
				s->qids[nqids++] = id;
				cost[i] += ix->tn_off[id + 1] - ix->tn_off[id];
			}
		}
	}
	qstart[q.n] = nqids;
	/* A name of two or more full tokens sharing keys with m query tokens
	 * shares them with at least one of any nq_full - m + 1 of them: the
	 * m - 1 commonest are not walked. */
	if (nq_full >= 2) {
		unsigned m = mmin(ix, s, nq_full, q.n - nq_full, threshold);
		int nskip = (int)m > nq_full ? nq_full : (int)m - 1;
		size_t size = 16;

		for (int k = 0; k < nskip; k++) {
			int worst = -1;
			for (int i = 0; i < q.n; i++)
				if (q.len[i] >= 2 && !(skipq & (1u << i)) && (worst < 0 || cost[i] > cost[worst]))
					worst = i;
			skipq |= 1u << worst;
		}
		while (size < 2 * nqids)
			size *= 2;
		if (skipq != 0) {
			if (size > s->skipset_cap) {
				uint64_t *p = realloc(s->skipset, size * sizeof(*p));
				if (p == NULL)
					return -ENOMEM;
				s->skipset = p;
				s->skipset_cap = size;
			}
			memset(s->skipset, 0, size * sizeof(*s->skipset));
			for (int i = 0; i < q.n; i++)
				if (skipq & (1u << i))
					skipset_add(s, size, s->qids + qstart[i], qstart[i + 1] - qstart[i], i);
			skipmask = size - 1;
		}
	}
	nskipped = __builtin_popcount(skipq);
	for (int i = 0; i < q.n; i++) {
		for (size_t x = qstart[i]; x < qstart[i + 1]; x++) {
			uint32_t id = s->qids[x];
			for (uint32_t t = skipq & (1u << i) ? ix->tn_mid[id] : ix->tn_off[id]; t < ix->tn_off[id + 1]; t++) {
				uint32_t n = ix->tn[t];
				struct name_state *st = &s->ns[n];
				if (st->gen != s->gen) {
					st->gen = s->gen;
					st->cnt = 0;
					st->last = 0xff;
					s->cand[ncand++] = n;
				}
				/* One listed token sharing keys with two query
				 * tokens (George Green: both have the key of
				 * GRG) is one piece of evidence, not two. */
				if (st->last != (uint8_t)i && !(st->cnt > 0 && st->last_id == id)) {
					st->last = (uint8_t)i;
					st->last_id = id;
					st->cnt++;
				}
			}
		}
	}
	for (size_t c = 0; c < ncand; c++) {
		uint32_t n = s->cand[c];
		const struct name_rec *nr = &ix->names[n];
		int need = nq_full < 2 || nr->nfull < 2 ? 1 : 2;
		unsigned sc, floor = best > threshold ? best : threshold;

		/* A repeated token is counted once however many query tokens
		 * it matches: the count bounds nothing for such a name. */
		if (nr->dup)
			s->ns[n].cnt = (uint8_t)nq_full;
		else if (skipq != 0 && nr->nfull >= 2 && s->ns[n].cnt + nskipped >= need &&
		         bound(nq_full, q.n - nq_full, nr->nfull, nr->ntok - nr->nfull, s->ns[n].cnt + nskipped) >=
		                 floor) {
			/* The skipped query tokens it holds a token of, asked
			 * only of the names that could reach the floor; not
			 * through the token already counted (one listed token
			 * near two query tokens is one piece of evidence). */
			unsigned bits = 0;
			for (uint32_t j = 0; j < nr->ntok; j++) {
				uint32_t id = ix->ntoks[nr->tok + j];
				if (id != s->ns[n].last_id)
					bits |= skipset_bits(s, skipmask, id);
			}
			s->ns[n].cnt = (uint8_t)(s->ns[n].cnt + __builtin_popcount(bits));
		}

		if (s->ns[n].cnt < need ||
		    bound(nq_full, q.n - nq_full, nr->nfull, nr->ntok - nr->nfull, s->ns[n].cnt) < floor)
			continue;
		sc = score(&q, ix, nr, s);
		if (sc > best || (sc == best && sc > 0 && n < best_name)) {
			best = sc;
			best_name = n;
		}
		if (best == 1000)
			break; /* nothing scores higher */
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
