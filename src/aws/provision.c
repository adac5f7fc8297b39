/* provision.c: `txpipectl provision`: create the table, the fleet table, topic and DLQ with the reference's settings, idempotently. */
#include "txpipe/aws/provision.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "txpipe/aws/client.h"
#include "txpipe/aws/ops.h"
#include "txpipe/aws/query.h"
#include "txpipe/aws/settings.h"
#include "txpipe/aws/xml.h"
#include "txpipe/config.h"
#include "txpipe/fleet.h"
#include "txpipe/log.h"
#include "txpipe/sbuf.h"

/* The key the daemon's items carry (delivery.h), and the TTL attribute. */
#define KEY_ATTRIBUTE "transaction_id"
#define TTL_ATTRIBUTE "expires_at"
/* The AWS-managed SNS key: encryption at rest without a key to manage. */
#define SNS_KMS_KEY "alias/aws/sns"
/* The longest SQS retention, 14 days (SQS API reference, CreateQueue). */
#define DLQ_RETENTION_S "1209600"
/* The investigation indexes ([dynamodb] investigation_indexes): every
 * payment of a card, or of a customer, in time order.  The sort key is the
 * receipt time (an ISO 8601 string, so it sorts as time). */
#define INDEX_SORT_KEY "received_at"
static const char *const index_hash_keys[] = { "card_token", "customer_pseudonym" };
#define N_INDEXES (sizeof(index_hash_keys) / sizeof(index_hash_keys[0]))
#define ACTIVE_POLL_MS 250
#define ACTIVE_WAIT_MS (5 * 60 * 1000)
#define MAX_NOTES 4

struct prov;
typedef void (*step_fn)(struct prov *p, const struct txp_aws_result *r);

struct prov {
	uv_loop_t loop;
	uv_timer_t timer;
	struct txp_aws_client *client;
	struct txp_config cfg;
	FILE *out;
	int failures;
	step_fn next;
	/* table */
	bool table_created, pitr_on, ttl_on;
	unsigned indexes_added; /* by UpdateTable on an existing table */
	uint64_t wait_started_ms;
	/* fleet table */
	bool fleet_created, fleet_ttl_on;
	uint64_t fleet_wait_started_ms;
	/* topic */
	char topic_name[257];
	char topic_arn[512];
	/* queue */
	char queue_name[81];
	char queue_url[1024];
	bool queue_created;
	/* warnings about the resource being handled, printed after its line */
	char notes[MAX_NOTES][512];
	size_t n_notes;
};

static void note(struct prov *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct prov *p, const char *fmt, ...)
{
	va_list ap;

	if (p->n_notes >= MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(p->notes[p->n_notes++], sizeof(p->notes[0]), fmt, ap);
	va_end(ap);
}

/* Prints the resource's line, then its warnings. */
static void report(struct prov *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct prov *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
	for (size_t i = 0; i < p->n_notes; i++)
		fprintf(p->out, "warning: %s\n", p->notes[i]);
	p->n_notes = 0;
	fflush(p->out);
}

static void report_failure(struct prov *p, const char *what, const char *op, const struct txp_aws_result *r)
{
	p->failures++;
	report(p, "%s: failed: %s: %s%s%s (HTTP %ld)", what, op, r->code, r->message[0] != '\0' ? ": " : "", r->message,
	       r->http_status);
}

static void on_call(void *arg, const struct txp_aws_result *r)
{
	struct prov *p = arg;

	p->next(p, r);
}

/* Starts one call; `next` gets its result (also when it could not start). */
static void call(struct prov *p, enum txp_aws_service svc, const char *op, const char *body, step_fn next)
{
	struct txp_aws_result r;
	int rc;

	p->next = next;
	rc = txp_aws_call(p->client, svc, op, body, body != NULL ? strlen(body) : 0, on_call, p);
	if (rc == 0)
		return;
	memset(&r, 0, sizeof(r));
	r.kind = TXP_AWS_FATAL;
	snprintf(r.code, sizeof(r.code), "request_failed");
	snprintf(r.message, sizeof(r.message), "%s", strerror(-rc));
	next(p, &r);
}

/* Calls a JSON service with a body packed by json_pack(); a packing failure is reported like a call's. */
static void call_json(struct prov *p, enum txp_aws_service svc, const char *op, json_t *body, step_fn next)
{
	char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (s == NULL) {
		struct txp_aws_result r = { .kind = TXP_AWS_FATAL, .code = "out_of_memory" };
		next(p, &r);
		return;
	}
	call(p, svc, op, s, next);
	free(s);
}

/* Calls SNS with a query-protocol form (query.h), which it frees; an allocation failure while
 * building the form is reported like a call's. */
static void call_form(struct prov *p, const char *op, struct txp_sbuf *form, step_fn next)
{
	if (form->oom) {
		struct txp_aws_result r = { .kind = TXP_AWS_FATAL, .code = "out_of_memory" };
		txp_sbuf_free(form);
		next(p, &r);
		return;
	}
	call(p, TXP_AWS_SNS, op, form->p, next);
	txp_sbuf_free(form);
}

static json_t *body_json(const struct txp_aws_result *r)
{
	return r->body != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

int txp_provision_topic_name(const char *arn, char *name, size_t len)
{
	const char *colon;

	if (arn == NULL || strncmp(arn, "arn:", 4) != 0 || (colon = strrchr(arn, ':')) == NULL || colon[1] == '\0' ||
	    (size_t)snprintf(name, len, "%s", colon + 1) >= len)
		return -EINVAL;
	return 0;
}

int txp_provision_queue_name(const char *url, char *name, size_t len)
{
	const char *end, *start;

	if (url == NULL)
		return -EINVAL;
	end = url + strcspn(url, "?#");
	while (end > url && end[-1] == '/')
		end--;
	start = end;
	while (start > url && start[-1] != '/')
		start--;
	/* "https://host" has no path: the segment found would be the host. */
	if (start == end || start == url || (start >= url + 2 && start[-2] == '/') || (size_t)(end - start) >= len)
		return -EINVAL;
	memcpy(name, start, (size_t)(end - start));
	name[end - start] = '\0';
	return 0;
}

/* ---- finish ---------------------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

static void finish(struct prov *p)
{
	txp_aws_client_close(p->client, NULL, NULL);
	p->client = NULL;
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}

/* ---- the dead-letter queue ---------------------------------------------------------------------- */

static void queue_report(struct prov *p)
{
	if (strcmp(p->queue_url, p->cfg.sqs.queue_url) != 0)
		note(p, "queue %s: its URL is %s, but [sqs] queue_url is %s", p->queue_name, p->queue_url,
		     p->cfg.sqs.queue_url);
	if (p->queue_created)
		report(p, "queue %s: created (retention 14 days, SSE on)", p->queue_name);
	else
		report(p, "queue %s: exists", p->queue_name);
	finish(p);
}

static void queue_attributes(struct prov *p, const struct txp_aws_result *r)
{
	json_t *j, *a;
	const char *ret, *sse, *kms;

	if (r->kind != TXP_AWS_OK) {
		note(p, "queue %s: cannot read its attributes: %s: %s", p->queue_name, r->code, r->message);
		queue_report(p);
		return;
	}
	j = body_json(r);
	a = json_object_get(j, "Attributes");
	ret = json_string_value(json_object_get(a, "MessageRetentionPeriod"));
	sse = json_string_value(json_object_get(a, "SqsManagedSseEnabled"));
	kms = json_string_value(json_object_get(a, "KmsMasterKeyId"));
	if (ret == NULL || strcmp(ret, DLQ_RETENTION_S) != 0)
		note(p, "queue %s: message retention is %s s, not %s (14 days)", p->queue_name,
		     ret != NULL ? ret : "unknown", DLQ_RETENTION_S);
	if ((sse == NULL || strcmp(sse, "true") != 0) && (kms == NULL || kms[0] == '\0'))
		note(p, "queue %s: server-side encryption is off", p->queue_name);
	json_decref(j);
	queue_report(p);
}

static void queue_check(struct prov *p)
{
	call_json(p, TXP_AWS_SQS, "GetQueueAttributes",
	          json_pack("{s:s, s:[s,s,s]}", "QueueUrl", p->queue_url, "AttributeNames", "MessageRetentionPeriod",
	                    "SqsManagedSseEnabled", "KmsMasterKeyId"),
	          queue_attributes);
}

static bool take_queue_url(struct prov *p, const struct txp_aws_result *r)
{
	json_t *j = body_json(r);
	const char *u = json_string_value(json_object_get(j, "QueueUrl"));

	snprintf(p->queue_url, sizeof(p->queue_url), "%s", u != NULL ? u : "");
	json_decref(j);
	return u != NULL;
}

static void queue_created(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind != TXP_AWS_OK) {
		report_failure(p, "queue", "CreateQueue", r);
		finish(p);
		return;
	}
	p->queue_created = true;
	if (!take_queue_url(p, r))
		note(p, "queue %s: CreateQueue returned no QueueUrl", p->queue_name);
	queue_check(p);
}

static void queue_looked_up(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind == TXP_AWS_OK && take_queue_url(p, r)) {
		queue_check(p);
		return;
	}
	/* "QueueDoesNotExist" in the JSON protocol, "AWS.SimpleQueueService.NonExistentQueue"
	 * in the query one. */
	if (strcmp(r->code, "QueueDoesNotExist") != 0 && strstr(r->code, "NonExistentQueue") == NULL) {
		report_failure(p, "queue", "GetQueueUrl", r);
		finish(p);
		return;
	}
	call_json(p, TXP_AWS_SQS, "CreateQueue",
	          json_pack("{s:s, s:{s:s, s:s}}", "QueueName", p->queue_name, "Attributes", "MessageRetentionPeriod",
	                    DLQ_RETENTION_S, "SqsManagedSseEnabled", "true"),
	          queue_created);
}

static void queue_start(struct prov *p)
{
	if (p->cfg.sqs.queue_url[0] == '\0') {
		report(p, "queue: skipped ([sqs] queue_url is empty: failed transactions are held in memory)");
		finish(p);
		return;
	}
	if (txp_provision_queue_name(p->cfg.sqs.queue_url, p->queue_name, sizeof(p->queue_name)) != 0) {
		p->failures++;
		report(p, "queue: failed: [sqs] queue_url %s has no queue name", p->cfg.sqs.queue_url);
		finish(p);
		return;
	}
	call_json(p, TXP_AWS_SQS, "GetQueueUrl", json_pack("{s:s}", "QueueName", p->queue_name), queue_looked_up);
}

/* ---- the topic and its email subscription -------------------------------------------------------- */

static void subscribed(struct prov *p, const struct txp_aws_result *r)
{
	char arn[512];

	if (r->kind != TXP_AWS_OK) {
		report_failure(p, "subscription", "Subscribe", r);
	} else {
		txp_aws_xml_text(r->body, r->body_len, "SubscriptionArn", arn, sizeof(arn));
		/* SNS answers an email subscription with "pending confirmation" until the
		 * recipient confirms. */
		report(p, "subscription %s: created%s", p->cfg.sns.alert_email,
		       strncmp(arn, "arn:", 4) == 0 ? "" : " (pending confirmation by email)");
	}
	queue_start(p);
}

static void subscribe(struct prov *p)
{
	struct txp_sbuf f = { 0 };

	txp_aws_query_add(&f, "TopicArn", p->topic_arn);
	txp_aws_query_add(&f, "Protocol", "email");
	txp_aws_query_add(&f, "Endpoint", p->cfg.sns.alert_email);
	call_form(p, "Subscribe", &f, subscribed);
}

static void subscriptions_listed(struct prov *p, const struct txp_aws_result *r)
{
	const char *s, *inner;
	size_t n;
	char proto[32], endpoint[300], arn[512];

	if (r->kind != TXP_AWS_OK) {
		/* Without the list, Subscribe anyway: SNS answers an existing
		 * subscription with its ARN instead of a second one. */
		subscribe(p);
		return;
	}
	/* One page (100 subscriptions) is enough for a topic of our own. */
	s = r->body;
	while (s != NULL &&
	       (s = txp_aws_xml_find(s, r->body_len - (size_t)(s - r->body), "member", &inner, &n)) != NULL) {
		txp_aws_xml_text(inner, n, "Protocol", proto, sizeof(proto));
		txp_aws_xml_text(inner, n, "Endpoint", endpoint, sizeof(endpoint));
		if (strcmp(proto, "email") == 0 && strcasecmp(endpoint, p->cfg.sns.alert_email) == 0) {
			txp_aws_xml_text(inner, n, "SubscriptionArn", arn, sizeof(arn));
			report(p, "subscription %s: exists%s", p->cfg.sns.alert_email,
			       strncmp(arn, "arn:", 4) == 0 ? "" : " (pending confirmation by email)");
			queue_start(p);
			return;
		}
	}
	subscribe(p);
}

static void subscription_start(struct prov *p)
{
	struct txp_sbuf f = { 0 };

	if (p->cfg.sns.alert_email[0] == '\0') {
		queue_start(p);
		return;
	}
	txp_aws_query_add(&f, "TopicArn", p->topic_arn);
	/* Out of memory ends up in subscriptions_listed, which subscribes anyway. */
	call_form(p, "ListSubscriptionsByTopic", &f, subscriptions_listed);
}

static void topic_created(struct prov *p, const struct txp_aws_result *r)
{
	char arn[512];

	if (r->kind != TXP_AWS_OK) {
		report_failure(p, "topic", "CreateTopic", r);
		queue_start(p);
		return;
	}
	txp_aws_xml_text(r->body, r->body_len, "TopicArn", arn, sizeof(arn));
	if (arn[0] != '\0' && strcmp(arn, p->cfg.sns.topic_arn) != 0) {
		note(p, "topic %s: created as %s, but [sns] topic_arn is %s: set topic_arn to the created ARN",
		     p->topic_name, arn, p->cfg.sns.topic_arn);
		snprintf(p->topic_arn, sizeof(p->topic_arn), "%s", arn);
	}
	report(p, "topic %s: created (KMS %s)", p->topic_name, SNS_KMS_KEY);
	subscription_start(p);
}

static void topic_described(struct prov *p, const struct txp_aws_result *r)
{
	struct txp_sbuf f = { 0 };
	const char *s, *inner;
	size_t n;
	char key[64], value[256];
	bool kms = false;

	if (r->kind == TXP_AWS_OK) {
		/* <Attributes><entry><key>KmsMasterKeyId</key><value>...</value></entry>... */
		s = r->body;
		while (s != NULL &&
		       (s = txp_aws_xml_find(s, r->body_len - (size_t)(s - r->body), "entry", &inner, &n)) != NULL) {
			txp_aws_xml_text(inner, n, "key", key, sizeof(key));
			txp_aws_xml_text(inner, n, "value", value, sizeof(value));
			if (strcmp(key, "KmsMasterKeyId") == 0 && value[0] != '\0')
				kms = true;
		}
		if (!kms)
			note(p, "topic %s: exists without KmsMasterKeyId: messages are not encrypted at rest",
			     p->topic_name);
		report(p, "topic %s: exists", p->topic_name);
		subscription_start(p);
		return;
	}
	if (strcmp(r->code, "NotFound") != 0 && strcmp(r->code, "NotFoundException") != 0) {
		report_failure(p, "topic", "GetTopicAttributes", r);
		queue_start(p);
		return;
	}
	txp_aws_query_add(&f, "Name", p->topic_name);
	txp_aws_query_add(&f, "Attributes.entry.1.key", "KmsMasterKeyId");
	txp_aws_query_add(&f, "Attributes.entry.1.value", SNS_KMS_KEY);
	call_form(p, "CreateTopic", &f, topic_created);
}

static void topic_start(struct prov *p)
{
	struct txp_sbuf f = { 0 };

	if (p->cfg.sns.topic_arn[0] == '\0') {
		report(p, "topic: skipped ([sns] topic_arn is empty: alerts are off)");
		queue_start(p);
		return;
	}
	if (txp_provision_topic_name(p->cfg.sns.topic_arn, p->topic_name, sizeof(p->topic_name)) != 0) {
		p->failures++;
		report(p, "topic: failed: [sns] topic_arn %s is not a topic ARN", p->cfg.sns.topic_arn);
		queue_start(p);
		return;
	}
	snprintf(p->topic_arn, sizeof(p->topic_arn), "%s", p->cfg.sns.topic_arn);
	txp_aws_query_add(&f, "TopicArn", p->topic_arn);
	call_form(p, "GetTopicAttributes", &f, topic_described);
}

static void fleet_start(struct prov *p);

/* ---- the table ------------------------------------------------------------------------------------ */

static const char *table(const struct prov *p)
{
	return p->cfg.dynamodb.table;
}

static void table_report(struct prov *p)
{
	char ttl[64] = "";

	if (p->ttl_on)
		snprintf(ttl, sizeof(ttl), ", TTL on %s", TTL_ATTRIBUTE);
	if (p->table_created)
		report(p, "table %s: created (PAY_PER_REQUEST, SSE on, PITR %s%s%s)", table(p),
		       p->pitr_on ? "on" : "off", ttl,
		       p->cfg.dynamodb.investigation_indexes ? ", indexes card_token-received_at and "
		                                               "customer_pseudonym-received_at"
		                                             : "");
	else
		report(p, "table %s: exists", table(p));
	fleet_start(p);
}

/* dynalite lacks point-in-time recovery and TTL (tests/integration/EMULATORS.md). */
static bool unsupported(const struct txp_aws_result *r)
{
	return strcmp(r->code, "UnknownOperationException") == 0;
}

static void table_ttl_updated(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind == TXP_AWS_OK) {
		p->ttl_on = true;
	} else if (unsupported(r)) {
		note(p, "table %s: TTL on %s is not available at this endpoint (%s); records will not expire", table(p),
		     TTL_ATTRIBUTE, r->code);
	} else {
		report_failure(p, "table", "UpdateTimeToLive", r);
		fleet_start(p);
		return;
	}
	table_report(p);
}

static void table_ttl_described(struct prov *p, const struct txp_aws_result *r)
{
	json_t *j = r->kind == TXP_AWS_OK ? body_json(r) : NULL;
	json_t *d = json_object_get(j, "TimeToLiveDescription");
	const char *status = json_string_value(json_object_get(d, "TimeToLiveStatus"));
	const char *attr = json_string_value(json_object_get(d, "AttributeName"));
	bool on = status != NULL && (strcmp(status, "ENABLED") == 0 || strcmp(status, "ENABLING") == 0);

	if (on && attr != NULL && strcmp(attr, TTL_ATTRIBUTE) == 0) {
		/* Enabling it again is a ValidationException on AWS. */
		p->ttl_on = true;
		json_decref(j);
		table_report(p);
		return;
	}
	if (on) {
		note(p, "table %s: TTL is on attribute %s, not %s; records will not expire by retention_days", table(p),
		     attr != NULL ? attr : "?", TTL_ATTRIBUTE);
		json_decref(j);
		table_report(p);
		return;
	}
	json_decref(j);
	call_json(p, TXP_AWS_DYNAMODB, "UpdateTimeToLive",
	          json_pack("{s:s, s:{s:b, s:s}}", "TableName", table(p), "TimeToLiveSpecification", "Enabled", 1,
	                    "AttributeName", TTL_ATTRIBUTE),
	          table_ttl_updated);
}

static void table_pitr_updated(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind == TXP_AWS_OK) {
		p->pitr_on = true;
	} else if (unsupported(r)) {
		note(p, "table %s: point-in-time recovery is not available at this endpoint (%s)", table(p), r->code);
	} else {
		report_failure(p, "table", "UpdateContinuousBackups", r);
		fleet_start(p);
		return;
	}
	if (p->cfg.compliance.retention_days == 0) {
		table_report(p);
		return;
	}
	call_json(p, TXP_AWS_DYNAMODB, "DescribeTimeToLive", json_pack("{s:s}", "TableName", table(p)),
	          table_ttl_described);
}

static void table_active(struct prov *p)
{
	/* Enabling PITR again is harmless, so an existing table gets it too. */
	call_json(p, TXP_AWS_DYNAMODB, "UpdateContinuousBackups",
	          json_pack("{s:s, s:{s:b}}", "TableName", table(p), "PointInTimeRecoverySpecification",
	                    "PointInTimeRecoveryEnabled", 1),
	          table_pitr_updated);
}

static void table_described(struct prov *p, const struct txp_aws_result *r);

static void table_wait(struct prov *p);

static void index_name(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "%s-%s", index_hash_keys[i], INDEX_SORT_KEY);
}

/* One GlobalSecondaryIndexes element: index i, every attribute projected
 * (an investigation reads whole records). */
static json_t *index_json(unsigned i)
{
	char name[128];

	index_name(name, sizeof(name), i);
	return json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s}}", "IndexName", name, "KeySchema", "AttributeName",
	                 index_hash_keys[i], "KeyType", "HASH", "AttributeName", INDEX_SORT_KEY, "KeyType", "RANGE",
	                 "Projection", "ProjectionType", "ALL");
}

/* The AttributeDefinitions of the key and, with indexes, of their keys. */
static json_t *attribute_definitions(const struct prov *p)
{
	json_t *defs = json_pack("[{s:s, s:s}]", "AttributeName", KEY_ATTRIBUTE, "AttributeType", "S");

	if (p->cfg.dynamodb.investigation_indexes) {
		for (unsigned i = 0; i < N_INDEXES; i++)
			json_array_append_new(defs, json_pack("{s:s, s:s}", "AttributeName", index_hash_keys[i],
			                                      "AttributeType", "S"));
		json_array_append_new(defs,
		                      json_pack("{s:s, s:s}", "AttributeName", INDEX_SORT_KEY, "AttributeType", "S"));
	}
	return defs;
}

static json_t *create_table_request(const struct prov *p)
{
	json_t *req =
	        json_pack("{s:s, s:o, s:[{s:s, s:s}], s:s, s:{s:b}}", "TableName", table(p), "AttributeDefinitions",
	                  attribute_definitions(p), "KeySchema", "AttributeName", KEY_ATTRIBUTE, "KeyType", "HASH",
	                  "BillingMode", "PAY_PER_REQUEST", "SSESpecification", "Enabled", 1);

	if (req != NULL && p->cfg.dynamodb.investigation_indexes) {
		json_t *gsi = json_array();
		for (unsigned i = 0; i < N_INDEXES; i++)
			json_array_append_new(gsi, index_json(i));
		json_object_set_new(req, "GlobalSecondaryIndexes", gsi);
	}
	return req;
}

/* The first investigation index `table` (a DescribeTable "Table") lacks,
 * or N_INDEXES. */
static unsigned missing_index(const json_t *table_desc)
{
	json_t *have = json_object_get(table_desc, "GlobalSecondaryIndexes"), *x;
	char name[128];
	size_t k;

	for (unsigned i = 0; i < N_INDEXES; i++) {
		bool found = false;
		index_name(name, sizeof(name), i);
		json_array_foreach (have, k, x) {
			const char *n = json_string_value(json_object_get(x, "IndexName"));
			found = found || (n != NULL && strcmp(n, name) == 0);
		}
		if (!found)
			return i;
	}
	return N_INDEXES;
}

/* Whether an index of the table is still being built. */
static bool index_building(const json_t *table_desc)
{
	json_t *x;
	size_t k;

	json_array_foreach (json_object_get(table_desc, "GlobalSecondaryIndexes"), k, x) {
		const char *st = json_string_value(json_object_get(x, "IndexStatus"));
		if (st != NULL && strcmp(st, "ACTIVE") != 0)
			return true;
	}
	return false;
}

static void table_index_added(struct prov *p, const struct txp_aws_result *r)
{
	char name[128];

	index_name(name, sizeof(name), p->indexes_added);
	if (r->kind != TXP_AWS_OK) {
		report_failure(p, "index", "UpdateTable", r);
		fleet_start(p);
		return;
	}
	note(p, "table %s: index %s: creating (DynamoDB fills it in the background)", table(p), name);
	p->indexes_added++;
	/* One index per UpdateTable (DynamoDB API reference, UpdateTable):
	 * describe again, which adds the next one once the table is ACTIVE. */
	p->wait_started_ms = 0;
	table_wait(p);
}

/* An existing table without an investigation index gets it (UpdateTable);
 * true when a request went out. */
static bool table_add_index(struct prov *p, const json_t *table_desc)
{
	unsigned i = missing_index(table_desc);
	json_t *req;

	if (!p->cfg.dynamodb.investigation_indexes || p->table_created || i == N_INDEXES)
		return false;
	/* DynamoDB builds one index of a table at a time: the next one waits
	 * for the next run. */
	if (index_building(table_desc)) {
		char name[128];
		index_name(name, sizeof(name), i);
		note(p,
		     "table %s: index %s: missing; run txpipectl provision again once the index being built is "
		     "ACTIVE",
		     table(p), name);
		return false;
	}
	p->indexes_added = i;
	req = json_pack("{s:s, s:o, s:[{s:o}]}", "TableName", table(p), "AttributeDefinitions",
	                attribute_definitions(p), "GlobalSecondaryIndexUpdates", "Create", index_json(i));
	call_json(p, TXP_AWS_DYNAMODB, "UpdateTable", req, table_index_added);
	return true;
}

static void on_poll_timer(uv_timer_t *t)
{
	struct prov *p = t->data;

	call_json(p, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", table(p)), table_described);
}

static void table_wait(struct prov *p)
{
	if (p->wait_started_ms == 0)
		p->wait_started_ms = uv_now(&p->loop);
	if (uv_now(&p->loop) - p->wait_started_ms > ACTIVE_WAIT_MS) {
		p->failures++;
		report(p, "table %s: failed: not ACTIVE after %d s", table(p), ACTIVE_WAIT_MS / 1000);
		fleet_start(p);
		return;
	}
	uv_timer_start(&p->timer, on_poll_timer, ACTIVE_POLL_MS, 0);
}

static void table_created(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind == TXP_AWS_OK) {
		p->table_created = true;
	} else if (strcmp(r->code, "ResourceInUseException") != 0) {
		/* ResourceInUse: created meanwhile by someone else; wait for it like ours. */
		report_failure(p, "table", "CreateTable", r);
		fleet_start(p);
		return;
	}
	table_wait(p);
}

static void table_described(struct prov *p, const struct txp_aws_result *r)
{
	json_t *j;
	const char *status;

	if (r->kind != TXP_AWS_OK) {
		if (strcmp(r->code, "ResourceNotFoundException") != 0 || p->wait_started_ms != 0) {
			report_failure(p, "table", "DescribeTable", r);
			fleet_start(p);
			return;
		}
		call_json(p, TXP_AWS_DYNAMODB, "CreateTable", create_table_request(p), table_created);
		return;
	}
	j = body_json(r);
	status = json_string_value(json_object_get(json_object_get(j, "Table"), "TableStatus"));
	if (status != NULL && strcmp(status, "ACTIVE") == 0) {
		bool adding = table_add_index(p, json_object_get(j, "Table"));
		json_decref(j);
		if (!adding)
			table_active(p);
		return;
	}
	json_decref(j);
	table_wait(p);
}

static void table_start(struct prov *p)
{
	call_json(p, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", table(p)), table_described);
}

/* ---- the fleet table ([fleet] enabled) ------------------------------------------------------------- */

/* The fleet table's layout is shared by every fleet module (include/txpipe/fleet.h): one string hash
 * key, and a TTL attribute so that leases and shared state of dead hosts disappear by themselves. */
static const char *fleet_table(const struct prov *p)
{
	return p->cfg.fleet.table;
}

static void fleet_report(struct prov *p)
{
	if (p->fleet_created)
		report(p, "fleet table %s: created (PAY_PER_REQUEST, SSE on%s)", fleet_table(p),
		       p->fleet_ttl_on ? ", TTL on " TXP_FLEET_TTL_ATTRIBUTE : "");
	else
		report(p, "fleet table %s: exists", fleet_table(p));
	topic_start(p);
}

static void fleet_ttl_updated(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind == TXP_AWS_OK) {
		p->fleet_ttl_on = true;
	} else if (unsupported(r)) {
		note(p, "fleet table %s: TTL on %s is not available at this endpoint (%s); expired items stay",
		     fleet_table(p), TXP_FLEET_TTL_ATTRIBUTE, r->code);
	} else {
		report_failure(p, "fleet table", "UpdateTimeToLive", r);
		topic_start(p);
		return;
	}
	fleet_report(p);
}

static void fleet_ttl_described(struct prov *p, const struct txp_aws_result *r)
{
	json_t *j = r->kind == TXP_AWS_OK ? body_json(r) : NULL;
	json_t *d = json_object_get(j, "TimeToLiveDescription");
	const char *status = json_string_value(json_object_get(d, "TimeToLiveStatus"));
	const char *attr = json_string_value(json_object_get(d, "AttributeName"));
	bool on = status != NULL && (strcmp(status, "ENABLED") == 0 || strcmp(status, "ENABLING") == 0);

	if (on) {
		/* Enabling it again is a ValidationException on AWS. */
		if (attr == NULL || strcmp(attr, TXP_FLEET_TTL_ATTRIBUTE) != 0)
			note(p, "fleet table %s: TTL is on attribute %s, not %s; expired items stay", fleet_table(p),
			     attr != NULL ? attr : "?", TXP_FLEET_TTL_ATTRIBUTE);
		else
			p->fleet_ttl_on = true;
		json_decref(j);
		fleet_report(p);
		return;
	}
	json_decref(j);
	call_json(p, TXP_AWS_DYNAMODB, "UpdateTimeToLive",
	          json_pack("{s:s, s:{s:b, s:s}}", "TableName", fleet_table(p), "TimeToLiveSpecification", "Enabled", 1,
	                    "AttributeName", TXP_FLEET_TTL_ATTRIBUTE),
	          fleet_ttl_updated);
}

static void fleet_described(struct prov *p, const struct txp_aws_result *r);

static void on_fleet_poll_timer(uv_timer_t *t)
{
	struct prov *p = t->data;

	call_json(p, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", fleet_table(p)),
	          fleet_described);
}

static void fleet_wait(struct prov *p)
{
	if (p->fleet_wait_started_ms == 0)
		p->fleet_wait_started_ms = uv_now(&p->loop);
	if (uv_now(&p->loop) - p->fleet_wait_started_ms > ACTIVE_WAIT_MS) {
		p->failures++;
		report(p, "fleet table %s: failed: not ACTIVE after %d s", fleet_table(p), ACTIVE_WAIT_MS / 1000);
		topic_start(p);
		return;
	}
	uv_timer_start(&p->timer, on_fleet_poll_timer, ACTIVE_POLL_MS, 0);
}

static void fleet_created(struct prov *p, const struct txp_aws_result *r)
{
	if (r->kind == TXP_AWS_OK) {
		p->fleet_created = true;
	} else if (strcmp(r->code, "ResourceInUseException") != 0) {
		/* ResourceInUse: another host's provision created it meanwhile; wait for it like ours. */
		report_failure(p, "fleet table", "CreateTable", r);
		topic_start(p);
		return;
	}
	fleet_wait(p);
}

static void fleet_described(struct prov *p, const struct txp_aws_result *r)
{
	json_t *j;
	const char *status;

	if (r->kind != TXP_AWS_OK) {
		if (strcmp(r->code, "ResourceNotFoundException") != 0 || p->fleet_wait_started_ms != 0) {
			report_failure(p, "fleet table", "DescribeTable", r);
			topic_start(p);
			return;
		}
		/* No point-in-time recovery: its items are leases and counts that expire within hours. */
		call_json(p, TXP_AWS_DYNAMODB, "CreateTable",
		          json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s, s:{s:b}}", "TableName", fleet_table(p),
		                    "AttributeDefinitions", "AttributeName", TXP_FLEET_KEY_ATTRIBUTE, "AttributeType",
		                    "S", "KeySchema", "AttributeName", TXP_FLEET_KEY_ATTRIBUTE, "KeyType", "HASH",
		                    "BillingMode", "PAY_PER_REQUEST", "SSESpecification", "Enabled", 1),
		          fleet_created);
		return;
	}
	j = body_json(r);
	status = json_string_value(json_object_get(json_object_get(j, "Table"), "TableStatus"));
	if (status == NULL || strcmp(status, "ACTIVE") != 0) {
		json_decref(j);
		fleet_wait(p);
		return;
	}
	json_decref(j);
	call_json(p, TXP_AWS_DYNAMODB, "DescribeTimeToLive", json_pack("{s:s}", "TableName", fleet_table(p)),
	          fleet_ttl_described);
}

static void fleet_start(struct prov *p)
{
	if (!p->cfg.fleet.enabled) {
		topic_start(p);
		return;
	}
	call_json(p, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", fleet_table(p)),
	          fleet_described);
}

/* ---- entry ------------------------------------------------------------------------------------------ */

int txp_provision_run(const char *config_path, FILE *out, FILE *err)
{
	struct prov *p;
	struct txp_aws_settings settings;
	char msg[2048];
	int rc, status = EX_CONFIG;

	if (sodium_init() < 0) {
		fprintf(err, "txpipectl: libsodium failed to initialise\n");
		return EX_SOFTWARE;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		fprintf(err, "txpipectl: out of memory\n");
		return EX_OSERR;
	}
	p->out = out;
	if (txp_config_load(&p->cfg, config_path, msg, sizeof(msg)) != 0) {
		fprintf(err, "txpipectl: %s\n", msg);
		goto out_config;
	}
	/* Endpoint mistakes are configuration errors, not AWS failures. */
	txp_aws_settings_from_config(&p->cfg, &settings);
	if (txp_aws_settings_check(&settings, msg, sizeof(msg)) != 0) {
		fprintf(err, "txpipectl: %s: %s\n", config_path, msg);
		goto out_config;
	}
	/* The client's own log lines (credential source, refreshes) only matter when something is wrong. */
	txp_log_setup(TXP_LOG_WARNING, (enum txp_log_format)p->cfg.log.format);
	status = 1;
	rc = uv_loop_init(&p->loop);
	if (rc != 0) {
		fprintf(err, "txpipectl: uv_loop_init: %s\n", uv_strerror(rc));
		goto out_config;
	}
	rc = txp_aws_client_create(&p->client, &p->loop, &settings, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(err, "txpipectl: %s\n", msg);
		goto out_loop;
	}
	uv_timer_init(&p->loop, &p->timer);
	p->timer.data = p;
	table_start(p);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	status = p->failures > 0 ? 1 : EX_OK;
out_loop:
	/* Lets the client's and the HTTP client's handles finish closing. */
	uv_run(&p->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&p->loop);
	if (rc != 0)
		fprintf(err, "txpipectl: uv_loop_close: %s\n", uv_strerror(rc));
out_config:
	txp_config_free(&p->cfg);
	free(p);
	return status;
}
