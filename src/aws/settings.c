/* settings.c: the AWS client's settings taken from txpiped.ini, the one place that knows both. */
#include "txpipe/aws/settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* An empty key means "not set": the default applies. */
static const char *or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

void txp_aws_settings_from_config(const struct txp_config *cfg, struct txp_aws_settings *out)
{
	memset(out, 0, sizeof(*out));
	out->region = cfg->aws.region;
	out->endpoint[TXP_AWS_DYNAMODB] = or_null(cfg->dynamodb.endpoint);
	out->endpoint[TXP_AWS_SNS] = or_null(cfg->sns.endpoint);
	out->endpoint[TXP_AWS_SQS] = or_null(cfg->sqs.endpoint);
	out->ca_file = or_null(cfg->aws.ca_file);
	out->max_connections = (long)cfg->aws.max_connections;
	out->connect_timeout_ms = (long)cfg->aws.connect_timeout_ms;
	out->request_timeout_ms = cfg->aws.request_timeout_ms;
	out->creds.profile = cfg->aws.profile;
	out->creds.credentials_file = or_null(cfg->aws.credentials_file);
	out->creds.disable_imds = !cfg->aws.imds;
	out->creds.imds_endpoint = or_null(cfg->aws.imds_endpoint);
}

int txp_aws_settings_check(const struct txp_aws_settings *st, char *err, size_t errlen)
{
	struct txp_aws_endpoint ep;
	char why[512];

	for (int s = 0; s < TXP_AWS_SERVICE_COUNT; s++)
		if (txp_aws_endpoint_resolve((enum txp_aws_service)s, st->region, st->endpoint[s], &ep, why,
		                             sizeof(why)) != 0) {
			snprintf(err, errlen, "[%s] endpoint: %s", txp_aws_service_name((enum txp_aws_service)s), why);
			return -EINVAL;
		}
	return 0;
}
