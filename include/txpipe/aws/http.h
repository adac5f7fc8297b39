/* http.h: an asynchronous HTTP/1.1 client on the libuv loop (libcurl multi), HTTPS-only by policy. */
#ifndef TXPIPE_AWS_HTTP_H
#define TXPIPE_AWS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct txp_http; /* one per loop; owned by its creator, freed by txp_http_close */

struct txp_http_options {
	long max_host_connections; /* parallel connections per host; 0: 8 */
	long connect_timeout_ms;   /* default for requests that give 0; 0: 3000 */
	long timeout_ms;           /* default total timeout; 0: 30000 */
	size_t max_body_bytes;     /* larger responses fail with -EMSGSIZE; 0: 16 MiB */
	const char *ca_file;       /* PEM bundle to verify servers with; NULL: the system's */
	const char *user_agent;    /* NULL: "txpipe/<version>" */
};

/* One request header.  Values may be secrets (Authorization, tokens): the
 * client never logs them and wipes its copies when the transfer ends. */
struct txp_http_header {
	const char *name;
	const char *value;
};

struct txp_http_req {
	const char *method;                    /* "GET", "PUT", "POST", "DELETE", "HEAD" */
	const char *url;                       /* see txp_http_url_allowed() */
	const struct txp_http_header *headers; /* n_headers entries; copied */
	size_t n_headers;
	const void *body; /* body_len bytes; copied unless borrow_body; NULL for none */
	size_t body_len;
	/* The body is not copied: it stays valid and unchanged until the
	 * callback has run (the AWS client's calls keep theirs that long;
	 * a batch is tens of kilobytes, a fleet feed item hundreds). */
	bool borrow_body;
	long connect_timeout_ms; /* 0: the client's default */
	long timeout_ms;         /* whole transfer; 0: the client's default */
	bool allow_imds;         /* plain http:// to the EC2 metadata address */
};

/*
 * The outcome of one request, valid only during the callback: copy what you
 * keep.  `err` is the one field a retry policy needs to look at first:
 *   0             a complete HTTP response arrived; see `status` (any code)
 *   -ECANCELED    cancelled by txp_http_cancel() or txp_http_close()
 *   -ETIMEDOUT    connect or total timeout
 *   -ECONNREFUSED could not connect (refused, unreachable, DNS failure)
 *   -EMSGSIZE     the response body exceeded max_body_bytes
 *   -EPROTO       TLS or certificate failure
 *   -EIO          any other transport failure
 * `curl_code` is the CURLcode and `errmsg` curl's text for it ("" on success).
 */
struct txp_http_resp {
	int err;
	int curl_code;
	const char *errmsg;
	long status;                 /* HTTP status; 0 when no response arrived */
	const char *content_type;    /* "" when absent */
	const char *amzn_error_type; /* x-amzn-ErrorType, "" when absent */
	const char *amzn_request_id; /* x-amzn-RequestId or x-amz-request-id, "" when absent */
	const char *date;            /* the Date header (RFC 7231 IMF-fixdate), "" when absent */
	const unsigned char *body;   /* body_len bytes, followed by a NUL for convenience */
	size_t body_len;
	uint64_t total_time_us;
};

typedef void (*txp_http_cb)(const struct txp_http_resp *resp, void *data);
typedef void (*txp_http_close_cb)(struct txp_http *http, void *data);

/*
 * Pure URL policy, applied to every request before anything is sent:
 * https:// to any host; http:// only to a loopback host (127.0.0.0/8, ::1,
 * "localhost") or, when allow_imds, to the EC2 instance metadata service
 * (169.254.169.254, fd00:ec2::254).  URLs with user information, other
 * schemes or that curl cannot parse are refused.  Returns 0 when allowed,
 * -EINVAL for an unparsable URL and -EPERM for a refused one, with the reason
 * in errbuf.
 */
int txp_http_url_allowed(const char *url, bool allow_imds, char *errbuf, size_t errlen);

/*
 * Creates the client on `loop` (options may be NULL for defaults).  Returns
 * 0 and sets *out, or a negative errno with errbuf filled.  The client must be
 * closed with txp_http_close() before the loop is closed.
 */
int txp_http_create(uv_loop_t *loop, const struct txp_http_options *opts, struct txp_http **out, char *errbuf,
                    size_t errlen);

/*
 * Starts a request; the callback runs exactly once, later, from the loop
 * (never from within this call).  Everything in `req` is copied (the body
 * unless borrow_body).  Returns 0
 * and, when id is not NULL, an id for txp_http_cancel(); or a negative errno
 * with errbuf filled, in which case the callback never runs: -EPERM/-EINVAL
 * for a URL refused by the policy, -ECANCELED when the client is closing,
 * -ENOMEM, -EIO for a curl setup failure.
 */
int txp_http_request(struct txp_http *http, const struct txp_http_req *req, txp_http_cb cb, void *data, uint64_t *id,
                     char *errbuf, size_t errlen);

/*
 * Cancels an in-flight request: its callback runs before this returns, with
 * err == -ECANCELED.  Returns 0, or -ENOENT when the id is not in flight
 * (already completed or unknown).
 */
int txp_http_cancel(struct txp_http *http, uint64_t id);

/* Number of requests in flight. */
size_t txp_http_inflight(const struct txp_http *http);

/*
 * Cancels every in-flight request (each callback runs with -ECANCELED before
 * this returns), then closes all libuv handles.  close_cb (may be NULL) runs
 * from the loop once everything is closed; the client is freed after it
 * returns.  Closing NULL does nothing.
 */
void txp_http_close(struct txp_http *http, txp_http_close_cb close_cb, void *data);

#endif
