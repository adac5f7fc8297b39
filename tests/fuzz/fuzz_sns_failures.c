/* fuzz_sns_failures.c: libFuzzer harness for the SNS PublishBatch response reader (XML, Failed members). */
#include <string.h>

#include "txpipe/aws/sns.h"

#include "fuzz.h"

#define MAX_FAILURES 10 /* what delivery passes: PublishBatch takes at most 10 entries */

/* Properties: at most `max` failures; every text NUL-terminated inside
 * its field; ids are e0..e999, so indexes stay below 1000. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_batch_failure f[MAX_FAILURES];
	int n;

	memset(f, 0x55, sizeof(f));
	n = txp_sns_batch_failures((const char *)data, size, f, MAX_FAILURES);
	FUZZ_ASSERT(n == -EINVAL || (n >= 0 && n <= MAX_FAILURES));
	for (int i = 0; i < n; i++) {
		FUZZ_ASSERT(f[i].index < 1000);
		FUZZ_ASSERT(memchr(f[i].code, '\0', sizeof(f[i].code)) != NULL);
		FUZZ_ASSERT(memchr(f[i].message, '\0', sizeof(f[i].message)) != NULL);
	}
	/* A caller with no room must not be written to. */
	n = txp_sns_batch_failures((const char *)data, size, NULL, 0);
	FUZZ_ASSERT(n == -EINVAL || n == 0);
	return 0;
}
