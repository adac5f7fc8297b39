/* fuzz_ddb_unprocessed.c: libFuzzer harness for the DynamoDB write answers: BatchWriteItem's UnprocessedItems, TransactWriteItems' CancellationReasons. */
#include <stdlib.h>
#include <string.h>

#include "txpipe/aws/dynamodb.h"
#include "txpipe/fleet.h"

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
	/* Property: on success each reason has a code, and a stored item only
	 * where one was given, as a NUL-terminated string of old_len bytes;
	 * on failure nothing is left allocated (ASan's leak check). */
	for (size_t want = 1; want <= 3; want++) {
		struct txp_fleet_cancel why[3];

		if (txp_fleet_cancellations((const char *)data, size, why, want) != 0)
			continue;
		for (size_t i = 0; i < want; i++) {
			FUZZ_ASSERT(strlen(why[i].code) < sizeof(why[i].code));
			FUZZ_ASSERT(why[i].old == NULL || strlen(why[i].old) == why[i].old_len);
			free(why[i].old);
		}
	}
	return 0;
}
