/* names.h: sanctions name screening: list parsing, name normalisation, an indexed fuzzy matcher (pure). */
#ifndef TXPIPE_NAMES_H
#define TXPIPE_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "txpipe/txn.h"

/*
 * Sanctions lists name parties by name, with aliases and spelling
 * variants, so a party is screened by name whatever country or identifier
 * the transaction gives.  The design, in the order a name travels:
 *
 * Normalisation (txp_names_normalise): UTF-8 is decoded (list files in the
 * OFAC format are Latin-1), Latin letters with accents fold to ASCII
 * (e -> e, ss for sharp s, ae, oe, th), letters are lowercased, '.' and
 * apostrophes inside words are deleted (S.A. -> sa, O'Brien -> obrien),
 * every other character separates words.  A name with one comma is read as
 * "LAST, First Middle" and turned into "First Middle LAST".  Entity
 * suffixes and particles carry no evidence and are dropped: see
 * stopwords[] in names_match.c (ltd, llc, inc, sa, gmbh, the, of, de, al ...).
 *
 * Index: each listed name (primary and every alias) is a sequence of
 * tokens, interned: each distinct token is stored once, with the names
 * holding it.  Each token of two or more letters has keys: its consonant
 * skeleton (first letter kept, later vowels and y dropped, c/q -> k,
 * z -> s, doubled letters collapsed), so vowel spellings (Mohammed,
 * Muhammad) share a key; and each single deletion of the skeleton (three
 * letters: only after the first, salted apart), so one changed consonant
 * still shares a key with the listed spelling.  A hash table maps each
 * key to the distinct tokens holding it, each posting with the token's
 * letters (each letter's count up to two), length and first three
 * letters: an upper bound of its Jaro-Winkler similarity with a query
 * token, so the tokens that share a key but cannot align (below 0.80)
 * are dismissed on the posting, their names never read; the bound never
 * dismisses a token that would align.  A query scores only the names
 * whose tokens share keys with, and can align with, at least two of its
 * tokens (one when the query or the listed name has only one full
 * token) and whose token counts can still reach the threshold, never
 * the whole list (an
 * initial counting in those only when a token on the other side starts
 * with its letter); the names of the query's commonest tokens are not
 * walked (a name of two or more full tokens is met through the others:
 * as many of them are left out as the names' shapes allow, apart for the
 * few names with initials, which reach the threshold sharing keys with
 * fewer tokens); a query of one full token walks only the names of the
 * listed tokens close enough to align with it, a longer one compares a
 * token of 12 names or more before walking them.  Typos in short words (three
 * consonants or fewer, not in the first letter) share no key and are
 * the recall this gives up; tests/names_bench measures it.
 *
 * Score: tokens are aligned one to one, in any order, best pairs first,
 * by Jaro-Winkler similarity (pairs below 0.80, or sharing no key, are not
 * aligned); an initial aligns with a token starting with that letter at
 * half weight, and counts only when the name has two aligned full tokens
 * or its one aligns at 0.95 or more ("JAK-A" is not Jack Anderson).
 * score = 2 * sum(weight * similarity) / (weight of the query's tokens +
 * weight of the listed name's tokens), so 1.0 is an exact match up to
 * order, case, accents and punctuation.  One unaligned interior token of a
 * name of three or more tokens (a middle name given on one side only) is
 * left out of its side's weight when every token of the other side is
 * aligned at 0.95 or more.  A hit is the best-scoring listed name at or
 * above the threshold (thousandths; the daemon's default 900).
 *
 * The index is immutable once built and read by any number of threads;
 * each thread passes its own scratch (txp_names_scratch), so screening
 * takes no lock.
 */

/* The longest list label ("ofac") and entry identifier (txn.h holds the
 * transaction's copies). */
#define TXP_NAMES_LABEL_MAX TXP_NAME_LIST_MAX
#define TXP_NAMES_ENTRY_MAX TXP_NAME_ENTRY_MAX

struct txp_names;
struct txp_names_scratch;

/* A hit: the list's label, the entry's identifier (OFAC's ent_num) and the
 * score in thousandths.  The strings point into the index. */
struct txp_names_hit {
	const char *list;
	const char *entry;
	unsigned score; /* 0-1000 */
};

/*
 * Loads the lists named by `spec`: comma-separated items "[LABEL=]FORMAT:PATH"
 * where FORMAT is "ofac" (OFAC's sdn.csv) or "inhouse" (a CSV with the
 * header "id,name" and lines "id,name[,alias...]", UTF-8); the label, by
 * default the format, names the list in hits and must be unique.  An empty
 * spec gives an empty index.  Returns 0 with the index in *out (free with
 * txp_names_free), or a negative errno with `err` naming the file and line
 * that failed to parse.
 */
int txp_names_load(const char *spec, struct txp_names **out, char *err, size_t errlen);

/* Loads one file of format "ofac" or "inhouse" into a new index; as above. */
int txp_names_load_file(const char *label, const char *format, const char *path, struct txp_names **out, char *err,
                        size_t errlen);

/* NULL is safe. */
void txp_names_free(struct txp_names *ix);

/* Entries (parties) and names (primary plus aliases) indexed. */
size_t txp_names_entries(const struct txp_names *ix);
size_t txp_names_names(const struct txp_names *ix);
/* Bytes the index allocated (its memory, apart from per-thread scratch). */
size_t txp_names_memory(const struct txp_names *ix);

/*
 * Writes the normalised form of name[0, len) into out[0, cap) as tokens
 * separated by single spaces, NUL-terminated, and returns the number of
 * tokens (0 when nothing is left: such a name is not screened).  `latin1`
 * reads bytes as ISO 8859-1 instead of UTF-8.  Pure.
 */
int txp_names_normalise(const char *name, size_t len, int latin1, char *out, size_t cap);

/* Jaro-Winkler similarity of two strings, in thousandths (1000: equal). */
unsigned txp_names_jaro_winkler(const char *a, size_t alen, const char *b, size_t blen);

/* Per-thread scratch; NULL when out of memory.  Free with
 * txp_names_scratch_free (NULL safe).  It grows to the index it is used
 * with, so one scratch serves successive indexes (reload). */
struct txp_names_scratch *txp_names_scratch_new(void);
void txp_names_scratch_free(struct txp_names_scratch *s);

/*
 * Screens one name (UTF-8) against the index: returns 1 and fills *hit when
 * the best listed name scores at least `threshold` (thousandths), 0 when
 * none does (or the name normalises to nothing), -ENOMEM when the scratch
 * cannot grow.  `ix` may be NULL (nothing listed).
 */
int txp_names_screen(const struct txp_names *ix, struct txp_names_scratch *s, const char *name, unsigned threshold,
                     struct txp_names_hit *hit);

#endif
