/* test_config_docs.c: conf/txpiped.ini and man/txpiped.ini.5 agree with the config table, row for row. */
#include "txp_build_config.h"

#include "txpipe/config.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAMPLE "conf/txpiped.ini"
#define MANPAGE "man/txpiped.ini.5"

struct lines {
	char *text;
	char **v;
	size_t n;
};

/* Reads $top_srcdir/rel and splits it into lines; the caller frees with lines_free. */
static void lines_read(const char *rel, struct lines *out)
{
	const char *top = getenv("top_srcdir");
	char *path;
	FILE *f;
	long size;

	ck_assert_msg(top != NULL, "top_srcdir is not set (run through make check)");
	ck_assert_int_gt(asprintf(&path, "%s/%s", top, rel), 0);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	out->text = calloc((size_t)size + 1, 1);
	ck_assert_ptr_nonnull(out->text);
	ck_assert_uint_eq(fread(out->text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	free(path);

	out->n = 0;
	out->v = calloc((size_t)size + 1, sizeof(*out->v));
	ck_assert_ptr_nonnull(out->v);
	for (char *p = out->text; *p != '\0';) {
		char *nl = strchr(p, '\n');
		out->v[out->n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
}

static void lines_free(struct lines *l)
{
	free(l->v);
	free(l->text);
}

static size_t row_index(const struct txp_config_key *k)
{
	return (size_t)(k - txp_config_keys);
}

static size_t row_count(void)
{
	size_t n = 0;

	while (txp_config_keys[n].section != NULL)
		n++;
	return n;
}

/* True when `s` is a lower-case name: letters, digits and underscores. */
static bool is_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* If `s` is exactly "[name]", copies the name and returns true. */
static bool header_name(const char *s, char *name, size_t len)
{
	size_t n = strlen(s);

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= len || !is_name(s + 1, n - 2))
		return false;
	memcpy(name, s + 1, n - 2);
	name[n - 2] = '\0';
	return true;
}

/* If `s` is "name = value" or "name =", copies the name and points *value at the value. */
static bool setting(const char *s, char *name, size_t len, const char **value)
{
	const char *eq = strstr(s, " =");

	if (eq == NULL || !is_name(s, (size_t)(eq - s)) || (size_t)(eq - s) >= len)
		return false;
	if (eq[2] != '\0' && eq[2] != ' ')
		return false;
	memcpy(name, s, (size_t)(eq - s));
	name[eq - s] = '\0';
	*value = eq[2] == '\0' ? eq + 2 : eq + 3;
	return true;
}

/* The facts line the sample writes above each key: "Size, 256 to 16M; not reloadable." */
static void sample_facts(const struct txp_config_key *k, char *buf, size_t len)
{
	char range[256];

	txp_config_range_text(k, range, sizeof(range));
	if (k->type == TXP_CFG_ENUM)
		snprintf(buf, len, "%s", range);
	else
		snprintf(buf, len, "%s%s%s", txp_config_type_name(k->type), range[0] != '\0' ? ", " : "", range);
	buf[0] = (char)toupper((unsigned char)buf[0]);
	snprintf(buf + strlen(buf), len - strlen(buf), "; %s.", k->reloadable ? "reloadable" : "not reloadable");
}

/* Strips groff's font and spacing escapes and turns "\-" into "-", so text compares as it reads. */
static void groff_plain(const char *s, char *out, size_t len)
{
	size_t o = 0;

	while (*s != '\0' && o + 1 < len) {
		if (s[0] == '\\' && s[1] == 'f' && s[2] != '\0') {
			s += 3;
		} else if (s[0] == '\\' && s[1] == '&') {
			s += 2;
		} else if (s[0] == '\\' && s[1] == '-') {
			out[o++] = '-';
			s += 2;
		} else if (strncmp(s, "\\(ha", 4) == 0) {
			out[o++] = '^';
			s += 4;
		} else if (strncmp(s, "\\e", 2) == 0) {
			out[o++] = '\\';
			s += 2;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
}

/* ---- The sample file ---- */

START_TEST(sample_shows_every_key_once_with_its_default_help_and_facts)
{
	struct lines l;
	size_t nrows = row_count();
	int *seen = calloc(nrows, sizeof(*seen));
	char section[64] = "", name[64], facts[512], help[2048];
	const char *block[32];
	size_t nblock = 0;

	ck_assert_ptr_nonnull(seen);
	lines_read(SAMPLE, &l);
	for (size_t i = 0; i < l.n; i++) {
		const char *s = l.v[i], *value;
		if (s[0] == '\0') {
			nblock = 0;
		} else if (s[0] == ';' || s[0] == '#') {
			ck_assert_uint_lt(nblock, 32);
			block[nblock++] = s[1] == ' ' ? s + 2 : s + 1;
		} else if (s[0] == '[') {
			ck_assert_msg(header_name(s, section, sizeof(section)), "%s:%zu: bad header %s", SAMPLE, i + 1,
			              s);
			nblock = 0;
		} else {
			ck_assert_msg(setting(s, name, sizeof(name), &value), "%s:%zu: not key = value: %s", SAMPLE,
			              i + 1, s);
			const struct txp_config_key *k = txp_config_find(section, name);
			ck_assert_msg(k != NULL, "%s:%zu: [%s] %s is not in the table", SAMPLE, i + 1, section, name);
			seen[row_index(k)]++;
			ck_assert_msg(strcmp(value, k->default_value) == 0,
			              "%s:%zu: [%s] %s shows %s, the default is %s", SAMPLE, i + 1, section, name,
			              value, k->default_value);
			/* The comment above: the help sentence, wrapped, then the facts line. */
			ck_assert_msg(nblock >= 2, "%s:%zu: [%s] %s has no comment above it", SAMPLE, i + 1, section,
			              name);
			sample_facts(k, facts, sizeof(facts));
			ck_assert_msg(strcmp(block[nblock - 1], facts) == 0,
			              "%s:%zu: [%s] %s: facts line is \"%s\", want \"%s\"", SAMPLE, i, section, name,
			              block[nblock - 1], facts);
			help[0] = '\0';
			for (size_t j = 0; j + 1 < nblock; j++)
				snprintf(help + strlen(help), sizeof(help) - strlen(help), "%s%s", j > 0 ? " " : "",
				         block[j]);
			ck_assert_msg(strcmp(help, k->help) == 0, "%s: [%s] %s: comment is \"%s\", help is \"%s\"",
			              SAMPLE, section, name, help, k->help);
			nblock = 0;
		}
	}
	for (size_t r = 0; r < nrows; r++)
		ck_assert_msg(seen[r] == 1, "%s: [%s] %s appears %d times", SAMPLE, txp_config_keys[r].section,
		              txp_config_keys[r].key, seen[r]);
	lines_free(&l);
	free(seen);
}
END_TEST

START_TEST(sample_comments_name_only_known_sections_and_keys)
{
	struct lines l;
	char section[64] = "", name[64];

	lines_read(SAMPLE, &l);
	for (size_t i = 0; i < l.n; i++) {
		const char *s = l.v[i], *value;
		if (s[0] == '[')
			header_name(s, section, sizeof(section));
		if (s[0] != ';' && s[0] != '#')
			continue;
		s += s[1] == ' ' ? 2 : 1;
		/* A commented-out header or setting, such as "; [fraud]" or "; workers = 4". */
		if (header_name(s, name, sizeof(name)))
			ck_assert_msg(txp_config_section_known(name), "%s:%zu: names unknown section [%s]", SAMPLE,
			              i + 1, name);
		else if (setting(s, name, sizeof(name), &value))
			ck_assert_msg(txp_config_find(section, name) != NULL, "%s:%zu: names unknown key [%s] %s",
			              SAMPLE, i + 1, section, name);
	}
	lines_free(&l);
}
END_TEST

START_TEST(sample_loads_cleanly_to_the_defaults)
{
	const char *top = getenv("top_srcdir");
	struct txp_config cfg, defaults;
	char *path, err[512], a[256], b[256];

	ck_assert_ptr_nonnull(top);
	ck_assert_int_gt(asprintf(&path, "%s/%s", top, SAMPLE), 0);
	ck_assert_msg(txp_config_load(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(txp_config_defaults(&defaults), 0);
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		txp_config_format_value(&cfg, k, a, sizeof(a));
		txp_config_format_value(&defaults, k, b, sizeof(b));
		ck_assert_msg(strcmp(a, b) == 0, "[%s] %s loads as %s, default %s", k->section, k->key, a, b);
	}
	txp_config_free(&defaults);
	txp_config_free(&cfg);
	free(path);
}
END_TEST

/* ---- The man page ---- */

START_TEST(man_page_documents_every_key_with_its_summary_and_help)
{
	struct lines l;
	size_t nrows = row_count();
	int *seen = calloc(nrows, sizeof(*seen));
	char section[64] = "", plain[2048], summary[512];
	bool in_keys = false;

	ck_assert_ptr_nonnull(seen);
	lines_read(MANPAGE, &l);
	for (size_t i = 0; i < l.n; i++) {
		const char *s = l.v[i];
		if (strncmp(s, ".SH ", 4) == 0) {
			in_keys = strcmp(s, ".SH KEYS") == 0;
			continue;
		}
		if (!in_keys)
			continue;
		if (strncmp(s, ".SS ", 4) == 0) {
			ck_assert_msg(header_name(s + 4, section, sizeof(section)), "%s:%zu: bad .SS %s", MANPAGE,
			              i + 1, s);
			ck_assert_msg(txp_config_section_known(section), "%s:%zu: unknown section [%s]", MANPAGE, i + 1,
			              section);
			continue;
		}
		if (strcmp(s, ".TP") != 0)
			continue;
		/* An entry: ".TP", ".B key", the summary, ".br", the help sentence. */
		ck_assert_msg(i + 4 < l.n && strncmp(l.v[i + 1], ".B ", 3) == 0, "%s:%zu: .TP without .B key", MANPAGE,
		              i + 1);
		const struct txp_config_key *k = txp_config_find(section, l.v[i + 1] + 3);
		ck_assert_msg(k != NULL, "%s:%zu: [%s] %s is not in the table", MANPAGE, i + 2, section,
		              l.v[i + 1] + 3);
		seen[row_index(k)]++;
		txp_config_key_summary(k, summary, sizeof(summary));
		groff_plain(l.v[i + 2], plain, sizeof(plain));
		ck_assert_msg(strcmp(plain, summary) == 0, "%s:%zu: [%s] %s: \"%s\", want \"%s\"", MANPAGE, i + 3,
		              section, k->key, plain, summary);
		ck_assert_str_eq(l.v[i + 3], ".br");
		groff_plain(l.v[i + 4], plain, sizeof(plain));
		ck_assert_msg(strcmp(plain, k->help) == 0, "%s:%zu: [%s] %s: \"%s\", help is \"%s\"", MANPAGE, i + 5,
		              section, k->key, plain, k->help);
	}
	for (size_t r = 0; r < nrows; r++)
		ck_assert_msg(seen[r] == 1, "%s: [%s] %s is documented %d times", MANPAGE, txp_config_keys[r].section,
		              txp_config_keys[r].key, seen[r]);
	lines_free(&l);
	free(seen);
}
END_TEST

/* True when some row, in any section, has this key. */
static bool any_key(const char *name)
{
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++)
		if (strcmp(k->key, name) == 0)
			return true;
	return false;
}

START_TEST(man_page_names_only_known_keys_in_bold)
{
	struct lines l;

	lines_read(MANPAGE, &l);
	for (size_t i = 0; i < l.n; i++) {
		const char *s = l.v[i];
		/* ".B name" and "\fBname\fR": a bold name with an underscore is a key. */
		if (strncmp(s, ".B ", 3) == 0 && strchr(s + 3, '_') != NULL && is_name(s + 3, strlen(s + 3)))
			ck_assert_msg(any_key(s + 3), "%s:%zu: names unknown key %s", MANPAGE, i + 1, s + 3);
		for (const char *p = strstr(s, "\\fB"); p != NULL; p = strstr(p + 3, "\\fB")) {
			const char *end = strstr(p + 3, "\\f");
			char name[64];
			size_t n = end != NULL ? (size_t)(end - p - 3) : 0;
			if (n == 0 || n >= sizeof(name) || !is_name(p + 3, n) || memchr(p + 3, '_', n) == NULL)
				continue;
			memcpy(name, p + 3, n);
			name[n] = '\0';
			ck_assert_msg(any_key(name), "%s:%zu: names unknown key %s", MANPAGE, i + 1, name);
		}
	}
	lines_free(&l);
}
END_TEST

START_TEST(man_page_example_loads_cleanly)
{
	struct lines l;
	struct txp_config cfg;
	const char *dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	char *path, err[512], plain[512];
	bool in_example = false, in_ex = false;
	size_t nlines = 0;
	FILE *f;
	int fd;

	lines_read(MANPAGE, &l);
	ck_assert_int_gt(asprintf(&path, "%s/test_config_docs.XXXXXX", dir), 0);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < l.n; i++) {
		const char *s = l.v[i];
		if (strncmp(s, ".SH ", 4) == 0)
			in_example = strcmp(s, ".SH EXAMPLE") == 0;
		else if (in_example && strcmp(s, ".EX") == 0)
			in_ex = true;
		else if (strcmp(s, ".EE") == 0)
			in_ex = false;
		else if (in_example && in_ex) {
			groff_plain(s, plain, sizeof(plain));
			fprintf(f, "%s\n", plain);
			nlines++;
		}
	}
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_gt(nlines, 4);
	ck_assert_msg(txp_config_load(&cfg, path, err, sizeof(err)) == 0, "the EXAMPLE does not load: %s", err);
	txp_config_free(&cfg);
	unlink(path);
	free(path);
	lines_free(&l);
}
END_TEST

static Suite *config_docs_suite(void)
{
	Suite *s = suite_create("config_docs");
	TCase *tc = tcase_create("sample");

	tcase_add_test(tc, sample_shows_every_key_once_with_its_default_help_and_facts);
	tcase_add_test(tc, sample_comments_name_only_known_sections_and_keys);
	tcase_add_test(tc, sample_loads_cleanly_to_the_defaults);
	suite_add_tcase(s, tc);

	tc = tcase_create("man");
	tcase_add_test(tc, man_page_documents_every_key_with_its_summary_and_help);
	tcase_add_test(tc, man_page_names_only_known_keys_in_bold);
	tcase_add_test(tc, man_page_example_loads_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_docs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
