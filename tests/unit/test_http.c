/* test_http.c: the libcurl-on-libuv client against a loopback server: results, timeouts, reuse and close. */
#include "txp_build_config.h"

#include "txpipe/aws/http.h"

#include "loopback_http.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the server saw and how it should answer. */
enum behaviour { ANSWER_200, ANSWER_500, ANSWER_BIG, NEVER_ANSWER, CLOSE_CLIENT };

struct fixture {
	uv_loop_t loop;
	struct lb_server *srv;
	struct txp_http *http;
	enum behaviour behaviour;
	/* the server's view of the last request */
	char method[16], path[1024], body[256], auth[256], xtest[64], ctype[64];
	/* the client's results */
	int calls;
	int err[4];
	long status[4];
	char resp_body[4][64];
	char resp_ctype[4][64];
	char resp_errtype[4][64];
	char resp_reqid[4][64];
	char resp_date[4][64];
	char errmsg[4][256];
	uint64_t time_us[4];
	int http_closed;
	unsigned srv_requests, srv_connections; /* read just before the server closes */
	int stop_after;                         /* calls after which the client and server close */
};

static void on_request(struct lb_conn *c, const struct lb_request *req, void *data)
{
	struct fixture *f = data;
	char big[4096];

	snprintf(f->method, sizeof(f->method), "%s", req->method);
	snprintf(f->path, sizeof(f->path), "%s", req->path);
	snprintf(f->body, sizeof(f->body), "%s", req->body);
	if (lb_header(req, "Authorization", f->auth, sizeof(f->auth)) == NULL)
		f->auth[0] = '\0';
	if (lb_header(req, "X-Test", f->xtest, sizeof(f->xtest)) == NULL)
		f->xtest[0] = '\0';
	if (lb_header(req, "Content-Type", f->ctype, sizeof(f->ctype)) == NULL)
		f->ctype[0] = '\0';
	switch (f->behaviour) {
	case ANSWER_200:
		lb_respond(c, 200,
		           "Content-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: REQ123\r\n"
		           "Date: Sun, 06 Dec 2026 22:41:08 GMT\r\n",
		           "{\"ok\":true}");
		break;
	case ANSWER_500:
		lb_respond(c, 500, "x-amzn-ErrorType: InternalServerError:http://internal.amazon.com/\r\n",
		           "{\"message\":\"boom\"}");
		break;
	case ANSWER_BIG:
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		lb_respond(c, 200, NULL, big);
		break;
	case NEVER_ANSWER:
		break;
	case CLOSE_CLIENT:
		/* The request is now in flight on the client's side. */
		txp_http_close(f->http, NULL, NULL);
		lb_server_close(f->srv);
		break;
	}
}

static void on_http_closed(struct txp_http *http, void *data)
{
	struct fixture *f = data;

	f->http_closed++;
}

static void stop(struct fixture *f)
{
	f->srv_requests = lb_server_requests(f->srv);
	f->srv_connections = lb_server_connections(f->srv);
	txp_http_close(f->http, on_http_closed, f);
	lb_server_close(f->srv);
}

static void on_done(const struct txp_http_resp *r, void *data)
{
	struct fixture *f = data;
	int i = f->calls++;

	ck_assert_int_lt(i, 4);
	f->err[i] = r->err;
	f->status[i] = r->status;
	snprintf(f->resp_body[i], sizeof(f->resp_body[i]), "%.*s", (int)r->body_len, (const char *)r->body);
	snprintf(f->resp_ctype[i], sizeof(f->resp_ctype[i]), "%s", r->content_type);
	snprintf(f->resp_errtype[i], sizeof(f->resp_errtype[i]), "%s", r->amzn_error_type);
	snprintf(f->resp_reqid[i], sizeof(f->resp_reqid[i]), "%s", r->amzn_request_id);
	snprintf(f->resp_date[i], sizeof(f->resp_date[i]), "%s", r->date != NULL ? r->date : "(null)");
	snprintf(f->errmsg[i], sizeof(f->errmsg[i]), "%s", r->errmsg);
	f->time_us[i] = r->total_time_us;
	ck_assert_uint_eq(r->body[r->body_len], '\0');
	if (f->calls == f->stop_after)
		stop(f);
}

static void setup_fixture(struct fixture *f, enum behaviour b, const struct txp_http_options *opts)
{
	char err[256];

	memset(f, 0, sizeof(*f));
	f->behaviour = b;
	f->stop_after = 1;
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	ck_assert_int_eq(lb_server_start(&f->loop, on_request, f, &f->srv), 0);
	ck_assert_int_eq(txp_http_create(&f->loop, opts, &f->http, err, sizeof(err)), 0);
}

static void finish_fixture(struct fixture *f)
{
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void url_for(struct fixture *f, char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "http://127.0.0.1:%d%s", lb_server_port(f->srv), path);
}

START_TEST(post_sends_method_headers_and_body_and_returns_response)
{
	struct fixture f;
	char url[128], err[256];
	const struct txp_http_header hdrs[] = {
		{ "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x" },
		{ "X-Test", "yes" },
		{ "Content-Type", "application/x-amz-json-1.0" },
	};
	struct txp_http_req req = {
		.method = "POST", .headers = hdrs, .n_headers = 3, .body = "{\"a\":1}", .body_len = 7
	};
	uint64_t id = 0;

	setup_fixture(&f, ANSWER_200, NULL);
	url_for(&f, url, sizeof(url), "/v1/items?x=1");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, &id, err, sizeof(err)), 0);
	ck_assert_uint_ne(id, 0);
	ck_assert_uint_eq(txp_http_inflight(f.http), 1);
	ck_assert_int_eq(f.calls, 0); /* never from within the request call */
	finish_fixture(&f);

	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.http_closed, 1);
	ck_assert_str_eq(f.method, "POST");
	ck_assert_str_eq(f.path, "/v1/items?x=1");
	ck_assert_str_eq(f.body, "{\"a\":1}");
	ck_assert_str_eq(f.auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x");
	ck_assert_str_eq(f.xtest, "yes");
	ck_assert_str_eq(f.ctype, "application/x-amz-json-1.0");
	ck_assert_int_eq(f.err[0], 0);
	ck_assert_int_eq(f.status[0], 200);
	ck_assert_str_eq(f.resp_body[0], "{\"ok\":true}");
	ck_assert_str_eq(f.resp_ctype[0], "application/x-amz-json-1.0");
	ck_assert_str_eq(f.resp_reqid[0], "REQ123");
	/* The server's clock, which txpipectl doctor compares with ours. */
	ck_assert_str_eq(f.resp_date[0], "Sun, 06 Dec 2026 22:41:08 GMT");
	ck_assert_str_eq(f.resp_errtype[0], "");
	ck_assert_str_eq(f.errmsg[0], "");
	ck_assert_uint_gt(f.time_us[0], 0);
}
END_TEST

START_TEST(put_without_body_sends_no_form_content_type)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "PUT" };

	setup_fixture(&f, ANSWER_200, NULL);
	url_for(&f, url, sizeof(url), "/latest/api/token");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_str_eq(f.method, "PUT");
	ck_assert_str_eq(f.ctype, "");
	ck_assert_int_eq(f.status[0], 200);
}
END_TEST

START_TEST(server_error_is_a_completed_exchange_with_its_error_type)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET" };

	setup_fixture(&f, ANSWER_500, NULL);
	url_for(&f, url, sizeof(url), "/");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.err[0], 0);
	ck_assert_int_eq(f.status[0], 500);
	ck_assert_str_eq(f.resp_errtype[0], "InternalServerError:http://internal.amazon.com/");
	ck_assert_str_eq(f.resp_body[0], "{\"message\":\"boom\"}");
}
END_TEST

START_TEST(silent_server_times_out_with_etimedout)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET", .timeout_ms = 300 };
	uint64_t t0;

	setup_fixture(&f, NEVER_ANSWER, NULL);
	url_for(&f, url, sizeof(url), "/slow");
	req.url = url;
	t0 = uv_hrtime();
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.err[0], -ETIMEDOUT);
	ck_assert_int_eq(f.status[0], 0);
	ck_assert_str_ne(f.errmsg[0], "");
	ck_assert_uint_ge(uv_hrtime() - t0, UINT64_C(250) * 1000000);
	ck_assert_uint_lt(uv_hrtime() - t0, UINT64_C(3000) * 1000000);
}
END_TEST

START_TEST(closed_port_reports_econnrefused)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET", .connect_timeout_ms = 1000 };

	setup_fixture(&f, ANSWER_200, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", lb_free_port());
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.err[0], -ECONNREFUSED);
	ck_assert_int_eq(f.status[0], 0);
	ck_assert_str_ne(f.errmsg[0], "");
}
END_TEST

START_TEST(close_cancels_inflight_requests_and_frees_everything)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET" };

	setup_fixture(&f, CLOSE_CLIENT, NULL);
	f.stop_after = -1;
	url_for(&f, url, sizeof(url), "/a");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	url_for(&f, url, sizeof(url), "/b");
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 2);
	ck_assert_int_eq(f.err[0], -ECANCELED);
	ck_assert_int_eq(f.err[1], -ECANCELED);
	ck_assert_int_eq(f.status[0], 0);
}
END_TEST

START_TEST(close_with_nothing_in_flight_runs_the_close_callback)
{
	struct fixture f;

	setup_fixture(&f, ANSWER_200, NULL);
	stop(&f);
	finish_fixture(&f);
	ck_assert_int_eq(f.http_closed, 1);
	ck_assert_int_eq(f.calls, 0);
	txp_http_close(NULL, NULL, NULL);
}
END_TEST

static void cancel_from_server(struct lb_conn *c, const struct lb_request *req, void *data)
{
	struct fixture *f = data;
	uint64_t id;

	/* The id was stored in the body field by the test before running. */
	id = strtoull(f->body, NULL, 10);
	ck_assert_int_eq(txp_http_cancel(f->http, id), 0);
	ck_assert_int_eq(txp_http_cancel(f->http, id), -ENOENT);
	lb_hangup(c);
}

START_TEST(cancel_by_id_runs_the_callback_with_ecanceled)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET" };
	uint64_t id;

	setup_fixture(&f, ANSWER_200, NULL);
	lb_server_close(f.srv);
	ck_assert_int_eq(lb_server_start(&f.loop, cancel_from_server, &f, &f.srv), 0);
	url_for(&f, url, sizeof(url), "/");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, &id, err, sizeof(err)), 0);
	snprintf(f.body, sizeof(f.body), "%llu", (unsigned long long)id);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.err[0], -ECANCELED);
	ck_assert_int_eq(f.http_closed, 1);
}
END_TEST

START_TEST(refused_url_fails_before_anything_is_sent)
{
	struct fixture f;
	char url[128], err[256] = "";
	struct txp_http_req req = { .method = "GET", .url = "http://10.1.2.3/" };

	setup_fixture(&f, ANSWER_200, NULL);
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "not allowed"));
	req.method = "get /x";
	url_for(&f, url, sizeof(url), "/");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(txp_http_inflight(f.http), 0);
	stop(&f);
	/* Once closing, new requests are refused too. */
	req.method = "GET";
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), -ECANCELED);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 0);
	ck_assert_uint_eq(f.srv_requests, 0);
}
END_TEST

static void chain_next(const struct txp_http_resp *r, void *data)
{
	struct fixture *f = data;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET" };

	on_done(r, data);
	if (f->calls < f->stop_after) {
		/* A new request from inside a callback goes out on the kept connection. */
		url_for(f, url, sizeof(url), "/next");
		req.url = url;
		ck_assert_int_eq(txp_http_request(f->http, &req, chain_next, f, NULL, err, sizeof(err)), 0);
	}
}

START_TEST(sequential_requests_reuse_one_connection)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET" };

	setup_fixture(&f, ANSWER_200, NULL);
	f.stop_after = 3;
	url_for(&f, url, sizeof(url), "/first");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, chain_next, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_int_eq(f.calls, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(f.status[i], 200);
	ck_assert_uint_eq(f.srv_requests, 3);
	ck_assert_uint_eq(f.srv_connections, 1);
}
END_TEST

START_TEST(oversized_body_fails_with_emsgsize)
{
	struct fixture f;
	char url[128], err[256];
	struct txp_http_req req = { .method = "GET" };
	struct txp_http_options o = { .max_body_bytes = 1000 };

	setup_fixture(&f, ANSWER_BIG, &o);
	url_for(&f, url, sizeof(url), "/");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	ck_assert_int_eq(f.err[0], -EMSGSIZE);
	ck_assert_int_eq(f.status[0], 0);
}
END_TEST

START_TEST(plain_http_ignores_proxy_settings_from_the_environment)
{
	struct fixture f;
	char url[128], err[256], proxy[64];
	struct txp_http_req req = { .method = "GET", .connect_timeout_ms = 1000 };

	/* A proxy that refuses connections: the request works only if the
	 * client goes straight to the loopback host. */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", lb_free_port());
	setenv("http_proxy", proxy, 1);
	setup_fixture(&f, ANSWER_200, NULL);
	url_for(&f, url, sizeof(url), "/");
	req.url = url;
	ck_assert_int_eq(txp_http_request(f.http, &req, on_done, &f, NULL, err, sizeof(err)), 0);
	finish_fixture(&f);
	unsetenv("http_proxy");
	ck_assert_int_eq(f.err[0], 0);
	ck_assert_int_eq(f.status[0], 200);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("loopback");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, post_sends_method_headers_and_body_and_returns_response);
	tcase_add_test(tc, put_without_body_sends_no_form_content_type);
	tcase_add_test(tc, server_error_is_a_completed_exchange_with_its_error_type);
	tcase_add_test(tc, silent_server_times_out_with_etimedout);
	tcase_add_test(tc, closed_port_reports_econnrefused);
	tcase_add_test(tc, close_cancels_inflight_requests_and_frees_everything);
	tcase_add_test(tc, close_with_nothing_in_flight_runs_the_close_callback);
	tcase_add_test(tc, cancel_by_id_runs_the_callback_with_ecanceled);
	tcase_add_test(tc, refused_url_fails_before_anything_is_sent);
	tcase_add_test(tc, sequential_requests_reuse_one_connection);
	tcase_add_test(tc, oversized_body_fails_with_emsgsize);
	tcase_add_test(tc, plain_http_ignores_proxy_settings_from_the_environment);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
