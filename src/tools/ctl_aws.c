/* ctl_aws.c: txpipectl's commands that talk to AWS: get (DynamoDB), dlq list and redrive (SQS), deprovision. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "txpipe/aws/dynamodb.h"
#include "txpipe/aws/ops.h"
#include "txpipe/aws/provision.h"
#include "txpipe/aws/settings.h"
#include "txpipe/config.h"
#include "txpipe/item.h"

#include "ctl_int.h"

static int load_config(struct ctl *ctl, struct txp_config *cfg)
{
	char err[2048];

	if (txp_config_load(cfg, ctl->config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: %s\n", err);
		txp_config_free(cfg);
		return EX_CONFIG;
	}
	return EX_OK;
}

/* Prints a plain (unmarshalled) value on one line: maps as "k=v, k=v",
 * lists and sets comma-separated, strings as they are. */
static void print_plain(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
	} else if (json_is_object(v)) {
		bool first = true;
		json_object_foreach ((json_t *)v, k, x) {
			printf("%s%s=", first ? "" : ", ", k);
			print_plain(x);
			first = false;
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, x) {
			if (i > 0)
				fputs(", ", stdout);
			print_plain(x);
		}
	} else {
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		fputs(text != NULL ? text : "?", stdout);
		free(text);
	}
}

/* The amount in major units, exactly ("12.34 USD" for 1234 at exponent 2). */
static void print_amount(const json_t *item)
{
	json_t *a = json_object_get(item, "amount"), *e = json_object_get(item, "currency_exponent");
	const char *cur = json_string_value(json_object_get(item, "currency"));
	long long minor = json_integer_value(a), unit = 1;
	int exp = (int)json_integer_value(e);

	if (!json_is_integer(a) || !json_is_integer(e) || exp < 0 || exp > 4) {
		print_plain(a);
		return;
	}
	for (int i = 0; i < exp; i++)
		unit *= 10;
	if (exp == 0)
		printf("%lld %s", minor, ctl__str_or(cur, ""));
	else
		printf("%s%lld.%0*lld %s", minor < 0 ? "-" : "", llabs(minor / unit), exp, llabs(minor % unit),
		       ctl__str_or(cur, ""));
}

/*
 * The stored record readably: one "name: value" line per attribute, the
 * decision first, then the money, the parties, the card, the context, the
 * audit fields; an attribute this list does not know is shown after them,
 * so a newer daemon's record still prints whole.  --json prints the plain
 * JSON instead.
 */
static void print_record(const json_t *item)
{
	static const char *const order[] = { "transaction_id",
		                             "status",
		                             "risk_score",
		                             "reasons",
		                             "error_code",
		                             "error_field",
		                             "error_message",
		                             "amount",
		                             "amount_usd_cents",
		                             "merchant_id",
		                             "merchant_country",
		                             "customer_pseudonym",
		                             "customer_country",
		                             "card_bin",
		                             "card_last4",
		                             "card_token",
		                             "channel",
		                             "mcc",
		                             "kyc",
		                             "ip_pseudonym",
		                             "device_pseudonym",
		                             "customer_name_pseudonym",
		                             "counterparty_name_pseudonym",
		                             "beneficiary_name_pseudonym",
		                             "sanctions_match",
		                             "compliance_flags",
		                             "fraud_severity",
		                             "compliance_severity",
		                             "event_time",
		                             "received_at",
		                             "stage_us",
		                             "rules_version",
		                             "daemon_version",
		                             "expires_at" };
	const char *k;
	json_t *v;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		v = json_object_get(item, order[i]);
		if (v == NULL)
			continue;
		printf("%-20s ", order[i]);
		if (strcmp(order[i], "amount") == 0)
			print_amount(item);
		else
			print_plain(v);
		putchar('\n');
	}
	json_object_foreach ((json_t *)item, k, v) {
		bool known = strcmp(k, "currency") == 0 || strcmp(k, "currency_exponent") == 0;
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && !known; i++)
			known = strcmp(k, order[i]) == 0;
		if (known)
			continue;
		printf("%-20s ", k);
		print_plain(v);
		putchar('\n');
	}
}

/* Prints the stored record of one transaction, read consistently. */
int ctl__get(struct ctl *ctl, int argc, char **argv)
{
	struct txp_config cfg;
	struct txp_aws_settings settings;
	json_t *req, *resp = NULL, *item, *plain;
	char *body, err[1024];
	const char *id;
	bool as_json = false;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--json") == 0) {
		as_json = true;
		id = argv[2];
	} else if (argc == 2) {
		id = argv[1];
	} else {
		fprintf(stderr, "txpipectl: get takes [--json] TRANSACTION_ID\n");
		return EX_USAGE;
	}
	if ((rc = load_config(ctl, &cfg)) != EX_OK)
		return rc;
	req = json_pack("{s:s,s:{s:{s:s}},s:b}", "TableName", cfg.dynamodb.table, "Key", "transaction_id", "S", id,
	                "ConsistentRead", 1);
	body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	txp_aws_settings_from_config(&cfg, &settings);
	rc = body != NULL ? txp_aws_call_sync(&settings, TXP_AWS_DYNAMODB, "GetItem", body, &resp, err, sizeof(err))
	                  : -ENOMEM;
	free(body);
	txp_config_free(&cfg);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: get: %s\n", rc == -ENOMEM ? "out of memory" : err);
		return EX_UNAVAILABLE;
	}
	item = json_object_get(resp, "Item");
	if (item == NULL) {
		fprintf(stderr, "txpipectl: get: no record for %s\n", id);
		json_decref(resp);
		return 1;
	}
	/* Under the documented names, whichever layout stored it. */
	plain = txp_ddb_unmarshal(item);
	if (plain != NULL) {
		json_t *readable = txp_item_readable(plain);
		json_decref(plain);
		plain = readable;
	}
	if (as_json || plain == NULL) {
		json_dumpf(plain != NULL ? plain : item, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		print_record(plain);
	}
	json_decref(plain);
	json_decref(resp);
	return EX_OK;
}

/* Builds a JSON request body (consumes `req`); NULL on no memory. */
static char *json_body(json_t *req)
{
	char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;

	json_decref(req);
	return body;
}

/* One SQS call; prints the error and returns NULL on failure. */
static json_t *sqs_call(const struct txp_config *cfg, const char *op, json_t *req)
{
	struct txp_aws_settings settings;
	char *body = json_body(req), err[1024];
	json_t *resp = NULL;
	int rc;

	txp_aws_settings_from_config(cfg, &settings);
	rc = body != NULL ? txp_aws_call_sync(&settings, TXP_AWS_SQS, op, body, &resp, err, sizeof(err)) : -ENOMEM;

	free(body);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: %s: %s\n", op, rc == -ENOMEM ? "out of memory" : err);
		return NULL;
	}
	return resp != NULL ? resp : json_object();
}

/* Receives up to 10 dead-lettered messages, hidden for `visibility` s. */
static json_t *dlq_receive(const struct txp_config *cfg, int visibility)
{
	return sqs_call(cfg, "ReceiveMessage",
	                json_pack("{s:s,s:i,s:i,s:i}", "QueueUrl", cfg->sqs.queue_url, "MaxNumberOfMessages", 10,
	                          "VisibilityTimeout", visibility, "WaitTimeSeconds", 1));
}

static void dlq_print(const json_t *msg)
{
	json_t *b = json_loads(json_string_value(json_object_get(msg, "Body")), 0, NULL);
	const char *failed = json_string_value(json_object_get(b, "failed"));
	const char *alert_type = json_string_value(json_object_get(b, "alert_type"));

	printf("%s  %-24s %s%s%s  %s after %lld attempt(s): %s\n",
	       ctl__str_or(json_string_value(json_object_get(b, "dead_lettered_at")), "-"),
	       ctl__str_or(json_string_value(json_object_get(b, "transaction_id")), "-"), ctl__str_or(failed, "?"),
	       alert_type ? "/" : "", ctl__str_or(alert_type, ""),
	       ctl__str_or(json_string_value(json_object_get(b, "error_code")), "-"),
	       (long long)json_integer_value(json_object_get(b, "attempts")),
	       ctl__str_or(json_string_value(json_object_get(b, "error_message")), ""));
	json_decref(b);
}

static int dlq_redrive(struct ctl *ctl, const struct txp_config *cfg, long max)
{
	long done = 0, failed = 0;
	char *path;
	int fd, exit_code = EX_OK;

	path = ctl__resolve_socket(ctl, &exit_code);
	if (path == NULL)
		return exit_code;
	fd = ctl__connect_socket(path);
	free(path);
	if (fd < 0)
		return EX_UNAVAILABLE;
	while (done + failed < max) {
		/* Hidden for a minute while we hand them over: a message the
		 * daemon refuses comes back by itself. */
		json_t *resp = dlq_receive(cfg, 60), *msgs, *m;
		size_t i;
		if (resp == NULL) {
			exit_code = EX_UNAVAILABLE;
			break;
		}
		msgs = json_object_get(resp, "Messages");
		if (json_array_size(msgs) == 0) {
			json_decref(resp);
			break;
		}
		json_array_foreach (msgs, i, m) {
			json_t *body = json_loads(json_string_value(json_object_get(m, "Body")), 0, NULL);
			char *line = json_body(json_pack("{s:s,s:o*}", "command", "redeliver", "message", body));
			json_t *reply = line != NULL ? ctl__control_on(fd, line) : NULL;
			const char *st = json_string_value(json_object_get(reply, "status"));
			free(line);
			if (st != NULL && strcmp(st, "ok") == 0) {
				json_t *del =
				        sqs_call(cfg, "DeleteMessage",
				                 json_pack("{s:s,s:s}", "QueueUrl", cfg->sqs.queue_url, "ReceiptHandle",
				                           json_string_value(json_object_get(m, "ReceiptHandle"))));
				if (del != NULL) {
					done++;
					printf("redriven: ");
					dlq_print(m);
				} else {
					failed++;
				}
				json_decref(del);
			} else {
				const char *why =
				        json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
				fprintf(stderr, "txpipectl: redrive refused: %s\n",
				        why != NULL ? why : "no reply from the daemon");
				failed++;
			}
			json_decref(reply);
		}
		json_decref(resp);
		if (failed > 0)
			break;
	}
	close(fd);
	printf("%ld redriven, %ld left in the queue after failures\n", done, failed);
	return exit_code != EX_OK ? exit_code : failed > 0 ? 1 : EX_OK;
}

int ctl__dlq(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "max", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 } };
	struct txp_config cfg;
	long max = 100;
	int c, rc;

	optind = 2;
	while ((c = getopt_long(argc, argv, "+m:", opts, NULL)) != -1) {
		if (c != 'm' || (max = strtol(optarg, NULL, 10)) <= 0) {
			fprintf(stderr, "txpipectl: dlq --max takes a positive number\n");
			return EX_USAGE;
		}
	}
	if (argc < 2 || optind != argc || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "redrive") != 0)) {
		fprintf(stderr, "txpipectl: dlq list|redrive [--max N]\n");
		return EX_USAGE;
	}
	if ((rc = load_config(ctl, &cfg)) != EX_OK)
		return rc;
	if (cfg.sqs.queue_url[0] == '\0') {
		fprintf(stderr, "txpipectl: [sqs] queue_url is not set in %s\n", ctl->config_path);
		txp_config_free(&cfg);
		return EX_CONFIG;
	}
	if (strcmp(argv[1], "redrive") == 0) {
		rc = dlq_redrive(ctl, &cfg, max);
	} else {
		json_t *attrs = sqs_call(&cfg, "GetQueueAttributes",
		                         json_pack("{s:s,s:[s]}", "QueueUrl", cfg.sqs.queue_url, "AttributeNames",
		                                   "ApproximateNumberOfMessages"));
		json_t *seen = json_object();
		long shown = 0;
		int idle_rounds = 0;
		rc = attrs != NULL ? EX_OK : EX_UNAVAILABLE;
		if (attrs != NULL)
			printf("%s: about %s message(s)\n", cfg.sqs.queue_url,
			       ctl__str_or(json_string_value(json_object_get(json_object_get(attrs, "Attributes"),
			                                                     "ApproximateNumberOfMessages")),
			                   "?"));
		json_decref(attrs);
		/* Receiving is the only way to read SQS.  With a visibility
		 * timeout of 0 nothing is hidden from the daemon or a redrive;
		 * the same message may come back, so they are told apart by
		 * MessageId, and listing stops after three rounds that show
		 * nothing new: on a large queue this is a sample (the count
		 * above is SQS's own). */
		while (rc == EX_OK && shown < max && idle_rounds < 3) {
			json_t *resp = dlq_receive(&cfg, 0), *m;
			size_t i;
			bool fresh = false;
			if (resp == NULL) {
				rc = EX_UNAVAILABLE;
				break;
			}
			if (json_array_size(json_object_get(resp, "Messages")) == 0) {
				json_decref(resp);
				break;
			}
			json_array_foreach (json_object_get(resp, "Messages"), i, m) {
				const char *mid = json_string_value(json_object_get(m, "MessageId"));
				if (mid == NULL || json_object_get(seen, mid) != NULL || shown >= max)
					continue;
				json_object_set_new(seen, mid, json_true());
				fresh = true;
				shown++;
				dlq_print(m);
			}
			idle_rounds = fresh ? 0 : idle_rounds + 1;
			json_decref(resp);
		}
		json_decref(seen);
	}
	txp_config_free(&cfg);
	return rc;
}

int ctl__deprovision(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "yes", no_argument, NULL, 'y' },
		                              { "delete-data", no_argument, NULL, 'D' },
		                              { NULL, 0, NULL, 0 } };
	struct txp_deprovision_options o = { .interactive = isatty(STDIN_FILENO) == 1 };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+y", opts, NULL)) != -1) {
		if (c == 'y') {
			o.yes = true;
		} else if (c == 'D') {
			o.delete_data = true;
		} else {
			ctl__usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "txpipectl: deprovision takes only --yes and --delete-data\n");
		return EX_USAGE;
	}
	return txp_deprovision_run(ctl->config_path, &o, stdin, stdout, stderr);
}
