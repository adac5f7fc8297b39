/* ops.h: one-shot AWS calls for txpipectl's operator commands (get, dlq). */
#ifndef TXPIPE_AWS_OPS_H
#define TXPIPE_AWS_OPS_H

#include <stddef.h>

#include <jansson.h>

#include "txpipe/aws/client.h"

/*
 * Runs one call to completion on a private loop with a client built from
 * `settings` (txp_aws_settings_from_config() fills them).  On success
 * returns 0 and *response (parsed JSON body, caller decrefs; NULL for an
 * empty body); on failure a negative errno with the AWS code and message
 * in err.
 */
int txp_aws_call_sync(const struct txp_aws_settings *settings, enum txp_aws_service svc, const char *op,
		      const char *body, json_t **response, char *err, size_t errlen);

#endif
