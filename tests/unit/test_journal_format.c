/* test_journal_format.c: CRC-32C vectors, record and payload codecs, the scanner's damage detection. */
#include "txpipe/journal.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3720 appendix B.4 gives the CRC-32C of four 32-byte buffers; the
 * "123456789" check value is the catalogue's (CRC-32/ISCSI). */
START_TEST(crc32c_matches_rfc3720_test_vectors)
{
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(txp_crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(txp_crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(txp_crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(txp_crc32c(0, buf, sizeof(buf)), 0x113FDB5Cu);
	ck_assert_uint_eq(txp_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(txp_crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(crc32c_portable_and_hardware_paths_agree)
{
	uint8_t buf[1031];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	ck_assert_uint_eq(txp_crc32c_portable(0, "123456789", 9), 0xE3069283u);
	/* Every length and alignment the eight-byte steps can meet. */
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 1 + len / 7)
			ck_assert_uint_eq(txp_crc32c(7, buf + off, len), txp_crc32c_portable(7, buf + off, len));
}
END_TEST

START_TEST(crc32c_continues_across_split_buffers)
{
	uint8_t buf[100];

	for (int i = 0; i < 100; i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t cut = 0; cut <= sizeof(buf); cut++)
		ck_assert_uint_eq(txp_crc32c(txp_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut),
		                  txp_crc32c(0, buf, sizeof(buf)));
}
END_TEST

static struct txp_journal_accepted sample(int n, char *item, size_t itemlen)
{
	struct txp_journal_accepted a = {
		.received_ms = 1764000000000 + n,
		.amount = 12345 + n,
		.amount_usd_known = n % 2 == 0,
		.amount_usd = 13000 + n,
		.currency = "EUR",
		.customer_key = "0123456789abcdef0123456789abcdef",
		.customer_key_len = 32,
		.merchant_id = "m-42",
		.merchant_id_len = 4,
		.card_token = "",
		.card_token_len = 0,
	};

	/* The record is opaque bytes to the journal, NULs included. */
	memset(item, 0, itemlen);
	snprintf(item, itemlen, "rec-%d", n);
	a.record_len = (uint32_t)strlen(item) + 3;
	a.record = (const uint8_t *)item;
	return a;
}

START_TEST(accepted_payload_round_trips)
{
	char item[64];
	struct txp_journal_accepted a = sample(3, item, sizeof(item)), b;
	uint8_t buf[512];
	size_t n = txp_journal_accepted_encode(&a, buf, sizeof(buf));

	ck_assert_uint_eq(n, txp_journal_accepted_size(&a));
	ck_assert_int_eq(txp_journal_accepted_decode(buf, n, &b), 0);
	ck_assert_int_eq(b.received_ms, a.received_ms);
	ck_assert_int_eq(b.amount, a.amount);
	ck_assert(b.amount_usd_known == a.amount_usd_known);
	ck_assert_int_eq(b.amount_usd, a.amount_usd);
	ck_assert_str_eq(b.currency, "EUR");
	ck_assert_str_eq(b.customer_key, a.customer_key);
	ck_assert_str_eq(b.merchant_id, "m-42");
	ck_assert_str_eq(b.card_token, "");
	ck_assert_uint_eq(b.record_len, a.record_len);
	ck_assert_mem_eq(b.record, item, a.record_len);

	/* Every shorter prefix, and a trailing byte, are refused. */
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_ne(txp_journal_accepted_decode(buf, cut, &b), 0);
	buf[n] = 0;
	ck_assert_int_ne(txp_journal_accepted_decode(buf, n + 1, &b), 0);
	/* Too small a buffer writes nothing. */
	ck_assert_uint_eq(txp_journal_accepted_encode(&a, buf, n - 1), 0);
}
END_TEST

START_TEST(accepted_payload_refuses_embedded_nul_and_unknown_version)
{
	char item[64];
	struct txp_journal_accepted a = sample(1, item, sizeof(item)), b;
	uint8_t buf[512];
	size_t n;

	a.merchant_id = "m\0x";
	a.merchant_id_len = 3;
	ck_assert_uint_eq(txp_journal_accepted_size(&a), 0);
	a.merchant_id_len = 1;
	n = txp_journal_accepted_encode(&a, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(txp_journal_accepted_decode(buf, n, &b), 0);
	buf[0] = 1; /* version 1 kept JSON in place of the record */
	ck_assert_int_ne(txp_journal_accepted_decode(buf, n, &b), 0);
}
END_TEST

/* A wall clock no daemon could have read (before 1970, after 9999) is not
 * a record of ours: replay would overflow computing ages and decision
 * times from it (found by tests/fuzz/fuzz_journal). */
START_TEST(accepted_payload_refuses_a_wall_clock_outside_1970_to_9999)
{
	static const int64_t bad[] = { -1, TXP_JOURNAL_MAX_WALL_MS + 1, INT64_MAX, INT64_MIN };
	char item[64];
	struct txp_journal_accepted a = sample(2, item, sizeof(item)), b;
	uint8_t buf[512];
	size_t n;

	a.received_ms = TXP_JOURNAL_MAX_WALL_MS;
	n = txp_journal_accepted_encode(&a, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(txp_journal_accepted_decode(buf, n, &b), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Neither written nor read. */
		a.received_ms = bad[i];
		ck_assert_uint_eq(txp_journal_accepted_size(&a), 0);
		for (int k = 0; k < 8; k++)
			buf[5 + k] = (uint8_t)((uint64_t)bad[i] >> (8 * k));
		ck_assert_int_eq(txp_journal_accepted_decode(buf, n, &b), -EINVAL);
	}
}
END_TEST

START_TEST(record_codec_round_trips_both_types)
{
	char item[64];
	struct txp_journal_accepted a = sample(7, item, sizeof(item));
	uint8_t payload[512], rec[600], dl[16];
	struct txp_journal_record r;
	size_t n = txp_journal_accepted_encode(&a, payload, sizeof(payload));

	txp_journal_record_encode(rec, TXP_JOURNAL_ACCEPTED, 99, payload, (uint32_t)n);
	ck_assert_int_eq(txp_journal_record_decode(rec, txp_journal_record_size(n), &r), TXP_JOURNAL_OK);
	ck_assert_uint_eq(r.type, TXP_JOURNAL_ACCEPTED);
	ck_assert_uint_eq(r.seq, 99);
	ck_assert_uint_eq(r.len, n);
	ck_assert_mem_eq(r.payload, payload, n);
	/* Little-endian on disk, whatever the host. */
	ck_assert_uint_eq(rec[0], 'T');
	ck_assert_uint_eq(rec[3], 'J');
	ck_assert_uint_eq(rec[16], 99);

	memset(dl, 0, sizeof(dl));
	dl[0] = 5;
	dl[8] = 6;
	txp_journal_record_encode(rec, TXP_JOURNAL_DELIVERED, 100, dl, sizeof(dl));
	ck_assert_int_eq(txp_journal_record_decode(rec, txp_journal_record_size(sizeof(dl)), &r), TXP_JOURNAL_OK);
	ck_assert_uint_eq(r.type, TXP_JOURNAL_DELIVERED);
	ck_assert_uint_eq(r.len, 16);

	/* A DELIVERED payload that is not whole u64s, an unknown type. */
	txp_journal_record_encode(rec, TXP_JOURNAL_DELIVERED, 100, dl, 12);
	ck_assert_int_eq(txp_journal_record_decode(rec, txp_journal_record_size(12), &r), TXP_JOURNAL_BAD_PAYLOAD);
	txp_journal_record_encode(rec, (enum txp_journal_type)9, 100, dl, 8);
	ck_assert_int_eq(txp_journal_record_decode(rec, txp_journal_record_size(8), &r), TXP_JOURNAL_BAD_TYPE);
	txp_journal_record_encode(rec, TXP_JOURNAL_DELIVERED, 100, dl, 8);
	rec[8] = 0xff; /* length 0xff...: over the maximum */
	rec[9] = rec[10] = rec[11] = 0xff;
	ck_assert_int_eq(txp_journal_record_decode(rec, sizeof(rec), &r), TXP_JOURNAL_BAD_LENGTH);
}
END_TEST

/* A small segment: five records, first sequence number 10. */
struct segment {
	uint8_t buf[4096];
	size_t len;
	size_t ends[8]; /* end offset of each record */
	int n;
};

static void build_segment(struct segment *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 5; i++) {
		uint8_t payload[512];
		size_t n;

		if (i % 2 == 0) {
			char item[64];
			struct txp_journal_accepted a = sample(i, item, sizeof(item));

			n = txp_journal_accepted_encode(&a, payload, sizeof(payload));
			txp_journal_record_encode(s->buf + s->len, TXP_JOURNAL_ACCEPTED, 10 + (uint64_t)i, payload,
			                          (uint32_t)n);
		} else {
			memset(payload, 0, 8);
			payload[0] = (uint8_t)(9 + i);
			n = 8;
			txp_journal_record_encode(s->buf + s->len, TXP_JOURNAL_DELIVERED, 10 + (uint64_t)i, payload, 8);
		}
		s->len += txp_journal_record_size(n);
		s->ends[s->n++] = s->len;
	}
}

static int count_cb(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	int *n = arg;

	(void)rec;
	(void)offset;
	(*n)++;
	return 0;
}

START_TEST(scanner_reads_a_clean_segment)
{
	struct segment s;
	struct txp_journal_scan_result res;
	int n = 0;

	build_segment(&s);
	txp_journal_scan(s.buf, s.len, 10, UINT64_MAX, count_cb, &n, &res);
	ck_assert_int_eq(res.stop, TXP_JOURNAL_OK);
	ck_assert_uint_eq(res.valid_bytes, s.len);
	ck_assert_uint_eq(res.records, 5);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(res.last_seq, 14);
	txp_journal_scan(s.buf, 0, 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_eq(res.stop, TXP_JOURNAL_OK);
	ck_assert_uint_eq(res.valid_bytes, 0);
}
END_TEST

START_TEST(scanner_takes_a_zero_tail_for_the_unused_end_of_a_preallocated_segment)
{
	struct segment s;
	struct txp_journal_scan_result res;

	build_segment(&s); /* buf is zeroed past s.len */
	txp_journal_scan(s.buf, sizeof(s.buf), 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_eq(res.stop, TXP_JOURNAL_OK);
	ck_assert_uint_eq(res.valid_bytes, s.len);
	ck_assert_uint_eq(res.records, 5);
	ck_assert_uint_eq(res.holes, 0);
	/* One byte of anything in the zeros is a torn write, not free space. */
	s.buf[sizeof(s.buf) - 1] = 1;
	txp_journal_scan(s.buf, sizeof(s.buf), 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_ne(res.stop, TXP_JOURNAL_OK);
	ck_assert_uint_eq(res.valid_bytes, s.len);
	s.buf[sizeof(s.buf) - 1] = 0;
	s.buf[s.len] = 1;
	txp_journal_scan(s.buf, sizeof(s.buf), 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_ne(res.stop, TXP_JOURNAL_OK);
	ck_assert_uint_eq(res.records, 5);
}
END_TEST

START_TEST(scanner_stops_at_a_truncated_record_at_every_byte_offset)
{
	struct segment s;

	build_segment(&s);
	for (size_t cut = 0; cut <= s.len; cut++) {
		struct txp_journal_scan_result res;
		size_t want = 0;
		int whole = 0;

		for (int i = 0; i < s.n; i++)
			if (s.ends[i] <= cut) {
				want = s.ends[i];
				whole = i + 1;
			}
		txp_journal_scan(s.buf, cut, 10, UINT64_MAX, NULL, NULL, &res);
		ck_assert_msg(res.valid_bytes == want, "cut %zu: valid %zu, want %zu", cut, res.valid_bytes, want);
		ck_assert_uint_eq(res.records, (size_t)whole);
		ck_assert_int_eq(res.stop, cut == want ? TXP_JOURNAL_OK : TXP_JOURNAL_TRUNCATED);
	}
}
END_TEST

START_TEST(scanner_detects_every_flipped_header_bit_and_payload_bits)
{
	struct segment s;
	size_t start, end;

	build_segment(&s);
	/* The third record (an ACCEPTED one): every header bit, every
	 * payload bit. */
	start = s.ends[1];
	end = s.ends[2];
	for (size_t bit = 0; bit < (end - start) * 8; bit++) {
		struct txp_journal_scan_result res;
		uint8_t copy[sizeof(s.buf)];

		memcpy(copy, s.buf, s.len);
		copy[start + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		txp_journal_scan(copy, s.len, 10, UINT64_MAX, NULL, NULL, &res);
		/* Skipped, and the two records after it kept. */
		ck_assert_msg(res.holes == 1 && res.first_hole == start, "bit %zu: holes %zu at %zu", bit, res.holes,
		              res.first_hole);
		ck_assert_msg(res.skipped_bytes == end - start && res.skipped_seqs == 1 && res.valid_bytes == s.len,
		              "bit %zu: skipped %zu bytes, %" PRIu64 " records; valid %zu", bit, res.skipped_bytes,
		              res.skipped_seqs, res.valid_bytes);
		ck_assert_int_eq(res.stop, TXP_JOURNAL_OK);
		ck_assert_uint_eq(res.records, 4);
		ck_assert_uint_eq(res.last_seq, 14);
	}
	/* And a DELIVERED record's. */
	start = s.ends[2];
	end = s.ends[3];
	for (size_t bit = 0; bit < (end - start) * 8; bit++) {
		struct txp_journal_scan_result res;
		uint8_t copy[sizeof(s.buf)];

		memcpy(copy, s.buf, s.len);
		copy[start + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		txp_journal_scan(copy, s.len, 10, UINT64_MAX, NULL, NULL, &res);
		ck_assert_uint_eq(res.holes, 1);
		ck_assert_uint_eq(res.skipped_seqs, 1);
		ck_assert_uint_eq(res.records, 4);
		ck_assert_uint_eq(res.valid_bytes, s.len);
	}
	/* The last record: nothing follows, so it is a torn tail, not a hole. */
	start = s.ends[3];
	for (size_t bit = 0; bit < (s.len - start) * 8; bit += 7) {
		struct txp_journal_scan_result res;
		uint8_t copy[sizeof(s.buf)];

		memcpy(copy, s.buf, s.len);
		copy[start + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		txp_journal_scan(copy, s.len, 10, UINT64_MAX, NULL, NULL, &res);
		ck_assert_uint_eq(res.holes, 0);
		ck_assert_uint_eq(res.valid_bytes, start);
		ck_assert_int_ne(res.stop, TXP_JOURNAL_OK);
	}
}
END_TEST

/* A record whose payload holds a complete, valid record: after damage to
 * its own header, the scan must not resynchronise on the inner one unless
 * its sequence number fits. */
static size_t segment_with_inner_record(uint8_t *buf, uint64_t inner_seq, size_t *second)
{
	uint8_t inner[64], payload[512];
	char item[256];
	struct txp_journal_accepted a = sample(0, item, sizeof(item));
	size_t n, len = 0;

	txp_journal_record_encode(inner, TXP_JOURNAL_DELIVERED, inner_seq, "\x01\0\0\0\0\0\0\0", 8);
	a.record = inner;
	a.record_len = (uint32_t)txp_journal_record_size(8);
	n = txp_journal_accepted_encode(&a, payload, sizeof(payload));
	ck_assert_uint_gt(n, 0);
	txp_journal_record_encode(buf, TXP_JOURNAL_ACCEPTED, 10, payload, (uint32_t)n);
	len += txp_journal_record_size(n);
	*second = len;
	txp_journal_record_encode(buf + len, TXP_JOURNAL_DELIVERED, 11, "\x0a\0\0\0\0\0\0\0", 8);
	len += txp_journal_record_size(8);
	return len;
}

START_TEST(scanner_does_not_resynchronise_on_a_record_inside_a_payload)
{
	struct txp_journal_scan_result res;
	uint8_t buf[1024];
	size_t second, len;

	/* Sequence number far ahead of what the skipped bytes could hold. */
	len = segment_with_inner_record(buf, 500, &second);
	buf[6] ^= 1; /* flags of record 10: checksum fails */
	txp_journal_scan(buf, len, 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_uint_eq(res.holes, 1);
	ck_assert_uint_eq(res.skipped_bytes, second);
	ck_assert_uint_eq(res.records, 1);
	ck_assert_uint_eq(res.last_seq, 11);
	/* Sequence number below the expected one: numbers only grow. */
	len = segment_with_inner_record(buf, 9, &second);
	buf[6] ^= 1;
	txp_journal_scan(buf, len, 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_uint_eq(res.skipped_bytes, second);
	ck_assert_uint_eq(res.records, 1);
	/* Nor at or past the next segment's first sequence number. */
	len = segment_with_inner_record(buf, 11, &second);
	buf[6] ^= 1;
	txp_journal_scan(buf, len, 10, 11, NULL, NULL, &res);
	ck_assert_uint_eq(res.holes, 0);
	ck_assert_uint_eq(res.records, 0);
	ck_assert_int_eq(res.stop, TXP_JOURNAL_BAD_CHECKSUM);
}
END_TEST

START_TEST(scanner_requires_contiguous_sequence_numbers_below_the_bound)
{
	struct segment s;
	struct txp_journal_scan_result res;

	build_segment(&s);
	/* A stale record before the first sequence number: skipped. */
	txp_journal_scan(s.buf, s.len, 11, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_eq(res.hole_reason, TXP_JOURNAL_BAD_SEQ);
	ck_assert_uint_eq(res.skipped_bytes, s.ends[0]);
	ck_assert_uint_eq(res.skipped_seqs, 0);
	ck_assert_uint_eq(res.records, 4);
	/* Every record out of sequence: nothing valid. */
	txp_journal_scan(s.buf, s.len, 20, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_eq(res.stop, TXP_JOURNAL_BAD_SEQ);
	ck_assert_uint_eq(res.valid_bytes, 0);
	/* The next segment starts at 13: records 13 and 14 are stale copies. */
	txp_journal_scan(s.buf, s.len, 10, 13, NULL, NULL, &res);
	ck_assert_int_eq(res.stop, TXP_JOURNAL_BAD_SEQ);
	ck_assert_uint_eq(res.valid_bytes, s.ends[2]);
	ck_assert_uint_eq(res.last_seq, 12);
	/* Garbage where a record should start. */
	s.buf[s.ends[0]] ^= 0x40;
	txp_journal_scan(s.buf, s.len, 10, UINT64_MAX, NULL, NULL, &res);
	ck_assert_int_eq(res.hole_reason, TXP_JOURNAL_BAD_MAGIC);
	ck_assert_uint_eq(res.first_hole, s.ends[0]);
	ck_assert_uint_eq(res.skipped_bytes, s.ends[1] - s.ends[0]);
	ck_assert_uint_eq(res.records, 4);
	ck_assert_str_eq(txp_journal_damage_name(res.hole_reason), "bad_magic");
}
END_TEST

static int stop_cb(void *arg, const struct txp_journal_record *rec, size_t offset)
{
	(void)arg;
	(void)offset;
	return rec->seq == 12 ? -12 : 0;
}

START_TEST(scanner_stops_when_the_callback_fails)
{
	struct segment s;
	struct txp_journal_scan_result res;

	build_segment(&s);
	txp_journal_scan(s.buf, s.len, 10, UINT64_MAX, stop_cb, NULL, &res);
	ck_assert_int_eq(res.cb_error, -12);
	ck_assert_uint_eq(res.records, 2);
	ck_assert_uint_eq(res.valid_bytes, s.ends[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal_format");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, crc32c_matches_rfc3720_test_vectors);
	tcase_add_test(tc, crc32c_continues_across_split_buffers);
	tcase_add_test(tc, crc32c_portable_and_hardware_paths_agree);
	tcase_add_test(tc, accepted_payload_round_trips);
	tcase_add_test(tc, accepted_payload_refuses_embedded_nul_and_unknown_version);
	tcase_add_test(tc, accepted_payload_refuses_a_wall_clock_outside_1970_to_9999);
	tcase_add_test(tc, record_codec_round_trips_both_types);
	tcase_add_test(tc, scanner_reads_a_clean_segment);
	tcase_add_test(tc, scanner_takes_a_zero_tail_for_the_unused_end_of_a_preallocated_segment);
	tcase_add_test(tc, scanner_stops_at_a_truncated_record_at_every_byte_offset);
	tcase_add_test(tc, scanner_detects_every_flipped_header_bit_and_payload_bits);
	tcase_add_test(tc, scanner_does_not_resynchronise_on_a_record_inside_a_payload);
	tcase_add_test(tc, scanner_requires_contiguous_sequence_numbers_below_the_bound);
	tcase_add_test(tc, scanner_stops_when_the_callback_fails);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
