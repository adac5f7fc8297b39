/* names_match.c: sanctions name screening: normalisation, folding, index keys, Jaro-Winkler, scoring. */
#include "txpipe/names.h"

#include <string.h>

#include "names_int.h"

/* ---- Normalisation ------------------------------------------------------- */

/* ASCII for U+00C0..U+00FF; "" marks a non-letter (multiplication and
 * division signs). */
static const char *const latin1_fold[64] = {
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
	"d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
	"d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y",
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
#define S(w)                     \
	{                        \
		w, sizeof(w) - 1 \
	}
static const struct {
	const char *w;
	size_t n;
} stopwords[] = {
	S("ltd"),     S("limited"), S("llc"),  S("inc"),  S("incorporated"), S("co"),   S("corp"), S("corporation"),
	S("company"), S("sa"),      S("sas"),  S("sarl"), S("gmbh"),         S("ag"),   S("kg"),   S("plc"),
	S("nv"),      S("bv"),      S("srl"),  S("spa"),  S("llp"),          S("lp"),   S("jsc"),  S("ojsc"),
	S("cjsc"),    S("pjsc"),    S("ooo"),  S("zao"),  S("oao"),          S("ltda"), S("pte"),  S("pty"),
	S("bhd"),     S("fze"),     S("fzco"), S("the"),  S("of"),           S("and"),  S("de"),   S("del"),
	S("der"),     S("la"),      S("le"),   S("du"),   S("da"),           S("al"),   S("el"),   S("bin"),
	S("ibn"),     S("van"),     S("von"),  S("mr"),   S("mrs"),          S("ms"),   S("dr"),
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
void names__tokenize(const char *name, size_t len, int latin1, struct toks *t)
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
		const char *w = names__tok(&raw, order[j]);
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

	names__tokenize(name, len, latin1, &t);
	if (cap == 0)
		return t.n;
	for (int i = 0; i < t.n; i++) {
		size_t n = t.len[i];
		if (o + n + 2 > cap)
			break;
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, names__tok(&t, i), n);
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

uint64_t names__key_hash(const char *s, size_t n)
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
int names__token_keys(const char *w, size_t n, uint64_t keys[TOKEN_MAX + 1])
{
	char s[TOKEN_MAX + 1], d[TOKEN_MAX + 2];
	size_t len = skeleton(w, n, s);
	int k = 0;

	keys[k++] = names__key_hash(s, len);
	if (len < 3)
		return k;
	for (size_t i = len == 3 ? 1 : 0; i < len; i++) {
		size_t o = 0;
		for (size_t j = 0; j < len; j++)
			if (j != i && (o == 0 || d[o - 1] != s[j]))
				d[o++] = s[j];
		if (len == 3)
			d[o++] = '#'; /* the salt: no skeleton holds it */
		keys[k++] = names__key_hash(d, o);
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

/* ---- Scoring ----------------------------------------------------------------- */

/* Letters of w[0, n) absent from `mask`: characters that cannot match. */
static size_t absent(const char *w, size_t n, uint32_t mask)
{
	size_t x = 0;

	for (size_t i = 0; i < n; i++)
		x += !(names__letter_mask(w + i, 1) & mask);
	return x;
}

/* Whether two full tokens of lengths ql and ll, of which at most m
 * characters can match and whose common prefix is p (at most 4) long, can
 * reach PAIR_FLOOR: the integer form of jaro <= (m/ql + m/ll + 1) / 3 and
 * the boost, jw <= jaro + p/10 (1 - jaro), in thousandths. */
static bool jw_may_reach(size_t ql, size_t ll, size_t m, size_t p)
{
	unsigned jaro;

	if (m == 0)
		return false;
	jaro = (unsigned)((1000 * m * ll + 1000 * m * ql + 1000 * ql * ll) / (3 * ql * ll));
	return jaro + (unsigned)p * (1000 - jaro) / 10 + 1 >= PAIR_FLOOR;
}

void names__fill_align_need(struct txp_names *ix)
{
	for (size_t ql = 0; ql <= TOKEN_MAX; ql++)
		for (size_t ll = 0; ll <= TOKEN_MAX; ll++)
			for (size_t p = 0; p <= 4; p++) {
				size_t m = 1, lim = ql < ll ? ql : ll;
				if (ql >= 2 && ll >= 2)
					while (m <= lim && !jw_may_reach(ql, ll, m, p))
						m++;
				ix->align_need[ql][ll][p] = (uint8_t)(ql >= 2 && ll >= 2 && m <= lim ? m : TOKEN_MAX + 1);
			}
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
	const char *qt = names__tok(q, i), *lt = ix->pool + ix->utok_off[id];
	size_t ql = q->len[i], ll = ix->utok_len[id];

	if (ql >= 2 && ll >= 2) {
		size_t ma = ql - absent(qt, ql, ix->utok_mask[id]), mb = ll - absent(lt, ll, q->mask[i]);
		size_t m = ma < mb ? ma : mb, p = 0;
		unsigned v;

		while (p < 4 && p < ql && p < ll && qt[p] == lt[p])
			p++;
		if (!jw_may_reach(ql, ll, m, p))
			return 0;
		v = txp_names_jaro_winkler(qt, ql, lt, ll);
		return v >= PAIR_FLOOR ? v : 0;
	}
	return qt[0] == lt[0] ? 1000 : 0;
}

unsigned names__sim(const struct toks *q, int i, const struct txp_names *ix, struct txp_names_scratch *s, uint32_t id)
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
unsigned names__score(const struct toks *q, const struct txp_names *ix, const struct name_rec *nr,
                      struct txp_names_scratch *s)
{
	/* The aligning pairs, each sim << 16 | (255 - i) << 8 | (255 - j):
	 * in decreasing order, best similarity first, then the lowest i and
	 * j, the order the greedy alignment takes them in. */
	uint32_t pairs[MAX_TOKENS * MAX_TOKENS];
	int npairs = 0;
	uint8_t llen[MAX_TOKENS];
	bool qused[MAX_TOKENS] = { 0 }, lused[MAX_TOKENS] = { 0 };
	int nl = nr->ntok, nq = q->n, full_pairs = 0;
	/* Weights in halves: a full token 2, an initial 1. */
	unsigned num = 0, wq = 0, wl = 0, weakest = 1000, weakest_full = 1000;
	int initial_pairs = 0;
	int qfree = 0, lfree = 0, qfree_at = -1, lfree_at = -1;

	/* Two full tokens are compared only when they share a key (the
	 * first pass of txp_names_screen marked those): spellings that share
	 * none are not the small differences the threshold is for, and long
	 * names would otherwise cost hundreds of comparisons each. */
	/* The tokens' states, lengths, first characters and memo rows lie
	 * at random: all are asked for before the first is read, so their
	 * misses overlap. */
	for (int j = 0; j < nl; j++) {
		uint32_t id = ix->ntoks[nr->tok + (uint32_t)j];
		__builtin_prefetch(&s->ts[id]);
		__builtin_prefetch(&ix->utok_len[id]);
		__builtin_prefetch(&ix->utok_first[id]);
		__builtin_prefetch(&s->memo[id]);
	}
	for (int j = 0; j < nl; j++) {
		uint32_t id = ix->ntoks[nr->tok + (uint32_t)j];
		const struct tok_state *ts = &s->ts[id];
		unsigned keyed = ts->gen == s->gen ? ts->bits : 0;

		llen[j] = ix->utok_len[id];
		for (int i = 0; i < nq; i++) {
			unsigned v;
			if (q->len[i] < 2 || llen[j] < 2) {
				/* An initial aligns by its letter alone (as
				 * names__sim() would say, without its memo
				 * row and the token's text). */
				v = names__tok(q, i)[0] == ix->utok_first[id] ? 1000 : 0;
			} else if (keyed & (1u << i)) {
				v = names__sim(q, i, ix, s, id);
			} else {
				continue;
			}
			if (v > 0) {
				uint32_t key = (uint32_t)v << 16 | (uint32_t)(255 - i) << 8 | (uint32_t)(255 - j);
				int at = npairs++;
				for (; at > 0 && pairs[at - 1] < key; at--)
					pairs[at] = pairs[at - 1];
				pairs[at] = key;
			}
		}
	}
	/* Best pairs first; with at most MAX_TOKENS a side, greedy is enough
	 * and keeps the cost predictable.  Only the pairs that align at all
	 * are walked: a long name has few among its hundreds. */
	for (int x = 0; x < npairs; x++) {
		unsigned best = pairs[x] >> 16;
		int bi = 255 - (int)(pairs[x] >> 8 & 0xff), bj = 255 - (int)(pairs[x] & 0xff);

		if (qused[bi] || lused[bj])
			continue;
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
 * An upper bound of names__score() from counts alone, so most candidates are
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
unsigned names__bound(int qf, int qi, int lf, int li, int shared)
{
	return names__bound_aligned(qf, qi, lf, li, shared, qi, li);
}

/* See names__bound_parts() in names_int.h. */
unsigned names__bound_aligned(int qf, int qi, int lf, int li, int shared, int qa, int la)
{
	int m, total;

	names__bound_parts(qf, qi, lf, li, shared, qa, la, &m, &total);
	return total > 0 ? (unsigned)(2000 * m / total) : 0;
}
