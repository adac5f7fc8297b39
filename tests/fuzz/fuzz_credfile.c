/* fuzz_credfile.c: libFuzzer harness for the AWS shared credentials file reader (profile sections, INI). */
#include <string.h>

#include "txpipe/aws/credentials.h"

#include "fuzz.h"

static char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

/*
 * The input is the credentials file, read for the profiles "default" and
 * "prod".  Properties: the provider is created exactly when the file reads
 * (a refusal names the file), and the credentials it serves, if any, have
 * a non-empty key id and secret.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const profiles[] = { "default", "prod" };
	const char *path = fuzz_memfd_path(data, size);

	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		struct txp_creds_options opts = { .getenv_fn = no_env,
			                          .profile = profiles[i],
			                          .credentials_file = path };
		struct txp_creds_provider *p = NULL;
		const struct txp_aws_creds *c;
		char err[512];
		int rc;

		err[0] = '\0';
		rc = txp_creds_file_create(&opts, &p, err, sizeof(err));
		if (rc < 0) {
			FUZZ_ASSERT(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
			continue;
		}
		FUZZ_ASSERT(p != NULL);
		c = txp_creds_current(p);
		if (c != NULL)
			FUZZ_ASSERT(c->access_key_id[0] != '\0' && c->secret_access_key[0] != '\0');
		FUZZ_ASSERT(strcmp(txp_creds_source(p), c != NULL ? "shared-credentials-file" : "none") == 0);
		txp_creds_close(p, NULL, NULL);
	}
	return 0;
}
