/* query.h: the one form encoder of the AWS query protocol ("Name=v&Attributes.entry.1.key=k"), for SNS. */
#ifndef TXPIPE_AWS_QUERY_H
#define TXPIPE_AWS_QUERY_H

#include <stddef.h>

#include "txpipe/sbuf.h"

/*
 * Appends "name=value" to a form body held in `b` (see sbuf.h: zero-
 * initialise it, check b->oom or txp_sbuf_finish() once at the end), with
 * "&" before it when the body is not empty.  Names and values are
 * percent-encoded the SigV4 way (RFC 3986 unreserved characters kept,
 * everything else %XY, txp_sbuf_urlencn), so the body is signed as sent.
 * Returns 0, -EINVAL for a NULL or empty name or a NULL value, or -ENOMEM
 * when the buffer is (now) out of memory.
 */
int txp_aws_query_add(struct txp_sbuf *b, const char *name, const char *value);
/* The same with a value of `value_len` bytes (it may hold NUL bytes). */
int txp_aws_query_addn(struct txp_sbuf *b, const char *name, const char *value, size_t value_len);
/* The same with a printf-formatted name, for indexed members
 * ("PublishBatchRequestEntries.member.%zu.Id"); -EINVAL when the name
 * exceeds 255 bytes. */
int txp_aws_query_addf(struct txp_sbuf *b, const char *value, const char *name_fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
