/* query.c: the one form encoder of the AWS query protocol ("Name=v&Attributes.entry.1.key=k"), for SNS. */
#include "txpipe/aws/query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int txp_aws_query_addn(struct txp_sbuf *b, const char *name, const char *value, size_t value_len)
{
	if (b == NULL || name == NULL || name[0] == '\0' || (value == NULL && value_len > 0))
		return -EINVAL;
	if (b->len > 0)
		txp_sbuf_raw(b, "&", 1);
	txp_sbuf_urlenc(b, name);
	txp_sbuf_raw(b, "=", 1);
	txp_sbuf_urlencn(b, value != NULL ? value : "", value_len);
	return b->oom ? -ENOMEM : 0;
}

int txp_aws_query_add(struct txp_sbuf *b, const char *name, const char *value)
{
	if (value == NULL)
		return -EINVAL;
	return txp_aws_query_addn(b, name, value, strlen(value));
}

int txp_aws_query_addf(struct txp_sbuf *b, const char *value, const char *name_fmt, ...)
{
	char name[256];
	va_list ap;
	int n;

	va_start(ap, name_fmt);
	n = vsnprintf(name, sizeof(name), name_fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(name))
		return -EINVAL;
	return txp_aws_query_add(b, name, value);
}
