/* sigv4.c: AWS Signature Version 4 header signing, one static function per step of the AWS procedure. */
#include "txpipe/aws/sigv4.h"
#include "txpipe/aws/error.h"
#include "txpipe/sbuf.h"
#include "txpipe/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/*
 * The steps follow the AWS documentation "Create a signed AWS API request":
 *   1. canonical URI        (canonical_uri)
 *   2. canonical query      (canonical_query)
 *   3. canonical headers    (canonical_headers, which also yields
 *   4. signed headers        the signed-header list)
 *   5. hashed payload       (hashed_payload)
 *   6. string to sign       (string_to_sign)
 *   7. signing key          (txp_sigv4_derive_key, through the cache)
 *   8. signature            (signature)
 *   9. Authorization value  (authorization)
 * Where the documentation is silent, behaviour matches the published test
 * suite (awslabs/aws-c-auth tests/aws-signing-test-suite/v4).
 */

#define SECRET_MAX 256

static void sb_char(struct txp_sbuf *b, char c)
{
	txp_sbuf_raw(b, &c, 1);
}

/* strdup is POSIX, not C11. */
static char *str_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

/* Percent-encodes the SigV4 way (txp_sbuf_urlencn: RFC 3986 unreserved
 * characters kept, uppercase hex, as AWS requires); with keep_slash, '/'
 * separates path segments and stays. */
static void sb_uri_encode(struct txp_sbuf *b, const char *in, size_t len, bool keep_slash)
{
	const char *end = in + len, *slash;

	while (keep_slash && (slash = memchr(in, '/', (size_t)(end - in))) != NULL) {
		txp_sbuf_urlencn(b, in, (size_t)(slash - in));
		sb_char(b, '/');
		in = slash + 1;
	}
	txp_sbuf_urlencn(b, in, (size_t)(end - in));
}

char *txp_sigv4_uri_encode(const char *in, size_t len, bool keep_slash)
{
	struct txp_sbuf b = { 0 };

	sb_uri_encode(&b, in, len, keep_slash);
	return txp_sbuf_finish(&b, NULL);
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XY escapes of in[0..len) into b.  A '%' not followed by two hex
 * digits stays a literal '%' (and is re-encoded as %25 later), which is how
 * the SDKs treat it.  '+' is left alone: SigV4 query strings are RFC 3986,
 * not HTML-form encoded. */
static void sb_uri_decode(struct txp_sbuf *b, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (in[i] == '%' && i + 2 < len && (hi = hex_val(in[i + 1])) >= 0 && (lo = hex_val(in[i + 2])) >= 0) {
			sb_char(b, (char)(hi << 4 | lo));
			i += 2;
		} else {
			sb_char(b, in[i]);
		}
	}
}

/*
 * RFC 3986 section 5.2.4 dot-segment removal, plus the collapsing of empty
 * segments ("//") that the AWS test suite expects (get-slashes-normalized).
 * A trailing slash survives, and a path ending in "." or ".." ends in a slash
 * as RFC 3986 prescribes.
 */
struct path_seg {
	const char *s;
	size_t len;
};

static void normalize_path(struct txp_sbuf *out, const char *path)
{
	size_t n = strlen(path), nseg = 0;
	const char *p = path, *end = path + n;
	bool trailing = n > 0 && path[n - 1] == '/';
	struct path_seg *segs;

	/* At most one segment per byte plus one. */
	segs = malloc((n + 1) * sizeof(*segs));
	if (segs == NULL) {
		out->oom = true;
		return;
	}
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *e = slash ? slash : end;
		size_t len = (size_t)(e - p);

		if (len == 1 && p[0] == '.') {
			if (slash == NULL)
				trailing = true;
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg > 0)
				nseg--;
			if (slash == NULL)
				trailing = true;
		} else if (len > 0) {
			segs[nseg].s = p;
			segs[nseg].len = len;
			nseg++;
		}
		p = slash ? slash + 1 : end;
	}
	sb_char(out, '/');
	for (size_t i = 0; i < nseg; i++) {
		if (i > 0)
			sb_char(out, '/');
		txp_sbuf_raw(out, segs[i].s, segs[i].len);
	}
	if (trailing && nseg > 0)
		sb_char(out, '/');
	free(segs);
}

/* Step 1: the canonical URI.  The caller's path is the wire form, encoded
 * once already; non-S3 services want the canonical URI encoded once more
 * (so "%20" on the wire signs as "%2520"). */
static int canonical_uri(struct txp_sbuf *out, const char *path, unsigned flags, char *errbuf, size_t errlen)
{
	struct txp_sbuf norm = { 0 };
	const char *p;

	if (path == NULL || path[0] == '\0')
		path = "/";
	if (path[0] != '/') {
		txp_aws_set_err(errbuf, errlen, "path must start with '/'");
		return -EINVAL;
	}
	if (flags & TXP_SIGV4_NORMALIZE_PATH) {
		normalize_path(&norm, path);
		if (norm.oom) {
			txp_sbuf_wipe(&norm);
			return -ENOMEM;
		}
		p = norm.p;
	} else {
		p = path;
	}
	if (flags & TXP_SIGV4_SINGLE_ENCODE_PATH)
		txp_sbuf_str(out, p);
	else
		sb_uri_encode(out, p, strlen(p), true);
	txp_sbuf_wipe(&norm);
	return 0;
}

struct query_param {
	char *name;  /* SigV4-encoded */
	char *value; /* SigV4-encoded */
};

static int query_param_cmp(const void *a, const void *b)
{
	const struct query_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/* Decodes then re-encodes one name or value so that raw and pre-encoded
 * spellings canonicalize alike. */
static char *reencode(const char *s, size_t len)
{
	struct txp_sbuf dec = { 0 }, enc = { 0 };

	sb_uri_decode(&dec, s, len);
	if (dec.oom) {
		txp_sbuf_wipe(&dec);
		return NULL;
	}
	sb_uri_encode(&enc, dec.p ? dec.p : "", dec.len, false);
	txp_sbuf_wipe(&dec);
	return txp_sbuf_finish(&enc, NULL);
}

/* Step 2: the canonical query string: every parameter encoded, sorted by
 * name then value (byte order of the encoded form), joined with '&'; a
 * parameter without '=' gets an empty value. */
static int canonical_query(struct txp_sbuf *out, const char *query)
{
	struct query_param *params = NULL;
	size_t n = 0, cap = 1;
	const char *p, *end;
	int rc = -ENOMEM;

	if (query == NULL || query[0] == '\0')
		return 0;
	for (p = query; *p != '\0'; p++)
		cap += *p == '&';
	params = calloc(cap, sizeof(*params));
	if (params == NULL)
		goto out;
	p = query;
	end = query + strlen(query);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));

		if (e > p) {
			params[n].name = reencode(p, (size_t)((eq ? eq : e) - p));
			params[n].value = eq ? reencode(eq + 1, (size_t)(e - eq - 1)) : str_dup("");
			n++;
			if (params[n - 1].name == NULL || params[n - 1].value == NULL)
				goto out;
		}
		p = amp ? amp + 1 : end;
	}
	qsort(params, n, sizeof(*params), query_param_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sb_char(out, '&');
		txp_sbuf_str(out, params[i].name);
		sb_char(out, '=');
		txp_sbuf_str(out, params[i].value);
	}
	rc = 0;
out:
	for (size_t i = 0; params != NULL && i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
	return rc;
}

struct canon_header {
	char *name;        /* lowercased copy */
	const char *value; /* borrowed */
	size_t order;      /* position in the request, keeps repeated headers in order */
};

static int canon_header_cmp(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* RFC 9110 token characters: what a header field name may contain. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char *lower_name(const char *name)
{
	size_t n = strlen(name);
	char *s = malloc(n + 1);

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		s[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
	return s;
}

/* Trimall from the AWS documentation: no leading or trailing blanks, and
 * every run of blanks inside the value becomes a single space. */
static void sb_trimall(struct txp_sbuf *b, const char *v)
{
	bool pending_space = false, started = false;

	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			pending_space = started;
			continue;
		}
		if (pending_space)
			sb_char(b, ' ');
		pending_space = false;
		started = true;
		sb_char(b, *v);
	}
}

/* Steps 3 and 4: canonical headers (lowercase names, sorted, values trimmed,
 * repeated names joined with ',' in request order) and the signed-header
 * list.  `extra` are the headers the signer adds itself. */
static int canonical_headers(struct txp_sbuf *canon, struct txp_sbuf *signed_list, const struct txp_sigv4_request *req,
                             const struct txp_sigv4_header *extra, size_t n_extra, unsigned flags, bool has_token,
                             char *errbuf, size_t errlen)
{
	size_t total = req->n_headers + n_extra, n = 0;
	struct canon_header *h;
	bool have_host = false;
	int rc = -ENOMEM;

	if (req->n_headers > 0 && req->headers == NULL) {
		txp_aws_set_err(errbuf, errlen, "headers is NULL with n_headers > 0");
		return -EINVAL;
	}
	h = calloc(total ? total : 1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < total; i++) {
		const struct txp_sigv4_header *src = i < req->n_headers ? &req->headers[i] : &extra[i - req->n_headers];
		bool caller = i < req->n_headers;

		if (src->name == NULL || src->value == NULL || src->name[0] == '\0') {
			txp_aws_set_err(errbuf, errlen, "header %zu has no name or value", i);
			rc = -EINVAL;
			goto out;
		}
		for (const char *c = src->name; *c != '\0'; c++) {
			if (!is_tchar((unsigned char)*c)) {
				txp_aws_set_err(errbuf, errlen, "header name %zu has an invalid character", i);
				rc = -EINVAL;
				goto out;
			}
		}
		if (strpbrk(src->value, "\r\n") != NULL) {
			txp_aws_set_err(errbuf, errlen, "header %s: value contains CR or LF", src->name);
			rc = -EINVAL;
			goto out;
		}
		h[n].name = lower_name(src->name);
		if (h[n].name == NULL)
			goto out;
		h[n].value = src->value;
		h[n].order = i;
		n++;
		if (caller) {
			const char *nm = h[n - 1].name;
			if (strcmp(nm, "authorization") == 0 || strcmp(nm, "x-amz-date") == 0 ||
			    (has_token && strcmp(nm, "x-amz-security-token") == 0) ||
			    ((flags & TXP_SIGV4_SIGN_BODY) && strcmp(nm, "x-amz-content-sha256") == 0)) {
				txp_aws_set_err(errbuf, errlen, "header %s is added by the signer", src->name);
				rc = -EINVAL;
				goto out;
			}
			have_host |= strcmp(nm, "host") == 0;
		}
	}
	if (!have_host) {
		txp_aws_set_err(errbuf, errlen, "a host header is required");
		rc = -EINVAL;
		goto out;
	}
	qsort(h, n, sizeof(*h), canon_header_cmp);
	for (size_t i = 0; i < n; i++) {
		bool same_as_prev = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

		if (same_as_prev) {
			sb_char(canon, ',');
		} else {
			if (i > 0) {
				sb_char(canon, '\n');
				sb_char(signed_list, ';');
			}
			txp_sbuf_str(canon, h[i].name);
			sb_char(canon, ':');
			txp_sbuf_str(signed_list, h[i].name);
		}
		sb_trimall(canon, h[i].value);
	}
	sb_char(canon, '\n');
	rc = canon->oom || signed_list->oom ? -ENOMEM : 0;
out:
	for (size_t i = 0; i < n; i++)
		free(h[i].name);
	free(h);
	return rc;
}

/* Step 5: the hex SHA-256 of the body, or the caller's precomputed value. */
static int hashed_payload(const struct txp_sigv4_request *req, char **out)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[TXP_SIGV4_HEX_BYTES];

	if (req->payload_hash != NULL) {
		*out = str_dup(req->payload_hash);
	} else {
		txp_sha256(digest, req->payload, req->payload_len);
		sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
		*out = str_dup(hex);
	}
	return *out == NULL ? -ENOMEM : 0;
}

/* Step 6: algorithm, request time, credential scope and the hex SHA-256 of
 * the canonical request, one per line with no trailing newline. */
static void string_to_sign(struct txp_sbuf *out, const char *amz_date, const char *scope, const char *canonical)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[TXP_SIGV4_HEX_BYTES];

	txp_sha256(digest, canonical, strlen(canonical));
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	txp_sbuf_str(out, TXP_SIGV4_ALGORITHM "\n");
	txp_sbuf_str(out, amz_date);
	sb_char(out, '\n');
	txp_sbuf_str(out, scope);
	sb_char(out, '\n');
	txp_sbuf_str(out, hex);
}

static void hmac_sha256(unsigned char out[crypto_auth_hmacsha256_BYTES], const unsigned char *key, size_t keylen,
                        const void *msg, size_t msglen)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, msg, msglen);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* Step 7: the signing key, derived from the secret for one day, region and service. */
int txp_sigv4_derive_key(const char *secret_access_key, const char *date, const char *region, const char *service,
                         unsigned char key[TXP_SIGV4_KEY_BYTES])
{
	unsigned char ksecret[4 + SECRET_MAX];
	unsigned char k[crypto_auth_hmacsha256_BYTES];
	size_t slen;

	if (secret_access_key == NULL || date == NULL || region == NULL || service == NULL || key == NULL)
		return -EINVAL;
	slen = strlen(secret_access_key);
	if (slen > SECRET_MAX)
		return -EINVAL;
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret_access_key, slen);
	hmac_sha256(k, ksecret, 4 + slen, date, strlen(date));
	hmac_sha256(k, k, sizeof(k), region, strlen(region));
	hmac_sha256(k, k, sizeof(k), service, strlen(service));
	hmac_sha256(key, k, sizeof(k), "aws4_request", strlen("aws4_request"));
	sodium_memzero(ksecret, sizeof(ksecret));
	sodium_memzero(k, sizeof(k));
	return 0;
}

void txp_sigv4_key_cache_init(struct txp_sigv4_key_cache *cache)
{
	sodium_memzero(cache, sizeof(*cache));
}

void txp_sigv4_key_cache_clear(struct txp_sigv4_key_cache *cache)
{
	if (cache != NULL)
		sodium_memzero(cache, sizeof(*cache));
}

/* Identifies the credentials without storing the secret: BLAKE2b over the
 * access key id, a NUL separator and the secret. */
static void creds_fingerprint(unsigned char out[32], const struct txp_sigv4_credentials *creds)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const unsigned char *)creds->access_key_id, strlen(creds->access_key_id) + 1);
	crypto_generichash_update(&st, (const unsigned char *)creds->secret_access_key,
	                          strlen(creds->secret_access_key));
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
}

int txp_sigv4_key_cache_get(struct txp_sigv4_key_cache *cache, const struct txp_sigv4_credentials *creds,
                            const char *date, const char *region, const char *service,
                            unsigned char key[TXP_SIGV4_KEY_BYTES])
{
	unsigned char fp[32];
	bool cacheable;
	int rc;

	if (cache == NULL || creds == NULL || creds->access_key_id == NULL || creds->secret_access_key == NULL ||
	    date == NULL || region == NULL || service == NULL || strlen(date) != 8)
		return -EINVAL;
	creds_fingerprint(fp, creds);
	cacheable = strlen(region) < sizeof(cache->region) && strlen(service) < sizeof(cache->service);
	if (cacheable && cache->valid && strcmp(cache->date, date) == 0 && strcmp(cache->region, region) == 0 &&
	    strcmp(cache->service, service) == 0 && sodium_memcmp(cache->fingerprint, fp, sizeof(fp)) == 0) {
		memcpy(key, cache->key, TXP_SIGV4_KEY_BYTES);
		sodium_memzero(fp, sizeof(fp));
		return 1;
	}
	rc = txp_sigv4_derive_key(creds->secret_access_key, date, region, service, key);
	if (rc == 0 && cacheable) {
		memcpy(cache->date, date, 9);
		strcpy(cache->region, region);
		strcpy(cache->service, service);
		memcpy(cache->fingerprint, fp, sizeof(fp));
		memcpy(cache->key, key, TXP_SIGV4_KEY_BYTES);
		cache->valid = true;
	}
	sodium_memzero(fp, sizeof(fp));
	return rc;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * civil_from_days); avoids gmtime_r and the C library's time zone state. */
static void civil_from_days(long long z, int *y, unsigned *m, unsigned *d)
{
	long long era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (long long)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static void put_digits(char *out, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

int txp_sigv4_amz_date(time_t now, char out[TXP_SIGV4_AMZ_DATE_BYTES])
{
	long long t = (long long)now, days, secs;
	int y;
	unsigned m, d;

	/* 253402300800 is 10000-01-01T00:00:00Z: the format has four year digits. */
	if (now < 0 || t >= 253402300800LL)
		return -EINVAL;
	days = t / 86400;
	secs = t % 86400;
	civil_from_days(days, &y, &m, &d);
	/* Digits written by hand: every field is range-checked above, and
	 * snprintf's truncation warnings cannot see that. */
	put_digits(out, (unsigned)y, 4);
	put_digits(out + 4, m, 2);
	put_digits(out + 6, d, 2);
	out[8] = 'T';
	put_digits(out + 9, (unsigned)(secs / 3600), 2);
	put_digits(out + 11, (unsigned)(secs / 60 % 60), 2);
	put_digits(out + 13, (unsigned)(secs % 60), 2);
	out[15] = 'Z';
	out[16] = '\0';
	return 0;
}

/* Step 8: the hex HMAC-SHA-256 of the string to sign under the signing key. */
static void signature(char out[TXP_SIGV4_HEX_BYTES], const unsigned char key[TXP_SIGV4_KEY_BYTES], const char *sts)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	hmac_sha256(mac, key, TXP_SIGV4_KEY_BYTES, sts, strlen(sts));
	sodium_bin2hex(out, TXP_SIGV4_HEX_BYTES, mac, sizeof(mac));
}

/* Step 9: the Authorization header value. */
static void authorization(struct txp_sbuf *out, const char *access_key_id, const char *scope,
                          const char *signed_headers, const char *sig)
{
	txp_sbuf_str(out, TXP_SIGV4_ALGORITHM " Credential=");
	txp_sbuf_str(out, access_key_id);
	sb_char(out, '/');
	txp_sbuf_str(out, scope);
	txp_sbuf_str(out, ", SignedHeaders=");
	txp_sbuf_str(out, signed_headers);
	txp_sbuf_str(out, ", Signature=");
	txp_sbuf_str(out, sig);
}

/* Credential scope components end up in the Authorization header, so they
 * must not be able to inject separators. */
static bool scope_part_ok(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c >= 0x7f || c == '/' || c == ',')
			return false;
	}
	return true;
}

void txp_sigv4_signed_free(struct txp_sigv4_signed *s)
{
	char **strs[6];

	if (s == NULL)
		return;
	strs[0] = &s->canonical_request;
	strs[1] = &s->string_to_sign;
	strs[2] = &s->signed_headers;
	strs[3] = &s->payload_hash;
	strs[4] = &s->authorization;
	strs[5] = &s->security_token;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (*strs[i] != NULL) {
			sodium_memzero(*strs[i], strlen(*strs[i]));
			free(*strs[i]);
		}
	}
	sodium_memzero(s, sizeof(*s));
	free(s);
}

int txp_sigv4_sign(const struct txp_sigv4_request *req, const struct txp_sigv4_params *params,
                   struct txp_sigv4_signed **out, char *errbuf, size_t errlen)
{
	const struct txp_sigv4_credentials *creds;
	struct txp_sigv4_signed *s = NULL;
	struct txp_sigv4_header extra[3];
	struct txp_sbuf canon = { 0 }, hdrs = { 0 }, list = { 0 }, sts = { 0 }, auth = { 0 }, scope = { 0 };
	unsigned char key[TXP_SIGV4_KEY_BYTES];
	char date[9];
	size_t n_extra = 0;
	bool has_token, sign_token;
	int rc = -EINVAL;

	if (out != NULL)
		*out = NULL;
	if (req == NULL || params == NULL || out == NULL || params->creds == NULL) {
		txp_aws_set_err(errbuf, errlen, "missing request, parameters or credentials");
		return -EINVAL;
	}
	creds = params->creds;
	if (creds->access_key_id == NULL || creds->secret_access_key == NULL || !scope_part_ok(creds->access_key_id)) {
		txp_aws_set_err(errbuf, errlen, "credentials lack a valid access key id or secret");
		return -EINVAL;
	}
	if (!scope_part_ok(params->region) || !scope_part_ok(params->service)) {
		txp_aws_set_err(errbuf, errlen, "region and service must be non-empty without '/', ',' or blanks");
		return -EINVAL;
	}
	if (req->method == NULL || req->method[0] == '\0' || strpbrk(req->method, " \t\r\n") != NULL) {
		txp_aws_set_err(errbuf, errlen, "invalid method");
		return -EINVAL;
	}
	if (req->payload_len > 0 && req->payload == NULL) {
		txp_aws_set_err(errbuf, errlen, "payload is NULL with payload_len > 0");
		return -EINVAL;
	}
	if (req->payload_hash != NULL && (req->payload_hash[0] == '\0' || strpbrk(req->payload_hash, "\r\n"))) {
		txp_aws_set_err(errbuf, errlen, "invalid payload_hash");
		return -EINVAL;
	}
	has_token = creds->session_token != NULL && creds->session_token[0] != '\0';
	if (has_token && strpbrk(creds->session_token, "\r\n") != NULL) {
		txp_aws_set_err(errbuf, errlen, "session token contains CR or LF");
		return -EINVAL;
	}
	sign_token = has_token && !(params->flags & TXP_SIGV4_OMIT_SESSION_TOKEN);

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto oom;
	if (txp_sigv4_amz_date(params->now, s->amz_date) != 0) {
		txp_aws_set_err(errbuf, errlen, "signing time out of range");
		goto fail;
	}
	memcpy(date, s->amz_date, 8);
	date[8] = '\0';
	if (has_token && (s->security_token = str_dup(creds->session_token)) == NULL)
		goto oom;
	rc = hashed_payload(req, &s->payload_hash);
	if (rc != 0)
		goto fail;

	extra[n_extra++] = (struct txp_sigv4_header){ "x-amz-date", s->amz_date };
	if (sign_token)
		extra[n_extra++] = (struct txp_sigv4_header){ "x-amz-security-token", s->security_token };
	if (params->flags & TXP_SIGV4_SIGN_BODY)
		extra[n_extra++] = (struct txp_sigv4_header){ "x-amz-content-sha256", s->payload_hash };

	/* Steps 1-5 make the canonical request. */
	txp_sbuf_str(&canon, req->method);
	sb_char(&canon, '\n');
	rc = canonical_uri(&canon, req->path, params->flags, errbuf, errlen);
	if (rc != 0)
		goto fail;
	sb_char(&canon, '\n');
	rc = canonical_query(&canon, req->query);
	if (rc != 0)
		goto fail;
	sb_char(&canon, '\n');
	rc = canonical_headers(&hdrs, &list, req, extra, n_extra, params->flags, has_token, errbuf, errlen);
	if (rc != 0)
		goto fail;
	txp_sbuf_raw(&canon, hdrs.p, hdrs.len);
	sb_char(&canon, '\n');
	txp_sbuf_raw(&canon, list.p, list.len);
	sb_char(&canon, '\n');
	txp_sbuf_str(&canon, s->payload_hash);
	if (canon.oom)
		goto oom;

	/* Step 6. */
	txp_sbuf_str(&scope, date);
	sb_char(&scope, '/');
	txp_sbuf_str(&scope, params->region);
	sb_char(&scope, '/');
	txp_sbuf_str(&scope, params->service);
	txp_sbuf_str(&scope, "/aws4_request");
	string_to_sign(&sts, s->amz_date, scope.oom ? "" : scope.p, canon.p);
	if (scope.oom || sts.oom)
		goto oom;

	/* Steps 7 and 8. */
	if (params->cache != NULL)
		rc = txp_sigv4_key_cache_get(params->cache, creds, date, params->region, params->service, key);
	else
		rc = txp_sigv4_derive_key(creds->secret_access_key, date, params->region, params->service, key);
	if (rc < 0) {
		txp_aws_set_err(errbuf, errlen, "cannot derive the signing key (secret too long?)");
		goto fail;
	}
	signature(s->signature, key, sts.p);
	sodium_memzero(key, sizeof(key));

	/* Step 9. */
	authorization(&auth, creds->access_key_id, scope.p, list.p, s->signature);
	s->canonical_request = txp_sbuf_finish(&canon, NULL);
	s->string_to_sign = txp_sbuf_finish(&sts, NULL);
	s->signed_headers = txp_sbuf_finish(&list, NULL);
	s->authorization = txp_sbuf_finish(&auth, NULL);
	if (s->canonical_request == NULL || s->string_to_sign == NULL || s->signed_headers == NULL ||
	    s->authorization == NULL)
		goto oom;

	s->add_headers[s->n_add_headers++] = (struct txp_sigv4_out_header){ "X-Amz-Date", s->amz_date };
	if (has_token)
		s->add_headers[s->n_add_headers++] =
		        (struct txp_sigv4_out_header){ "X-Amz-Security-Token", s->security_token };
	if (params->flags & TXP_SIGV4_SIGN_BODY)
		s->add_headers[s->n_add_headers++] =
		        (struct txp_sigv4_out_header){ "x-amz-content-sha256", s->payload_hash };
	s->add_headers[s->n_add_headers++] = (struct txp_sigv4_out_header){ "Authorization", s->authorization };

	*out = s;
	s = NULL;
	rc = 0;
	goto done;
oom:
	txp_aws_set_err(errbuf, errlen, "out of memory");
	rc = -ENOMEM;
fail:
	if (rc == 0)
		rc = -EINVAL;
done:
	sodium_memzero(key, sizeof(key));
	txp_sbuf_wipe(&scope);
	txp_sbuf_wipe(&auth);
	txp_sbuf_wipe(&sts);
	txp_sbuf_wipe(&list);
	txp_sbuf_wipe(&hdrs);
	txp_sbuf_wipe(&canon);
	txp_sigv4_signed_free(s);
	return rc;
}
