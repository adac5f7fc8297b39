/* dynamodb.h: DynamoDB request bodies and response reading (JSON 1.0 protocol, pure). */
#ifndef TXPIPE_AWS_DYNAMODB_H
#define TXPIPE_AWS_DYNAMODB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Request bodies return a malloc'd buffer the caller frees and its length
 * in *len, or NULL when out of memory. */

/* DynamoDB BatchWriteItem (JSON 1.0): one PutRequest per item; `items`
 * are AttributeValue maps as built by txp_item_build(). */
char *txp_ddb_batch_body(const char *table, const char *const *items, const uint32_t *lens, size_t n, size_t *len);

/*
 * Reads a BatchWriteItem response and calls `found(arg, id)` with the
 * transaction_id of every put left in UnprocessedItems for `table`.
 * Returns how many there were, or -EINVAL when the body is not such a
 * response.
 */
int txp_ddb_unprocessed(const char *body, size_t body_len, const char *table, void (*found)(void *arg, const char *id),
                        void *arg);

/*
 * Converts a DynamoDB item in AttributeValue form ({"a":{"S":"x"},
 * "n":{"N":"12"}}) to plain JSON ({"a":"x","n":12}).  Numbers stay exact:
 * integers that fit int64 become JSON integers, anything else stays the
 * string DynamoDB sent.  Returns a new reference, or NULL on a value of an
 * unknown shape.
 */
json_t *txp_ddb_unmarshal(const json_t *item);

#endif
