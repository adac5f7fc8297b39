/* fuzz_journal.c: libFuzzer harness for the journal record decoder: segment scan, ACCEPTED payload and decided record. */
#include <string.h>

#include "txpipe/delivery.h"
#include "txpipe/item.h"
#include "txpipe/journal.h"
#include "txpipe/record.h"
#include "txpipe/txn.h"

#include "fuzz.h"

/*
 * What a restart does with an ACCEPTED record (txpiped's replay): decode
 * the decided transaction, rebuild its item, alerts and reply.  Property:
 * a record that decodes re-encodes to bytes that decode and re-encode to
 * the same bytes (the format has one spelling per transaction).
 */
static void replay_accepted(const struct txp_journal_accepted *a)
{
	static uint8_t enc1[TXP_RECORD_MAX], enc2[TXP_RECORD_MAX];
	char version[TXP_RECORD_VERSION_MAX + 1], version2[TXP_RECORD_VERSION_MAX + 1];
	struct txp_journal_accepted again = *a;
	struct txp_txn *t = txp_txn_new(), *t2 = txp_txn_new();
	size_t n1, n2;

	if (t == NULL || t2 == NULL)
		abort();
	if (txp_record_decode(a, t, version) == 0) {
		n1 = txp_record_encode(t, version, enc1, sizeof(enc1));
		FUZZ_ASSERT(n1 > 0);
		again.record = enc1;
		again.record_len = (uint32_t)n1;
		FUZZ_ASSERT(txp_record_decode(&again, t2, version2) == 0);
		FUZZ_ASSERT(strcmp(version, version2) == 0);
		n2 = txp_record_encode(t2, version2, enc2, sizeof(enc2));
		FUZZ_ASSERT(n1 == n2 && memcmp(enc1, enc2, n1) == 0);
		FUZZ_ASSERT(txp_item_build(t, version) == 0);
		FUZZ_ASSERT(txp_txn_build_reply(t) == 0);
	}
	/* Reason codes point into the record: drop them before freeing. */
	t->n_reasons = 0;
	t2->n_reasons = 0;
	txp_txn_free(t);
	txp_txn_free(t2);
}

static int on_record(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	struct txp_journal_accepted a;

	(void)arg;
	(void)offset;
	if (rec->type == TXP_JOURNAL_ACCEPTED) {
		/* The scan already checked that the payload decodes. */
		FUZZ_ASSERT(txp_journal_accepted_decode(rec->payload, rec->len, &a) == 0);
		replay_accepted(&a);
	}
	return 0;
}

/*
 * The first byte picks what the rest is: 0, a segment as read from disk;
 * 1 or 2, the payload of an ACCEPTED or DELIVERED record, framed here with
 * a valid header and checksum so the fuzzer reaches the payload decoders
 * (it cannot forge CRC-32C).  Properties: a scan's valid prefix lies inside
 * the buffer and rescanning it alone finds the same records, cleanly.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_journal_scan_result r, again;
	uint8_t *buf;
	size_t len;

	if (size < 1 || size - 1 > TXP_JOURNAL_MAX_PAYLOAD)
		return 0;
	switch (data[0] % 3) {
	case 0:
		len = size - 1;
		buf = malloc(len > 0 ? len : 1);
		if (buf == NULL)
			abort();
		memcpy(buf, data + 1, len);
		break;
	default:
		len = txp_journal_record_size(size - 1);
		buf = malloc(len);
		if (buf == NULL)
			abort();
		txp_journal_record_encode(buf, data[0] % 3 == 1 ? TXP_JOURNAL_ACCEPTED : TXP_JOURNAL_DELIVERED, 1,
		                          data + 1, (uint32_t)(size - 1));
		break;
	}
	txp_journal_scan(buf, len, 1, UINT64_MAX, on_record, NULL, &r);
	FUZZ_ASSERT(r.valid_bytes <= len);
	FUZZ_ASSERT((r.records == 0) == (r.last_seq == 0));
	/* A clean stop reads everything, or everything but a zero tail (the
	 * unused end of a preallocated segment). */
	if (r.stop == TXP_JOURNAL_OK)
		for (size_t i = r.valid_bytes; i < len; i++)
			FUZZ_ASSERT(buf[i] == 0);
	txp_journal_scan(buf, r.valid_bytes, 1, UINT64_MAX, NULL, NULL, &again);
	FUZZ_ASSERT(again.stop == TXP_JOURNAL_OK && again.records == r.records && again.valid_bytes == r.valid_bytes);
	(void)txp_journal_damage_name(r.stop);
	free(buf);
	return 0;
}
