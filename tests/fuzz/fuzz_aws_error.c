/* fuzz_aws_error.c: libFuzzer harness for AWS error responses: the error-type header, JSON __type and XML <Code>. */
#include <string.h>

#include "txpipe/aws/client.h"
#include "txpipe/aws/error.h"

#include "fuzz.h"

/*
 * The first line of the input is the x-amzn-ErrorType header (empty: none),
 * the rest the response body.  Properties: code and message always come
 * back NUL-terminated inside their buffers, the message without control
 * characters, the code without '#' or ':' (txp_aws_error_code() shortened
 * it); the result is 0 exactly when a code was found; every code the
 * parser returns classifies without crashing.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl != NULL ? (size_t)(nl - data) : 0;
	const char *body = nl != NULL ? (const char *)nl + 1 : (const char *)data;
	size_t body_len = nl != NULL ? size - hlen - 1 : size;
	char *header = fuzz_strndup(data, hlen);
	char code[64], message[256], small[4], one[1];
	int rc;

	rc = txp_aws_parse_error(header, body, body_len, code, sizeof(code), message, sizeof(message));
	FUZZ_ASSERT(memchr(code, '\0', sizeof(code)) != NULL && memchr(message, '\0', sizeof(message)) != NULL);
	FUZZ_ASSERT((rc == 0) == (code[0] != '\0'));
	FUZZ_ASSERT(rc == 0 || rc == -ENOENT);
	FUZZ_ASSERT(strchr(code, '#') == NULL && strchr(code, ':') == NULL);
	for (const char *m = message; *m != '\0'; m++)
		FUZZ_ASSERT((unsigned char)*m >= 0x20 && *m != 0x7f);
	for (long status = 200; status <= 600; status += 100)
		(void)txp_aws_classify(status == 600 ? 429 : status, code, 0);
	/* Tiny and empty buffers. */
	(void)txp_aws_parse_error(header, body, body_len, small, sizeof(small), one, sizeof(one));
	FUZZ_ASSERT(memchr(small, '\0', sizeof(small)) != NULL && one[0] == '\0');
	(void)txp_aws_parse_error(header, body, body_len, NULL, 0, NULL, 0);

	/* The header alone through the short-code extractor. */
	rc = txp_aws_error_code(header, code, sizeof(code));
	FUZZ_ASSERT(rc == -ENOSPC ? code[0] == '\0' : (rc >= 0 && (size_t)rc == strlen(code)));
	free(header);
	return 0;
}
