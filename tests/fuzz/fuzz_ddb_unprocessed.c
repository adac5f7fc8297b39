/* fuzz_ddb_unprocessed.c: libFuzzer harness for the DynamoDB BatchWriteItem response reader (UnprocessedItems). */
#include <string.h>

#include "txpipe/aws/dynamodb.h"

#include "fuzz.h"

static int found_count;

static void found(void *arg, const char *id)
{
	FUZZ_ASSERT(arg == &found_count && id != NULL);
	(void)strlen(id);
	found_count++;
}

/* Property: the count returned is the number of ids handed to found(). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tables[] = { "txpipe-transactions", "" };

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		int n;
		found_count = 0;
		n = txp_ddb_unprocessed((const char *)data, size, tables[t], found, &found_count);
		FUZZ_ASSERT(n == -EINVAL || n == found_count);
	}
	return 0;
}
