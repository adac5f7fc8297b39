/* config_load.c: reading a configuration file into the table's values, and the checks across keys. */
#include "txp_build_config.h"

#include "txpipe/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "txpipe/aws/client.h"
#include "txpipe/aws/http.h"
#include "txpipe/file.h"
#include "txpipe/fleet.h"
#include "txpipe/metrics.h"

#include "config_int.h"

/* ---- Loading a file ---- */

struct load_state {
	FILE *f;
	size_t bytes; /* read so far, against TXP_CONFIG_FILE_MAX */
	char *value;  /* the value of the line inih is parsing, cut from `line` */
	const struct txp_config_key *rows;
	struct txp_config *cfg;
	int *set_on; /* per row: the line that set it, 0 when not yet */
	char *line;  /* the raw line inih is parsing, for our own checks */
	size_t line_cap;
	int lineno;
	int read_errno; /* nonzero when reading failed */
	int err_line;   /* first fault we found ourselves, 0 when none */
	int err_code;
	char msg[512]; /* that fault, without "path:line: " */
};

/* Copies `s` for a message: control characters become '?', and long text is elided. */
static void quote(char *buf, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len && i < QUOTE_MAX; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0' && i == QUOTE_MAX && len > QUOTE_MAX + 4) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	if (len > 0)
		buf[i < len ? i : len - 1] = '\0';
}

static void fault(struct load_state *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fault(struct load_state *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (st->err_line != 0)
		return;
	st->err_line = st->lineno;
	st->err_code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
}

static void section_names(char *buf, size_t len);

/*
 * Checks lines longer than TXP_CONFIG_LINE_MAX and what inih would silently
 * accept or mangle: indented lines (with its default INI_ALLOW_MULTILINE
 * they continue the previous value, even "  key = v"), "key: value" lines,
 * unknown section headers (it only tells us about sections that hold keys)
 * and text after a header's ']' (it ignores it).  Returns false on a fault.
 */
static bool check_raw_line(struct load_state *st, size_t n)
{
	char q[QUOTE_MAX + 8];
	const char *s = st->line;
	size_t len = n;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	st->line[len] = '\0';
	if (strlen(s) != len) {
		fault(st, -EINVAL, "line contains a NUL byte");
		return false;
	}
	if (len > TXP_CONFIG_LINE_MAX) {
		quote(q, sizeof(q), s);
		fault(st, -EINVAL, "%s: line longer than %d bytes", q, TXP_CONFIG_LINE_MAX);
		return false;
	}
	const char *t = s;
	while (isspace((unsigned char)*t))
		t++;
	if (*t == '\0' || *t == ';' || *t == '#')
		return true;
	if (t != s) {
		quote(q, sizeof(q), t);
		fault(st, -EINVAL,
		      "%s: indented line (start keys and sections in the first column; leading "
		      "whitespace would continue the previous value)",
		      q);
		return false;
	}
	if (*t != '[') {
		/* inih also splits "key: value" (configparser's form); one spelling keeps files greppable. */
		const char *sep = strpbrk(t, "=:");
		if (sep != NULL && *sep == ':') {
			quote(q, sizeof(q), t);
			fault(st, -EINVAL, "%s: expected key = value (\":\" does not separate a key from its value)",
			      q);
			return false;
		}
		return true;
	}

	const char *end = strchr(t, ']');
	if (end == NULL)
		return true; /* inih reports it as a syntax error */
	char name[64], known[512];
	size_t name_len = (size_t)(end - t - 1);
	quote(name, sizeof(name), t + 1);
	if (name_len < sizeof(name))
		name[name_len] = '\0';
	if (name_len >= sizeof(name) || !txp_config_section_known(name)) {
		section_names(known, sizeof(known));
		fault(st, -EINVAL, "[%s]: unknown section (expected one of %s)", name, known);
		return false;
	}
	const char *rest = end + 1;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		quote(q, sizeof(q), t);
		fault(st, -EINVAL, "%s: text after the section header", q);
		return false;
	}
	return true;
}

/* "daemon, pipeline, ..." for a message about an unknown section. */
static void section_names(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++)
		if (k == txp_config_keys || strcmp(k[-1].section, k->section) != 0)
			config__append(buf, len, &used, "%s%s", used > 0 ? ", " : "", k->section);
}

/*
 * Cuts the value out of the text after a line's '=' as inih does: an inline
 * comment starts at a ';' that follows a space or tab (looked for before
 * the leading spaces are skipped, so "key = ;x" is empty), then spaces
 * around the value go.  Writes into `s`.
 */
static char *cut_value(char *s)
{
	bool was_space = false;
	char *end;

	for (char *p = s; *p != '\0'; p++) {
		if (was_space && *p == ';') {
			*p = '\0';
			break;
		}
		was_space = isspace((unsigned char)*p);
	}
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Gives inih the part of the checked line it parses.  Debian's libinih has
 * its line buffer fixed at build time (INI_MAX_LINE, 200 bytes), far short
 * of the values the table allows (usd_rates: 8192 bytes), and would split a
 * longer line in two.  So inih gets a key line only up to its '=' (key
 * names are short) and a header up to its ']': it still decides what is a
 * section, a key, a comment or a syntax error, while the value is cut from
 * our copy of the whole line (cut_value, with inih's rules) for on_value.
 * Returns false, with a fault, when even that part does not fit.
 */
static bool feed_inih(struct load_state *st, char *str, size_t num)
{
	char *s = st->line, *cut = NULL;
	char q[QUOTE_MAX + 8];
	size_t n;

	st->value = NULL;
	if (s[0] == '\0' || s[0] == ';' || s[0] == '#') {
		n = 0; /* blank or comment: nothing for inih to do */
	} else if (s[0] == '[') {
		cut = strchr(s, ']');
		n = cut != NULL ? (size_t)(cut - s) + 1 : strlen(s);
	} else {
		cut = strchr(s, '=');
		n = cut != NULL ? (size_t)(cut - s) + 1 : strlen(s);
	}
	/* Room for "\n\0". */
	if (n + 2 > num) {
		if (cut == NULL) {
			/* No '=' or ']': a syntax error, which inih still sees in the first part. */
			n = num - 2;
		} else {
			quote(q, sizeof(q), s);
			fault(st, -EINVAL, "%s: key longer than %zu characters", q, num - 3);
			return false;
		}
	}
	memcpy(str, s, n);
	memcpy(str + n, "\n", 2);
	if (s[0] != '[' && cut != NULL)
		st->value = cut_value(cut + 1);
	return true;
}

/* inih's fgets-style reader: counts lines so every fault has its line number. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_state *st = stream;
	ssize_t n;

	/* Stop at our first fault; inih's return value then says if a syntax error came earlier. */
	if (st->err_line != 0 || num < 3)
		return NULL;
	errno = 0;
	n = getline(&st->line, &st->line_cap, st->f);
	if (n < 0) {
		if (ferror(st->f))
			st->read_errno = errno != 0 ? errno : EIO;
		return NULL;
	}
	st->lineno++;
	st->bytes += (size_t)n;
	if (st->bytes > TXP_CONFIG_FILE_MAX) {
		fault(st, -EFBIG, "the file is longer than %d bytes", TXP_CONFIG_FILE_MAX);
		return NULL;
	}
	/* A UTF-8 byte order mark is no part of the first line's text. */
	if (st->lineno == 1 && n >= 3 && memcmp(st->line, "\xEF\xBB\xBF", 3) == 0) {
		memmove(st->line, st->line + 3, (size_t)n - 3 + 1);
		n -= 3;
	}
	if (!check_raw_line(st, (size_t)n) || !feed_inih(st, str, (size_t)num))
		return NULL;
	return str;
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *st = user;
	char qn[QUOTE_MAX + 8], qv[QUOTE_MAX + 8], qs[QUOTE_MAX + 8], why[256];
	const struct txp_config_key *k;
	int rc;

	quote(qs, sizeof(qs), section);
	quote(qn, sizeof(qn), name);
	k = txp_config_find(section, name);
	/* inih saw the line only up to its '='; the value is ours (feed_inih). */
	if (st->value != NULL)
		value = st->value;
	quote(qv, sizeof(qv), k != NULL && k->secret ? "(hidden)" : value);
	if (section[0] == '\0') {
		fault(st, -EINVAL, "%s = %s: key outside any section (put it under its [section])", qn, qv);
		return 0;
	}
	if (!txp_config_section_known(section)) {
		fault(st, -EINVAL, "[%s] %s = %s: unknown section [%s]", qs, qn, qv, qs);
		return 0;
	}
	if (k == NULL) {
		fault(st, -EINVAL, "[%s] %s = %s: unknown key in [%s]", qs, qn, qv, qs);
		return 0;
	}
	/* inih reads "key =;x" as the value ";x" but "key = ;x" as an empty
	 * value and a comment: refuse the spelling that means two things. */
	if (value[0] == ';') {
		fault(st, -EINVAL,
		      "[%s] %s = %s: value starts with ';' (with a space before it, it is a comment; remove it, "
		      "or leave the value empty)",
		      qs, qn, qv);
		return 0;
	}
	size_t row = (size_t)(k - st->rows);
	if (st->set_on[row] != 0) {
		fault(st, -EINVAL, "[%s] %s = %s: set twice (first on line %d)", qs, qn, qv, st->set_on[row]);
		return 0;
	}
	rc = txp_config_set(st->cfg, k, value, why, sizeof(why));
	if (rc != 0) {
		if (rc == -ENOMEM)
			snprintf(why, sizeof(why), "out of memory");
		fault(st, rc, "[%s] %s = %s: %s", qs, qn, qv, why);
		return 0;
	}
	st->set_on[row] = st->lineno;
	return 1;
}

/* Finds line `lineno` of `f` again, for a syntax error inih found after we had read past it. */
static void reread_line(struct load_state *st, int lineno, char *buf, size_t len)
{
	ssize_t n = 0;

	buf[0] = '\0';
	if (fseek(st->f, 0, SEEK_SET) != 0)
		return;
	for (int i = 0; i < lineno; i++) {
		n = getline(&st->line, &st->line_cap, st->f);
		if (n < 0)
			return;
	}
	while (n > 0 && (st->line[n - 1] == '\n' || st->line[n - 1] == '\r'))
		st->line[--n] = '\0';
	const char *t = st->line;
	while (isspace((unsigned char)*t))
		t++;
	quote(buf, len, t);
}

int txp_config_load(struct txp_config *cfg, const char *path, char *err, size_t errlen)
{
	struct load_state st = { .rows = txp_config_keys, .cfg = cfg };
	char text[QUOTE_MAX + 4096];
	struct stat sb;
	int rc, line, fd;

	if (errlen > 0)
		err[0] = '\0';
	rc = txp_config_defaults(cfg);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot set the defaults: %s", path, strerror(-rc));
		goto out;
	}
	cfg->path = strdup(path);
	st.set_on = calloc(config__row_count() + 1, sizeof(*st.set_on));
	if (cfg->path == NULL || st.set_on == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto out_free_set_on;
	}
	/* Followed if a link (tooling manages configs as links); never a FIFO or a directory. */
	fd = txp_file_open_regular(path, true, TXP_CONFIG_FILE_MAX, &sb, text, sizeof(text));
	if (fd < 0) {
		size_t plen = strlen(path);
		rc = fd;
		/* The helper's message starts "<path>: "; ours says what failed. */
		snprintf(err, errlen, "%s: cannot open: %s", path,
		         strncmp(text, path, plen) == 0 && text[plen] == ':' ? text + plen + 2 : text);
		goto out_free_set_on;
	}
	st.f = fdopen(fd, "r");
	if (st.f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		close(fd);
		goto out_free_set_on;
	}

	line = ini_parse_stream(read_line, &st, on_value, &st);
	if (st.read_errno != 0) {
		rc = -st.read_errno;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(st.read_errno));
	} else if (line > 0 && (st.err_line == 0 || line < st.err_line)) {
		/* inih found it: a line that is neither a header nor key = value. */
		rc = -EINVAL;
		reread_line(&st, line, text, sizeof(text));
		snprintf(err, errlen, "%s:%d: %s: syntax error (expected [section], key = value or a comment)", path,
		         line, text);
	} else if (st.err_line != 0) {
		rc = st.err_code;
		snprintf(err, errlen, "%s:%d: %s", path, st.err_line, st.msg);
	} else if (line != 0) {
		rc = -EIO;
		snprintf(err, errlen, "%s: the INI parser failed (%d)", path, line);
	}

	fclose(st.f);
	if (rc == 0) {
		cfg->lines = st.set_on;
		st.set_on = NULL;
		rc = txp_config_validate(cfg, err, errlen);
	}
out_free_set_on:
	free(st.line);
	free(st.set_on);
out:
	return rc;
}

/* ---- Checks across keys ---- */

int txp_config_where(const struct txp_config *cfg, const char *section, const char *key, char *buf, size_t len)
{
	const struct txp_config_key *k = txp_config_find(section, key);
	char value[QUOTE_MAX + 8], raw[QUOTE_MAX + 8];
	int line = 0;

	if (k == NULL)
		return snprintf(buf, len, "[%s] %s", section, key);
	if (cfg->lines != NULL)
		line = cfg->lines[k - txp_config_keys];
	/* Longer values are cut: the message needs only their start. */
	txp_config_format_value(cfg, k, raw, sizeof(raw));
	quote(value, sizeof(value), k->secret ? "(hidden)" : raw);
	if (cfg->path != NULL && line > 0)
		return snprintf(buf, len, "%s:%d: [%s] %s = %s", cfg->path, line, section, key, value);
	if (cfg->path != NULL && cfg->lines != NULL)
		return snprintf(buf, len, "%s: [%s] %s = %s (default)", cfg->path, section, key, value);
	return snprintf(buf, len, "[%s] %s = %s", section, key, value);
}

/* Writes "<where>: why" for row (section, key) of `cfg` into err and returns -EINVAL. */
static int invalid(const struct txp_config *cfg, const char *section, const char *key, char *err, size_t errlen,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int invalid(const struct txp_config *cfg, const char *section, const char *key, char *err, size_t errlen,
                   const char *fmt, ...)
{
	char where[QUOTE_MAX + 4096 + 128], why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	txp_config_where(cfg, section, key, where, sizeof(where));
	snprintf(err, errlen, "%s: %s", where, why);
	return -EINVAL;
}

int txp_config_locate(const struct txp_config *cfg, char *msg, size_t msglen)
{
	char prefix[128], where[QUOTE_MAX + 4096 + 128], *copy;

	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		int n = snprintf(prefix, sizeof(prefix), "[%s] %s: ", k->section, k->key);
		if (n <= 0 || (size_t)n >= sizeof(prefix) || strncmp(msg, prefix, (size_t)n) != 0)
			continue;
		copy = strdup(msg + n);
		if (copy == NULL)
			return -ENOMEM;
		txp_config_where(cfg, k->section, k->key, where, sizeof(where));
		snprintf(msg, msglen, "%s: %s", where, copy);
		free(copy);
		return 1;
	}
	return 0;
}

static int line_of(const struct txp_config *cfg, const char *section, const char *key)
{
	const struct txp_config_key *k = txp_config_find(section, key);

	return cfg->lines != NULL && k != NULL ? cfg->lines[k - txp_config_keys] : 0;
}

/*
 * [fraud] `lo` must not exceed `hi` and does.  The message names the key
 * the file set last, since that is the one just changed (a default never
 * is): "[fraud] lo = v: <lo_word> hi (v)" or "[fraud] hi = v: <hi_word> lo (v)".
 */
static int out_of_order(const struct txp_config *cfg, const char *lo, const char *hi, const char *lo_word,
                        const char *hi_word, char *err, size_t errlen)
{
	bool blame_lo = line_of(cfg, "fraud", lo) > line_of(cfg, "fraud", hi);
	const char *other = blame_lo ? hi : lo;
	char v[32];

	txp_config_format_value(cfg, txp_config_find("fraud", other), v, sizeof(v));
	return invalid(cfg, "fraud", blame_lo ? lo : hi, err, errlen, "%s %s (%s)", blame_lo ? lo_word : hi_word, other,
	               v);
}

/* Checks the AWS settings txp_aws_client_create() resolves, without a loop or a connection. */
static int validate_aws(const struct txp_config *cfg, char *err, size_t errlen)
{
	static const char *const sections[TXP_AWS_SERVICE_COUNT] = {
		[TXP_AWS_DYNAMODB] = "dynamodb", [TXP_AWS_SNS] = "sns", [TXP_AWS_SQS] = "sqs"
	};
	const char *overrides[TXP_AWS_SERVICE_COUNT] = { [TXP_AWS_DYNAMODB] = cfg->dynamodb.endpoint,
		                                         [TXP_AWS_SNS] = cfg->sns.endpoint,
		                                         [TXP_AWS_SQS] = cfg->sqs.endpoint };
	struct txp_aws_endpoint ep;
	char why[512];

	if (!cfg->aws.enabled)
		return 0;
	/* The region first, so a bad one is blamed on [aws] region and not on an endpoint. */
	if (txp_aws_endpoint_resolve(TXP_AWS_DYNAMODB, cfg->aws.region, NULL, &ep, why, sizeof(why)) != 0)
		return invalid(cfg, "aws", "region", err, errlen, "%s", why);
	for (int s = 0; s < TXP_AWS_SERVICE_COUNT; s++) {
		if (txp_aws_endpoint_resolve((enum txp_aws_service)s, cfg->aws.region, overrides[s], &ep, why,
		                             sizeof(why)) != 0)
			return invalid(cfg, sections[s], "endpoint", err, errlen, "%s", why);
	}
	if (cfg->aws.imds && cfg->aws.imds_endpoint != NULL && cfg->aws.imds_endpoint[0] != '\0' &&
	    txp_http_url_allowed(cfg->aws.imds_endpoint, true, why, sizeof(why)) != 0)
		return invalid(cfg, "aws", "imds_endpoint", err, errlen, "%s", why);
	return 0;
}

int txp_config_validate(const struct txp_config *cfg, char *err, size_t errlen)
{
	const struct txp_fraud_config *f = &cfg->fraud;
	const struct txp_compliance_config *c = &cfg->compliance;
	struct txp_country_set countries;
	struct sockaddr_storage ss;
	struct txp_rates rates;
	char why[512];
	unsigned bits;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	if (f->decline_threshold < f->review_threshold)
		return out_of_order(cfg, "review_threshold", "decline_threshold", "above", "below", err, errlen);
	if (f->window_medium_ms < f->window_short_ms)
		return out_of_order(cfg, "window_short_ms", "window_medium_ms", "longer than", "shorter than", err,
		                    errlen);
	if (f->window_long_ms < f->window_medium_ms)
		return out_of_order(cfg, "window_medium_ms", "window_long_ms", "longer than", "shorter than", err,
		                    errlen);
	if (txp_country_set_parse(f->high_risk_countries, &countries, why, sizeof(why)) != 0)
		return invalid(cfg, "fraud", "high_risk_countries", err, errlen, "%s", why);
	if (txp_country_set_parse(c->sanctioned_countries, &countries, why, sizeof(why)) != 0)
		return invalid(cfg, "compliance", "sanctioned_countries", err, errlen, "%s", why);
	if (txp_compliance_pseud_parse(c->pseudonymise, &bits, why, sizeof(why)) != 0)
		return invalid(cfg, "compliance", "pseudonymise", err, errlen, "%s", why);
	memset(&rates, 0, sizeof(rates));
	rc = txp_rates_parse(c->usd_rates, &rates, why, sizeof(why));
	txp_rates_free(&rates);
	if (rc == -ENOMEM) {
		snprintf(err, errlen, "out of memory checking [compliance] usd_rates");
		return rc;
	}
	if (rc != 0)
		return invalid(cfg, "compliance", "usd_rates", err, errlen, "%s", why);
	if (c->usd_rates_file != NULL && c->usd_rates_file[0] != '\0') {
		/* The file itself, so --check-config and a reload name its bad
		 * line before anything is swapped. */
		rc = txp_rates_load(c->usd_rates_file, &rates, why, sizeof(why));
		txp_rates_free(&rates);
		if (rc == -ENOMEM) {
			snprintf(err, errlen, "out of memory checking [compliance] usd_rates_file");
			return rc;
		}
		if (rc != 0)
			return invalid(cfg, "compliance", "usd_rates_file", err, errlen, "%s", why);
	}
	rc = validate_aws(cfg, err, errlen);
	if (rc != 0)
		return rc;
	if (cfg->metrics.listen != NULL && cfg->metrics.listen[0] != '\0' &&
	    txp_metrics_parse_listen(cfg->metrics.listen, &ss, why, sizeof(why)) != 0)
		return invalid(cfg, "metrics", "listen", err, errlen, "%s", why);
	if (cfg->fleet.instance_id != NULL && cfg->fleet.instance_id[0] != '\0' &&
	    !txp_fleet_instance_id_valid(cfg->fleet.instance_id))
		return invalid(cfg, "fleet", "instance_id", err, errlen, "not 1 to %d letters, digits, '-', '_', '.'",
		               TXP_FLEET_INSTANCE_ID_MAX);
	if (cfg->fleet.enabled && !cfg->aws.enabled)
		return invalid(cfg, "fleet", "enabled", err, errlen,
		               "a fleet shares its state through DynamoDB, so [aws] enabled must be true");
	/* A read starts every quarter interval: at least the interval leaves
	 * room for two or three late or failed ones before the state is
	 * stale. */
	if (cfg->fleet.stale_after_ms < cfg->fleet.sync_interval_ms)
		return invalid(cfg, "fleet", "stale_after_ms", err, errlen,
		               "%llu ms is less than sync_interval_ms (%llu ms): reads within the bound would be stale",
		               (unsigned long long)cfg->fleet.stale_after_ms,
		               (unsigned long long)cfg->fleet.sync_interval_ms);
	return 0;
}
