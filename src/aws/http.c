/* http.c: libcurl's multi interface driven by the libuv loop: uv_poll per socket, one uv_timer for curl. */
#include "txp_build_config.h"

#include "txpipe/aws/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "txpipe/aws/error.h"
#include "txpipe/queue.h"

#define HTTP_DEFAULT_HOST_CONNECTIONS 8
/* Endpoints whose connections the cache keeps: DynamoDB, SNS, SQS, IMDS. */
#define HTTP_ENDPOINTS_KEPT 4
/* Reset easy handles kept for reuse. */
#define HTTP_SPARE_EASY 64
#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 3000
#define HTTP_DEFAULT_TIMEOUT_MS 30000
#define HTTP_DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define HTTP_HEADER_VALUE_MAX 256

/* A socket curl asked us to watch; lives until its uv_poll_t close callback. */
struct http_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct txp_http *http;
	struct txp_queue link; /* in http->socks */
};

/* One request in flight. */
struct http_xfer {
	struct txp_http *http;
	struct txp_queue link; /* in http->xfers */
	uint64_t id;
	CURL *easy;
	CURLU *url;
	struct curl_slist *headers;
	const unsigned char *req_body; /* req_body_copy, or the caller's (borrow_body) */
	unsigned char *req_body_copy;
	size_t req_body_len;
	unsigned char *body;
	size_t body_len, body_cap;
	bool body_too_large;
	char content_type[HTTP_HEADER_VALUE_MAX];
	char amzn_error_type[HTTP_HEADER_VALUE_MAX];
	char amzn_request_id[HTTP_HEADER_VALUE_MAX];
	char date[HTTP_HEADER_VALUE_MAX];
	char curl_err[CURL_ERROR_SIZE];
	txp_http_cb cb;
	void *data;
};

struct txp_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct txp_queue socks; /* struct http_sock */
	struct txp_queue xfers; /* struct http_xfer */
	size_t n_xfers;
	uint64_t next_id;
	long connect_timeout_ms, timeout_ms;
	size_t max_body;
	char *ca_file;
	char *user_agent;
	bool closing;
	unsigned pending_closes; /* uv handles whose close callback has not run yet */
	txp_http_close_cb close_cb;
	void *close_data;
	/* Easy handles of finished transfers, reset, for the next ones:
	 * curl_easy_init allocates and initialises a handle and its first
	 * transfer its buffers (tens of KB), which with one request per
	 * record ([fleet] conditional puts) was a large part of the CPU. */
	CURL *spare[HTTP_SPARE_EASY];
	unsigned nspare;
};

/* --- URL policy ----------------------------------------------------------- */

static bool host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* The EC2 instance metadata service's fixed addresses, from the EC2 user
 * guide ("Access instance metadata"): 169.254.169.254 and fd00:ec2::254. */
static bool host_is_imds(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6, imds6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return a4.s_addr == htonl(0xa9fea9feu);
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		inet_pton(AF_INET6, "fd00:ec2::254", &imds6);
		return memcmp(&a6, &imds6, sizeof(a6)) == 0;
	}
	return false;
}

/* Parses `url` with curl's own parser (the one that will send it, so the
 * policy and the transfer agree on the host) and applies the policy.  On
 * success the parsed handle is returned through *out when out is not NULL. */
static int url_check(const char *url, bool allow_imds, CURLU **out, char *errbuf, size_t errlen)
{
	CURLU *u;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL, *user = NULL, *zone = NULL;
	char bare[256];
	size_t hl;
	int rc;

	if (url == NULL) {
		txp_aws_set_err(errbuf, errlen, "no URL");
		return -EINVAL;
	}
	u = curl_url();
	if (u == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		txp_aws_set_err(errbuf, errlen, "unparsable URL: %s", curl_url_strerror(uc));
		rc = -EINVAL;
		goto err_after_url;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		txp_aws_set_err(errbuf, errlen, "URL has no scheme");
		rc = -EINVAL;
		goto err_after_parts;
	}
	if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0) {
		txp_aws_set_err(errbuf, errlen, "scheme %s is not allowed (https only)", scheme);
		rc = -EPERM;
		goto err_after_parts;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		txp_aws_set_err(errbuf, errlen, "URL has no host");
		rc = -EINVAL;
		goto err_after_parts;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		/* Credentials in a URL end up in logs and proxies; never allowed. */
		txp_aws_set_err(errbuf, errlen, "URL carries user information");
		rc = -EPERM;
		goto err_after_parts;
	}
	if (strcasecmp(scheme, "https") == 0) {
		rc = 0;
		goto done;
	}
	/* curl returns IPv6 hosts in brackets; the zone id comes separately. */
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		snprintf(bare, sizeof(bare), "%.*s", (int)(hl - 2), host + 1);
	} else {
		snprintf(bare, sizeof(bare), "%s", host);
	}
	if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
		txp_aws_set_err(errbuf, errlen, "plain http to a scoped IPv6 address is not allowed");
		rc = -EPERM;
		goto err_after_parts;
	}
	if (host_is_loopback(bare) || (allow_imds && host_is_imds(bare))) {
		rc = 0;
		goto done;
	}
	txp_aws_set_err(errbuf, errlen, "plain http to %s is not allowed (https only, except loopback%s)", host,
	                allow_imds ? " and instance metadata" : "");
	rc = -EPERM;
	goto err_after_parts;

done:
	curl_free(scheme);
	curl_free(host);
	if (out != NULL)
		*out = u;
	else
		curl_url_cleanup(u);
	return 0;

err_after_parts:
	curl_free(zone);
	curl_free(user);
	curl_free(host);
	curl_free(scheme);
err_after_url:
	curl_url_cleanup(u);
	return rc;
}

int txp_http_url_allowed(const char *url, bool allow_imds, char *errbuf, size_t errlen)
{
	return url_check(url, allow_imds, NULL, errbuf, errlen);
}

/* --- transfers ------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	size_t n = size * nmemb;
	size_t cap;
	unsigned char *nb;

	if (n > x->http->max_body - x->body_len) {
		x->body_too_large = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (x->body_len + n + 1 > x->body_cap) {
		cap = x->body_cap != 0 ? x->body_cap : 1024;
		while (cap < x->body_len + n + 1)
			cap *= 2;
		nb = realloc(x->body, cap);
		if (nb == NULL)
			return 0;
		x->body = nb;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, ptr, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
	return n;
}

/* Copies the value of header line `line` (n bytes, "Name: value\r\n") into
 * dst when its name is `name`. */
static bool header_take(const char *line, size_t n, const char *name, char *dst, size_t cap)
{
	size_t nl = strlen(name);
	size_t b, e;

	if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	b = nl + 1;
	e = n;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	while (e > b && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	if (e - b >= cap)
		e = b + cap - 1;
	memcpy(dst, line + b, e - b);
	dst[e - b] = '\0';
	return true;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	size_t n = size * nmemb;

	/* A status line starts a new header block (after a 100 Continue, say):
	 * only the final response's headers count. */
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		x->content_type[0] = x->amzn_error_type[0] = x->amzn_request_id[0] = x->date[0] = '\0';
		return n;
	}
	if (header_take(line, n, "Content-Type", x->content_type, sizeof(x->content_type)) ||
	    header_take(line, n, "x-amzn-ErrorType", x->amzn_error_type, sizeof(x->amzn_error_type)) ||
	    header_take(line, n, "x-amzn-RequestId", x->amzn_request_id, sizeof(x->amzn_request_id)) ||
	    header_take(line, n, "Date", x->date, sizeof(x->date)))
		return n;
	header_take(line, n, "x-amz-request-id", x->amzn_request_id, sizeof(x->amzn_request_id));
	return n;
}

static void slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		sodium_memzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void xfer_unlink(struct http_xfer *x)
{
	struct txp_http *http = x->http;

	txp_queue_remove(&x->link);
	http->n_xfers--;
}

/* An easy handle for a new transfer: a spare one, or a new one. */
static CURL *easy_get(struct txp_http *http)
{
	return http->nspare > 0 ? http->spare[--http->nspare] : curl_easy_init();
}

/* Keeps the handle of a finished transfer (out of the multi) for the next
 * one: curl_easy_reset() returns every option to its default and keeps
 * only the handle's buffers and caches (connections are the multi's). */
static void easy_put(struct txp_http *http, CURL *e)
{
	if (!http->closing && http->nspare < HTTP_SPARE_EASY) {
		curl_easy_reset(e);
		http->spare[http->nspare++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

static void xfer_free(struct http_xfer *x)
{
	if (x->easy != NULL)
		easy_put(x->http, x->easy);
	if (x->url != NULL)
		curl_url_cleanup(x->url);
	slist_free_wiped(x->headers);
	if (x->req_body_copy != NULL) {
		sodium_memzero(x->req_body_copy, x->req_body_len);
		free(x->req_body_copy);
	}
	/* Bodies can hold secrets too (IMDS tokens and credentials). */
	if (x->body != NULL)
		sodium_memzero(x->body, x->body_len);
	free(x->body);
	free(x);
}

static int map_curl_code(CURLcode cc, const struct http_xfer *x)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -ECONNREFUSED;
	case CURLE_WRITE_ERROR:
		return x->body_too_large ? -EMSGSIZE : -EIO;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Removes the transfer from the multi handle and the list, runs its callback
 * with `err` (0: from curl's result) and frees it. */
static void xfer_finish(struct http_xfer *x, CURLcode cc, int err)
{
	struct txp_http_resp r;
	curl_off_t t = 0;

	memset(&r, 0, sizeof(r));
	curl_multi_remove_handle(x->http->multi, x->easy);
	xfer_unlink(x);
	r.err = err != 0 ? err : map_curl_code(cc, x);
	r.curl_code = (int)cc;
	if (r.err == -ECANCELED)
		r.errmsg = "request cancelled";
	else if (r.err == -EMSGSIZE)
		r.errmsg = "response body too large";
	else if (cc == CURLE_OK)
		r.errmsg = "";
	else
		r.errmsg = x->curl_err[0] != '\0' ? x->curl_err : curl_easy_strerror(cc);
	if (r.err == 0)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &t);
	r.total_time_us = t > 0 ? (uint64_t)t : 0;
	r.content_type = x->content_type;
	r.amzn_error_type = x->amzn_error_type;
	r.amzn_request_id = x->amzn_request_id;
	r.date = x->date;
	r.body = x->body != NULL ? x->body : (const unsigned char *)"";
	r.body_len = x->body_len;
	x->cb(&r, x->data);
	xfer_free(x);
}

/* Completes every transfer curl reports done.  A callback may close the
 * client; the multi handle stays valid until the timer's close callback, so
 * the loop only has to stop reading. */
static void check_multi_info(struct txp_http *http)
{
	CURLMsg *msg;
	int pending;
	struct http_xfer *x;

	while (!http->closing && (msg = curl_multi_info_read(http->multi, &pending)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		xfer_finish(x, msg->data.result, 0);
	}
}

/* --- the libuv side of curl's socket interface ---------------------------- */

static void on_handle_closed(uv_handle_t *h);

static void sock_close(struct http_sock *s)
{
	struct txp_http *http = s->http;

	txp_queue_remove(&s->link);
	http->pending_closes++;
	/* uv_close stops the poll watcher now (before curl closes the fd); only
	 * the callback that frees it is deferred. */
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct http_sock *s = p->data;
	struct txp_http *http = s->http;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(http->multi, s->fd, flags, &running);
	check_multi_info(http);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct txp_http *http = userp;
	struct http_sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			if (!http->closing)
				curl_multi_assign(http->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (http->closing)
		return 0;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		if (uv_poll_init_socket(http->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->fd = fd;
		s->http = http;
		s->poll.data = s;
		txp_queue_insert_head(&http->socks, &s->link);
		curl_multi_assign(http->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&s->poll, events, on_poll) != 0)
		return -1;
	return 0;
}

static void on_timer(uv_timer_t *t)
{
	struct txp_http *http = t->data;
	int running;

	curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(http);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct txp_http *http = userp;

	if (http->closing)
		return 0;
	/* curl asks for 0 ms when it wants to be called "now"; we never call
	 * curl_multi_socket_action from inside its own callback, so that too
	 * goes through the loop. */
	if (timeout_ms < 0)
		uv_timer_stop(&http->timer);
	else
		uv_timer_start(&http->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* --- lifecycle ------------------------------------------------------------ */

static void init_curl_once(void)
{
	/* libcurl's global state is per process; initialising it once here
	 * keeps the call next to its only user.  It is never cleaned up: the
	 * process exits instead. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int txp_http_create(uv_loop_t *loop, const struct txp_http_options *opts, struct txp_http **out, char *errbuf,
                    size_t errlen)
{
	static uv_once_t once = UV_ONCE_INIT;
	struct txp_http_options defaults = { 0 };
	struct txp_http *http;
	long host_conns;
	int rc;

	uv_once(&once, init_curl_once);
	if (opts == NULL)
		opts = &defaults;
	http = calloc(1, sizeof(*http));
	if (http == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	http->loop = loop;
	http->next_id = 1;
	txp_queue_init(&http->socks);
	txp_queue_init(&http->xfers);
	http->connect_timeout_ms =
	        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
	http->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	http->max_body = opts->max_body_bytes > 0 ? opts->max_body_bytes : HTTP_DEFAULT_MAX_BODY;
	if (opts->ca_file != NULL && (http->ca_file = strdup(opts->ca_file)) == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	http->user_agent = strdup(opts->user_agent != NULL ? opts->user_agent : PACKAGE_NAME "/" PACKAGE_VERSION);
	if (http->user_agent == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	http->multi = curl_multi_init();
	if (http->multi == NULL) {
		txp_aws_set_err(errbuf, errlen, "curl_multi_init failed");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
	host_conns = opts->max_host_connections > 0 ? opts->max_host_connections : (long)HTTP_DEFAULT_HOST_CONNECTIONS;
	curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, host_conns);
	/* Keep every connection the endpoints may use open between bursts.
	 * By default the cache holds four per easy handle in the multi, and an
	 * easy handle lives for one request here, so a lull closed connections
	 * and the next burst paid a TCP and TLS handshake (and a re-read of the
	 * CA file) for each: that was 4% of the daemon's CPU under load. */
	curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, host_conns * HTTP_ENDPOINTS_KEPT);
	rc = uv_timer_init(loop, &http->timer);
	if (rc != 0) {
		txp_aws_set_err(errbuf, errlen, "uv_timer_init: %s", uv_strerror(rc));
		goto err_after_multi;
	}
	http->timer.data = http;
	*out = http;
	return 0;

err_after_multi:
	curl_multi_cleanup(http->multi);
err_after_alloc:
	free(http->user_agent);
	free(http->ca_file);
	free(http);
	return rc;
}

static int xfer_setup(struct http_xfer *x, const struct txp_http_req *req, char *errbuf, size_t errlen)
{
	struct txp_http *http = x->http;
	CURL *e = x->easy;
	bool has_ctype = false;
	struct curl_slist *nl;
	char line[8192];
	char *scheme = NULL;
	bool plain_http;
	CURLcode cc = CURLE_OK;

	if (curl_url_get(x->url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto oom;
	plain_http = strcasecmp(scheme, "http") == 0;
	curl_free(scheme);

	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[i].name, *value = req->headers[i].value;
		int n;

		if (name == NULL || value == NULL || name[0] == '\0' || strpbrk(name, ":\r\n") != NULL ||
		    strpbrk(value, "\r\n") != NULL) {
			txp_aws_set_err(errbuf, errlen, "malformed request header #%zu", i);
			return -EINVAL;
		}
		if (strcasecmp(name, "Content-Type") == 0)
			has_ctype = true;
		/* "Name;" is curl's way of sending a header with an empty value. */
		n = value[0] != '\0' ? snprintf(line, sizeof(line), "%s: %s", name, value)
		                     : snprintf(line, sizeof(line), "%s;", name);
		if (n < 0 || (size_t)n >= sizeof(line)) {
			sodium_memzero(line, sizeof(line));
			txp_aws_set_err(errbuf, errlen, "request header %s too long", name);
			return -EINVAL;
		}
		nl = curl_slist_append(x->headers, line);
		sodium_memzero(line, sizeof(line));
		if (nl == NULL)
			goto oom;
		x->headers = nl;
	}
	/* No "Expect: 100-continue" round trip, and no form content type that
	 * the caller did not ask (and sign) for. */
	if ((nl = curl_slist_append(x->headers, "Expect:")) == NULL)
		goto oom;
	x->headers = nl;
	if (!has_ctype) {
		if ((nl = curl_slist_append(x->headers, "Content-Type:")) == NULL)
			goto oom;
		x->headers = nl;
	}

	cc |= curl_easy_setopt(e, CURLOPT_CURLU, x->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	cc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	cc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (plain_http) {
		/* The policy allowed plain http for this host only; a proxy from
		 * the environment would carry it elsewhere in clear text. */
		cc |= curl_easy_setopt(e, CURLOPT_PROXY, "");
	}
	cc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	cc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	cc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (http->ca_file != NULL)
		cc |= curl_easy_setopt(e, CURLOPT_CAINFO, http->ca_file);
	cc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	cc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	cc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	cc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 60L);
	cc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 30L);
	cc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                       req->connect_timeout_ms > 0 ? req->connect_timeout_ms : http->connect_timeout_ms);
	cc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : http->timeout_ms);
	cc |= curl_easy_setopt(e, CURLOPT_USERAGENT, http->user_agent);
	cc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	cc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	cc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	cc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	cc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	cc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
	cc |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);

	if (strcmp(req->method, "GET") == 0 && req->body_len == 0) {
		cc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "HEAD") == 0) {
		cc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		/* POSTFIELDS sends the bytes with a Content-Length; CUSTOMREQUEST
		 * only renames the method on the request line. */
		cc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req_body_len);
		cc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req_body != NULL ? (char *)x->req_body : "");
		if (strcmp(req->method, "POST") != 0)
			cc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (cc != CURLE_OK) {
		txp_aws_set_err(errbuf, errlen, "curl_easy_setopt failed");
		return -EIO;
	}
	return 0;

oom:
	txp_aws_set_err(errbuf, errlen, "out of memory");
	return -ENOMEM;
}

static bool method_valid(const char *m)
{
	size_t n = m != NULL ? strlen(m) : 0;

	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

int txp_http_request(struct txp_http *http, const struct txp_http_req *req, txp_http_cb cb, void *data, uint64_t *id,
                     char *errbuf, size_t errlen)
{
	struct http_xfer *x;
	CURLMcode mc;
	int rc;

	if (http->closing) {
		txp_aws_set_err(errbuf, errlen, "HTTP client is closing");
		return -ECANCELED;
	}
	if (!method_valid(req->method) || (req->body == NULL && req->body_len > 0) ||
	    (req->headers == NULL && req->n_headers > 0)) {
		txp_aws_set_err(errbuf, errlen, "invalid request: method, body or headers");
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	txp_queue_init(&x->link);
	x->http = http;
	x->cb = cb;
	x->data = data;
	rc = url_check(req->url, req->allow_imds, &x->url, errbuf, errlen);
	if (rc != 0)
		goto err_after_alloc;
	if (req->body_len > 0 && req->borrow_body) {
		x->req_body = req->body;
		x->req_body_len = req->body_len;
	} else if (req->body_len > 0) {
		x->req_body_copy = malloc(req->body_len);
		if (x->req_body_copy == NULL) {
			txp_aws_set_err(errbuf, errlen, "out of memory");
			rc = -ENOMEM;
			goto err_after_alloc;
		}
		memcpy(x->req_body_copy, req->body, req->body_len);
		x->req_body = x->req_body_copy;
		x->req_body_len = req->body_len;
	}
	x->easy = easy_get(http);
	if (x->easy == NULL) {
		txp_aws_set_err(errbuf, errlen, "curl_easy_init failed");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	rc = xfer_setup(x, req, errbuf, errlen);
	if (rc != 0)
		goto err_after_alloc;
	mc = curl_multi_add_handle(http->multi, x->easy);
	if (mc != CURLM_OK) {
		txp_aws_set_err(errbuf, errlen, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		rc = -EIO;
		goto err_after_alloc;
	}
	x->id = http->next_id++;
	txp_queue_insert_head(&http->xfers, &x->link);
	http->n_xfers++;
	if (id != NULL)
		*id = x->id;
	return 0;

err_after_alloc:
	xfer_free(x);
	return rc;
}

int txp_http_cancel(struct txp_http *http, uint64_t id)
{
	struct txp_queue *q;

	txp_queue_foreach (q, &http->xfers) {
		struct http_xfer *x = txp_queue_data(q, struct http_xfer, link);
		if (x->id == id) {
			xfer_finish(x, CURLE_ABORTED_BY_CALLBACK, -ECANCELED);
			return 0;
		}
	}
	return -ENOENT;
}

size_t txp_http_inflight(const struct txp_http *http)
{
	return http->n_xfers;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct txp_http *http;

	if (h->type == UV_POLL) {
		struct http_sock *s = h->data;
		http = s->http;
		free(s);
	} else {
		http = h->data;
	}
	/* Poll handles also close while the client runs (curl drops a socket);
	 * only the last handle closed by txp_http_close ends the client. */
	if (--http->pending_closes > 0 || !http->closing)
		return;
	if (http->close_cb != NULL)
		http->close_cb(http, http->close_data);
	free(http->user_agent);
	free(http->ca_file);
	free(http);
}

void txp_http_close(struct txp_http *http, txp_http_close_cb close_cb, void *data)
{
	if (http == NULL || http->closing)
		return;
	/* Callbacks run below may start requests; they are refused from here. */
	http->closing = true;
	http->close_cb = close_cb;
	http->close_data = data;
	while (!txp_queue_empty(&http->xfers))
		xfer_finish(txp_queue_data(http->xfers.next, struct http_xfer, link), CURLE_ABORTED_BY_CALLBACK,
		            -ECANCELED);
	/* curl_multi_cleanup closes the cached connections and reports each
	 * socket as removed; on_curl_socket then closes its poll handle.  It
	 * is safe here even from inside check_multi_info, which stops reading
	 * messages once `closing` is set and never touches the multi again. */
	curl_multi_cleanup(http->multi);
	while (http->nspare > 0)
		curl_easy_cleanup(http->spare[--http->nspare]);
	http->multi = NULL;
	while (!txp_queue_empty(&http->socks))
		sock_close(txp_queue_data(http->socks.next, struct http_sock, link));
	http->pending_closes++;
	uv_close((uv_handle_t *)&http->timer, on_handle_closed);
}
