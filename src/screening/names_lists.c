/* names_lists.c: sanctions name screening: parsing the OFAC SDN and in-house CSV list files, loading them. */
#include "txpipe/names.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txpipe/file.h"

#include "names_int.h"

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
				int rc = names__add_name(ix, r + a, b - 1 - a, 1);
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
	if ((rc = names__add_entry(ix, list, id, idn)) < 0 || (rc = names__add_name(ix, name, namen, 1)) < 0)
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
	if ((rc = names__add_entry(ix, list, id, idn)) < 0)
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
		if ((rc = names__add_name(ix, s, n, 0)) < 0)
			return rc;
	}
	return 0;
}

/* Parses a whole list file already in memory into `ix` under list `list`. */
static int parse_list(struct txp_names *ix, unsigned list, bool ofac, const char *buf, size_t len, const char *path,
                      char *err, size_t errlen)
{
	struct csv c = { .p = buf, .end = buf + len, .line = 1 };
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
	if (names__build_table(ix) < 0) {
		snprintf(err, errlen, "out of memory indexing names");
		txp_names_free(ix);
		return -ENOMEM;
	}
	names__finish(ix);
	*out = ix;
	return 0;
}

int txp_names_load_file(const char *label, const char *format, const char *path, struct txp_names **out, char *err,
                        size_t errlen)
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
