/* fuzz_imds.c: libFuzzer harness for the EC2 instance metadata (IMDSv2) responses: the role list and the credentials document. */
#include <string.h>

#include "txpipe/aws/credentials.h"

#include "fuzz.h"

#define ROLE_CAP 65

/*
 * Properties: a role comes back only as IAM role-name characters; a
 * credentials document gives credentials only with a non-empty key id and
 * secret, and a refusal always says why.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_aws_creds *c = NULL;
	char role[ROLE_CAP], why[200];
	int rc;

	rc = txp_creds_imds_parse_role((const char *)data, size, role, sizeof(role));
	FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -EPROTO);
	if (rc == 0) {
		FUZZ_ASSERT(role[0] != '\0' && strlen(role) < sizeof(role));
		FUZZ_ASSERT(strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-") ==
		            strlen(role));
	}

	why[0] = '\0';
	rc = txp_creds_imds_parse_creds((const char *)data, size, &c, why, sizeof(why));
	if (rc == 0) {
		FUZZ_ASSERT(c != NULL && c->access_key_id[0] != '\0' && c->secret_access_key[0] != '\0');
		txp_aws_creds_free(c);
	} else {
		FUZZ_ASSERT(c == NULL && (rc == -EPROTO || rc == -ENOMEM) && why[0] != '\0');
		FUZZ_ASSERT(memchr(why, '\0', sizeof(why)) != NULL);
	}
	return 0;
}
