/* test_names.c: name screening: normalisation, each matching rule, OFAC and in-house list parsing and its errors. */
#include "txpipe/names.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The posting bound is internal (names_int.h); it is tested directly. */
#include "../../src/screening/names_int.h"

#define THRESHOLD 900

static char fixture_dir[1024];

static const char *fixture(const char *name)
{
	static char path[1200];
	const char *top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/tests/data/names/%s", top != NULL ? top : "../..", name);
	return path;
}

static struct txp_names *ix;
static struct txp_names_scratch *scr;

static void setup(void)
{
	char spec[2600], err[256];

	snprintf(spec, sizeof(spec), "ofac:%s", fixture("sdn-fixture.csv"));
	snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), ", internal=inhouse:%s",
	         fixture("inhouse-fixture.csv"));
	ck_assert_msg(txp_names_load(spec, &ix, err, sizeof(err)) == 0, "%s", err);
	scr = txp_names_scratch_new();
	ck_assert_ptr_nonnull(scr);
}

static void teardown(void)
{
	txp_names_scratch_free(scr);
	txp_names_free(ix);
	ix = NULL;
	scr = NULL;
}

static char *norm(const char *s, int latin1)
{
	static char out[256];

	txp_names_normalise(s, strlen(s), latin1, out, sizeof(out));
	return out;
}

/* Screens `name`; returns the hit's entry ("" for none) and the score in *score. */
static const char *screen_at(const char *name, unsigned threshold, unsigned *score)
{
	struct txp_names_hit hit;
	int rc = txp_names_screen(ix, scr, name, threshold, &hit);

	ck_assert_int_ge(rc, 0);
	if (score != NULL)
		*score = rc == 1 ? hit.score : 0;
	return rc == 1 ? hit.entry : "";
}

static const char *screen(const char *name)
{
	return screen_at(name, THRESHOLD, NULL);
}

START_TEST(normalise_folds_case_accents_and_punctuation)
{
	ck_assert_str_eq(norm("  JOSÉ   Müller-Lüdenscheidt ", 0), "jose muller ludenscheidt");
	ck_assert_str_eq(norm("Straße Æsir Œuvre Łódź", 0), "strasse aesir oeuvre lodz");
	/* '.' and apostrophes are deleted inside words, not split on. */
	ck_assert_str_eq(norm("O'Brien", 0), "obrien");
	ck_assert_str_eq(norm("O\xe2\x80\x99"
	                      "Brien",
	                      0),
	                 "obrien");
	ck_assert_str_eq(norm("J.P. Morgan", 0), "jp morgan");
	/* Latin-1 bytes, as OFAC files are read. */
	ck_assert_str_eq(norm("Z\xc9LANDO", 1), "zelando");
	/* Invalid UTF-8 separates words and never reads past the end. */
	ck_assert_str_eq(norm("ab\xff"
	                      "cd\xc3",
	                      0),
	                 "ab cd");
}
END_TEST

START_TEST(normalise_turns_last_comma_first_and_drops_suffixes)
{
	ck_assert_str_eq(norm("PETROVSKY, Ivan Sergeyevich", 0), "ivan sergeyevich petrovsky");
	ck_assert_str_eq(norm("Acme Trading S.A.", 0), "acme trading");
	ck_assert_str_eq(norm("ACME TRADING CO., LTD.", 0), "acme trading");
	ck_assert_str_eq(norm("The Bank of Foo and Bar GmbH", 0), "bank foo bar");
	/* A name of single letters is an acronym. */
	ck_assert_str_eq(norm("K. M. A.", 0), "kma");
	ck_assert_str_eq(norm("J R Smith", 0), "j r smith");
	ck_assert_int_eq(txp_names_normalise("Ltd. & Co.", 10, 0, NULL, 0), 0);
}
END_TEST

START_TEST(jaro_winkler_matches_published_values)
{
	/* Winkler (1990) examples, as usually quoted: MARTHA/MARHTA 0.961,
	 * DWAYNE/DUANE 0.840, DIXON/DICKSONX 0.813. */
	ck_assert_uint_eq(txp_names_jaro_winkler("martha", 6, "marhta", 6), 961);
	ck_assert_uint_eq(txp_names_jaro_winkler("dwayne", 6, "duane", 5), 840);
	ck_assert_uint_eq(txp_names_jaro_winkler("dixon", 5, "dicksonx", 8), 813);
	ck_assert_uint_eq(txp_names_jaro_winkler("abc", 3, "abc", 3), 1000);
	ck_assert_uint_eq(txp_names_jaro_winkler("abc", 3, "xyz", 3), 0);
}
END_TEST

START_TEST(exact_name_hits_with_list_entry_and_score)
{
	struct txp_names_hit hit;

	ck_assert_int_eq(txp_names_screen(ix, scr, "Ivan Sergeyevich Petrovsky", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.list, "ofac");
	ck_assert_str_eq(hit.entry, "101");
	ck_assert_uint_eq(hit.score, 1000);
	ck_assert_uint_eq(txp_names_entries(ix), 12);
	ck_assert_uint_gt(txp_names_memory(ix), 0);
}
END_TEST

START_TEST(case_accents_and_punctuation_do_not_matter)
{
	ck_assert_str_eq(screen("ivan SERGEYEVICH petrovsky"), "101");
	ck_assert_str_eq(screen("Iván Sergéyevich Petróvsky"), "101");
	ck_assert_str_eq(screen("Seamus Patrick O'Brien"), "103");
	ck_assert_str_eq(screen("Seamus Patrick OBrien"), "103");
	ck_assert_str_eq(screen("Seamus-Patrick O Brien"), ""); /* a split word is a different token */
	ck_assert_str_eq(screen("Zelando Holdings"), "104");    /* Latin-1 É in the file */
}
END_TEST

START_TEST(word_order_is_free)
{
	ck_assert_str_eq(screen("PETROVSKY, Ivan Sergeyevich"), "101");
	ck_assert_str_eq(screen("Petrovsky Ivan Sergeyevich"), "101");
	ck_assert_str_eq(screen("Sergeyevich Ivan Petrovsky"), "101");
	/* A repeated family name, as Spanish names have it. */
	ck_assert_str_eq(screen("Violeta Testero Testero"), "108");
	ck_assert_str_eq(screen("TESTERO TESTERO, Violeta"), "108");
}
END_TEST

START_TEST(aliases_hit_their_entry)
{
	ck_assert_str_eq(screen("Ivan Petrovski"), "101");             /* a.k.a. 'PETROVSKI, Ivan' */
	ck_assert_str_eq(screen("Boris Ivanov-Ali"), "101");           /* apostrophe inside the alias */
	ck_assert_str_eq(screen("Blue Harbour Shipping Inc."), "102"); /* f.k.a. */
	ck_assert_str_eq(screen("Dima Zarkov"), "IH-001");             /* in-house alias column */
}
END_TEST

START_TEST(initials_match_at_reduced_weight)
{
	ck_assert_str_eq(screen("I. Sergeyevich Petrovsky"), "101");
	ck_assert_str_eq(screen("Ivan S. Petrovsky"), "101");
	ck_assert_str_eq(screen("D Zarkov"), "IH-001");
	/* An initial with the wrong letter is evidence against. */
	ck_assert_str_eq(screen("X. Sergeyevich Petrovsky"), "");
	/* Beside one full word, an initial counts only when that word
	 * agrees closely: "ZARKO-K" is K. Zarko, not Kevin Zarco. */
	ck_assert_str_eq(screen("K. Zarko"), "109");
	ck_assert_str_eq(screen("Kevin Zarko"), "109");
	ck_assert_str_eq(screen("Kevin Zarco"), "");
}
END_TEST

START_TEST(one_missing_middle_name_is_tolerated_not_two)
{
	ck_assert_str_eq(screen("Ivan Petrovsky"), "101");
	ck_assert_str_eq(screen("Seamus O'Brien"), "103");
	ck_assert_str_eq(screen("Ivan Alexeyevich Sergeyevich Petrovsky"), "101"); /* one extra */
	/* The family name missing is not a middle name. */
	ck_assert_str_eq(screen("Ivan Sergeyevich"), "");
	/* A middle name missing and a first name only similar: two differences. */
	ck_assert_str_eq(screen("Iwen Petrovsky"), "");
}
END_TEST

START_TEST(small_spelling_differences_hit_above_threshold)
{
	unsigned score;

	ck_assert_str_eq(screen_at("Ivan Sergeyevich Petrowsky", THRESHOLD, &score), "101");
	ck_assert_uint_lt(score, 1000);
	ck_assert_str_eq(screen("Ivan Sergeevich Petrovsky"), "101");
	ck_assert_str_eq(screen("Jose Maria Quintero Alvares"), "105");
	ck_assert_str_eq(screen("Vostock Marine"), "107");
	/* The threshold decides: an exact-only threshold refuses the typo. */
	ck_assert_str_eq(screen_at("Ivan Sergeyevich Petrowsky", 1000, NULL), "");
	ck_assert_str_eq(screen_at("Ivan Sergeyevich Petrovsky", 1000, NULL), "101");
}
END_TEST

START_TEST(entity_suffixes_are_not_evidence)
{
	ck_assert_str_eq(screen("Northwind Trading Limited"), "102");
	ck_assert_str_eq(screen("NORTHWIND TRADING LLC"), "102");
	ck_assert_str_eq(screen("Northwind Trading"), "102");
	ck_assert_str_eq(screen("Zelando Holdings GmbH"), "104");
	ck_assert_str_eq(screen("Societe Generale de Test"), "IH-002");
	/* Sharing only a suffix or one word of two is no hit. */
	ck_assert_str_eq(screen("Southwind Holdings LLC"), "");
	ck_assert_str_eq(screen("Trading Co Ltd"), "");
	ck_assert_str_eq(screen("K.M.A."), "106");
}
END_TEST

START_TEST(ordinary_and_partial_names_do_not_hit)
{
	ck_assert_str_eq(screen("John Brown"), "");
	ck_assert_str_eq(screen("Ivan Smith"), "");
	ck_assert_str_eq(screen("Maria Quintero"), "");
	ck_assert_str_eq(screen("Northwind"), "");
	/* A single-word alias ('EL FLACO' -> "flaco") needs the whole name. */
	ck_assert_str_eq(screen("Flaco"), "105");
	ck_assert_str_eq(screen("Pedro Flaco"), "");
	ck_assert_str_eq(screen(""), "");
	ck_assert_str_eq(screen("Ltd."), "");
	ck_assert_str_eq(screen("J."), "");
}
END_TEST

START_TEST(in_house_list_hits_under_its_label)
{
	struct txp_names_hit hit;

	ck_assert_int_eq(txp_names_screen(ix, scr, "Józef Kowalczyk", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.list, "internal");
	ck_assert_str_eq(hit.entry, "IH-003");
	ck_assert_int_eq(txp_names_screen(NULL, scr, "Józef Kowalczyk", THRESHOLD, &hit), 0);
}
END_TEST

/* Writes `text` to a temporary file; returns its path (static). */
static const char *temp_list(const char *text)
{
	static char path[1100];
	FILE *f;

	snprintf(path, sizeof(path), "%s/list.csv", fixture_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void expect_error(const char *format, const char *text, const char *needle)
{
	struct txp_names *x = NULL;
	char err[512] = "", want[1300];
	const char *path = temp_list(text);

	ck_assert_int_eq(txp_names_load_file(format, format, path, &x, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(x);
	snprintf(want, sizeof(want), "%s:%s", path, needle);
	ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

START_TEST(malformed_lines_are_refused_naming_file_and_line)
{
	static const char ok[] = "1,\"A B\",-0- ,\"X\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n";
	char text[512];

	snprintf(text, sizeof(text), "%s2,\"C D\",-0- ,\"X\"\r\n", ok);
	expect_error("ofac", text, "2: expected 12 fields");
	snprintf(text, sizeof(text), "%s%sX7,\"C D\",-0- ,\"X\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n", ok, ok);
	expect_error("ofac", text, "3: ent_num");
	snprintf(text, sizeof(text), "%s\r\n\r\n8,\"C D,-0- \r\n", ok);
	expect_error("ofac", text, "4: unterminated");
	snprintf(text, sizeof(text), "%s9,-0- ,-0- ,\"X\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n", ok);
	expect_error("ofac", text, "2: SDN_Name");
	expect_error("inhouse", "name,id\nA1,Foo Bar\n", "1: the first line must be the header");
	expect_error("inhouse", "id,name\n# c\nA1,Foo Bar\nbad id!,Foo\n", "4: id must be");
	expect_error("inhouse", "id,name\nA1,Foo Bar\nA2\n", "3: expected id,name");
	expect_error("inhouse", "id,name\nA1,\n", "2: name is empty");
}
END_TEST

START_TEST(spec_errors_name_the_item)
{
	struct txp_names *x = NULL;
	char err[512] = "", spec[2600];

	ck_assert_int_eq(txp_names_load("csv:/nonexistent", &x, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown list format"));
	ck_assert_int_eq(txp_names_load("ofac", &x, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "[LABEL=]FORMAT:PATH"));
	ck_assert_int_lt(txp_names_load("ofac:/nonexistent/sdn.csv", &x, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/sdn.csv"));
	snprintf(spec, sizeof(spec), "ofac:%s,ofac:%s", fixture("sdn-fixture.csv"), fixture("sdn-fixture.csv"));
	ck_assert_int_eq(txp_names_load(spec, &x, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "two lists have this label"));
	ck_assert_ptr_null(x);
	ck_assert_int_eq(txp_names_load("", &x, err, sizeof(err)), 0);
	ck_assert_uint_eq(txp_names_entries(x), 0);
	ck_assert_int_eq(txp_names_screen(x, scr, "Ivan Petrovsky", THRESHOLD, &(struct txp_names_hit){ 0 }), 0);
	txp_names_free(x);
}
END_TEST

/* Reads the words of a fixture file, lowercased, into w[][TOKEN_MAX + 1]. */
static int read_fixture_words(const char *name, char w[][TOKEN_MAX + 1], int max)
{
	FILE *f = fopen(fixture(name), "r");
	char line[128];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		size_t len = 0;
		if (line[0] == '#')
			continue;
		for (char *c = line; *c != '\0' && len < 12; c++)
			if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))
				w[n][len++] = (char)(*c | 0x20);
		w[n][len] = '\0';
		if (len >= 2)
			n++;
	}
	fclose(f);
	return n;
}

/*
 * The first pass of a screening dismisses a token met through a shared
 * key when the letters, length and prefix its posting holds keep Jaro-
 * Winkler under PAIR_FLOOR.  That must be an upper bound: a token that
 * aligns is never dismissed, or a listed name is missed.  Every pair of
 * common names and their variants (a letter changed, doubled, tripled,
 * dropped) is compared both ways; the bound must also dismiss most pairs
 * that do not align, or it saves nothing.
 */
START_TEST(posting_bound_never_dismisses_an_aligning_token)
{
	static char w[1200][TOKEN_MAX + 1];
	int n = read_fixture_words("first-names.txt", w, 120);
	long below = 0, dismissed = 0, aligning = 0;

	n += read_fixture_words("last-names.txt", w + n, 120);
	for (int k = 0, base = n; k < base && n + 4 <= 1200; k++) {
		size_t len = strlen(w[k]), mid = len / 2;
		snprintf(w[n++], TOKEN_MAX + 1, "%.*s%c%s", (int)mid, w[k], w[k][mid] == 'z' ? 'a' : w[k][mid] + 1,
		         w[k] + mid + 1);
		snprintf(w[n++], TOKEN_MAX + 1, "%.*s%c%s", (int)mid + 1, w[k], w[k][mid], w[k] + mid);
		snprintf(w[n++], TOKEN_MAX + 1, "%.*s%c%c%s", (int)mid + 1, w[k], w[k][mid], w[k][mid], w[k] + mid);
		snprintf(w[n++], TOKEN_MAX + 1, "%.*s%s", (int)mid, w[k], w[k] + mid + 1);
	}
	for (int a = 0; a < n; a++) {
		struct toks q;
		size_t al = strlen(w[a]);

		if (al < 2)
			continue;
		memset(&q, 0, sizeof(q));
		memcpy(q.buf, w[a], al + 1);
		q.len[0] = (uint8_t)al;
		q.n = 1;
		names__letter_levels(w[a], al, q.lv[0]);
		for (int b = 0; b < n; b++) {
			struct post_rec pr;
			uint32_t lv[3];
			size_t bl = strlen(w[b]);
			unsigned jw;
			bool may;

			if (bl < 2)
				continue;
			memset(&pr, 0, sizeof(pr));
			names__letter_levels(w[b], bl, lv);
			pr.lv[0] = lv[0];
			pr.lv[1] = lv[1];
			pr.len = (uint8_t)bl;
			memcpy(pr.pre, w[b], bl < 3 ? bl : 3);
			jw = txp_names_jaro_winkler(w[a], al, w[b], bl);
			may = names__may_align(ix, &q, 0, &pr);
			/* The popcount form (the popcnt filter's) says the same. */
			ck_assert_msg(names__may_align_hw(names__may_q(ix, &q, 0), &pr, true) == may,
			              "\"%s\" and \"%s\": the two bit counts disagree", w[a], w[b]);
			if (jw >= PAIR_FLOOR) {
				aligning++;
				ck_assert_msg(may, "\"%s\" and \"%s\" align (%u) but the posting bound dismisses them", w[a],
				              w[b], jw);
			} else {
				below++;
				dismissed += !may;
			}
		}
	}
	ck_assert_int_gt(aligning, 1000);
	ck_assert_msg(dismissed * 10 > below * 8, "the bound dismisses only %ld of %ld pairs that do not align",
	              dismissed, below);
}
END_TEST

/* The real OFAC list, when the shared data is beside the clone (CI). */
/* A query of two full tokens compares a token held by 12 names or more
 * before walking them: the run of one that aligns is still walked, so a
 * name met through it alone (its other token's run skipped as the
 * commoner) is found, misspelt or not. */
START_TEST(long_run_that_aligns_is_walked)
{
	static char text[8192];
	size_t o = 0;
	struct txp_names *x = NULL;
	struct txp_names_hit hit;
	char err[512] = "";

	o += (size_t)snprintf(text + o, sizeof(text) - o, "id,name\n");
	for (int k = 0; k < 40; k++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "M-%d,MOHAMMED XW%cQ%cX\nB-%d,BATROV ZJ%cK%cJ\n", k,
		                      'a' + k % 20, 'a' + k / 20, k, 'a' + k % 20, 'a' + k / 20);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "X-1,MOHAMMED BATROV\n");
	ck_assert_int_eq(txp_names_load_file("t", "inhouse", temp_list(text), &x, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_names_screen(x, scr, "Mohammed Batrov", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.entry, "X-1");
	ck_assert_uint_eq(hit.score, 1000);
	ck_assert_int_eq(txp_names_screen(x, scr, "Muhamad Batrov", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.entry, "X-1");
	ck_assert_int_eq(txp_names_screen(x, scr, "Mohammed Batrof", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.entry, "X-1");
	txp_names_free(x);
}
END_TEST

/* A query token given twice takes the first one's listed tokens without
 * looking its keys up again: both places are keyed all the same, so
 * each aligns with a listed token (one keyed place only would leave the
 * other unaligned: 666, no hit). */
START_TEST(a_repeated_query_token_is_keyed_at_each_place)
{
	struct txp_names *x = NULL;
	struct txp_names_hit hit;
	char err[512] = "";

	ck_assert_int_eq(txp_names_load_file("t", "inhouse",
	                                     temp_list("id,name\nR-1,AHMAD YUNIS AHMAD\nR-2,FEDERAL STATE "
	                                               "UNITARY FEDERAL CENTER\nR-3,AHMAD KARIMOV\n"),
	                                     &x, err, sizeof(err)),
	                 0);
	ck_assert_int_eq(txp_names_screen(x, scr, "Ahmad Yunis AL-AHMAD", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.entry, "R-1");
	ck_assert_uint_eq(hit.score, 1000);
	ck_assert_int_eq(txp_names_screen(x, scr, "Ahmed Yunis Ahmed", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.entry, "R-1");
	ck_assert_int_eq(txp_names_screen(x, scr, "Federal State Unitary Federal Centre", THRESHOLD, &hit), 1);
	ck_assert_str_eq(hit.entry, "R-2");
	txp_names_free(x);
}
END_TEST

/* Every count of shared tokens and initials able to align for a query
 * of qf full tokens and qi initials against a name of lf and li. */
static void check_bound_reaches(int qf, int qi, int lf, int li)
{
	static const unsigned floors[] = { 0, 1, 500, 899, 900, 901, 950, 999, 1000 };

	for (int sh = 0; sh <= qf; sh++)
		for (int qa = 0; qa <= qi; qa++)
			for (int la = 0; la <= li; la++) {
				unsigned b = names__bound_aligned(qf, qi, lf, li, sh, qa, la);
				for (size_t f = 0; f < sizeof(floors) / sizeof(floors[0]); f++)
					ck_assert_int_eq(names__bound_reaches(qf, qi, lf, li, sh, qa, la, floors[f]),
					                 b >= floors[f]);
			}
}

/* The candidates' bound is compared without its division: the same
 * answer as the bound itself, for every shape of up to eight tokens a
 * side and the floors around the threshold. */
START_TEST(bound_reaches_agrees_with_the_bound)
{
	for (int qf = 0; qf <= 8; qf++)
		for (int qi = 0; qf + qi <= 8; qi++)
			for (int lf = 0; lf <= 8; lf++)
				for (int li = 0; lf + li <= 8; li++)
					check_bound_reaches(qf, qi, lf, li);
}
END_TEST

START_TEST(real_sdn_list_loads_whole)
{
	const char *top = getenv("top_srcdir");
	char path[1200], err[512];
	struct txp_names *x = NULL;

	/* CI keeps the shared data beside the clone; TXP_SHARED_DATA names
	 * another place. */
	if (getenv("TXP_SHARED_DATA") != NULL)
		snprintf(path, sizeof(path), "%s/ofac-sdn-2024-05-03.csv", getenv("TXP_SHARED_DATA"));
	else
		snprintf(path, sizeof(path), "%s/../shared/data/ofac-sdn-2024-05-03.csv", top != NULL ? top : "../..");
	if (access(path, R_OK) != 0)
		return; /* skipped: a fresh clone has no shared data */
	ck_assert_msg(txp_names_load_file("ofac", "ofac", path, &x, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(txp_names_entries(x), 14965);
	ck_assert_uint_gt(txp_names_names(x), 14965); /* aliases from the remarks */
	txp_names_free(x);
}
END_TEST

static Suite *names_suite(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, normalise_folds_case_accents_and_punctuation);
	tcase_add_test(tc, normalise_turns_last_comma_first_and_drops_suffixes);
	tcase_add_test(tc, jaro_winkler_matches_published_values);
	tcase_add_test(tc, exact_name_hits_with_list_entry_and_score);
	tcase_add_test(tc, case_accents_and_punctuation_do_not_matter);
	tcase_add_test(tc, word_order_is_free);
	tcase_add_test(tc, aliases_hit_their_entry);
	tcase_add_test(tc, initials_match_at_reduced_weight);
	tcase_add_test(tc, one_missing_middle_name_is_tolerated_not_two);
	tcase_add_test(tc, small_spelling_differences_hit_above_threshold);
	tcase_add_test(tc, entity_suffixes_are_not_evidence);
	tcase_add_test(tc, ordinary_and_partial_names_do_not_hit);
	tcase_add_test(tc, in_house_list_hits_under_its_label);
	tcase_add_test(tc, malformed_lines_are_refused_naming_file_and_line);
	tcase_add_test(tc, spec_errors_name_the_item);
	tcase_add_test(tc, posting_bound_never_dismisses_an_aligning_token);
	tcase_add_test(tc, long_run_that_aligns_is_walked);
	tcase_add_test(tc, a_repeated_query_token_is_keyed_at_each_place);
	tcase_add_test(tc, bound_reaches_agrees_with_the_bound);
	suite_add_tcase(s, tc);
	tc = tcase_create("sdn");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, real_sdn_list_loads_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	SRunner *sr;
	int failed;

	snprintf(fixture_dir, sizeof(fixture_dir), "%s/test_names.XXXXXX", tmp);
	if (mkdtemp(fixture_dir) == NULL)
		return 99;
	sr = srunner_create(names_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	{
		char path[1100];
		snprintf(path, sizeof(path), "%s/list.csv", fixture_dir);
		unlink(path);
		rmdir(fixture_dir);
	}
	return failed == 0 ? 0 : 1;
}
