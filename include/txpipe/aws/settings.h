/* settings.h: the AWS client's settings taken from txpiped.ini, the one place that knows both. */
#ifndef TXPIPE_AWS_SETTINGS_H
#define TXPIPE_AWS_SETTINGS_H

#include "txpipe/aws/client.h"
#include "txpipe/config.h"

/*
 * Fills *out from the [aws] section and the endpoint keys of [dynamodb],
 * [sns] and [sqs].  The strings in *out point into cfg: keep cfg alive
 * until txp_aws_client_create() returns (the client copies what it keeps).
 */
void txp_aws_settings_from_config(const struct txp_config *cfg, struct txp_aws_settings *out);

/* Resolves every service's endpoint from `st` (region, endpoint URLs):
 * 0, or -EINVAL with "[service] endpoint: why" in err.  Pure. */
int txp_aws_settings_check(const struct txp_aws_settings *st, char *err, size_t errlen);

#endif
