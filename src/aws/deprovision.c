/* deprovision.c: `txpipectl deprovision`: look up, list, confirm and delete what provision creates. */
#include "txpipe/aws/provision.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>

#include "txpipe/aws/client.h"
#include "txpipe/aws/ops.h"
#include "txpipe/aws/query.h"
#include "txpipe/aws/settings.h"
#include "txpipe/aws/xml.h"
#include "txpipe/config.h"
#include "txpipe/log.h"
#include "txpipe/sbuf.h"

#define GONE_POLL_NS (250L * 1000 * 1000)
#define GONE_WAIT_S 300
#define MAX_SUBS 100

/* What deprovision found, and will delete. */
struct deprov {
	struct txp_aws_session *s;
	const struct txp_config *cfg;
	FILE *out;
	int failures;
	bool table_found, table_has_items;
	char table_arn[512];
	bool fleet_found;
	char fleet_arn[512];
	bool topic_found;
	char topic_name[257];
	char *subs[MAX_SUBS];
	size_t n_subs;
	size_t n_pending; /* subscriptions awaiting confirmation: they have no ARN to unsubscribe */
	bool queue_found;
	char queue_name[81];
	char queue_url[1024];
};

/* One JSON call; fills *r (body freed by the caller).  A call that cannot
 * start is reported in r like a failed one. */
static void dp_call_json(struct deprov *d, enum txp_aws_service svc, const char *op, json_t *req,
                         struct txp_aws_reply *r)
{
	char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	int rc;

	json_decref(req);
	rc = body != NULL ? txp_aws_session_call(d->s, svc, op, body, r) : -ENOMEM;
	free(body);
	if (rc < 0) {
		memset(r, 0, sizeof(*r));
		r->kind = TXP_AWS_FATAL;
		snprintf(r->code, sizeof(r->code), "request_failed");
		snprintf(r->message, sizeof(r->message), "%s", strerror(-rc));
	}
}

static void dp_call_form(struct deprov *d, const char *op, struct txp_sbuf *form, struct txp_aws_reply *r)
{
	int rc = form->oom ? -ENOMEM : txp_aws_session_call(d->s, TXP_AWS_SNS, op, form->p, r);

	txp_sbuf_free(form);
	if (rc < 0) {
		memset(r, 0, sizeof(*r));
		r->kind = TXP_AWS_FATAL;
		snprintf(r->code, sizeof(r->code), "request_failed");
		snprintf(r->message, sizeof(r->message), "%s", strerror(-rc));
	}
}

static void dp_failed(struct deprov *d, const char *what, const char *op, const struct txp_aws_reply *r)
{
	d->failures++;
	fprintf(d->out, "%s: failed: %s: %s%s%s (HTTP %ld)\n", what, op, r->code, r->message[0] != '\0' ? ": " : "",
	        r->message, r->http_status);
}

static const char *str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static json_t *reply_json(const struct txp_aws_reply *r)
{
	return r->body != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

static void survey_table(struct deprov *d)
{
	const char *t = d->cfg->dynamodb.table;
	struct txp_aws_reply r;
	json_t *j;

	dp_call_json(d, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", t), &r);
	if (r.kind != TXP_AWS_OK) {
		if (strcmp(r.code, "ResourceNotFoundException") == 0)
			fprintf(d->out, "table %s: not found, skipped\n", t);
		else
			dp_failed(d, "table", "DescribeTable", &r);
		free(r.body);
		return;
	}
	j = reply_json(&r);
	snprintf(d->table_arn, sizeof(d->table_arn), "%s",
	         str_or_empty(json_string_value(json_object_get(json_object_get(j, "Table"), "TableArn"))));
	json_decref(j);
	free(r.body);
	d->table_found = true;
	/* DescribeTable's ItemCount is refreshed about every six hours on AWS:
	 * one item counted by a Scan is exact, and reads at most one item. */
	dp_call_json(d, TXP_AWS_DYNAMODB, "Scan",
	             json_pack("{s:s,s:i,s:s}", "TableName", t, "Limit", 1, "Select", "COUNT"), &r);
	if (r.kind != TXP_AWS_OK) {
		dp_failed(d, "table", "Scan", &r);
		d->table_found = false;
		free(r.body);
		return;
	}
	j = reply_json(&r);
	d->table_has_items = json_integer_value(json_object_get(j, "Count")) > 0;
	json_decref(j);
	free(r.body);
}

/* Collects the topic's subscriptions, every page of them. */
/* The fleet table ([fleet] enabled) holds leases and shared counts that
 * expire within hours, no decision: it goes without --delete-data. */
static void survey_fleet_table(struct deprov *d)
{
	const char *t = d->cfg->fleet.table;
	struct txp_aws_reply r;
	json_t *j;

	if (!d->cfg->fleet.enabled)
		return;
	dp_call_json(d, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", t), &r);
	if (r.kind != TXP_AWS_OK) {
		if (strcmp(r.code, "ResourceNotFoundException") == 0)
			fprintf(d->out, "fleet table %s: not found, skipped\n", t);
		else
			dp_failed(d, "fleet table", "DescribeTable", &r);
		free(r.body);
		return;
	}
	j = reply_json(&r);
	snprintf(d->fleet_arn, sizeof(d->fleet_arn), "%s",
	         str_or_empty(json_string_value(json_object_get(json_object_get(j, "Table"), "TableArn"))));
	json_decref(j);
	free(r.body);
	d->fleet_found = true;
}

static void survey_subscriptions(struct deprov *d)
{
	char token[1024] = "";

	do {
		struct txp_sbuf f = { 0 };
		struct txp_aws_reply r;
		const char *p, *inner;
		size_t n;
		char arn[512];

		txp_aws_query_add(&f, "TopicArn", d->cfg->sns.topic_arn);
		if (token[0] != '\0')
			txp_aws_query_add(&f, "NextToken", token);
		dp_call_form(d, "ListSubscriptionsByTopic", &f, &r);
		if (r.kind != TXP_AWS_OK) {
			dp_failed(d, "subscriptions", "ListSubscriptionsByTopic", &r);
			free(r.body);
			return;
		}
		p = r.body;
		while (p != NULL &&
		       (p = txp_aws_xml_find(p, r.body_len - (size_t)(p - r.body), "member", &inner, &n)) != NULL) {
			txp_aws_xml_text(inner, n, "SubscriptionArn", arn, sizeof(arn));
			/* "PendingConfirmation": nothing to unsubscribe; SNS drops it
			 * with the topic. */
			if (strncmp(arn, "arn:", 4) != 0)
				d->n_pending++;
			else if (d->n_subs < MAX_SUBS)
				d->subs[d->n_subs++] = strdup(arn);
		}
		/* Leaves token "" when there is no NextToken: the last page. */
		txp_aws_xml_text(r.body, r.body_len, "NextToken", token, sizeof(token));
		free(r.body);
	} while (token[0] != '\0' && d->n_subs < MAX_SUBS);
}

static void survey_topic(struct deprov *d)
{
	struct txp_sbuf f = { 0 };
	struct txp_aws_reply r;

	if (d->cfg->sns.topic_arn[0] == '\0') {
		fprintf(d->out, "topic: skipped ([sns] topic_arn is empty)\n");
		return;
	}
	if (txp_provision_topic_name(d->cfg->sns.topic_arn, d->topic_name, sizeof(d->topic_name)) != 0) {
		d->failures++;
		fprintf(d->out, "topic: failed: [sns] topic_arn %s is not a topic ARN\n", d->cfg->sns.topic_arn);
		return;
	}
	txp_aws_query_add(&f, "TopicArn", d->cfg->sns.topic_arn);
	dp_call_form(d, "GetTopicAttributes", &f, &r);
	if (r.kind != TXP_AWS_OK) {
		if (strcmp(r.code, "NotFound") == 0 || strcmp(r.code, "NotFoundException") == 0)
			fprintf(d->out, "topic %s: not found, skipped\n", d->topic_name);
		else
			dp_failed(d, "topic", "GetTopicAttributes", &r);
		free(r.body);
		return;
	}
	free(r.body);
	d->topic_found = true;
	survey_subscriptions(d);
}

static void survey_queue(struct deprov *d)
{
	struct txp_aws_reply r;
	json_t *j;

	if (d->cfg->sqs.queue_url[0] == '\0') {
		fprintf(d->out, "queue: skipped ([sqs] queue_url is empty)\n");
		return;
	}
	if (txp_provision_queue_name(d->cfg->sqs.queue_url, d->queue_name, sizeof(d->queue_name)) != 0) {
		d->failures++;
		fprintf(d->out, "queue: failed: [sqs] queue_url %s has no queue name\n", d->cfg->sqs.queue_url);
		return;
	}
	dp_call_json(d, TXP_AWS_SQS, "GetQueueUrl", json_pack("{s:s}", "QueueName", d->queue_name), &r);
	if (r.kind != TXP_AWS_OK) {
		if (strcmp(r.code, "QueueDoesNotExist") == 0 || strstr(r.code, "NonExistentQueue") != NULL)
			fprintf(d->out, "queue %s: not found, skipped\n", d->queue_name);
		else
			dp_failed(d, "queue", "GetQueueUrl", &r);
		free(r.body);
		return;
	}
	j = reply_json(&r);
	snprintf(d->queue_url, sizeof(d->queue_url), "%s",
	         str_or_empty(json_string_value(json_object_get(j, "QueueUrl"))));
	json_decref(j);
	free(r.body);
	d->queue_found = d->queue_url[0] != '\0';
}

/* Asks on the terminal; true when the answer is "yes". */
static bool confirmed(FILE *in, FILE *out)
{
	char line[64];

	fprintf(out, "Type yes to delete: ");
	fflush(out);
	if (fgets(line, sizeof(line), in) == NULL)
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, "yes") == 0;
}

/* Deletes one table and waits until it is gone. */
static void delete_table(struct deprov *d, const char *what, const char *t)
{
	struct txp_aws_reply r;
	time_t until = time(NULL) + GONE_WAIT_S;
	bool gone = false;

	dp_call_json(d, TXP_AWS_DYNAMODB, "DeleteTable", json_pack("{s:s}", "TableName", t), &r);
	if (r.kind != TXP_AWS_OK && strcmp(r.code, "ResourceNotFoundException") != 0) {
		dp_failed(d, what, "DeleteTable", &r);
		free(r.body);
		return;
	}
	free(r.body);
	/* DeleteTable returns while the table is DELETING: wait, so that a
	 * provision run right after does not find it still there. */
	while (!gone && time(NULL) < until) {
		struct timespec ts = { 0, GONE_POLL_NS };
		dp_call_json(d, TXP_AWS_DYNAMODB, "DescribeTable", json_pack("{s:s}", "TableName", t), &r);
		gone = strcmp(r.code, "ResourceNotFoundException") == 0;
		free(r.body);
		if (!gone)
			nanosleep(&ts, NULL);
	}
	if (gone) {
		fprintf(d->out, "%s %s: deleted\n", what, t);
	} else {
		d->failures++;
		fprintf(d->out, "%s %s: failed: still there %d s after DeleteTable\n", what, t, GONE_WAIT_S);
	}
}

static void delete_all(struct deprov *d)
{
	struct txp_aws_reply r;

	for (size_t i = 0; i < d->n_subs; i++) {
		struct txp_sbuf f = { 0 };
		txp_aws_query_add(&f, "SubscriptionArn", d->subs[i]);
		dp_call_form(d, "Unsubscribe", &f, &r);
		if (r.kind == TXP_AWS_OK || strcmp(r.code, "NotFound") == 0)
			fprintf(d->out, "subscription %s: deleted\n", d->subs[i]);
		else
			dp_failed(d, "subscription", "Unsubscribe", &r);
		free(r.body);
	}
	if (d->topic_found) {
		struct txp_sbuf f = { 0 };
		txp_aws_query_add(&f, "TopicArn", d->cfg->sns.topic_arn);
		dp_call_form(d, "DeleteTopic", &f, &r);
		if (r.kind == TXP_AWS_OK)
			fprintf(d->out, "topic %s: deleted\n", d->topic_name);
		else
			dp_failed(d, "topic", "DeleteTopic", &r);
		free(r.body);
	}
	if (d->queue_found) {
		dp_call_json(d, TXP_AWS_SQS, "DeleteQueue", json_pack("{s:s}", "QueueUrl", d->queue_url), &r);
		if (r.kind == TXP_AWS_OK)
			fprintf(d->out, "queue %s: deleted\n", d->queue_name);
		else
			dp_failed(d, "queue", "DeleteQueue", &r);
		free(r.body);
	}
	if (d->table_found)
		delete_table(d, "table", d->cfg->dynamodb.table);
	if (d->fleet_found)
		delete_table(d, "fleet table", d->cfg->fleet.table);
}

int txp_deprovision_run(const char *config_path, const struct txp_deprovision_options *o, FILE *in, FILE *out,
                        FILE *err)
{
	struct deprov d = { .out = out };
	struct txp_config cfg;
	struct txp_aws_settings settings;
	char msg[2048];
	int status = EX_CONFIG;

	if (txp_config_load(&cfg, config_path, msg, sizeof(msg)) != 0) {
		fprintf(err, "txpipectl: %s\n", msg);
		goto out_config;
	}
	d.cfg = &cfg;
	txp_aws_settings_from_config(&cfg, &settings);
	if (txp_aws_settings_check(&settings, msg, sizeof(msg)) != 0) {
		fprintf(err, "txpipectl: %s: %s\n", config_path, msg);
		goto out_config;
	}
	txp_log_setup(TXP_LOG_WARNING, (enum txp_log_format)cfg.log.format);
	if (txp_aws_session_open(&d.s, &settings, msg, sizeof(msg)) != 0) {
		fprintf(err, "txpipectl: %s\n", msg);
		status = EX_UNAVAILABLE;
		goto out_config;
	}
	survey_table(&d);
	survey_fleet_table(&d);
	survey_topic(&d);
	survey_queue(&d);
	if (d.failures > 0) {
		fprintf(err, "txpipectl: deprovision: nothing deleted: the resources could not all be looked up\n");
		status = EX_UNAVAILABLE;
		goto out_session;
	}
	if (!d.table_found && !d.fleet_found && !d.topic_found && !d.queue_found) {
		fprintf(out, "nothing to delete\n");
		status = EX_OK;
		goto out_session;
	}
	fprintf(out, "to delete:\n");
	if (d.table_found)
		fprintf(out, "  table %s (%s)%s\n", cfg.dynamodb.table, d.table_arn,
		        d.table_has_items ? ", holding items" : ", empty");
	if (d.fleet_found)
		fprintf(out, "  fleet table %s (%s)\n", cfg.fleet.table, d.fleet_arn);
	for (size_t i = 0; i < d.n_subs; i++)
		fprintf(out, "  subscription %s\n", d.subs[i]);
	if (d.n_pending > 0)
		fprintf(out, "  %zu subscription(s) pending confirmation, removed with the topic\n", d.n_pending);
	if (d.topic_found)
		fprintf(out, "  topic %s\n", cfg.sns.topic_arn);
	if (d.queue_found)
		fprintf(out, "  queue %s\n", d.queue_url);
	fflush(out);
	if (d.table_has_items && !o->delete_data) {
		fprintf(err,
		        "txpipectl: deprovision: table %s holds items (stored decisions); give --delete-data to delete "
		        "them with it. Nothing was deleted.\n",
		        cfg.dynamodb.table);
		status = EX_NOPERM;
		goto out_session;
	}
	if (!o->yes) {
		if (!o->interactive) {
			fprintf(err, "txpipectl: deprovision: not asking on a non-terminal input; give --yes to delete "
			             "without asking. Nothing was deleted.\n");
			status = EX_USAGE;
			goto out_session;
		}
		if (!confirmed(in, out)) {
			fprintf(err, "txpipectl: deprovision: cancelled, nothing was deleted\n");
			status = 1;
			goto out_session;
		}
	}
	delete_all(&d);
	status = d.failures > 0 ? 1 : EX_OK;
out_session:
	for (size_t i = 0; i < d.n_subs; i++)
		free(d.subs[i]);
	txp_aws_session_close(d.s);
out_config:
	txp_config_free(&cfg);
	return status;
}
