/* record.c: encode and decode the decided transaction kept in an ACCEPTED journal record (pure). */
#include "txpipe/record.h"

#include <errno.h>
#include <string.h>

#include "txpipe/le.h"

/*
 * Record, version 2, integers little-endian:
 *   offset  0  u8   version
 *   offset  1  u8   status (enum txp_status)
 *   offset  2  u8   flags: REC_SCORED, REC_HAS_ID, REC_HAS_TIMESTAMP, REC_HAS_CARD
 *   offset  3  u8   risk_score
 *   offset  4  u8   fraud_severity, then compliance_severity, currency_exponent,
 *                   channel, kyc, n_reasons (offsets 5-9)
 *   offset 10  u32  alerts, then u32 compliance_flags
 *   offset 18  i64  timestamp_ms, then i64 expires_at
 *   offset 34  u64  t_received, t_validated, t_fraud, t_compliance (monotonic ns)
 *   offset 66  the strings of record_strings() in order, then the daemon
 *              version, then n_reasons reasons; a string is a u8 length,
 *              the bytes and a NUL (so a decoded code can point into the
 *              buffer), a reason is its code as a string and an i32 of points
 *   then       TXP_FINGERPRINT_BYTES of the content fingerprint (dedup.h),
 *              so that a restart still tells a resubmission from a
 *              conflicting reuse of the id.
 *   then       (version 3) the rules version as a string and an i64 of
 *              when those rules were loaded (Unix ms).
 *   then, only when the transaction carried party names, the names
 *              section: u8 REC_NAMES_TAG, u8 name_hit_field, u16
 *              name_hit_score, and the strings name_hit_list,
 *              name_hit_entry and the name_pseud of each name field.  A
 *              record without it decodes with no names; it is kept apart
 *              at the end so that other changes to the record stay separate.
 * Version 1 is the same without the fingerprint; it still decodes, with an
 * unknown (all-zero) fingerprint.  Versions 1 and 2 decode with an empty
 * rules version and a load time of 0.
 */
#define REC_VERSION 3
#define REC_VERSION_FINGERPRINT 2
#define REC_VERSION_NO_FINGERPRINT 1
#define REC_FIXED 66
#define REC_SCORED 0x01
#define REC_HAS_ID 0x02
#define REC_HAS_TIMESTAMP 0x04
#define REC_HAS_CARD 0x08
#define REC_FLAGS (REC_SCORED | REC_HAS_ID | REC_HAS_TIMESTAMP | REC_HAS_CARD)
#define REC_STRINGS 12
#define REC_NAMES_TAG 0x4e /* 'N' */

/* The fixed-size string fields of `t`, with their array sizes. */
static void record_strings(struct txp_txn *t, char *s[REC_STRINGS], size_t cap[REC_STRINGS])
{
	size_t i = 0;

#define FIELD(f)                      \
	do {                          \
		s[i] = (f);           \
		cap[i++] = sizeof(f); \
	} while (0)
	FIELD(t->transaction_id);
	FIELD(t->merchant_country);
	FIELD(t->customer_country);
	FIELD(t->card_bin);
	FIELD(t->card_last4);
	FIELD(t->merchant_category);
	FIELD(t->customer_pseud);
	FIELD(t->ip_pseud);
	FIELD(t->device_pseud);
	FIELD(t->error.code);
	FIELD(t->error.field);
	FIELD(t->error.message);
#undef FIELD
}

/* Appends a string; false when it does not fit or is over 255 bytes. */
static bool put_str(uint8_t *buf, size_t cap, size_t *off, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > UINT8_MAX || cap - *off < n + 2)
		return false;
	buf[(*off)++] = (uint8_t)n;
	if (n > 0)
		memcpy(buf + *off, s, n);
	*off += n;
	buf[(*off)++] = '\0';
	return true;
}

/* Whether the names section is written: a hit or a name's pseudonym. */
static bool has_names(const struct txp_txn *t)
{
	if (t->name_hit_field != 0)
		return true;
	for (int k = 0; k < TXP_NAME_FIELDS; k++)
		if (t->name_pseud[k][0] != '\0')
			return true;
	return false;
}

size_t txp_record_encode(const struct txp_txn *t, const char *version, uint8_t *buf, size_t cap)
{
	char *s[REC_STRINGS];
	size_t scap[REC_STRINGS], off = REC_FIXED;

	if (cap < REC_FIXED)
		return 0;
	buf[0] = REC_VERSION;
	buf[1] = (uint8_t)t->status;
	buf[2] = (uint8_t)((t->scored ? REC_SCORED : 0) | (t->has_id ? REC_HAS_ID : 0) |
	                   (t->has_timestamp ? REC_HAS_TIMESTAMP : 0) | (t->has_card ? REC_HAS_CARD : 0));
	buf[3] = (uint8_t)(t->risk_score < 0 ? 0 : t->risk_score > 100 ? 100 : t->risk_score);
	buf[4] = t->fraud_severity;
	buf[5] = t->compliance_severity;
	buf[6] = t->currency_exponent;
	buf[7] = (uint8_t)t->channel;
	buf[8] = (uint8_t)t->kyc;
	buf[9] = t->n_reasons;
	txp_le_put32(buf + 10, t->alerts);
	txp_le_put32(buf + 14, t->compliance_flags);
	txp_le_put64(buf + 18, (uint64_t)t->timestamp_ms);
	txp_le_put64(buf + 26, (uint64_t)t->expires_at);
	txp_le_put64(buf + 34, t->t_received);
	txp_le_put64(buf + 42, t->t_validated);
	txp_le_put64(buf + 50, t->t_fraud);
	txp_le_put64(buf + 58, t->t_compliance);
	/* record_strings() only reads through these pointers here. */
	record_strings((struct txp_txn *)t, s, scap);
	for (int i = 0; i < REC_STRINGS; i++)
		if (!put_str(buf, cap, &off, s[i]))
			return 0;
	if ((version != NULL && strlen(version) > TXP_RECORD_VERSION_MAX) || !put_str(buf, cap, &off, version))
		return 0;
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (!put_str(buf, cap, &off, t->reasons[i].code) || cap - off < 4)
			return 0;
		txp_le_put32(buf + off, (uint32_t)t->reasons[i].points);
		off += 4;
	}
	if (cap - off < TXP_FINGERPRINT_BYTES)
		return 0;
	memcpy(buf + off, t->fingerprint, TXP_FINGERPRINT_BYTES);
	off += TXP_FINGERPRINT_BYTES;
	if (memchr(t->rules_version, '\0', sizeof(t->rules_version)) == NULL ||
	    !put_str(buf, cap, &off, t->rules_version) || cap - off < 8)
		return 0;
	txp_le_put64(buf + off, (uint64_t)t->rules_loaded_ms);
	off += 8;
	if (has_names(t)) {
		if (cap - off < 4)
			return 0;
		buf[off++] = REC_NAMES_TAG;
		buf[off++] = t->name_hit_field;
		buf[off++] = (uint8_t)(t->name_hit_score & 0xff);
		buf[off++] = (uint8_t)(t->name_hit_score >> 8);
		if (!put_str(buf, cap, &off, t->name_hit_list) || !put_str(buf, cap, &off, t->name_hit_entry))
			return 0;
		for (int k = 0; k < TXP_NAME_FIELDS; k++)
			if (!put_str(buf, cap, &off, t->name_pseud[k]))
				return 0;
	}
	return off;
}

int txp_record_accepted(const struct txp_txn *t, const char *version, uint8_t *buf, size_t cap,
                        struct txp_journal_accepted *a)
{
	memset(a, 0, sizeof(*a));
	a->received_ms = t->received_ms;
	if (t->status == TXP_STATUS_APPROVED || t->status == TXP_STATUS_REVIEW || t->status == TXP_STATUS_DECLINED) {
		/* Only a decision's fields were validated; they are also what a
		 * restart rebuilds the velocity windows from. */
		a->amount = t->amount;
		memcpy(a->currency, t->currency, sizeof(a->currency));
		a->currency[3] = '\0';
		a->amount_usd_known = t->amount_usd_known;
		a->amount_usd = t->amount_usd;
		a->customer_key = t->customer_key;
		a->customer_key_len = (uint32_t)strlen(t->customer_key);
		a->merchant_id = t->merchant_id;
		a->merchant_id_len = (uint32_t)strlen(t->merchant_id);
		if (t->has_card) {
			a->card_token = t->card_token;
			a->card_token_len = (uint32_t)strlen(t->card_token);
		}
	}
	a->record = buf;
	a->record_len = (uint32_t)txp_record_encode(t, version, buf, cap);
	return a->record_len > 0 ? 0 : -EINVAL;
}

/* The next string: points at it inside `p` and sets its length; NULL when
 * it runs past the end or is not NUL-terminated where it says. */
static const char *get_str(const uint8_t *p, size_t len, size_t *off, size_t *n)
{
	const char *s;

	if (len - *off < 2)
		return NULL;
	*n = p[*off];
	if (len - *off < *n + 2 || p[*off + 1 + *n] != '\0' || memchr(p + *off + 1, '\0', *n) != NULL)
		return NULL;
	s = (const char *)p + *off + 1;
	*off += *n + 2;
	return s;
}

/* Copies a string of the record into a field of `cap` bytes. */
static bool copy_str(const uint8_t *p, size_t len, size_t *off, char *dst, size_t cap)
{
	size_t n;
	const char *s = get_str(p, len, off, &n);

	if (s == NULL || n >= cap)
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

/* Copies a string the journal record carries into a field of `cap` bytes. */
static bool copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap || (n > 0 && s == NULL))
		return false;
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

int txp_record_decode(const struct txp_journal_accepted *a, struct txp_txn *t, char version[TXP_RECORD_VERSION_MAX + 1])
{
	const uint8_t *p = a->record;
	size_t len = a->record_len, off = REC_FIXED;
	char *s[REC_STRINGS];
	size_t scap[REC_STRINGS];

	if (p == NULL || len < REC_FIXED ||
	    (p[0] != REC_VERSION && p[0] != REC_VERSION_FINGERPRINT && p[0] != REC_VERSION_NO_FINGERPRINT) ||
	    p[1] >= TXP_STATUS_COUNT || (p[2] & ~REC_FLAGS) != 0 || p[3] > 100 || p[4] >= TXP_SEVERITY_COUNT ||
	    p[5] >= TXP_SEVERITY_COUNT || p[7] >= TXP_CHANNEL_COUNT || p[8] >= TXP_KYC_COUNT || p[9] > TXP_MAX_REASONS)
		return -EINVAL;
	t->status = (enum txp_status)p[1];
	t->scored = (p[2] & REC_SCORED) != 0;
	t->has_id = (p[2] & REC_HAS_ID) != 0;
	t->has_timestamp = (p[2] & REC_HAS_TIMESTAMP) != 0;
	t->has_card = (p[2] & REC_HAS_CARD) != 0;
	t->risk_score = p[3];
	t->fraud_severity = p[4];
	t->compliance_severity = p[5];
	t->currency_exponent = p[6];
	t->channel = (enum txp_channel)p[7];
	t->kyc = (enum txp_kyc)p[8];
	t->alerts = txp_le_get32(p + 10);
	t->compliance_flags = txp_le_get32(p + 14);
	t->timestamp_ms = (int64_t)txp_le_get64(p + 18);
	t->expires_at = (int64_t)txp_le_get64(p + 26);
	t->t_received = txp_le_get64(p + 34);
	t->t_validated = txp_le_get64(p + 42);
	t->t_fraud = txp_le_get64(p + 50);
	t->t_compliance = txp_le_get64(p + 58);
	record_strings(t, s, scap);
	for (int i = 0; i < REC_STRINGS; i++)
		if (!copy_str(p, len, &off, s[i], scap[i]))
			return -EINVAL;
	if (!copy_str(p, len, &off, version, TXP_RECORD_VERSION_MAX + 1))
		return -EINVAL;
	t->n_reasons = p[9];
	for (unsigned i = 0; i < t->n_reasons; i++) {
		size_t n;
		const char *code = get_str(p, len, &off, &n);

		if (code == NULL || len - off < 4)
			return -EINVAL;
		t->reasons[i].code = code;
		t->reasons[i].points = (int)(int32_t)txp_le_get32(p + off);
		off += 4;
	}
	memset(t->fingerprint, 0, sizeof(t->fingerprint));
	if (p[0] >= REC_VERSION_FINGERPRINT) {
		if (len - off < TXP_FINGERPRINT_BYTES)
			return -EINVAL;
		memcpy(t->fingerprint, p + off, TXP_FINGERPRINT_BYTES);
		off += TXP_FINGERPRINT_BYTES;
	}
	t->rules_version[0] = '\0';
	t->rules_loaded_ms = 0;
	if (p[0] >= REC_VERSION) {
		if (!copy_str(p, len, &off, t->rules_version, sizeof(t->rules_version)) || len - off < 8)
			return -EINVAL;
		t->rules_loaded_ms = (int64_t)txp_le_get64(p + off);
		off += 8;
	}
	if (off < len && p[off] == REC_NAMES_TAG) {
		if (len - off < 4 || p[off + 1] > TXP_NAME_FIELDS)
			return -EINVAL;
		t->name_hit_field = p[off + 1];
		t->name_hit_score = (uint16_t)(p[off + 2] | p[off + 3] << 8);
		off += 4;
		if (t->name_hit_score > 1000 || !copy_str(p, len, &off, t->name_hit_list, sizeof(t->name_hit_list)) ||
		    !copy_str(p, len, &off, t->name_hit_entry, sizeof(t->name_hit_entry)))
			return -EINVAL;
		for (int k = 0; k < TXP_NAME_FIELDS; k++)
			if (!copy_str(p, len, &off, t->name_pseud[k], sizeof(t->name_pseud[k])))
				return -EINVAL;
	}
	if (off != len)
		return -EINVAL;
	/* What the journal record carries beside the encoded one. */
	t->received_ms = a->received_ms;
	t->amount = a->amount;
	memcpy(t->currency, a->currency, sizeof(t->currency));
	t->amount_usd_known = a->amount_usd_known;
	t->amount_usd = a->amount_usd;
	if (!copy_field(t->customer_key, sizeof(t->customer_key), a->customer_key, a->customer_key_len) ||
	    !copy_field(t->merchant_id, sizeof(t->merchant_id), a->merchant_id, a->merchant_id_len) ||
	    !copy_field(t->card_token, sizeof(t->card_token), a->card_token, a->card_token_len))
		return -EINVAL;
	return 0;
}
