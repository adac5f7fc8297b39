/* test_delivery.c: the delivery layer on a real loop against a scripted AWS endpoint (loopback HTTP). */
#include "txpipe/delivery.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopback_http.h"
#include "txpipe/aws/settings.h"

/* The client's settings from a test's configuration (as txpiped's run() makes them). */
static const struct txp_aws_settings *settings_of(const struct txp_config *cfg)
{
	static struct txp_aws_settings s;

	txp_aws_settings_from_config(cfg, &s);
	return &s;
}

enum svc { DDB, SNS, SQS, NSVC };

#define MAX_REQ 16

struct fixture;
/* Answers the n-th request (0-based) to `svc`: sets *status and returns the body. */
typedef const char *(*script_fn)(struct fixture *f, enum svc svc, unsigned n, const char *body, int *status);

struct fixture {
	uv_loop_t loop;
	struct lb_server *srv;
	struct txp_config cfg;
	struct txp_aws_client *client;
	struct txp_delivery *d;
	uv_timer_t guard;
	bool timed_out;
	script_fn script;
	uint64_t delay_ms; /* answer this late */
	unsigned n[NSVC];
	char *bodies[NSVC][MAX_REQ];
	bool flushed;
	uv_prepare_t turns; /* counts loop iterations: work done while waiting */
	uint64_t n_turns;
	bool ddb_gone;   /* DynamoDB hangs up without an answer */
	uv_timer_t back; /* ends ddb_gone */
};

static const char ddb_ok[] = "{\"UnprocessedItems\":{}}";
static const char sqs_ok[] = "{\"Successful\":[{\"Id\":\"m0\",\"MessageId\":\"x\"}],\"Failed\":[]}";
static const char sns_ok[] = "<PublishBatchResponse><PublishBatchResult><Successful><member><Id>e0</Id>"
                             "<MessageId>1</MessageId></member></Successful><Failed/></PublishBatchResult>"
                             "</PublishBatchResponse>";

static void handler(struct lb_conn *c, const struct lb_request *req, void *data)
{
	struct fixture *f = data;
	char target[128] = "";
	enum svc s;
	unsigned i;
	int status = 200;
	const char *body;

	lb_header(req, "X-Amz-Target", target, sizeof(target));
	if (strncmp(target, "DynamoDB_", 9) == 0)
		s = DDB;
	else if (strncmp(target, "AmazonSQS.", 10) == 0)
		s = SQS;
	else
		s = SNS;
	i = f->n[s]++;
	if (i < MAX_REQ)
		f->bodies[s][i] = strdup(req->body != NULL ? req->body : "");
	body = f->script(f, s, i, req->body, &status);
	if (body == NULL)
		lb_hangup(c);
	else if (f->delay_ms > 0)
		lb_respond_later(c, f->delay_ms, status, "Content-Type: application/x-amz-json-1.0\r\n", body);
	else
		lb_respond(c, status, "Content-Type: application/x-amz-json-1.0\r\n", body);
}

static void set(struct fixture *f, const char *section, const char *key, const char *value)
{
	char err[256];

	ck_assert_msg(txp_config_set(&f->cfg, txp_config_find(section, key), value, err, sizeof(err)) == 0, "%s", err);
}

static void on_guard(uv_timer_t *t)
{
	struct fixture *f = t->data;

	f->timed_out = true;
}

static void setup(struct fixture *f, script_fn script)
{
	char ep[64], err[256];

	memset(f, 0, sizeof(*f));
	f->script = script;
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	unsetenv("AWS_SESSION_TOKEN");
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	ck_assert_int_eq(lb_server_start(&f->loop, handler, f, &f->srv), 0);
	ck_assert_int_eq(txp_config_defaults(&f->cfg), 0);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", lb_server_port(f->srv));
	set(f, "dynamodb", "endpoint", ep);
	set(f, "sns", "endpoint", ep);
	set(f, "sqs", "endpoint", ep);
	set(f, "aws", "imds", "false");
	set(f, "dynamodb", "table", "txns");
	set(f, "sqs", "queue_url", "http://127.0.0.1/000000000000/dlq");
	set(f, "sns", "topic_arn", "arn:aws:sns:us-east-1:000000000000:alerts");
	set(f, "retry", "base_delay_ms", "10ms");
	set(f, "retry", "max_delay_ms", "40ms");
	set(f, "dynamodb", "flush_delay_ms", "5ms");
	ck_assert_int_eq(uv_timer_init(&f->loop, &f->guard), 0);
	f->guard.data = f;
	uv_timer_start(&f->guard, on_guard, 8000, 0);
	uv_unref((uv_handle_t *)&f->guard);
	(void)err;
}

static void create(struct fixture *f)
{
	char err[512];

	ck_assert_msg(txp_aws_client_create(&f->client, &f->loop, settings_of(&f->cfg), err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_msg(txp_delivery_create(&f->d, &f->loop, f->client, &f->cfg, err, sizeof(err)) == 0, "%s", err);
}

static struct txp_delivery_stats stats(struct fixture *f)
{
	struct txp_delivery_stats s;

	txp_delivery_stats(f->d, &s);
	return s;
}

/* Runs the loop until `field` of the stats reaches `want`. */
#define RUN_UNTIL(f, field, want)                                                                     \
	do {                                                                                          \
		while (stats(f).field < (want) && !(f)->timed_out)                                    \
			uv_run(&(f)->loop, UV_RUN_ONCE);                                              \
		ck_assert_msg(!(f)->timed_out, "timed out waiting for " #field " = %d", (int)(want)); \
	} while (0)

static void teardown(struct fixture *f)
{
	txp_delivery_close(f->d);
	txp_aws_client_close(f->client, NULL, NULL);
	lb_server_close(f->srv);
	uv_close((uv_handle_t *)&f->guard, NULL);
	if (f->turns.data != NULL)
		uv_close((uv_handle_t *)&f->turns, NULL);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	txp_config_free(&f->cfg);
	for (int s = 0; s < NSVC; s++)
		for (unsigned i = 0; i < f->n[s] && i < MAX_REQ; i++)
			free(f->bodies[s][i]);
}

static struct txp_txn *txn(const char *id, int64_t amount, bool alert)
{
	struct txp_txn *t = txp_txn_new();

	t->has_id = true;
	snprintf(t->transaction_id, sizeof(t->transaction_id), "%s", id);
	t->amount = amount;
	strcpy(t->currency, "USD");
	t->currency_exponent = 2;
	strcpy(t->merchant_id, "m-1");
	t->received_ms = 1767225600000;
	t->scored = true;
	if (alert)
		txp_txn_alert(t, TXP_ALERT_FRAUD, TXP_SEVERITY_HIGH);
	return t;
}

/* The n-th DLQ message body sent, parsed. */
static json_t *dlq_message(struct fixture *f, unsigned req, unsigned entry)
{
	json_t *b = json_loads(f->bodies[SQS][req], 0, NULL), *m;
	const char *text;

	ck_assert_ptr_nonnull(b);
	text = json_string_value(json_object_get(json_array_get(json_object_get(b, "Entries"), entry), "MessageBody"));
	ck_assert_ptr_nonnull(text);
	m = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(m);
	json_decref(b);
	return m;
}

/* ---- scripts ---------------------------------------------------------- */

static const char *all_ok(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	(void)f, (void)n, (void)body, (void)status;
	return s == DDB ? ddb_ok : s == SQS ? sqs_ok : sns_ok;
}

static const char *unprocessed_once(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == DDB && n == 0)
		return "{\"UnprocessedItems\":{\"txns\":[{\"PutRequest\":{\"Item\":{\"transaction_id\":{"
		       "\"S\":\"tx-b\"}}}}]}}";
	return all_ok(f, s, n, body, status);
}

static const char *throttled_once(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == DDB && n == 0) {
		*status = 400;
		return "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\",\"message\":"
		       "\"slow down\"}";
	}
	return all_ok(f, s, n, body, status);
}

static const char *ddb_fatal(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == DDB) {
		*status = 400;
		return "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"message\":\"bad "
		       "item\"}";
	}
	return all_ok(f, s, n, body, status);
}

static const char *ddb_down(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == DDB) {
		*status = 500;
		return "{\"__type\":\"InternalServerError\",\"message\":\"boom\"}";
	}
	return all_ok(f, s, n, body, status);
}

static const char *sns_rejects(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == SNS)
		return "<PublishBatchResponse><PublishBatchResult><Successful/><Failed><member><Id>e0</Id>"
		       "<Code>InvalidParameter</Code><Message>Message too "
		       "long</Message><SenderFault>true</SenderFault>"
		       "</member></Failed></PublishBatchResult></PublishBatchResponse>";
	return all_ok(f, s, n, body, status);
}

static const char *sqs_down_once(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == SQS && n == 0) {
		*status = 500;
		return "{\"__type\":\"com.amazonaws.sqs#InternalError\"}";
	}
	return ddb_fatal(f, s, n, body, status);
}

/* SQS refuses the first DLQ message (it is held, its round due 1 s later),
 * then answers the second only after 2 s: the held round falls due while a
 * DLQ call is in flight. */
static const char *sqs_down_then_slow(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	f->delay_ms = s == SQS && n == 1 ? 2000 : 0;
	return sqs_down_once(f, s, n, body, status);
}

/* DynamoDB answers after 300 ms. */
static const char *ddb_slow(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	f->delay_ms = s == DDB ? 300 : 0;
	return all_ok(f, s, n, body, status);
}

static void on_turn(uv_prepare_t *h)
{
	struct fixture *f = h->data;

	f->n_turns++;
}

/* Counts loop iterations from now on (the handle does not keep the loop
 * alive; teardown closes it). */
static void count_turns(struct fixture *f)
{
	ck_assert_int_eq(uv_prepare_init(&f->loop, &f->turns), 0);
	f->turns.data = f;
	uv_prepare_start(&f->turns, on_turn);
	uv_unref((uv_handle_t *)&f->turns);
}

/* DynamoDB closes the connection without a word while f->ddb_gone. */
static const char *ddb_gone(struct fixture *f, enum svc s, unsigned n, const char *body, int *status)
{
	if (s == DDB && f->ddb_gone)
		return NULL;
	return all_ok(f, s, n, body, status);
}

static void on_back(uv_timer_t *t)
{
	struct fixture *f = t->data;

	f->ddb_gone = false;
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(unprocessed_items_are_retried_alone_until_stored)
{
	struct fixture f;

	setup(&f, unprocessed_once);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, false));
	txp_delivery_submit(f.d, txn("tx-b", 200, false));
	RUN_UNTIL(&f, stored, 2);
	ck_assert_uint_eq(f.n[DDB], 2);
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][0], "\"tx-a\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][0], "\"tx-b\""));
	ck_assert_ptr_null(strstr(f.bodies[DDB][1], "\"tx-a\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][1], "\"tx-b\""));
	ck_assert_uint_eq(stats(&f).store_retries, 1);
	ck_assert_uint_eq(stats(&f).pending, 0);
	teardown(&f);
}
END_TEST

START_TEST(throttling_is_retried_then_stored)
{
	struct fixture f;

	setup(&f, throttled_once);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, false));
	RUN_UNTIL(&f, stored, 1);
	ck_assert_uint_eq(f.n[DDB], 2);
	ck_assert_uint_eq(stats(&f).store_retries, 1);
	ck_assert_uint_eq(stats(&f).dead_lettered, 0);
	teardown(&f);
}
END_TEST

START_TEST(fatal_error_dead_letters_at_once)
{
	struct fixture f;
	json_t *m;

	setup(&f, ddb_fatal);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, false));
	RUN_UNTIL(&f, dead_lettered, 1);
	ck_assert_uint_eq(f.n[DDB], 1);
	ck_assert_uint_eq(stats(&f).store_retries, 0);
	m = dlq_message(&f, 0, 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "failed")), "store");
	ck_assert_str_eq(json_string_value(json_object_get(m, "error_code")), "ValidationException");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(m, "transaction_id")), "tx-a");
	json_decref(m);
	teardown(&f);
}
END_TEST

START_TEST(retryable_errors_dead_letter_after_max_attempts)
{
	struct fixture f;
	json_t *m;

	setup(&f, ddb_down);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, false));
	RUN_UNTIL(&f, dead_lettered, 1);
	/* The default max_attempts = 4: the first try and 3 retries. */
	ck_assert_uint_eq(f.n[DDB], 4);
	ck_assert_uint_eq(stats(&f).store_retries, 3);
	m = dlq_message(&f, 0, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 4);
	ck_assert_str_eq(json_string_value(json_object_get(m, "error_code")), "InternalServerError");
	json_decref(m);
	teardown(&f);
}
END_TEST

START_TEST(an_empty_retry_budget_makes_retryable_errors_final)
{
	struct fixture f;

	setup(&f, ddb_down);
	/* 1 % of 700 first attempts is 7: the floor (600 a minute) is most
	 * of the budget, and then it is spent. */
	set(&f, "retry", "budget_percent", "1");
	create(&f);
	for (int i = 0; i < 700; i++) {
		char id[16];
		snprintf(id, sizeof(id), "tx-%d", i);
		txp_delivery_submit(f.d, txn(id, 100, false));
	}
	RUN_UNTIL(&f, dead_lettered, 700);
	ck_assert_uint_ge(stats(&f).store_retries, 600);
	ck_assert_uint_le(stats(&f).store_retries, 607);
	ck_assert_uint_ge(stats(&f).retry_budget_exhausted, 93);
	ck_assert_uint_eq(stats(&f).retry_budget_left, 0);
	teardown(&f);
}
END_TEST

/* budget_percent = 0, the default, is no budget (as the reference's Step
 * Functions retries): past the floor every write still gets its retry. */
START_TEST(no_retry_budget_retries_every_write)
{
	struct fixture f;

	setup(&f, ddb_down);
	set(&f, "retry", "budget_percent", "0");
	set(&f, "retry", "max_attempts", "2");
	create(&f);
	for (int i = 0; i < 700; i++) {
		char id[16];
		snprintf(id, sizeof(id), "tx-%d", i);
		txp_delivery_submit(f.d, txn(id, 100, false));
	}
	RUN_UNTIL(&f, dead_lettered, 700);
	ck_assert_uint_eq(stats(&f).store_retries, 700);
	ck_assert_uint_eq(stats(&f).retry_budget_exhausted, 0);
	teardown(&f);
}
END_TEST

START_TEST(alert_refused_by_sns_goes_to_the_dlq_as_alert)
{
	struct fixture f;
	json_t *m;

	setup(&f, sns_rejects);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, true));
	RUN_UNTIL(&f, dead_lettered, 1);
	ck_assert_uint_eq(stats(&f).stored, 1);
	ck_assert_uint_eq(stats(&f).alerts_published, 0);
	ck_assert_uint_eq(stats(&f).alert_retries, 0);
	ck_assert_ptr_nonnull(strstr(f.bodies[SNS][0], "Action=PublishBatch"));
	ck_assert_ptr_nonnull(strstr(f.bodies[SNS][0], "StringValue=fraud"));
	m = dlq_message(&f, 0, 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "failed")), "alert");
	ck_assert_str_eq(json_string_value(json_object_get(m, "alert_type")), "fraud");
	ck_assert_str_eq(json_string_value(json_object_get(m, "error_code")), "InvalidParameter");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "alert"), "transaction_id")), "tx-a");
	json_decref(m);
	teardown(&f);
}
END_TEST

START_TEST(alerts_are_published_when_a_topic_is_set)
{
	struct fixture f;

	setup(&f, all_ok);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, true));
	RUN_UNTIL(&f, alerts_published, 1);
	RUN_UNTIL(&f, stored, 1);
	ck_assert_uint_eq(f.n[SNS], 1);
	teardown(&f);
}
END_TEST

START_TEST(same_id_twice_goes_in_two_batches_in_submission_order)
{
	struct fixture f;

	setup(&f, all_ok);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 111, false));
	txp_delivery_submit(f.d, txn("tx-a", 222, false));
	txp_delivery_submit(f.d, txn("tx-b", 333, false));
	RUN_UNTIL(&f, stored, 3);
	ck_assert_uint_eq(f.n[DDB], 2);
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][0], "\"111\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][0], "\"333\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][1], "\"222\""));
	teardown(&f);
}
END_TEST

START_TEST(a_full_batch_leaves_without_waiting_for_the_flush_delay)
{
	struct fixture f;

	setup(&f, all_ok);
	set(&f, "dynamodb", "batch_size", "2");
	set(&f, "dynamodb", "flush_delay_ms", "10s");
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 1, false));
	txp_delivery_submit(f.d, txn("tx-b", 2, false));
	txp_delivery_submit(f.d, txn("tx-c", 3, false));
	RUN_UNTIL(&f, stored, 2);
	ck_assert_uint_eq(f.n[DDB], 1);
	ck_assert_uint_eq(stats(&f).pending, 1);
	teardown(&f); /* tx-c is still waiting: reported lost at close */
}
END_TEST

START_TEST(congestion_follows_the_backlog)
{
	struct fixture f;

	setup(&f, all_ok);
	set(&f, "dynamodb", "max_pending", "2");
	f.delay_ms = 100;
	create(&f);
	ck_assert(!txp_delivery_congested(f.d));
	txp_delivery_submit(f.d, txn("tx-a", 1, false));
	txp_delivery_submit(f.d, txn("tx-b", 2, false));
	ck_assert(!txp_delivery_congested(f.d));
	txp_delivery_submit(f.d, txn("tx-c", 3, false));
	ck_assert(txp_delivery_congested(f.d));
	RUN_UNTIL(&f, stored, 3);
	ck_assert(!txp_delivery_congested(f.d));
	teardown(&f);
}
END_TEST

START_TEST(dlq_messages_sqs_refuses_are_held_and_sent_later)
{
	struct fixture f;

	setup(&f, sqs_down_once);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 100, false));
	RUN_UNTIL(&f, dlq_failures, 1);
	ck_assert_uint_eq(stats(&f).held_for_dlq, 1);
	ck_assert(stats(&f).dead_lettered == 0);
	RUN_UNTIL(&f, dead_lettered, 1);
	ck_assert_uint_eq(stats(&f).held_for_dlq, 0);
	ck_assert_uint_eq(f.n[SQS], 2);
	ck_assert_str_eq(f.bodies[SQS][0], f.bodies[SQS][1]);
	teardown(&f);
}
END_TEST

START_TEST(without_a_queue_url_dead_letters_are_held_and_counted)
{
	struct fixture f;

	setup(&f, ddb_fatal);
	set(&f, "sqs", "queue_url", "");
	set(&f, "sqs", "max_held", "1");
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 1, false));
	txp_delivery_submit(f.d, txn("tx-b", 2, false));
	RUN_UNTIL(&f, dlq_dropped, 1);
	ck_assert_uint_eq(stats(&f).held_for_dlq, 1);
	ck_assert_uint_eq(f.n[SQS], 0);
	teardown(&f);
}
END_TEST

/*
 * Issue 14: once the held round was due while a DLQ call was in flight, the
 * wake timer was restarted at 0 ms from its own callback, which libuv 1.44
 * runs again in the same pass: uv_run never returned and no I/O ran (this
 * test then hangs until Check's timeout).  Now the round waits for the call
 * to come back, and the loop turns only for events: a handful of turns for
 * the 2 s the call is in flight, not one per millisecond.
 */
START_TEST(a_held_round_due_while_a_dlq_call_flies_waits_without_spinning)
{
	struct fixture f;

	setup(&f, sqs_down_then_slow);
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 1, false));
	RUN_UNTIL(&f, dlq_failures, 1);
	ck_assert_uint_eq(stats(&f).held_for_dlq, 1);
	txp_delivery_submit(f.d, txn("tx-b", 2, false));
	count_turns(&f);
	RUN_UNTIL(&f, dead_lettered, 2);
	ck_assert_uint_eq(f.n[SQS], 3);
	ck_assert_uint_eq(stats(&f).held_for_dlq, 0);
	ck_assert_msg(f.n_turns < 200, "%llu loop turns in about 2 s", (unsigned long long)f.n_turns);
	teardown(&f);
}
END_TEST

/*
 * A put whose id is in flight waits for that call without a timer: with no
 * flush delay the old code retried it at 0 ms from the timer callback
 * forever (see above).  It leaves, alone, once the first put is back.
 */
START_TEST(a_put_of_an_id_in_flight_waits_for_it_without_spinning)
{
	struct fixture f;

	setup(&f, ddb_slow);
	set(&f, "dynamodb", "flush_delay_ms", "0");
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 111, false));
	txp_delivery_submit(f.d, txn("tx-a", 222, false));
	txp_delivery_submit(f.d, txn("tx-b", 333, false));
	count_turns(&f);
	RUN_UNTIL(&f, stored, 3);
	/* No flush delay: each leaves at once, the second tx-a last. */
	ck_assert_uint_eq(f.n[DDB], 3);
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][0], "\"111\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][1], "\"333\""));
	ck_assert_ptr_nonnull(strstr(f.bodies[DDB][2], "\"222\""));
	ck_assert_msg(f.n_turns < 100, "%llu loop turns in about 600 ms", (unsigned long long)f.n_turns);
	teardown(&f);
}
END_TEST

/*
 * Many puts of a few ids, a call in flight for each: every later put is
 * parked behind its id and each id's puts leave one call after another, in
 * submission order, none lost.
 */
START_TEST(puts_parked_behind_their_ids_all_leave_in_order)
{
	struct fixture f;
	char id[16];

	setup(&f, all_ok);
	create(&f);
	for (int i = 0; i < 60; i++) {
		snprintf(id, sizeof(id), "tx-%d", i % 3);
		txp_delivery_submit(f.d, txn(id, 100 + i, false));
	}
	RUN_UNTIL(&f, stored, 60);
	ck_assert_uint_eq(f.n[DDB], 20); /* three ids a batch at most */
	for (unsigned r = 0; r < MAX_REQ; r++) {
		char want[16];
		for (int k = 0; k < 3; k++) {
			snprintf(want, sizeof(want), "\"%u\"", 100 + 3 * r + (unsigned)k);
			ck_assert_msg(strstr(f.bodies[DDB][r], want) != NULL, "request %u lacks %s", r, want);
		}
	}
	ck_assert_uint_eq(stats(&f).pending, 0);
	teardown(&f);
}
END_TEST

/*
 * DynamoDB gives no answer for a second (an outage): after the calls that
 * were out when it went, one probe batch at a time, and the rest waits in
 * the queue without spending attempts, so nothing is dead-lettered; once
 * it answers, everything is stored, each once.  Before, every job was tried
 * max_attempts times within the second (dozens of calls) and dead-lettered.
 */
START_TEST(an_unreachable_service_gets_one_probe_at_a_time_and_nothing_is_dead_lettered)
{
	struct fixture f;
	char id[16];

	setup(&f, ddb_gone);
	f.ddb_gone = true;
	ck_assert_int_eq(uv_timer_init(&f.loop, &f.back), 0);
	f.back.data = &f;
	uv_timer_start(&f.back, on_back, 1000, 0);
	create(&f);
	for (int i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "tx-%d", i);
		txp_delivery_submit(f.d, txn(id, 100 + i, false));
	}
	RUN_UNTIL(&f, stored, 500);
	ck_assert_uint_eq(stats(&f).dead_lettered, 0);
	ck_assert_uint_eq(stats(&f).retry_budget_exhausted, 0);
	ck_assert_uint_eq(stats(&f).pending, 0);
	/* 20 batches once it is back; before, 8 calls at the start and a
	 * probe at 250 ms and at 750 ms (then the next succeeds). */
	ck_assert_msg(f.n[DDB] <= 20 + 8 + 4, "%u calls to DynamoDB", f.n[DDB]);
	uv_close((uv_handle_t *)&f.back, NULL);
	teardown(&f);
}
END_TEST

static void on_flushed(void *arg)
{
	struct fixture *f = arg;

	f->flushed = true;
}

START_TEST(flush_sends_partial_batches_at_once_and_reports_when_done)
{
	struct fixture f;

	setup(&f, all_ok);
	set(&f, "dynamodb", "flush_delay_ms", "10s");
	create(&f);
	txp_delivery_submit(f.d, txn("tx-a", 1, true));
	txp_delivery_flush(f.d, 5000, on_flushed, &f);
	while (!f.flushed && !f.timed_out)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert(f.flushed);
	ck_assert_uint_eq(stats(&f).stored, 1);
	ck_assert_uint_eq(stats(&f).alerts_published, 1);
	teardown(&f);
}
END_TEST

/*
 * A flush in an outage ends as soon as nothing can be delivered before the
 * service returns, instead of sitting out its timeout (a stopping daemon
 * then exits at once; the journal keeps the rest): here after the calls
 * that were out, without a probe, and long before the 6 s timeout.
 */
START_TEST(a_flush_ends_once_only_unreachable_services_are_left)
{
	struct fixture f;
	char id[16];

	setup(&f, ddb_gone);
	f.ddb_gone = true;
	create(&f);
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "tx-%d", i);
		txp_delivery_submit(f.d, txn(id, 100 + i, false));
	}
	txp_delivery_flush(f.d, 6000, on_flushed, &f);
	while (!f.flushed && !f.timed_out)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert(f.flushed);
	ck_assert_uint_le(f.n[DDB], 8);
	ck_assert_uint_eq(stats(&f).stored, 0);
	ck_assert_uint_eq(stats(&f).dead_lettered, 0);
	ck_assert_uint_eq(stats(&f).pending + stats(&f).retrying, 300);
	teardown(&f); /* all 300 reported left at close */
}
END_TEST

START_TEST(without_an_id_nothing_is_sent)
{
	struct fixture f;
	struct txp_txn *t = txp_txn_new();

	setup(&f, all_ok);
	create(&f);
	txp_txn_fail(t, TXP_STATUS_ERROR, "malformed_json", NULL, "bad");
	txp_delivery_submit(f.d, t);
	ck_assert_uint_eq(stats(&f).not_stored, 1);
	ck_assert_uint_eq(stats(&f).pending, 0);
	teardown(&f);
	ck_assert_uint_eq(f.n[DDB], 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("delivery");
	TCase *tc = tcase_create("loop");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, unprocessed_items_are_retried_alone_until_stored);
	tcase_add_test(tc, throttling_is_retried_then_stored);
	tcase_add_test(tc, fatal_error_dead_letters_at_once);
	tcase_add_test(tc, retryable_errors_dead_letter_after_max_attempts);
	tcase_add_test(tc, an_empty_retry_budget_makes_retryable_errors_final);
	tcase_add_test(tc, no_retry_budget_retries_every_write);
	tcase_add_test(tc, alert_refused_by_sns_goes_to_the_dlq_as_alert);
	tcase_add_test(tc, alerts_are_published_when_a_topic_is_set);
	tcase_add_test(tc, same_id_twice_goes_in_two_batches_in_submission_order);
	tcase_add_test(tc, a_full_batch_leaves_without_waiting_for_the_flush_delay);
	tcase_add_test(tc, congestion_follows_the_backlog);
	tcase_add_test(tc, dlq_messages_sqs_refuses_are_held_and_sent_later);
	tcase_add_test(tc, without_a_queue_url_dead_letters_are_held_and_counted);
	tcase_add_test(tc, flush_sends_partial_batches_at_once_and_reports_when_done);
	tcase_add_test(tc, without_an_id_nothing_is_sent);
	tcase_add_test(tc, a_held_round_due_while_a_dlq_call_flies_waits_without_spinning);
	tcase_add_test(tc, a_put_of_an_id_in_flight_waits_for_it_without_spinning);
	tcase_add_test(tc, puts_parked_behind_their_ids_all_leave_in_order);
	tcase_add_test(tc, an_unreachable_service_gets_one_probe_at_a_time_and_nothing_is_dead_lettered);
	tcase_add_test(tc, a_flush_ends_once_only_unreachable_services_are_left);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
