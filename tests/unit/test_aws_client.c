/* test_aws_client.c: endpoints, error parsing, query encoding, and signed calls against a loopback server. */
#include "txpipe/aws/client.h"
#include "txpipe/aws/provision.h"
#include "txpipe/aws/settings.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "loopback_http.h"

/* The client's settings from a test's configuration (as txpiped's run() makes them). */
static const struct txp_aws_settings *settings_of(const struct txp_config *cfg)
{
	static struct txp_aws_settings s;

	txp_aws_settings_from_config(cfg, &s);
	return &s;
}

/* ---- endpoints -------------------------------------------------------------------------------- */

START_TEST(settings_take_what_the_client_needs_from_the_config)
{
	struct txp_config cfg;
	struct txp_aws_settings st;
	char err[256];

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ck_assert_int_eq(txp_config_set(&cfg, txp_config_find("aws", "region"), "eu-west-1", err, sizeof(err)), 0);
	ck_assert_int_eq(
	        txp_config_set(&cfg, txp_config_find("sns", "endpoint"), "http://127.0.0.1:4566", err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_set(&cfg, txp_config_find("aws", "imds"), "false", err, sizeof(err)), 0);
	txp_aws_settings_from_config(&cfg, &st);
	ck_assert_str_eq(st.region, "eu-west-1");
	/* An empty endpoint key means the default endpoint. */
	ck_assert_ptr_null(st.endpoint[TXP_AWS_DYNAMODB]);
	ck_assert_str_eq(st.endpoint[TXP_AWS_SNS], "http://127.0.0.1:4566");
	ck_assert_ptr_null(st.endpoint[TXP_AWS_SQS]);
	ck_assert_uint_eq(st.request_timeout_ms, cfg.aws.request_timeout_ms);
	ck_assert_int_eq(st.connect_timeout_ms, (long)cfg.aws.connect_timeout_ms);
	ck_assert_int_eq(st.max_connections, (long)cfg.aws.max_connections);
	ck_assert(st.creds.disable_imds);
	ck_assert_ptr_null(st.creds.credentials_file);
	ck_assert_ptr_null(st.ca_file);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(default_endpoint_is_https_service_region_amazonaws)
{
	struct txp_aws_endpoint ep;
	char err[256];

	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_DYNAMODB, "eu-west-1", "", &ep, err, sizeof(err)), 0);
	ck_assert_str_eq(ep.url, "https://dynamodb.eu-west-1.amazonaws.com/");
	ck_assert_str_eq(ep.host, "dynamodb.eu-west-1.amazonaws.com");
	ck_assert_str_eq(ep.path, "/");
	ck_assert_str_eq(ep.region, "eu-west-1");
	ck_assert_str_eq(ep.service, "dynamodb");
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_SQS, "cn-north-1", NULL, &ep, err, sizeof(err)), 0);
	ck_assert_str_eq(ep.url, "https://sqs.cn-north-1.amazonaws.com.cn/");
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_SNS, "us-east-1", NULL, &ep, err, sizeof(err)), 0);
	ck_assert_str_eq(ep.host, "sns.us-east-1.amazonaws.com");
}
END_TEST

START_TEST(override_keeps_signing_region_and_service_and_puts_port_in_host)
{
	struct txp_aws_endpoint ep;
	char err[256];

	ck_assert_int_eq(
	        txp_aws_endpoint_resolve(TXP_AWS_SNS, "eu-west-1", "http://127.0.0.1:4566", &ep, err, sizeof(err)), 0);
	ck_assert_str_eq(ep.url, "http://127.0.0.1:4566/");
	ck_assert_str_eq(ep.host, "127.0.0.1:4566");
	ck_assert_str_eq(ep.path, "/");
	ck_assert_str_eq(ep.region, "eu-west-1");
	ck_assert_str_eq(ep.service, "sns");
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_DYNAMODB, "us-east-1", "https://ddb.example.com/proxy/ddb",
	                                          &ep, err, sizeof(err)),
	                 0);
	ck_assert_str_eq(ep.host, "ddb.example.com");
	ck_assert_str_eq(ep.path, "/proxy/ddb");
	ck_assert_str_eq(ep.service, "dynamodb");
}
END_TEST

START_TEST(override_must_pass_the_url_policy_and_have_no_query)
{
	struct txp_aws_endpoint ep;
	char err[256];

	ck_assert_int_eq(
	        txp_aws_endpoint_resolve(TXP_AWS_SQS, "us-east-1", "http://sqs.example.com/", &ep, err, sizeof(err)),
	        -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "not allowed"));
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_SQS, "us-east-1", "https://sqs.example.com/?x=1", &ep, err,
	                                          sizeof(err)),
	                 -EINVAL);
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_SQS, "US East", NULL, &ep, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_SQS, "", NULL, &ep, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(txp_aws_endpoint_resolve(TXP_AWS_SERVICE_COUNT, "us-east-1", NULL, &ep, err, sizeof(err)),
	                 -EINVAL);
}
END_TEST

/* ---- error parsing -------------------------------------------------------------------------- */

START_TEST(error_type_header_wins_over_the_body)
{
	char code[64], msg[256];
	const char *body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ValidationException\",\"message\":\"m\"}";

	ck_assert_int_eq(txp_aws_parse_error("ThrottlingException:http://internal.amazon.com/coral/com.amazon/", body,
	                                     strlen(body), code, sizeof(code), msg, sizeof(msg)),
	                 0);
	ck_assert_str_eq(code, "ThrottlingException");
	ck_assert_str_eq(msg, "m");
}
END_TEST

START_TEST(json_type_and_message_either_case)
{
	char code[64], msg[256];
	const char *a = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
	                "\"message\":\"Requested resource not found\"}";
	const char *b = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"Message\":\"The queue\\nis gone\"}";

	ck_assert_int_eq(txp_aws_parse_error(NULL, a, strlen(a), code, sizeof(code), msg, sizeof(msg)), 0);
	ck_assert_str_eq(code, "ResourceNotFoundException");
	ck_assert_str_eq(msg, "Requested resource not found");
	ck_assert_int_eq(txp_aws_parse_error("", b, strlen(b), code, sizeof(code), msg, sizeof(msg)), 0);
	ck_assert_str_eq(code, "QueueDoesNotExist");
	/* Control characters never reach a log line. */
	ck_assert_str_eq(msg, "The queue is gone");
}
END_TEST

START_TEST(xml_error_code_and_message_are_unescaped)
{
	char code[64], msg[256];
	const char *x = "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type>"
	                "<Code>NotFound</Code><Message>Topic &lt;t&gt; &amp; &#233;&#x41; does not exist</Message>"
	                "</Error><RequestId>r</RequestId></ErrorResponse>";

	ck_assert_int_eq(txp_aws_parse_error(NULL, x, strlen(x), code, sizeof(code), msg, sizeof(msg)), 0);
	ck_assert_str_eq(code, "NotFound");
	ck_assert_str_eq(msg, "Topic <t> & \xc3\xa9"
	                      "A does not exist");
}
END_TEST

START_TEST(no_code_anywhere_is_enoent_with_empty_strings)
{
	char code[64] = "x", msg[256] = "y";
	const char *html = "<html><body>Bad gateway</body></html>";

	ck_assert_int_eq(txp_aws_parse_error(NULL, NULL, 0, code, sizeof(code), msg, sizeof(msg)), -ENOENT);
	ck_assert_str_eq(code, "");
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(txp_aws_parse_error(NULL, html, strlen(html), code, sizeof(code), msg, sizeof(msg)), -ENOENT);
	ck_assert_int_eq(txp_aws_parse_error(NULL, "{not json", 9, code, sizeof(code), msg, sizeof(msg)), -ENOENT);
}
END_TEST

/* ---- query encoding and XML ------------------------------------------------------------------- */

START_TEST(provision_names_come_from_the_arn_and_the_url)
{
	char name[64];

	ck_assert_int_eq(
	        txp_provision_topic_name("arn:aws:sns:eu-west-1:123456789012:txpipe-alerts", name, sizeof(name)), 0);
	ck_assert_str_eq(name, "txpipe-alerts");
	ck_assert_int_eq(txp_provision_topic_name("txpipe-alerts", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(txp_provision_topic_name("arn:aws:sns:eu-west-1:1:", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(txp_provision_queue_name("https://sqs.eu-west-1.amazonaws.com/123456789012/txpipe-dlq", name,
	                                          sizeof(name)),
	                 0);
	ck_assert_str_eq(name, "txpipe-dlq");
	ck_assert_int_eq(txp_provision_queue_name("http://127.0.0.1:9324/000000000000/q1/", name, sizeof(name)), 0);
	ck_assert_str_eq(name, "q1");
	ck_assert_int_eq(txp_provision_queue_name("https://sqs.eu-west-1.amazonaws.com/", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(txp_provision_queue_name("txpipe-dlq", name, sizeof(name)), -EINVAL);
}
END_TEST

/* ---- calls against a loopback server ---------------------------------------------------------- */

struct seen {
	char method[16], target[128], content_type[128], auth[512], host[128], token[256];
	char body[2048];
};

struct fixture {
	uv_loop_t loop;
	struct lb_server *srv;
	struct txp_config cfg;
	struct txp_aws_client *client;
	char creds_path[64];
	/* what the handler does */
	int status[4];
	const char *headers[4];
	const char *bodies[4];
	bool imds_silent; /* never answer IMDS */
	bool rotate_file; /* rewrite the credentials file after the first AWS request */
	unsigned aws_requests;
	struct seen seen[4];
	/* results */
	int calls_done;
	struct txp_aws_result r;
	char rbody[2048];
	bool closed;
};

static void write_creds(const char *path, const char *id)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[default]\naws_access_key_id = %s\naws_secret_access_key = secret-%s\n", id, id);
	fclose(f);
}

static void handler(struct lb_conn *c, const struct lb_request *req, void *data)
{
	struct fixture *f = data;
	const char *creds = "/latest/meta-data/iam/security-credentials/";

	if (strncmp(req->path, "/latest/", 8) == 0) {
		if (f->imds_silent)
			return;
		if (strcmp(req->method, "PUT") == 0)
			lb_respond(c, 200, NULL, "tok");
		else if (strcmp(req->path, creds) == 0)
			lb_respond(c, 200, NULL, "role\n");
		else
			lb_respond(c, 200, NULL,
			           "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAIMDS\",\"SecretAccessKey\":"
			           "\"s\","
			           "\"Token\":\"imds-session\",\"Expiration\":\"2999-01-01T00:00:00Z\"}");
		return;
	}
	unsigned i = f->aws_requests++;
	ck_assert_uint_lt(i, 4);
	struct seen *s = &f->seen[i];
	snprintf(s->method, sizeof(s->method), "%s", req->method);
	lb_header(req, "X-Amz-Target", s->target, sizeof(s->target));
	lb_header(req, "Content-Type", s->content_type, sizeof(s->content_type));
	lb_header(req, "Authorization", s->auth, sizeof(s->auth));
	lb_header(req, "Host", s->host, sizeof(s->host));
	lb_header(req, "X-Amz-Security-Token", s->token, sizeof(s->token));
	snprintf(s->body, sizeof(s->body), "%s", req->body);
	if (f->rotate_file && i == 0)
		write_creds(f->creds_path, "AKIDSECOND");
	lb_respond(c, f->status[i], f->headers[i], f->bodies[i]);
}

static void setup(struct fixture *f)
{
	char ep[64], err[256];
	int fd;

	memset(f, 0, sizeof(*f));
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	ck_assert_int_eq(lb_server_start(&f->loop, handler, f, &f->srv), 0);
	ck_assert_int_eq(txp_config_defaults(&f->cfg), 0);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", lb_server_port(f->srv));
	ck_assert_int_eq(txp_config_set(&f->cfg, txp_config_find("dynamodb", "endpoint"), ep, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_set(&f->cfg, txp_config_find("sns", "endpoint"), ep, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_set(&f->cfg, txp_config_find("sqs", "endpoint"), ep, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_set(&f->cfg, txp_config_find("aws", "imds_endpoint"), ep, err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_set(&f->cfg, txp_config_find("aws", "region"), "eu-west-1", err, sizeof(err)), 0);
	ck_assert_int_eq(
	        txp_config_set(&f->cfg, txp_config_find("aws", "request_timeout_ms"), "300ms", err, sizeof(err)), 0);
	snprintf(f->creds_path, sizeof(f->creds_path), "/tmp/txp-aws-client-XXXXXX");
	fd = mkstemp(f->creds_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(
	        txp_config_set(&f->cfg, txp_config_find("aws", "credentials_file"), f->creds_path, err, sizeof(err)),
	        0);
}

static void create(struct fixture *f)
{
	char err[512];

	ck_assert_msg(txp_aws_client_create(&f->client, &f->loop, settings_of(&f->cfg), err, sizeof(err)) == 0, "%s",
	              err);
}

static void on_result(void *arg, const struct txp_aws_result *r)
{
	struct fixture *f = arg;

	f->calls_done++;
	f->r = *r;
	snprintf(f->rbody, sizeof(f->rbody), "%s", r->body != NULL ? r->body : "");
	f->r.body = NULL;
}

static void on_closed(void *arg)
{
	struct fixture *f = arg;

	f->closed = true;
}

static void run_until_done(struct fixture *f, int calls)
{
	while (f->calls_done < calls)
		ck_assert_int_ne(uv_run(&f->loop, UV_RUN_ONCE), 0);
}

static void teardown(struct fixture *f)
{
	txp_aws_client_close(f->client, on_closed, f);
	lb_server_close(f->srv);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert(f->closed);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	txp_config_free(&f->cfg);
	unlink(f->creds_path);
}

START_TEST(dynamodb_call_is_signed_json_with_target_and_host)
{
	struct fixture f;
	struct txp_aws_stats st;
	const char *body = "{\"TableName\":\"t\"}";
	char want[128];

	setup(&f);
	write_creds(f.creds_path, "AKIDFIRST");
	f.status[0] = 200;
	f.headers[0] = "Content-Type: application/x-amz-json-1.0\r\n";
	f.bodies[0] = "{\"Table\":{}}";
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_DYNAMODB, "DescribeTable", body, strlen(body), on_result, &f),
	                 0);
	ck_assert_int_eq(f.calls_done, 0); /* never from within the call */
	run_until_done(&f, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_OK);
	ck_assert_int_eq(f.r.http_status, 200);
	ck_assert_str_eq(f.rbody, "{\"Table\":{}}");
	ck_assert_str_eq(f.seen[0].method, "POST");
	ck_assert_str_eq(f.seen[0].target, "DynamoDB_20120810.DescribeTable");
	ck_assert_str_eq(f.seen[0].content_type, "application/x-amz-json-1.0");
	ck_assert_str_eq(f.seen[0].body, body);
	snprintf(want, sizeof(want), "127.0.0.1:%d", lb_server_port(f.srv));
	ck_assert_str_eq(f.seen[0].host, want);
	ck_assert_msg(strncmp(f.seen[0].auth, "AWS4-HMAC-SHA256 Credential=AKIDFIRST/", 38) == 0, "%s", f.seen[0].auth);
	ck_assert_ptr_nonnull(strstr(f.seen[0].auth, "/eu-west-1/dynamodb/aws4_request, "
	                                             "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "));
	txp_aws_client_stats(f.client, &st);
	ck_assert_uint_eq(st.requests[TXP_AWS_DYNAMODB], 1);
	ck_assert_uint_eq(st.ok[TXP_AWS_DYNAMODB], 1);
	ck_assert_str_eq(st.credentials_source, "shared-credentials-file");
	teardown(&f);
}
END_TEST

START_TEST(sns_call_is_a_signed_form_and_its_xml_error_is_parsed)
{
	struct fixture f;
	const char *params = "TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A1%3Ax&Message=hi";

	setup(&f);
	write_creds(f.creds_path, "AKIDFIRST");
	f.status[0] = 404;
	f.headers[0] = "Content-Type: text/xml\r\n";
	f.bodies[0] = "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code>"
	              "<Message>Topic does not exist</Message></Error></ErrorResponse>";
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_SNS, "Publish", params, strlen(params), on_result, &f), 0);
	run_until_done(&f, 1);
	ck_assert_str_eq(f.seen[0].body,
	                 "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A1%3Ax"
	                 "&Message=hi");
	ck_assert_str_eq(f.seen[0].content_type, "application/x-www-form-urlencoded; charset=utf-8");
	ck_assert_str_eq(f.seen[0].target, "");
	ck_assert_ptr_nonnull(strstr(f.seen[0].auth, "/eu-west-1/sns/aws4_request, SignedHeaders=content-type;host;"
	                                             "x-amz-date, "));
	ck_assert_int_eq(f.r.kind, TXP_AWS_FATAL);
	ck_assert_int_eq(f.r.http_status, 404);
	ck_assert_str_eq(f.r.code, "NotFound");
	ck_assert_str_eq(f.r.message, "Topic does not exist");
	teardown(&f);
}
END_TEST

START_TEST(sqs_throttling_from_the_header_is_retryable_and_counted)
{
	struct fixture f;
	struct txp_aws_stats st;

	setup(&f);
	write_creds(f.creds_path, "AKIDFIRST");
	f.status[0] = 400;
	f.headers[0] = "x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/\r\n";
	f.bodies[0] = "{}";
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_SQS, "SendMessageBatch", "{}", 2, on_result, &f), 0);
	run_until_done(&f, 1);
	ck_assert_str_eq(f.seen[0].target, "AmazonSQS.SendMessageBatch");
	ck_assert_int_eq(f.r.kind, TXP_AWS_RETRYABLE);
	ck_assert_str_eq(f.r.code, "ThrottlingException");
	txp_aws_client_stats(f.client, &st);
	ck_assert_uint_eq(st.retryable[TXP_AWS_SQS], 1);
	ck_assert_uint_eq(st.throttled[TXP_AWS_SQS], 1);
	teardown(&f);
}
END_TEST

/* A client whose first answer says the token expired (the credentials
 * file then names AKIDSECOND) and whose second succeeds. */
static void setup_expired_then_ok(struct fixture *f)
{
	setup(f);
	write_creds(f->creds_path, "AKIDFIRST");
	f->rotate_file = true;
	f->status[0] = 400;
	f->bodies[0] = "{\"__type\":\"com.amazon.coral.service#ExpiredTokenException\",\"message\":\"expired\"}";
	f->status[1] = 200;
	f->bodies[1] = "{}";
	create(f);
}

START_TEST(expired_token_rereads_credentials_and_retries_once)
{
	struct fixture f;

	setup_expired_then_ok(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_DYNAMODB, "PutItem", "{}", 2, on_result, &f), 0);
	run_until_done(&f, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_OK);
	ck_assert_uint_eq(f.aws_requests, 2);
	ck_assert_ptr_nonnull(strstr(f.seen[1].auth, "Credential=AKIDSECOND/"));
	teardown(&f);
}
END_TEST

/* A taken body is not copied: it must still be there, unchanged, when
 * the call is sent again after a credential refresh. */
START_TEST(a_taken_body_is_sent_again_after_a_refresh_and_freed)
{
	struct fixture f;
	const char *want = "{\"TableName\":\"t\",\"Item\":{}}";
	char *body;

	setup_expired_then_ok(&f);
	body = strdup(want);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(txp_aws_call_take(f.client, TXP_AWS_DYNAMODB, "PutItem", body, strlen(want), on_result, &f),
	                 0);
	run_until_done(&f, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_OK);
	ck_assert_uint_eq(f.aws_requests, 2);
	ck_assert_str_eq(f.seen[0].body, want);
	ck_assert_str_eq(f.seen[1].body, want);
	/* Refused at once: the body is freed all the same (ASan's leak check). */
	body = strdup(want);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(txp_aws_call_take(f.client, TXP_AWS_DYNAMODB, "Put Item", body, strlen(want), on_result, &f),
	                 -EINVAL);
	teardown(&f);
}
END_TEST

START_TEST(credentials_rejected_twice_are_reported)
{
	struct fixture f;
	const char *expired = "{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\"}";

	setup(&f);
	write_creds(f.creds_path, "AKIDFIRST");
	f.status[0] = f.status[1] = 400;
	f.bodies[0] = f.bodies[1] = expired;
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_DYNAMODB, "PutItem", "{}", 2, on_result, &f), 0);
	run_until_done(&f, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_CREDENTIALS);
	ck_assert_str_eq(f.r.code, "UnrecognizedClientException");
	ck_assert_uint_eq(f.aws_requests, 2);
	teardown(&f);
}
END_TEST

START_TEST(call_waits_for_imds_credentials_then_is_sent_with_the_session_token)
{
	struct fixture f;
	char err[256];

	setup(&f);
	unlink(f.creds_path); /* no file: the chain goes on to IMDS */
	ck_assert_int_eq(txp_config_set(&f.cfg, txp_config_find("aws", "request_timeout_ms"), "5s", err, sizeof(err)),
	                 0);
	f.status[0] = 200;
	f.bodies[0] = "{}";
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_SQS, "GetQueueUrl", "{}", 2, on_result, &f), 0);
	run_until_done(&f, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_OK);
	ck_assert_ptr_nonnull(strstr(f.seen[0].auth, "Credential=ASIAIMDS/"));
	ck_assert_str_eq(f.seen[0].token, "imds-session");
	teardown(&f);
}
END_TEST

START_TEST(call_without_credentials_fails_retryable_after_the_timeout)
{
	struct fixture f;
	uint64_t t0;

	setup(&f);
	unlink(f.creds_path);
	f.imds_silent = true;
	create(&f);
	t0 = uv_now(&f.loop);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_DYNAMODB, "PutItem", "{}", 2, on_result, &f), 0);
	run_until_done(&f, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_RETRYABLE);
	ck_assert_str_eq(f.r.code, "no_credentials");
	ck_assert_uint_ge(uv_now(&f.loop) - t0, 250);
	ck_assert_uint_eq(f.aws_requests, 0);
	teardown(&f);
}
END_TEST

START_TEST(close_cancels_waiting_calls_and_refuses_new_ones)
{
	struct fixture f;

	setup(&f);
	unlink(f.creds_path);
	f.imds_silent = true;
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_SNS, "Publish", "", 0, on_result, &f), 0);
	txp_aws_client_close(f.client, on_closed, &f);
	ck_assert_int_eq(f.calls_done, 1);
	ck_assert_int_eq(f.r.kind, TXP_AWS_FATAL);
	ck_assert_str_eq(f.r.code, "cancelled");
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_SNS, "Publish", "", 0, on_result, &f), -ECANCELED);
	lb_server_close(f.srv);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	ck_assert(f.closed);
	ck_assert_int_eq(uv_loop_close(&f.loop), 0);
	txp_config_free(&f.cfg);
	unlink(f.creds_path);
}
END_TEST

START_TEST(bad_arguments_and_refused_endpoints_fail_at_once)
{
	struct fixture f;
	char err[512];

	setup(&f);
	write_creds(f.creds_path, "AKIDFIRST");
	create(&f);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_DYNAMODB, "Put Item", "{}", 2, on_result, &f), -EINVAL);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_DYNAMODB, "PutItem", NULL, 2, on_result, &f), -EINVAL);
	ck_assert_int_eq(txp_aws_call(f.client, TXP_AWS_SERVICE_COUNT, "PutItem", "{}", 2, on_result, &f), -EINVAL);
	teardown(&f);

	setup(&f);
	ck_assert_int_eq(
	        txp_config_set(&f.cfg, txp_config_find("sqs", "endpoint"), "http://sqs.example.com", err, sizeof(err)),
	        0);
	ck_assert_int_eq(txp_aws_client_create(&f.client, &f.loop, settings_of(&f.cfg), err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "[sqs] endpoint"));
	f.client = NULL;
	teardown(&f);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("aws_client");
	TCase *pure = tcase_create("pure");
	TCase *calls = tcase_create("calls");

	tcase_add_test(pure, settings_take_what_the_client_needs_from_the_config);
	tcase_add_test(pure, default_endpoint_is_https_service_region_amazonaws);
	tcase_add_test(pure, override_keeps_signing_region_and_service_and_puts_port_in_host);
	tcase_add_test(pure, override_must_pass_the_url_policy_and_have_no_query);
	tcase_add_test(pure, error_type_header_wins_over_the_body);
	tcase_add_test(pure, json_type_and_message_either_case);
	tcase_add_test(pure, xml_error_code_and_message_are_unescaped);
	tcase_add_test(pure, no_code_anywhere_is_enoent_with_empty_strings);
	tcase_add_test(pure, provision_names_come_from_the_arn_and_the_url);
	suite_add_tcase(s, pure);

	tcase_set_timeout(calls, 15);
	tcase_add_test(calls, dynamodb_call_is_signed_json_with_target_and_host);
	tcase_add_test(calls, sns_call_is_a_signed_form_and_its_xml_error_is_parsed);
	tcase_add_test(calls, sqs_throttling_from_the_header_is_retryable_and_counted);
	tcase_add_test(calls, expired_token_rereads_credentials_and_retries_once);
	tcase_add_test(calls, a_taken_body_is_sent_again_after_a_refresh_and_freed);
	tcase_add_test(calls, credentials_rejected_twice_are_reported);
	tcase_add_test(calls, call_waits_for_imds_credentials_then_is_sent_with_the_session_token);
	tcase_add_test(calls, call_without_credentials_fails_retryable_after_the_timeout);
	tcase_add_test(calls, close_cancels_waiting_calls_and_refuses_new_ones);
	tcase_add_test(calls, bad_arguments_and_refused_endpoints_fail_at_once);
	suite_add_tcase(s, calls);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
