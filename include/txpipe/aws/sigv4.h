/* sigv4.h: AWS Signature Version 4 request signing, a pure function of the request, credentials and time. */
#ifndef TXPIPE_AWS_SIGV4_H
#define TXPIPE_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * The algorithm is the one in the AWS documentation "Create a signed AWS API
 * request" (formerly the General Reference pages sigv4-create-canonical-request,
 * sigv4-create-string-to-sign and sigv4-calculate-signature) and is checked
 * against the published SigV4 test suite (tests/unit/test_sigv4_suite.c).
 * Only header signing (the Authorization header) is implemented; presigned
 * URLs (query signing) are not.
 */

#define TXP_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define TXP_SIGV4_KEY_BYTES 32      /* a derived signing key (HMAC-SHA-256 output) */
#define TXP_SIGV4_HEX_BYTES 65      /* 64 lowercase hex digits and the NUL */
#define TXP_SIGV4_AMZ_DATE_BYTES 17 /* "20150830T123600Z" and the NUL */

/* The payload hash value S3 accepts for an unsigned body. */
#define TXP_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

enum txp_sigv4_flags {
	/* Normalize the path per RFC 3986 (remove "." and ".." segments) and
	 * collapse empty segments, as every service except S3 expects. */
	TXP_SIGV4_NORMALIZE_PATH = 1u << 0,
	/* Add an x-amz-content-sha256 header holding the payload hash and sign
	 * it (S3 requires it; other services accept it). */
	TXP_SIGV4_SIGN_BODY = 1u << 1,
	/* Send X-Amz-Security-Token but leave it out of the signed headers
	 * (a few services, e.g. IoT, want the token added after signing). */
	TXP_SIGV4_OMIT_SESSION_TOKEN = 1u << 2,
	/* Use the path as given (already URI-encoded once) instead of encoding
	 * it again.  Every service except S3 wants the path encoded twice:
	 * once on the wire, once more in the canonical request. */
	TXP_SIGV4_SINGLE_ENCODE_PATH = 1u << 3,
};

/* The flags for every AWS service except S3. */
#define TXP_SIGV4_DEFAULT_FLAGS TXP_SIGV4_NORMALIZE_PATH

/* One request header.  Both strings are borrowed for the duration of the call. */
struct txp_sigv4_header {
	const char *name;
	const char *value;
};

/*
 * The request to sign.  All pointers are borrowed for the duration of the call.
 *
 * path: the path as it will be sent on the wire (percent-encoded once by the
 *   caller, "/" when empty or NULL), without the query string.
 * query: the query string without the leading '?', or NULL/"".  Parameters
 *   may be percent-encoded or raw; each name and value is decoded and
 *   re-encoded with the SigV4 rules, so both spellings sign the same.  '+'
 *   is a literal plus, not a space.
 * headers: the headers to sign, in the order they are sent.  A "host" header
 *   is required.  Names are case-insensitive; repeated names are joined with
 *   ',' in the order given.  Values must not contain CR or LF (fold
 *   continuation lines into one value first).  Do not pass X-Amz-Date,
 *   Authorization, or (when signing with a session token)
 *   X-Amz-Security-Token: the signer adds those, and refuses duplicates.
 * payload, payload_len: the body (NULL with 0 for none); hashed with SHA-256
 *   unless payload_hash is set.
 * payload_hash: when not NULL, used verbatim as the hashed payload (a hex
 *   SHA-256 computed elsewhere, or TXP_SIGV4_UNSIGNED_PAYLOAD for S3).
 */
struct txp_sigv4_request {
	const char *method;
	const char *path;
	const char *query;
	const struct txp_sigv4_header *headers;
	size_t n_headers;
	const void *payload;
	size_t payload_len;
	const char *payload_hash;
};

/* Credentials, borrowed for the call.  session_token is NULL for long-term keys. */
struct txp_sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/*
 * A cache of one derived signing key, owned by the caller (embed it in the
 * client that signs, one per thread: it has no lock).  The key depends only
 * on the secret, the UTC date, the region and the service, so it is derived
 * once a day instead of four HMACs per request.  The secret itself is never
 * stored: the entry keeps a BLAKE2b fingerprint of the access key id and
 * secret, so rotated credentials are noticed.  Initialize with
 * txp_sigv4_key_cache_init and wipe with txp_sigv4_key_cache_clear before the
 * memory is released.
 */
struct txp_sigv4_key_cache {
	bool valid;
	char date[9]; /* YYYYMMDD */
	char region[32];
	char service[32];
	unsigned char fingerprint[32];
	unsigned char key[TXP_SIGV4_KEY_BYTES];
};

/* The signing parameters besides the request.  All pointers borrowed. */
struct txp_sigv4_params {
	const struct txp_sigv4_credentials *creds;
	const char *region;
	const char *service;
	time_t now;                        /* the signing time; passed in so signing is pure */
	unsigned flags;                    /* enum txp_sigv4_flags */
	struct txp_sigv4_key_cache *cache; /* NULL: derive the key every call */
};

/* A header the caller must add to the request, as it is to be sent. */
struct txp_sigv4_out_header {
	const char *name;
	const char *value;
};

#define TXP_SIGV4_MAX_ADD_HEADERS 4

/*
 * The result of signing, allocated by txp_sigv4_sign and released with
 * txp_sigv4_signed_free.  Every string is NUL-terminated and owned by this
 * struct.  add_headers lists, in this order, X-Amz-Date, X-Amz-Security-Token
 * (when there is a session token, signed or not), x-amz-content-sha256 (with
 * TXP_SIGV4_SIGN_BODY) and Authorization; their pointers point into this
 * struct.  The canonical request and the string to sign are kept for
 * debugging signature mismatches; they hold the session token, so do not log
 * them outside debug builds.
 */
struct txp_sigv4_signed {
	char *canonical_request;
	char *string_to_sign;
	char *signed_headers; /* "host;x-amz-date" */
	char *payload_hash;   /* hex SHA-256 of the body, or the caller's value */
	char *authorization;  /* the Authorization header value */
	char *security_token; /* a copy of the session token, or NULL */
	char signature[TXP_SIGV4_HEX_BYTES];
	char amz_date[TXP_SIGV4_AMZ_DATE_BYTES];
	size_t n_add_headers;
	struct txp_sigv4_out_header add_headers[TXP_SIGV4_MAX_ADD_HEADERS];
};

/*
 * Signs `req`.  On success returns 0 and stores a new struct txp_sigv4_signed
 * in *out (the caller frees it with txp_sigv4_signed_free).  On failure
 * returns -EINVAL (bad input: missing host, forbidden or malformed header,
 * time out of range, ...) or -ENOMEM, leaves *out NULL, and writes the cause
 * to errbuf (may be NULL) without any secret in it.  libsodium must have
 * been initialized (sodium_init) once before the first call.
 */
int txp_sigv4_sign(const struct txp_sigv4_request *req, const struct txp_sigv4_params *params,
                   struct txp_sigv4_signed **out, char *errbuf, size_t errlen);

/* Wipes and frees a result of txp_sigv4_sign.  NULL is allowed. */
void txp_sigv4_signed_free(struct txp_sigv4_signed *s);

/*
 * Derives the signing key HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
 * service), "aws4_request") into key.  date is "YYYYMMDD".  Returns 0, or
 * -EINVAL when an argument is NULL or the secret is too long (over 256 bytes).
 */
int txp_sigv4_derive_key(const char *secret_access_key, const char *date, const char *region, const char *service,
                         unsigned char key[TXP_SIGV4_KEY_BYTES]);

/* Makes the cache empty. */
void txp_sigv4_key_cache_init(struct txp_sigv4_key_cache *cache);

/* Wipes the cache (key and fingerprint) with sodium_memzero. */
void txp_sigv4_key_cache_clear(struct txp_sigv4_key_cache *cache);

/*
 * Copies the signing key for (creds, date, region, service) into key, from the
 * cache when the entry matches, otherwise deriving it and replacing the
 * entry.  Returns 1 on a cache hit, 0 when the key was derived, -EINVAL on bad
 * arguments.  Region or service names longer than the cache fields are
 * derived every time and not cached.
 */
int txp_sigv4_key_cache_get(struct txp_sigv4_key_cache *cache, const struct txp_sigv4_credentials *creds,
                            const char *date, const char *region, const char *service,
                            unsigned char key[TXP_SIGV4_KEY_BYTES]);

/*
 * URI-encodes len bytes of `in` the SigV4 way: every byte except the
 * unreserved A-Z a-z 0-9 - . _ ~ becomes %XY with uppercase hex, and '/' is
 * kept as is when keep_slash is true (paths).  This is also the encoding AWS
 * query-protocol bodies (SNS, SQS) expect.  Returns a malloc'd string the
 * caller frees, or NULL when out of memory.
 */
char *txp_sigv4_uri_encode(const char *in, size_t len, bool keep_slash);

/* Formats `now` as the X-Amz-Date value (YYYYMMDD'T'HHMMSS'Z', UTC).
 * Returns 0, or -EINVAL when now is negative or past year 9999. */
int txp_sigv4_amz_date(time_t now, char out[TXP_SIGV4_AMZ_DATE_BYTES]);

#endif
