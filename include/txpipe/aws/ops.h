/* ops.h: one-shot AWS calls for txpipectl's operator commands (get, dlq). */
#ifndef TXPIPE_AWS_OPS_H
#define TXPIPE_AWS_OPS_H

#include <stddef.h>

#include <jansson.h>

#include "txpipe/aws/client.h"
#include "txpipe/config.h"

/*
 * Converts a DynamoDB item in AttributeValue form ({"a":{"S":"x"},
 * "n":{"N":"12"}}) to plain JSON ({"a":"x","n":12}).  Numbers stay exact:
 * integers that fit int64 become JSON integers, anything else stays the
 * string DynamoDB sent.  Returns a new reference, or NULL on a value of an
 * unknown shape.
 */
json_t *txp_ddb_unmarshal(const json_t *item);

/*
 * Runs one call to completion on a private loop with a client built from
 * `cfg`.  On success returns 0 and *response (parsed JSON body, caller
 * decrefs; NULL for an empty body); on failure a negative errno with the
 * AWS code and message in err.
 */
int txp_aws_call_sync(const struct txp_config *cfg, enum txp_aws_service svc, const char *op, const char *body,
                      json_t **response, char *err, size_t errlen);

#endif
