/* fuzz_sigv4.c: libFuzzer harness for SigV4 canonicalisation of odd methods, paths, queries and headers. */
#include <sodium.h>
#include <string.h>

#include "txpipe/aws/sigv4.h"

#include "fuzz.h"

#define MAX_HEADERS 16

static const struct txp_sigv4_credentials creds = {
	/* The example keys of the AWS documentation and test suite. */
	.access_key_id = "AKIDEXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	.session_token = NULL,
};

/* Line `i` (0-based) of a canonical request, as a new string. */
static char *canon_line(const char *canon, int i)
{
	const char *p = canon, *nl;

	while (i-- > 0) {
		p = strchr(p, '\n');
		FUZZ_ASSERT(p != NULL);
		p++;
	}
	nl = strchr(p, '\n');
	FUZZ_ASSERT(nl != NULL);
	return fuzz_strndup((const uint8_t *)p, (size_t)(nl - p));
}

static bool only(const char *s, const char *extra)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("-._~%", c) != NULL || strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

/* Signs `req` with `flags`; returns the result or NULL (refused). */
static struct txp_sigv4_signed *sign(const struct txp_sigv4_request *req, unsigned flags,
                                     struct txp_sigv4_key_cache *cache)
{
	struct txp_sigv4_params params = {
		.creds = &creds,
		.region = "us-east-1",
		.service = "service",
		.now = 1440938160, /* 20150830T123600Z */
		.flags = flags,
		.cache = cache,
	};
	struct txp_sigv4_signed *s = NULL;
	char err[256];
	int rc = txp_sigv4_sign(req, &params, &s, err, sizeof(err));

	FUZZ_ASSERT((rc == 0) == (s != NULL));
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	return s;
}

/*
 * The input is an HTTP/1.1 request as the AWS SigV4 test suite writes them
 * (request.txt): "METHOD /path?query HTTP/1.1", "Name:value" header lines up
 * to an empty line, then the body.  A host header always comes first.
 * Properties, for the default flags and for S3's:
 *  - signing is deterministic, with and without the key cache;
 *  - the canonical URI (encoded by us) and the canonical query hold only
 *    unreserved characters, '%' escapes and their separators, and the URI
 *    is normalized (no ".", ".." or empty segment) when asked;
 *  - the canonical query is a fixed point: signing it as the query gives
 *    it back (raw and encoded spellings of a parameter sign alike).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned flag_sets[] = { TXP_SIGV4_DEFAULT_FLAGS,
		                              TXP_SIGV4_SINGLE_ENCODE_PATH | TXP_SIGV4_SIGN_BODY };
	static struct txp_sigv4_key_cache cache;
	static bool ready;
	struct txp_sigv4_header headers[MAX_HEADERS + 1] = { { "host", "example.amazonaws.com" } };
	struct txp_sigv4_request req = { .headers = headers, .n_headers = 1, .query = "" };
	char *text = fuzz_strndup(data, size);
	char *p = text, *nl, *sp, *q;

	if (!ready && sodium_init() < 0)
		abort();
	ready = true;
	/* The request line. */
	nl = strchr(p, '\n');
	if (nl != NULL)
		*nl = '\0';
	req.method = p;
	sp = strchr(p, ' ');
	if (sp != NULL) {
		*sp = '\0';
		req.path = sp + 1;
		sp = strrchr(sp + 1, ' ');
		if (sp != NULL)
			*sp = '\0';
		q = strchr(req.path, '?');
		if (q != NULL) {
			*q = '\0';
			req.query = q + 1;
		}
	}
	p = nl != NULL ? nl + 1 : p + strlen(p);
	/* Headers up to an empty line. */
	while ((nl = strchr(p, '\n')) != NULL && nl != p && req.n_headers <= MAX_HEADERS) {
		char *colon = memchr(p, ':', (size_t)(nl - p));
		*nl = '\0';
		if (colon != NULL) {
			*colon = '\0';
			headers[req.n_headers].name = p;
			headers[req.n_headers].value = colon + 1;
			req.n_headers++;
		}
		p = nl + 1;
	}
	if (*p == '\n')
		p++;
	req.payload = p;
	req.payload_len = strlen(p);

	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
		unsigned flags = flag_sets[f];
		struct txp_sigv4_signed *a = sign(&req, flags, NULL), *b, *c;
		char *uri, *query;

		b = sign(&req, flags, &cache);
		c = sign(&req, flags, &cache);
		FUZZ_ASSERT((a == NULL) == (b == NULL) && (b == NULL) == (c == NULL));
		if (a == NULL)
			continue;
		FUZZ_ASSERT(strcmp(a->canonical_request, b->canonical_request) == 0);
		FUZZ_ASSERT(strcmp(a->signature, b->signature) == 0 && strcmp(b->signature, c->signature) == 0);
		FUZZ_ASSERT(strcmp(a->authorization, c->authorization) == 0);

		uri = canon_line(a->canonical_request, 1);
		query = canon_line(a->canonical_request, 2);
		FUZZ_ASSERT(uri[0] == '/');
		if (!(flags & TXP_SIGV4_SINGLE_ENCODE_PATH))
			FUZZ_ASSERT(only(uri, "/"));
		if (flags & TXP_SIGV4_NORMALIZE_PATH) {
			FUZZ_ASSERT(strstr(uri, "//") == NULL && strstr(uri, "/./") == NULL &&
			            strstr(uri, "/../") == NULL);
		}
		FUZZ_ASSERT(only(query, "=&"));

		{
			struct txp_sigv4_request again = req;
			struct txp_sigv4_signed *d;
			char *query2;

			again.query = query;
			d = sign(&again, flags, NULL);
			FUZZ_ASSERT(d != NULL);
			query2 = canon_line(d->canonical_request, 2);
			FUZZ_ASSERT(strcmp(query, query2) == 0);
			free(query2);
			txp_sigv4_signed_free(d);
		}
		free(uri);
		free(query);
		txp_sigv4_signed_free(a);
		txp_sigv4_signed_free(b);
		txp_sigv4_signed_free(c);
	}
	free(text);
	return 0;
}
