/* sigv4_case.c: parser for SigV4 test-suite case folders (request.txt, context.json, expected outputs). */
#define _POSIX_C_SOURCE 200809L
#include "sigv4_case.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

/* Reads a whole file; returns a NUL-terminated buffer (length in *len) or NULL. */
static char *slurp(const char *dir, const char *name, const char *file, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf = NULL;
	size_t cap = 0, n = 0;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

/* Expected-output files may or may not end with a newline; the values never do. */
static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static char *dup_json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so the test needs neither timegm nor TZ. */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int parse_timestamp(const char *s, time_t *out)
{
	int y, mo, d, h, mi, se;
	char z;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 || z != 'Z')
		return -1;
	*out = (time_t)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se);
	return 0;
}

static int load_context(const char *dir, const char *name, struct sigv4_case *c, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root, *creds;
	char *text = slurp(dir, name, "context.json", NULL);
	const char *ts;
	int rc = -1;

	if (text == NULL) {
		snprintf(why, whylen, "no context.json");
		return -1;
	}
	root = json_loads(text, 0, &jerr);
	free(text);
	if (root == NULL) {
		snprintf(why, whylen, "context.json: %s (line %d)", jerr.text, jerr.line);
		return -1;
	}
	creds = json_object_get(root, "credentials");
	c->access_key_id = dup_json_str(creds, "access_key_id");
	c->secret = dup_json_str(creds, "secret_access_key");
	c->token = dup_json_str(creds, "token");
	c->region = dup_json_str(root, "region");
	c->service = dup_json_str(root, "service");
	ts = json_string_value(json_object_get(root, "timestamp"));
	if (c->access_key_id == NULL || c->secret == NULL || c->region == NULL || c->service == NULL || ts == NULL ||
	    parse_timestamp(ts, &c->now) != 0) {
		snprintf(why, whylen, "context.json lacks credentials, region, service or a valid timestamp");
		goto out;
	}
	c->flags = 0;
	/* The suite's "normalize" defaults to true, as in aws-c-auth. */
	if (!json_is_false(json_object_get(root, "normalize")))
		c->flags |= TXP_SIGV4_NORMALIZE_PATH;
	if (json_is_true(json_object_get(root, "sign_body")))
		c->flags |= TXP_SIGV4_SIGN_BODY;
	if (json_is_true(json_object_get(root, "omit_session_token")))
		c->flags |= TXP_SIGV4_OMIT_SESSION_TOKEN;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int add_header(struct sigv4_case *c, char *name, char *value)
{
	struct txp_sigv4_header *nh = realloc(c->headers, (c->n_headers + 1) * sizeof(*nh));

	if (nh == NULL)
		return -1;
	c->headers = nh;
	c->headers[c->n_headers].name = name;
	c->headers[c->n_headers].value = value;
	c->n_headers++;
	return 0;
}

static char *keep(struct sigv4_case *c, char *s)
{
	char **ns;

	if (s == NULL)
		return NULL;
	ns = realloc(c->header_storage, (c->n_header_storage + 1) * sizeof(*ns));
	if (ns == NULL) {
		free(s);
		return NULL;
	}
	c->header_storage = ns;
	c->header_storage[c->n_header_storage++] = s;
	return s;
}

/*
 * request.txt is an HTTP/1.1 request as text: "METHOD target HTTP/1.1", header
 * lines "Name:value" (values keep their leading and trailing blanks: the
 * signer must trim them), continuation lines starting with a blank (obsolete
 * line folding, joined to the previous value with one space as RFC 9112
 * section 5.2 allows), repeated header names kept in order, an empty line,
 * then the body.  The target may contain spaces and raw UTF-8 (the suite
 * deliberately sends "/example space/"), so it runs up to the last " HTTP/".
 */
static int parse_request(struct sigv4_case *c, char *why, size_t whylen)
{
	char *text = c->request_text, *line, *next, *sp, *target, *proto, *q;
	char *cur_value = NULL;
	size_t total = strlen(text);

	next = strchr(text, '\n');
	if (next == NULL) {
		snprintf(why, whylen, "request.txt has no request line");
		return -1;
	}
	*next++ = '\0';
	if (next - 2 >= text && next[-2] == '\r')
		next[-2] = '\0';
	line = text;
	sp = strchr(line, ' ');
	proto = NULL;
	for (char *p = strstr(line, " HTTP/"); p != NULL; p = strstr(p + 1, " HTTP/"))
		proto = p;
	if (sp == NULL || proto == NULL || proto <= sp) {
		snprintf(why, whylen, "request.txt: malformed request line");
		return -1;
	}
	*sp = '\0';
	*proto = '\0';
	c->method = line;
	target = sp + 1;
	q = strchr(target, '?');
	if (q != NULL) {
		*q = '\0';
		c->query = q + 1;
	}
	c->path = target;

	while (next != NULL && next < text + total) {
		char *colon;

		line = next;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
			if (next - 2 >= line && next[-2] == '\r')
				next[-2] = '\0';
		}
		if (line[0] == '\0') {
			/* End of headers: the rest is the body, byte for byte. */
			if (next != NULL) {
				c->body = next;
				c->body_len = (size_t)(text + total - next);
			}
			break;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			size_t a, b;
			char *joined;

			if (cur_value == NULL) {
				snprintf(why, whylen, "request.txt: continuation line before any header");
				return -1;
			}
			a = strlen(cur_value);
			b = strlen(line);
			joined = malloc(a + 1 + b + 1);
			if (joined == NULL)
				return -1;
			memcpy(joined, cur_value, a);
			joined[a] = ' ';
			memcpy(joined + a + 1, line, b + 1);
			if (keep(c, joined) == NULL)
				return -1;
			cur_value = joined;
			c->headers[c->n_headers - 1].value = joined;
			continue;
		}
		colon = strchr(line, ':');
		if (colon == NULL || colon == line) {
			snprintf(why, whylen, "request.txt: header line without a name and ':'");
			return -1;
		}
		*colon = '\0';
		cur_value = colon + 1;
		if (add_header(c, line, cur_value) != 0)
			return -1;
	}
	return 0;
}

int sigv4_case_load(const char *dir, const char *name, struct sigv4_case *c, char *why, size_t whylen)
{
	memset(c, 0, sizeof(*c));
	why[0] = '\0';
	c->name = strdup(name);
	c->exp_canonical = slurp(dir, name, "header-canonical-request.txt", NULL);
	c->exp_sts = slurp(dir, name, "header-string-to-sign.txt", NULL);
	c->exp_signature = slurp(dir, name, "header-signature.txt", NULL);
	c->exp_signed_request = slurp(dir, name, "header-signed-request.txt", NULL);
	if (c->exp_canonical == NULL || c->exp_sts == NULL || c->exp_signature == NULL ||
	    c->exp_signed_request == NULL) {
		snprintf(why, whylen, "no header-signing expectations (header-*.txt), only other signing modes");
		return 1;
	}
	chomp(c->exp_canonical);
	chomp(c->exp_sts);
	chomp(c->exp_signature);
	if (load_context(dir, name, c, why, whylen) != 0)
		return -1;
	c->request_text = slurp(dir, name, "request.txt", NULL);
	if (c->request_text == NULL) {
		snprintf(why, whylen, "no request.txt");
		return -1;
	}
	return parse_request(c, why, whylen);
}

void sigv4_case_free(struct sigv4_case *c)
{
	for (size_t i = 0; i < c->n_header_storage; i++)
		free(c->header_storage[i]);
	free(c->header_storage);
	free(c->headers);
	free(c->request_text);
	free(c->name);
	free(c->access_key_id);
	free(c->secret);
	free(c->token);
	free(c->region);
	free(c->service);
	free(c->exp_canonical);
	free(c->exp_sts);
	free(c->exp_signature);
	free(c->exp_signed_request);
	memset(c, 0, sizeof(*c));
}

/* True when signed-request text has a line "name:value" (name case-insensitive). */
static bool has_header_line(const char *text, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == nl + 1 + vl && strncasecmp(line, name, nl) == 0 && line[nl] == ':' &&
		    memcmp(line + nl + 1, value, vl) == 0)
			return true;
		line = end ? end + 1 : NULL;
	}
	return false;
}

int sigv4_case_check(const struct sigv4_case *c, char *msg, size_t msglen)
{
	struct txp_sigv4_credentials creds = { c->access_key_id, c->secret, c->token };
	struct txp_sigv4_request req = {
		.method = c->method,
		.path = c->path,
		.query = c->query,
		.headers = c->headers,
		.n_headers = c->n_headers,
		.payload = c->body,
		.payload_len = c->body_len,
	};
	struct txp_sigv4_params params = {
		.creds = &creds,
		.region = c->region,
		.service = c->service,
		.now = c->now,
		.flags = c->flags,
	};
	struct txp_sigv4_signed *s = NULL;
	char err[256];
	int rc = -1;

	if (txp_sigv4_sign(&req, &params, &s, err, sizeof(err)) != 0) {
		snprintf(msg, msglen, "%s: sign failed: %s", c->name, err);
		return -1;
	}
	if (strcmp(s->canonical_request, c->exp_canonical) != 0) {
		snprintf(msg, msglen, "%s: canonical request differs\n--- expected\n%s\n--- got\n%s", c->name,
		         c->exp_canonical, s->canonical_request);
		goto out;
	}
	if (strcmp(s->string_to_sign, c->exp_sts) != 0) {
		snprintf(msg, msglen, "%s: string to sign differs\n--- expected\n%s\n--- got\n%s", c->name, c->exp_sts,
		         s->string_to_sign);
		goto out;
	}
	if (strcmp(s->signature, c->exp_signature) != 0) {
		snprintf(msg, msglen, "%s: signature %s, expected %s", c->name, s->signature, c->exp_signature);
		goto out;
	}
	/* Every header the signer says to add, Authorization included, must be
	 * in the expected signed request exactly as the suite writes it. */
	for (size_t i = 0; i < s->n_add_headers; i++) {
		if (!has_header_line(c->exp_signed_request, s->add_headers[i].name, s->add_headers[i].value)) {
			snprintf(msg, msglen, "%s: header-signed-request.txt lacks \"%s:%s\"", c->name,
			         s->add_headers[i].name, s->add_headers[i].value);
			goto out;
		}
	}
	rc = 0;
out:
	txp_sigv4_signed_free(s);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sigv4_case_list(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	int n = 0;

	*names = NULL;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		char **nv;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (nv == NULL)
			break;
		v = nv;
		v[n] = strdup(e->d_name);
		if (v[n] == NULL)
			break;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, (size_t)n, sizeof(*v), name_cmp);
	*names = v;
	return n;
}

void sigv4_case_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
