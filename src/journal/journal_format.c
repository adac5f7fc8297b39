/* journal_format.c: the journal's pure record codec, segment scanner and ACCEPTED payload codec. */
#include "txpipe/journal.h"
#include "txpipe/le.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/*
 * Checksum choice: CRC-32C rather than a cryptographic hash.  The journal
 * guards against torn writes, bit rot and stale blocks on a local disk,
 * not against an attacker who can write the file (who could recompute any
 * unkeyed hash).  CRC-32C detects every burst error up to 32 bits and every
 * error of up to 5 bits in records far longer than ours (Koopman's tables
 * for 0x1EDC6F41), costs a table lookup per byte, and is what iSCSI, ext4
 * metadata and SCTP use for the same job.  A truncated BLAKE2b would cost
 * more per byte and detect nothing more that matters here.
 */

/* Table for the reflected Castagnoli polynomial 0x82F63B78, built once. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

#if defined(__x86_64__) && defined(__GNUC__)
/* SSE4.2's CRC32 instruction computes exactly CRC-32C (Intel SDM, vol. 2A,
 * "CRC32"), eight bytes per instruction. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v)); /* little-endian on x86 */
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ UINT32_C(0x82F63B78) : c >> 1;
		crc_table[0][i] = c;
	}
	/* Slicing-by-8 tables: crc_table[k][i] is the CRC of byte i followed
	 * by k zero bytes, so eight bytes are folded per step. */
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t txp_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo =
		        crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
		      crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		      crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t txp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* The loop thread and the writer both checksum; pthread_once orders
	 * the table's construction (and the CPU check) before any use. */
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__) && defined(__GNUC__)
	if (crc_hw)
		return crc32c_sse42(crc, buf, len);
#endif
	return txp_crc32c_portable(crc, buf, len);
}

/* The checksum skips its own field (bytes 12-15). */
static uint32_t record_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	uint32_t c = txp_crc32c(0, hdr, 12);

	c = txp_crc32c(c, hdr + 16, TXP_JOURNAL_HEADER_BYTES - 16);
	return txp_crc32c(c, payload, len);
}

void txp_journal_record_encode(uint8_t *buf, enum txp_journal_type type, uint64_t seq, const void *payload,
                               uint32_t len)
{
	txp_le_put32(buf, TXP_JOURNAL_MAGIC);
	txp_le_put16(buf + 4, (uint16_t)type);
	txp_le_put16(buf + 6, 0);
	txp_le_put32(buf + 8, len);
	txp_le_put32(buf + 12, 0);
	txp_le_put64(buf + 16, seq);
	/* Callers may have built the payload in place already. */
	if (len > 0 && payload != buf + TXP_JOURNAL_HEADER_BYTES)
		memcpy(buf + TXP_JOURNAL_HEADER_BYTES, payload, len);
	txp_le_put32(buf + 12, record_crc(buf, buf + TXP_JOURNAL_HEADER_BYTES, len));
}

const char *txp_journal_damage_name(enum txp_journal_damage d)
{
	switch (d) {
	case TXP_JOURNAL_OK:
		return "ok";
	case TXP_JOURNAL_TRUNCATED:
		return "truncated";
	case TXP_JOURNAL_BAD_MAGIC:
		return "bad_magic";
	case TXP_JOURNAL_BAD_LENGTH:
		return "bad_length";
	case TXP_JOURNAL_BAD_CHECKSUM:
		return "bad_checksum";
	case TXP_JOURNAL_BAD_TYPE:
		return "bad_type";
	case TXP_JOURNAL_BAD_SEQ:
		return "bad_seq";
	case TXP_JOURNAL_BAD_PAYLOAD:
		return "bad_payload";
	}
	return "unknown";
}

enum txp_journal_damage txp_journal_record_decode(const uint8_t *buf, size_t avail, struct txp_journal_record *rec)
{
	uint32_t len;

	/* The order matters for what a scan reports: a short header cannot
	 * be judged, then the cheap structural checks, then the checksum,
	 * and only a record that passed it is judged on its meaning. */
	if (avail < 4)
		return TXP_JOURNAL_TRUNCATED;
	if (txp_le_get32(buf) != TXP_JOURNAL_MAGIC)
		return TXP_JOURNAL_BAD_MAGIC;
	if (avail < TXP_JOURNAL_HEADER_BYTES)
		return TXP_JOURNAL_TRUNCATED;
	len = txp_le_get32(buf + 8);
	if (len > TXP_JOURNAL_MAX_PAYLOAD)
		return TXP_JOURNAL_BAD_LENGTH;
	if (avail - TXP_JOURNAL_HEADER_BYTES < len)
		return TXP_JOURNAL_TRUNCATED;
	if (txp_le_get32(buf + 12) != record_crc(buf, buf + TXP_JOURNAL_HEADER_BYTES, len))
		return TXP_JOURNAL_BAD_CHECKSUM;
	rec->type = txp_le_get16(buf + 4);
	rec->flags = txp_le_get16(buf + 6);
	rec->seq = txp_le_get64(buf + 16);
	rec->payload = buf + TXP_JOURNAL_HEADER_BYTES;
	rec->len = len;
	if (rec->flags != 0)
		return TXP_JOURNAL_BAD_TYPE;
	switch (rec->type) {
	case TXP_JOURNAL_ACCEPTED: {
		struct txp_journal_accepted a;

		if (txp_journal_accepted_decode(rec->payload, len, &a) != 0)
			return TXP_JOURNAL_BAD_PAYLOAD;
		break;
	}
	case TXP_JOURNAL_DELIVERED:
		if (len == 0 || len % 8 != 0)
			return TXP_JOURNAL_BAD_PAYLOAD;
		break;
	default:
		return TXP_JOURNAL_BAD_TYPE;
	}
	return TXP_JOURNAL_OK;
}

/*
 * After a damaged record at `from`, the offset of the next record that can
 * be trusted, or 0 when none can (the damage runs to the end: a torn tail).
 * A magic number alone proves nothing (a payload may hold those four
 * bytes), so a candidate must also pass its checksum and decode, and its
 * sequence number must be consistent with what it replaces: not below
 * `expect` (numbers only grow), under `end_seq`, and no further ahead than
 * the skipped bytes could have held records (each is at least a header).
 */
static size_t resync(const uint8_t *buf, size_t len, size_t from, uint64_t expect, uint64_t end_seq)
{
	for (size_t off = from + 1; off + TXP_JOURNAL_HEADER_BYTES <= len; off++) {
		struct txp_journal_record rec;

		if (txp_le_get32(buf + off) != TXP_JOURNAL_MAGIC ||
		    txp_journal_record_decode(buf + off, len - off, &rec) != TXP_JOURNAL_OK)
			continue;
		if (rec.seq >= expect && rec.seq < end_seq &&
		    rec.seq - expect <= (off - from) / TXP_JOURNAL_HEADER_BYTES)
			return off;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	/* A record starts with a nonzero magic: one nonzero byte shows first. */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

void txp_journal_scan(const uint8_t *buf, size_t len, uint64_t first_seq, uint64_t end_seq, txp_journal_scan_fn fn,
                      void *arg, struct txp_journal_scan_result *out)
{
	uint64_t expect = first_seq;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	while (off < len) {
		struct txp_journal_record rec;
		enum txp_journal_damage d = txp_journal_record_decode(buf + off, len - off, &rec);

		if (d == TXP_JOURNAL_OK && (rec.seq != expect || rec.seq >= end_seq))
			d = TXP_JOURNAL_BAD_SEQ;
		if (d != TXP_JOURNAL_OK) {
			size_t next;

			if (all_zero(buf + off, len - off))
				break; /* the unused end of a preallocated segment */
			next = resync(buf, len, off, expect, end_seq);

			if (next == 0) {
				out->stop = d; /* nothing valid after it: a torn tail */
				break;
			}
			/* Damage in the middle: skip it, keep what follows. */
			if (out->holes++ == 0) {
				out->first_hole = off;
				out->hole_reason = d;
			}
			out->skipped_bytes += next - off;
			out->skipped_seqs += txp_le_get64(buf + next + 16) - expect;
			expect = txp_le_get64(buf + next + 16);
			off = next;
			continue;
		}
		if (fn != NULL) {
			int rc = fn(arg, &rec, off);

			if (rc != 0) {
				out->cb_error = rc;
				break;
			}
		}
		off += txp_journal_record_size(rec.len);
		out->valid_bytes = off;
		out->records++;
		out->last_seq = rec.seq;
		expect = rec.seq + 1;
	}
}

/*
 * ACCEPTED payload, version 2:
 *   u8 version, u8 flags (bit 0: amount_usd_known), 3 bytes currency,
 *   i64 received_ms, i64 amount, i64 amount_usd,
 *   then three strings (customer_key, merchant_id, card_token) and the
 *   record (bytes, see record.h), each a u32 length, the bytes and a NUL.
 * Version 1 held the DynamoDB item and alert JSON in place of the record;
 * it never left development, so it is not read.
 */
#define ACCEPTED_VERSION 2
#define ACCEPTED_FIXED (2 + 3 + 3 * 8)
#define ACCEPTED_FIELDS 4
#define ACCEPTED_STRINGS 3 /* the first three fields; the record is bytes */
#define ACCEPTED_USD_KNOWN 0x01

static void accepted_fields(const struct txp_journal_accepted *a, const void *s[ACCEPTED_FIELDS],
                            uint32_t n[ACCEPTED_FIELDS])
{
	s[0] = a->customer_key;
	n[0] = a->customer_key_len;
	s[1] = a->merchant_id;
	n[1] = a->merchant_id_len;
	s[2] = a->card_token;
	n[2] = a->card_token_len;
	s[3] = a->record;
	n[3] = a->record_len;
}

size_t txp_journal_accepted_size(const struct txp_journal_accepted *a)
{
	const void *s[ACCEPTED_FIELDS];
	uint32_t n[ACCEPTED_FIELDS];
	uint64_t total = ACCEPTED_FIXED;

	/* What the decoder would refuse is not written either. */
	if (a->received_ms < 0 || a->received_ms > TXP_JOURNAL_MAX_WALL_MS)
		return 0;
	accepted_fields(a, s, n);
	for (int i = 0; i < ACCEPTED_FIELDS; i++) {
		if (n[i] > 0 && (s[i] == NULL || (i < ACCEPTED_STRINGS && memchr(s[i], '\0', n[i]) != NULL)))
			return 0;
		total += 4 + (uint64_t)n[i] + 1;
	}
	return total > TXP_JOURNAL_MAX_PAYLOAD ? 0 : (size_t)total;
}

size_t txp_journal_accepted_encode(const struct txp_journal_accepted *a, uint8_t *buf, size_t cap)
{
	const void *s[ACCEPTED_FIELDS];
	uint32_t n[ACCEPTED_FIELDS];
	size_t need = txp_journal_accepted_size(a), off;

	if (need == 0 || need > cap)
		return 0;
	buf[0] = ACCEPTED_VERSION;
	buf[1] = a->amount_usd_known ? ACCEPTED_USD_KNOWN : 0;
	memset(buf + 2, 0, 3);
	memcpy(buf + 2, a->currency, strnlen(a->currency, 3));
	txp_le_put64(buf + 5, (uint64_t)a->received_ms);
	txp_le_put64(buf + 13, (uint64_t)a->amount);
	txp_le_put64(buf + 21, (uint64_t)a->amount_usd);
	off = ACCEPTED_FIXED;
	accepted_fields(a, s, n);
	for (int i = 0; i < ACCEPTED_FIELDS; i++) {
		txp_le_put32(buf + off, n[i]);
		off += 4;
		if (n[i] > 0)
			memcpy(buf + off, s[i], n[i]);
		off += n[i];
		buf[off++] = '\0';
	}
	return off;
}

int txp_journal_accepted_decode(const uint8_t *payload, size_t len, struct txp_journal_accepted *a)
{
	const char **s[ACCEPTED_STRINGS] = { &a->customer_key, &a->merchant_id, &a->card_token };
	uint32_t *n[ACCEPTED_FIELDS] = { &a->customer_key_len, &a->merchant_id_len, &a->card_token_len,
		                         &a->record_len };
	size_t off = ACCEPTED_FIXED;

	memset(a, 0, sizeof(*a));
	if (len < ACCEPTED_FIXED || payload[0] != ACCEPTED_VERSION || (payload[1] & ~ACCEPTED_USD_KNOWN) != 0)
		return -EINVAL;
	a->amount_usd_known = (payload[1] & ACCEPTED_USD_KNOWN) != 0;
	memcpy(a->currency, payload + 2, 3);
	a->currency[3] = '\0';
	if (memchr(a->currency, '\0', 3) != NULL && strlen(a->currency) != 0)
		return -EINVAL;
	a->received_ms = (int64_t)txp_le_get64(payload + 5);
	/* No clock of ours reads this: replay would overflow computing ages
	 * and decision times from it. */
	if (a->received_ms < 0 || a->received_ms > TXP_JOURNAL_MAX_WALL_MS)
		return -EINVAL;
	a->amount = (int64_t)txp_le_get64(payload + 13);
	a->amount_usd = (int64_t)txp_le_get64(payload + 21);
	for (int i = 0; i < ACCEPTED_FIELDS; i++) {
		uint32_t sl;

		if (len - off < 4)
			return -EINVAL;
		sl = txp_le_get32(payload + off);
		off += 4;
		if (len - off < (size_t)sl + 1 || payload[off + sl] != '\0' ||
		    (i < ACCEPTED_STRINGS && memchr(payload + off, '\0', sl) != NULL))
			return -EINVAL;
		if (i < ACCEPTED_STRINGS)
			*s[i] = (const char *)payload + off;
		else
			a->record = payload + off;
		*n[i] = sl;
		off += (size_t)sl + 1;
	}
	return off == len ? 0 : -EINVAL;
}
