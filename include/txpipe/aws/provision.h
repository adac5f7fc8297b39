/* provision.h: `txpipectl provision` and `deprovision`: create and remove the table, topic and queue txpiped needs. */
#ifndef TXPIPE_AWS_PROVISION_H
#define TXPIPE_AWS_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Reads the daemon's configuration from config_path and, on a loop of its
 * own, creates what is missing and reports what exists:
 *   the [dynamodb] table (partition key transaction_id, on-demand billing,
 *   encryption at rest, point-in-time recovery, TTL on expires_at when
 *   [compliance] retention_days is not 0);
 *   the [sns] topic_arn topic (KMS-encrypted with alias/aws/sns) and, with
 *   [sns] alert_email, an email subscription;
 *   the [sqs] queue_url dead-letter queue (14 days' retention, SSE).
 * One line per resource goes to `out` ("table T: created (...)", "table T:
 * exists", "warning: ..."); a step the endpoint does not implement (point-in-
 * time recovery and TTL on dynalite) is a warning, not a failure.
 * Returns the exit status: 0 (also with warnings), 1 when a resource could
 * not be created or checked, 78 (EX_CONFIG) when the configuration is
 * unusable, with the reason on `err`.  libsodium must be initialised.
 */
int txp_provision_run(const char *config_path, FILE *out, FILE *err);

struct txp_deprovision_options {
	bool yes;         /* delete without asking */
	bool delete_data; /* delete the table also when it holds items */
	bool interactive; /* `in` is a terminal: asking is allowed */
};

/*
 * `txpipectl deprovision`: looks up what provision creates (the table, the
 * topic and its subscriptions, the queue), lists it on `out`, and deletes
 * it after "yes" on `in` (o->interactive) or with o->yes.  A resource that
 * does not exist is reported and skipped.  A table holding items (one
 * counted by a Scan: DescribeTable's ItemCount lags by hours) is deleted only
 * with o->delete_data.  Nothing is deleted unless everything could be looked
 * up.  Returns the exit status: 0 (also "nothing to delete"); 1 a deletion
 * failed or the user did not confirm; 64 (EX_USAGE) confirmation needed but
 * `in` is no terminal; 69 (EX_UNAVAILABLE) a lookup failed; 77 (EX_NOPERM)
 * the table holds items and no delete_data; 78 (EX_CONFIG).  The daemon
 * should be stopped first.
 */
int txp_deprovision_run(const char *config_path, const struct txp_deprovision_options *o, FILE *in, FILE *out,
                        FILE *err);

/* The topic name of an SNS topic ARN (the part after the last ':').
 * Returns 0, or -EINVAL when arn is not "arn:...:name" or the name does not fit. */
int txp_provision_topic_name(const char *arn, char *name, size_t len);

/* The queue name of an SQS queue URL (its last path segment).  Returns 0,
 * or -EINVAL when there is none or it does not fit. */
int txp_provision_queue_name(const char *url, char *name, size_t len);

#endif
