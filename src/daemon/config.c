/* config.c: the table's values: strict parsers, the file's own spelling of each value, whole configurations and reload. */
/* First: it defines _GNU_SOURCE for getline, strndup and strcasecmp under -std=c11. */
#include "txp_build_config.h"

#include "txpipe/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

#define MS_PER_S UINT64_C(1000)
#define MS_PER_M (MS_PER_S * 60)
#define MS_PER_H (MS_PER_M * 60)

static void *slot_of(struct txp_config *cfg, const struct txp_config_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cslot_of(const struct txp_config *cfg, const struct txp_config_key *k)
{
	return (const char *)cfg + k->offset;
}

size_t config__row_count(void)
{
	size_t n = 0;

	while (txp_config_keys[n].section != NULL)
		n++;
	return n;
}

const struct txp_config_key *txp_config_find(const char *section, const char *key)
{
	if (section == NULL || key == NULL)
		return NULL;
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++)
		if (strcmp(k->section, section) == 0 && strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

bool txp_config_section_known(const char *section)
{
	if (section == NULL)
		return false;
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++)
		if (strcmp(k->section, section) == 0)
			return true;
	return false;
}

const char *txp_config_type_name(enum txp_cfg_type type)
{
	switch (type) {
	case TXP_CFG_STRING:
		return "string";
	case TXP_CFG_PATH:
		return "path";
	case TXP_CFG_UINT:
		return "integer";
	case TXP_CFG_SIZE:
		return "size";
	case TXP_CFG_DURATION:
		return "duration";
	case TXP_CFG_MODE:
		return "mode";
	case TXP_CFG_POW2:
		return "power of two";
	case TXP_CFG_BOOL:
		return "boolean";
	case TXP_CFG_ENUM:
		return "enum";
	case TXP_CFG_LIST:
		return "list";
	}
	return "unknown";
}

/* ---- Writing values as the file would have them ---- */

static int format_size(char *buf, size_t len, uint64_t v)
{
	if (v != 0 && v % GIB == 0)
		return snprintf(buf, len, "%" PRIu64 "G", v / GIB);
	if (v != 0 && v % MIB == 0)
		return snprintf(buf, len, "%" PRIu64 "M", v / MIB);
	if (v != 0 && v % KIB == 0)
		return snprintf(buf, len, "%" PRIu64 "k", v / KIB);
	return snprintf(buf, len, "%" PRIu64, v);
}

static int format_duration(char *buf, size_t len, uint64_t ms)
{
	if (ms == 0)
		return snprintf(buf, len, "0");
	if (ms % MS_PER_H == 0)
		return snprintf(buf, len, "%" PRIu64 "h", ms / MS_PER_H);
	if (ms % MS_PER_M == 0)
		return snprintf(buf, len, "%" PRIu64 "m", ms / MS_PER_M);
	if (ms % MS_PER_S == 0)
		return snprintf(buf, len, "%" PRIu64 "s", ms / MS_PER_S);
	return snprintf(buf, len, "%" PRIu64 "ms", ms);
}

static int format_number(char *buf, size_t len, enum txp_cfg_type type, uint64_t v)
{
	switch (type) {
	case TXP_CFG_SIZE:
		return format_size(buf, len, v);
	case TXP_CFG_DURATION:
		return format_duration(buf, len, v);
	case TXP_CFG_MODE:
		return v == 0 ? snprintf(buf, len, "0") : snprintf(buf, len, "0%03" PRIo64, v);
	default:
		return snprintf(buf, len, "%" PRIu64, v);
	}
}

void config__append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*used < len ? buf + *used : NULL, *used < len ? len - *used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}

int txp_config_format_value(const struct txp_config *cfg, const struct txp_config_key *k, char *buf, size_t len)
{
	const void *slot = cslot_of(cfg, k);
	size_t used = 0;

	if (len > 0)
		buf[0] = '\0';
	switch (k->type) {
	case TXP_CFG_STRING:
	case TXP_CFG_PATH: {
		const char *s = *(char *const *)slot;
		return snprintf(buf, len, "%s", s != NULL ? s : "");
	}
	case TXP_CFG_UINT:
		if (k->auto_ok && *(const uint64_t *)slot == TXP_CFG_AUTO)
			return snprintf(buf, len, "auto");
		return format_number(buf, len, k->type, *(const uint64_t *)slot);
	case TXP_CFG_SIZE:
	case TXP_CFG_DURATION:
	case TXP_CFG_MODE:
	case TXP_CFG_POW2:
		return format_number(buf, len, k->type, *(const uint64_t *)slot);
	case TXP_CFG_BOOL:
		return snprintf(buf, len, "%s", *(const bool *)slot ? "true" : "false");
	case TXP_CFG_ENUM: {
		int v = *(const int *)slot;
		for (int i = 0; k->enum_names[i] != NULL; i++)
			if ((k->enum_values != NULL ? k->enum_values[i] : i) == v)
				return snprintf(buf, len, "%s", k->enum_names[i]);
		return snprintf(buf, len, "%d", v);
	}
	case TXP_CFG_LIST: {
		const struct txp_strlist *l = slot;
		for (size_t i = 0; i < l->n; i++)
			config__append(buf, len, &used, "%s%s", i > 0 ? ", " : "", l->items[i]);
		return (int)used;
	}
	}
	return -EINVAL;
}

int txp_config_range_text(const struct txp_config_key *k, char *buf, size_t len)
{
	char lo[32], hi[32];
	size_t used = 0;

	if (len > 0)
		buf[0] = '\0';
	switch (k->type) {
	case TXP_CFG_STRING:
	case TXP_CFG_PATH:
	case TXP_CFG_LIST: {
		const char *unit = k->type == TXP_CFG_LIST ? "items" : "bytes";
		if (k->max != 0 && k->min != 0)
			snprintf(buf, len, "%s%" PRIu64 " to %" PRIu64 " %s", k->type == TXP_CFG_LIST ? "" : "length ",
			         k->min, k->max, unit);
		else if (k->max != 0)
			snprintf(buf, len, "at most %" PRIu64 " %s", k->max, unit);
		else if (k->min != 0)
			snprintf(buf, len, "at least %" PRIu64 " %s", k->min, unit);
		break;
	}
	case TXP_CFG_UINT:
	case TXP_CFG_SIZE:
	case TXP_CFG_DURATION:
	case TXP_CFG_MODE:
	case TXP_CFG_POW2:
		format_number(lo, sizeof(lo), k->type, k->min);
		format_number(hi, sizeof(hi), k->type, k->max);
		snprintf(buf, len, "%s%s to %s", k->auto_ok ? "auto, or " : "", lo, hi);
		break;
	case TXP_CFG_ENUM:
		config__append(buf, len, &used, "one of");
		for (int i = 0; k->enum_names[i] != NULL; i++)
			config__append(buf, len, &used, "%s %s", i > 0 ? "," : "", k->enum_names[i]);
		break;
	case TXP_CFG_BOOL:
		break;
	}
	return len > 0 ? (int)strlen(buf) : 0;
}

static bool is_numeric(enum txp_cfg_type type)
{
	return type == TXP_CFG_UINT || type == TXP_CFG_SIZE || type == TXP_CFG_DURATION || type == TXP_CFG_MODE ||
	       type == TXP_CFG_POW2;
}

int txp_config_key_summary(const struct txp_config_key *k, char *buf, size_t len)
{
	char range[256];
	size_t used = 0;

	if (len > 0)
		buf[0] = '\0';
	txp_config_range_text(k, range, sizeof(range));
	config__append(buf, len, &used, "%s; default %s", txp_config_type_name(k->type),
	               k->default_value[0] != '\0' ? k->default_value : "empty");
	if (range[0] != '\0')
		config__append(buf, len, &used, "; %s%s", is_numeric(k->type) ? "range " : "", range);
	config__append(buf, len, &used, "; reloadable: %s", k->reloadable ? "yes" : "no");
	return (int)used;
}

/* ---- Parsing values ---- */

/*
 * Reads decimal digits from *p and advances it.  Returns 0, -EINVAL when
 * there is no digit, or -ERANGE when the number does not fit in 64 bits.
 * No sign, no spaces, no base prefix: strtoull would take "-1" and " 1".
 */
static int parse_digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int rc = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			rc = -ERANGE;
		else
			v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return rc;
}

/* Multiplies with an overflow check. */
static int scale(uint64_t *v, uint64_t factor)
{
	if (factor != 0 && *v > UINT64_MAX / factor)
		return -ERANGE;
	*v *= factor;
	return 0;
}

struct suffix {
	const char *text;
	uint64_t factor;
};

static const struct suffix size_suffixes[] = {
	{ "", 1 }, { "k", KIB }, { "K", KIB }, { "M", MIB }, { "G", GIB }, { NULL, 0 },
};

static const struct suffix duration_suffixes[] = {
	{ "", 1 }, { "ms", 1 }, { "s", MS_PER_S }, { "m", MS_PER_M }, { "h", MS_PER_H }, { NULL, 0 },
};

/* A number followed by one of `suffixes`; -EINVAL for anything else, -ERANGE on overflow. */
static int parse_scaled(const char *text, const struct suffix *suffixes, uint64_t *out)
{
	const char *p = text;
	uint64_t v;
	int rc = parse_digits(&p, &v);

	if (rc == -EINVAL)
		return rc;
	for (const struct suffix *s = suffixes; s->text != NULL; s++)
		if (strcmp(p, s->text) == 0) {
			if (rc == 0)
				rc = scale(&v, s->factor);
			*out = v;
			return rc;
		}
	return -EINVAL;
}

static int parse_mode(const char *text, uint64_t *out, char *err, size_t errlen)
{
	uint64_t v = 0;
	const char *p = text;

	if (*p == '\0')
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			goto bad;
		v = v * 8 + (uint64_t)(*p - '0');
		/* Stop before the value can wrap; anything this large is refused below. */
		if (v > 07777)
			break;
	}
	if (v > 0777) {
		snprintf(err, errlen, "mode above 0777 (only permission bits are allowed)");
		return -EINVAL;
	}
	*out = v;
	return 0;
bad:
	snprintf(err, errlen, "not an octal mode (expected octal digits, e.g. 0660)");
	return -EINVAL;
}

static int parse_number(const struct txp_config_key *k, const char *text, uint64_t *out, char *err, size_t errlen)
{
	const char *what;
	char range[128];
	uint64_t v = 0;
	int rc;

	switch (k->type) {
	case TXP_CFG_SIZE:
		rc = parse_scaled(text, size_suffixes, &v);
		what = "not a size (expected a number with optional k/M/G suffix)";
		break;
	case TXP_CFG_DURATION:
		rc = parse_scaled(text, duration_suffixes, &v);
		what = "not a duration (expected a number with optional ms/s/m/h suffix)";
		break;
	case TXP_CFG_MODE:
		rc = parse_mode(text, &v, err, errlen);
		if (rc != 0)
			return rc;
		what = "";
		break;
	default: {
		const char *p = text;
		if (k->auto_ok && strcmp(text, "auto") == 0) {
			*out = TXP_CFG_AUTO;
			return 0;
		}
		rc = parse_digits(&p, &v);
		if (rc == 0 && *p != '\0')
			rc = -EINVAL;
		what = k->auto_ok ? "not a number (expected decimal digits or auto)"
		                  : "not a number (expected decimal digits)";
		break;
	}
	}
	if (rc == -EINVAL) {
		snprintf(err, errlen, "%s", what);
		return -EINVAL;
	}
	txp_config_range_text(k, range, sizeof(range));
	if (rc == -ERANGE) {
		snprintf(err, errlen, "too large (expected %s)", range);
		return -EINVAL;
	}
	if (k->type == TXP_CFG_POW2 && (v == 0 || (v & (v - 1)) != 0)) {
		snprintf(err, errlen, "not a power of two (expected 1, 2, 4, 8, ... within %s)", range);
		return -EINVAL;
	}
	if (v < k->min || v > k->max) {
		snprintf(err, errlen, "out of range (expected %s)", range);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *text, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = { "true", "yes", "on", "1", NULL };
	static const char *const no[] = { "false", "no", "off", "0", NULL };

	for (int i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(err, errlen, "not a boolean (expected true/false, yes/no, on/off or 1/0)");
	return -EINVAL;
}

static int parse_enum(const struct txp_config_key *k, const char *text, int *out, char *err, size_t errlen)
{
	char range[256];

	for (int i = 0; k->enum_names[i] != NULL; i++)
		if (strcmp(text, k->enum_names[i]) == 0) {
			*out = k->enum_values != NULL ? k->enum_values[i] : i;
			return 0;
		}
	txp_config_range_text(k, range, sizeof(range));
	snprintf(err, errlen, "not %s", range);
	return -EINVAL;
}

/* Checks a string's length against the row's bounds, and that a path is absolute. */
static int check_string(const struct txp_config_key *k, const char *text, char *err, size_t errlen)
{
	size_t n = strlen(text);

	if (n < k->min) {
		snprintf(err, errlen, n == 0 ? "empty (a value is required)" : "shorter than %" PRIu64 " bytes",
		         k->min);
		return -EINVAL;
	}
	if (k->max != 0 && n > k->max) {
		snprintf(err, errlen, "longer than %" PRIu64 " bytes", k->max);
		return -EINVAL;
	}
	if (k->type == TXP_CFG_PATH && n > 0 && text[0] != '/') {
		snprintf(err, errlen, "not an absolute path (expected one starting with /)");
		return -EINVAL;
	}
	return 0;
}

static void strlist_clear(struct txp_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits "a, b ,c" into trimmed items; an empty item is an error, an empty text an empty list. */
static int parse_list(const struct txp_config_key *k, const char *text, struct txp_strlist *out, char *err,
                      size_t errlen)
{
	struct txp_strlist l = { NULL, 0 };
	size_t cap = 1;
	const char *p = text;
	int rc = 0;

	while (is_blank(*p))
		p++;
	if (*p != '\0')
		for (const char *q = p; *q != '\0'; q++)
			cap += *q == ',';
	if (*p != '\0') {
		l.items = calloc(cap, sizeof(*l.items));
		if (l.items == NULL)
			return -ENOMEM;
	}
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		while (n > 0 && is_blank(p[n - 1]))
			n--;
		if (n == 0) {
			snprintf(err, errlen, "empty item in list (expected items separated by commas)");
			rc = -EINVAL;
			goto fail;
		}
		l.items[l.n] = strndup(p, n);
		if (l.items[l.n] == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		l.n++;
		if (end == NULL)
			break;
		p = end + 1;
		while (is_blank(*p))
			p++;
		if (*p == '\0') {
			snprintf(err, errlen, "empty item in list (expected items separated by commas)");
			rc = -EINVAL;
			goto fail;
		}
	}
	if (l.n < k->min || (k->max != 0 && l.n > k->max)) {
		char range[128];
		txp_config_range_text(k, range, sizeof(range));
		snprintf(err, errlen, "%zu items (expected %s)", l.n, range);
		rc = -EINVAL;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	strlist_clear(&l);
	return rc;
}

int txp_config_set(struct txp_config *cfg, const struct txp_config_key *k, const char *text, char *err, size_t errlen)
{
	void *slot = slot_of(cfg, k);
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	switch (k->type) {
	case TXP_CFG_STRING:
	case TXP_CFG_PATH: {
		char *copy;
		rc = check_string(k, text, err, errlen);
		if (rc != 0)
			return rc;
		copy = strdup(text);
		if (copy == NULL)
			return -ENOMEM;
		free(*(char **)slot);
		*(char **)slot = copy;
		return 0;
	}
	case TXP_CFG_UINT:
	case TXP_CFG_SIZE:
	case TXP_CFG_DURATION:
	case TXP_CFG_MODE:
	case TXP_CFG_POW2:
		return parse_number(k, text, slot, err, errlen);
	case TXP_CFG_BOOL:
		return parse_bool(text, slot, err, errlen);
	case TXP_CFG_ENUM:
		return parse_enum(k, text, slot, err, errlen);
	case TXP_CFG_LIST: {
		struct txp_strlist l;
		rc = parse_list(k, text, &l, err, errlen);
		if (rc != 0)
			return rc;
		strlist_clear(slot);
		*(struct txp_strlist *)slot = l;
		return 0;
	}
	}
	snprintf(err, errlen, "unknown value type %d", (int)k->type);
	return -EINVAL;
}

/* ---- Whole configurations ---- */

void txp_config_free(struct txp_config *cfg)
{
	if (cfg == NULL)
		return;
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		void *slot = slot_of(cfg, k);
		if (k->type == TXP_CFG_STRING || k->type == TXP_CFG_PATH) {
			free(*(char **)slot);
			*(char **)slot = NULL;
		} else if (k->type == TXP_CFG_LIST) {
			strlist_clear(slot);
		}
	}
	free(cfg->path);
	cfg->path = NULL;
	free(cfg->lines);
	cfg->lines = NULL;
}

int txp_config_defaults(struct txp_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		int rc = txp_config_set(cfg, k, k->default_value, err, sizeof(err));
		if (rc != 0)
			return rc;
	}
	return 0;
}

static bool values_equal(const struct txp_config *a, const struct txp_config *b, const struct txp_config_key *k)
{
	const void *x = cslot_of(a, k), *y = cslot_of(b, k);

	switch (k->type) {
	case TXP_CFG_STRING:
	case TXP_CFG_PATH: {
		const char *s = *(char *const *)x, *t = *(char *const *)y;
		return strcmp(s != NULL ? s : "", t != NULL ? t : "") == 0;
	}
	case TXP_CFG_UINT:
	case TXP_CFG_SIZE:
	case TXP_CFG_DURATION:
	case TXP_CFG_MODE:
	case TXP_CFG_POW2:
		return *(const uint64_t *)x == *(const uint64_t *)y;
	case TXP_CFG_BOOL:
		return *(const bool *)x == *(const bool *)y;
	case TXP_CFG_ENUM:
		return *(const int *)x == *(const int *)y;
	case TXP_CFG_LIST: {
		const struct txp_strlist *l = x, *m = y;
		if (l->n != m->n)
			return false;
		for (size_t i = 0; i < l->n; i++)
			if (strcmp(l->items[i], m->items[i]) != 0)
				return false;
		return true;
	}
	}
	return false;
}

int txp_config_diff_nonreloadable(const struct txp_config *old, const struct txp_config *next, char *buf, size_t buflen)
{
	size_t used = 0;
	int changed = 0;

	if (buflen > 0)
		buf[0] = '\0';
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		if (k->reloadable || values_equal(old, next, k))
			continue;
		config__append(buf, buflen, &used, "%s[%s] %s", changed > 0 ? ", " : "", k->section, k->key);
		changed++;
	}
	return changed;
}

static int copy_value(struct txp_config *dst, const struct txp_config *src, const struct txp_config_key *k)
{
	void *to = slot_of(dst, k);
	const void *from = cslot_of(src, k);

	switch (k->type) {
	case TXP_CFG_STRING:
	case TXP_CFG_PATH: {
		const char *s = *(char *const *)from;
		char *copy = s != NULL ? strdup(s) : NULL;
		if (s != NULL && copy == NULL)
			return -ENOMEM;
		free(*(char **)to);
		*(char **)to = copy;
		return 0;
	}
	case TXP_CFG_LIST: {
		const struct txp_strlist *l = from;
		struct txp_strlist m = { NULL, 0 };
		if (l->n > 0) {
			m.items = calloc(l->n, sizeof(*m.items));
			if (m.items == NULL)
				return -ENOMEM;
		}
		for (; m.n < l->n; m.n++) {
			m.items[m.n] = strdup(l->items[m.n]);
			if (m.items[m.n] == NULL) {
				strlist_clear(&m);
				return -ENOMEM;
			}
		}
		strlist_clear(to);
		*(struct txp_strlist *)to = m;
		return 0;
	}
	case TXP_CFG_UINT:
	case TXP_CFG_SIZE:
	case TXP_CFG_DURATION:
	case TXP_CFG_MODE:
	case TXP_CFG_POW2:
		*(uint64_t *)to = *(const uint64_t *)from;
		return 0;
	case TXP_CFG_BOOL:
		*(bool *)to = *(const bool *)from;
		return 0;
	case TXP_CFG_ENUM:
		*(int *)to = *(const int *)from;
		return 0;
	}
	return -EINVAL;
}

int txp_config_apply_reloadable(struct txp_config *dst, const struct txp_config *src)
{
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		if (!k->reloadable)
			continue;
		int rc = copy_value(dst, src, k);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int txp_config_keep_nonreloadable(struct txp_config *dst, const struct txp_config *src)
{
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		if (k->reloadable)
			continue;
		int rc = copy_value(dst, src, k);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int txp_config_write(const struct txp_config *cfg, FILE *out)
{
	const char *section = NULL;

	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		if (section == NULL || strcmp(section, k->section) != 0) {
			fprintf(out, "%s[%s]\n", section != NULL ? "\n" : "", k->section);
			section = k->section;
		}
		if (k->secret) {
			fprintf(out, "%s = (hidden)\n", k->key);
			continue;
		}
		int n = txp_config_format_value(cfg, k, NULL, 0);
		char *v = n >= 0 ? malloc((size_t)n + 1) : NULL;
		if (v == NULL)
			return -ENOMEM;
		txp_config_format_value(cfg, k, v, (size_t)n + 1);
		fprintf(out, "%s =%s%s\n", k->key, v[0] != '\0' ? " " : "", v);
		free(v);
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
