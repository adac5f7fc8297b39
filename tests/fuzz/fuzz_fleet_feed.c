/* fuzz_fleet_feed.c: libFuzzer harness for what the fleet reads from DynamoDB: feed items in base64, feed keys, the members item. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/base64.h"
#include "txpipe/fleet.h"
#include "txpipe/sbuf.h"

#include "fuzz.h"

static void each(void *arg, const struct txp_fleet_event *ev)
{
	uint8_t again[TXP_FLEET_EVENT_BYTES];
	struct txp_fleet_event back;

	/* Property: whatever decodes encodes to bytes that decode alike. */
	txp_fleet_event_encode(ev, again);
	FUZZ_ASSERT(txp_fleet_event_decode(again, &back) == 0);
	FUZZ_ASSERT(memcmp(&back, ev, sizeof(back)) == 0);
	(*(int *)arg)++;
}

/* Properties of the items' base64: any bytes encode and decode back; what
 * decodes is the one spelling that encodes to it. */
static void base64_round_trip(const uint8_t *data, size_t size)
{
	struct txp_sbuf b = { 0 };
	uint8_t *bin = malloc(size + 1);
	size_t n;

	if (bin == NULL)
		return;
	txp_sbuf_base64(&b, data, size);
	if (!b.oom && size > 0) {
		FUZZ_ASSERT(b.len == TXP_BASE64_LEN(size));
		FUZZ_ASSERT(txp_base64_decode(b.p, b.len, bin, size, &n) == 0 && n == size);
		FUZZ_ASSERT(memcmp(bin, data, size) == 0);
	}
	txp_sbuf_free(&b);
	if (txp_base64_decode((const char *)data, size, bin, size, &n) == 0) {
		struct txp_sbuf again = { 0 };
		txp_sbuf_base64(&again, bin, n);
		FUZZ_ASSERT(again.oom || (again.len == size && (size == 0 || memcmp(again.p, data, size) == 0)));
		txp_sbuf_free(&again);
	}
	free(bin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_fleet_member m[8];
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	uint64_t seq;
	size_t skipped;
	int n = 0, rc;

	base64_round_trip(data, size);
	rc = txp_fleet_item_decode(data, size, each, &n);
	FUZZ_ASSERT(rc == -EINVAL || rc == n);
	if (txp_fleet_feed_key_parse((const char *)data, size, id, &seq) == 0)
		FUZZ_ASSERT(txp_fleet_instance_id_valid(id));
	rc = txp_fleet_members_parse((const char *)data, size, m, 8, &skipped);
	FUZZ_ASSERT(rc == -EINVAL || (rc >= 0 && rc <= 8));
	for (int i = 0; i < rc; i++)
		FUZZ_ASSERT(txp_fleet_instance_id_valid(m[i].id) && m[i].last + 1 >= m[i].first);
	return 0;
}
