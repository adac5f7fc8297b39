/* item.c: the DynamoDB record and the SNS alert messages of a decided transaction (pure builders). */
#include "txpipe/item.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/base64.h"
#include "txpipe/sbuf.h"

size_t txp_iso8601_ms(int64_t unix_ms, char out[TXP_ISO8601_MS_SIZE])
{
	/* Floor division, so times before 1970 still format correctly. */
	int64_t secs = unix_ms / 1000, ms = unix_ms % 1000;
	time_t tt;
	struct tm tm;
	size_t n;

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	tt = (time_t)secs;
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		out[0] = '\0';
		return 0;
	}
	/* By hand: strftime's locale handling is costly on this path, and
	 * the format is fixed (YYYY-MM-DDTHH:MM:SS, the year checked above). */
	unsigned year = (unsigned)tm.tm_year + 1900u,
	         f[5] = { (unsigned)tm.tm_mon + 1u, (unsigned)tm.tm_mday, (unsigned)tm.tm_hour, (unsigned)tm.tm_min,
		          (unsigned)tm.tm_sec };
	static const char seps[5] = { '-', 'T', ':', ':', '\0' };
	out[0] = (char)('0' + year / 1000);
	out[1] = (char)('0' + year / 100 % 10);
	out[2] = (char)('0' + year / 10 % 10);
	out[3] = (char)('0' + year % 10);
	out[4] = '-';
	for (n = 0; n < 5; n++) {
		out[5 + 3 * n] = (char)('0' + f[n] / 10 % 10);
		out[6 + 3 * n] = (char)('0' + f[n] % 10);
		if (n < 4)
			out[7 + 3 * n] = seps[n];
	}
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
	return 24;
}

/* The latest stage timestamp the transaction reached (monotonic ns). */
static uint64_t last_stage_ns(const struct txp_txn *t)
{
	uint64_t last = t->t_received;

	if (t->t_validated > last)
		last = t->t_validated;
	if (t->t_fraud > last)
		last = t->t_fraud;
	if (t->t_compliance > last)
		last = t->t_compliance;
	return last;
}

int64_t txp_item_decided_ms(const struct txp_txn *t)
{
	/* The wall clock at decision, derived from the wall clock at receipt
	 * and the monotonic time spent since, so the builder stays pure. */
	if (t->t_received == 0)
		return t->received_ms;
	return t->received_ms + (int64_t)((last_stage_ns(t) - t->t_received) / 1000000u);
}

/*
 * The record's layout, in DynamoDB's own types, so a query, a filter
 * expression, a GSI or an export reader finds each value where it
 * expects it: reasons a map of code to points (M of N), stage offsets a
 * list of microseconds, times and amounts numbers, and every other value
 * its own top-level attribute: the card token (card_token) and the
 * customer pseudonym top-level so a global secondary index can find
 * every payment of a card or a customer, with received_at as the sort
 * key.
 *
 * Every item stays under 1 KB, one write unit, whatever it holds: every
 * field at its longest, every reason that can fire together, all three
 * party names and a sanctions hit, and [fleet]'s decided_by (test_item
 * pins it; txpiped(8) STORED RECORD gives the sizes).  DynamoDB bills
 * attribute names as data, so the attributes are stored under the short
 * names of attr_names[]; the key, the indexes' keys (card_token,
 * customer_pseudonym, received_at) and the TTL attribute (expires_at)
 * keep their names, which a table or an index is created with.  For the
 * same reason the reasons map's members are the short codes of
 * reason_codes[] (the codes alone of every reason at once are ~650
 * bytes), the pseudonyms no index or list looks up are 22 base64url
 * characters instead of 32 hex digits, and a sanctions hit names its
 * field by number.  The compliance flags are not stored: each
 * is raised with a compliance reason (compliance.c, fire()), which the
 * reasons map holds.  txp_item_readable() gives the long names back.
 */
enum {
	A_STATUS,
	A_RISK_SCORE,
	A_REASONS,
	A_ERROR_CODE,
	A_ERROR_FIELD,
	A_ERROR_MESSAGE,
	A_AMOUNT,
	A_CURRENCY,
	A_CURRENCY_EXPONENT,
	A_AMOUNT_USD_CENTS,
	A_MERCHANT_ID,
	A_MERCHANT_COUNTRY,
	A_CUSTOMER_COUNTRY,
	A_CARD_BIN,
	A_CARD_LAST4,
	A_CHANNEL,
	A_KYC,
	A_IP_PSEUDONYM,
	A_DEVICE_PSEUDONYM,
	A_NAME_PSEUDONYM, /* TXP_NAME_FIELDS of them, in txp_name_fields order */
	A_SANCTIONS_MATCH = A_NAME_PSEUDONYM + TXP_NAME_FIELDS,
	A_FRAUD_SEVERITY,
	A_COMPLIANCE_SEVERITY,
	A_EVENT_TIME,
	A_STAGE_US,
	A_DAEMON_VERSION,
	A_RULES_VERSION,
	A_COUNT
};

/* Stored name, and the name txpipectl get, the replies and the
 * documentation use. */
static const struct {
	const char *stored, *shown;
} attr_names[A_COUNT] = {
	[A_STATUS] = { "st", "status" },
	[A_RISK_SCORE] = { "rs", "risk_score" },
	[A_REASONS] = { "rn", "reasons" },
	[A_ERROR_CODE] = { "ec", "error_code" },
	[A_ERROR_FIELD] = { "ef", "error_field" },
	[A_ERROR_MESSAGE] = { "em", "error_message" },
	[A_AMOUNT] = { "am", "amount" },
	[A_CURRENCY] = { "cu", "currency" },
	[A_CURRENCY_EXPONENT] = { "ce", "currency_exponent" },
	[A_AMOUNT_USD_CENTS] = { "au", "amount_usd_cents" },
	[A_MERCHANT_ID] = { "mi", "merchant_id" },
	[A_MERCHANT_COUNTRY] = { "mc", "merchant_country" },
	[A_CUSTOMER_COUNTRY] = { "cc", "customer_country" },
	[A_CARD_BIN] = { "cb", "card_bin" },
	[A_CARD_LAST4] = { "c4", "card_last4" },
	[A_CHANNEL] = { "ch", "channel" },
	[A_KYC] = { "ky", "kyc" },
	[A_IP_PSEUDONYM] = { "ip", "ip_pseudonym" },
	[A_DEVICE_PSEUDONYM] = { "dp", "device_pseudonym" },
	[A_NAME_PSEUDONYM] = { "cn", "customer_name_pseudonym" },
	[A_NAME_PSEUDONYM + 1] = { "pn", "counterparty_name_pseudonym" },
	[A_NAME_PSEUDONYM + 2] = { "bn", "beneficiary_name_pseudonym" },
	[A_SANCTIONS_MATCH] = { "sm", "sanctions_match" },
	[A_FRAUD_SEVERITY] = { "fs", "fraud_severity" },
	[A_COMPLIANCE_SEVERITY] = { "cs", "compliance_severity" },
	[A_EVENT_TIME] = { "et", "event_time" },
	[A_STAGE_US] = { "su", "stage_us" },
	[A_DAEMON_VERSION] = { "dv", "daemon_version" },
	[A_RULES_VERSION] = { "rv", "rules_version" },
};

/* sanctions_match's members: stored, shown. */
static const char *const match_members[4][2] = {
	{ "f", "field" }, { "l", "list" }, { "e", "entry" }, { "s", "score" }
};

/*
 * Each reason code the stages give (fraud.c, compliance.c, stages.c) and
 * the member name the reasons map stores it under: the one table both the
 * builder and txp_item_readable() use, and txpiped(8) STORED RECORD
 * lists.  Mnemonic: v<customer|merchant><couNt|Amount><short|medium|long>
 * for velocity, d<list> for the deny lists, t<who> for card testing, the
 * initials of the words otherwise.  A code missing here is stored whole
 * (and read back as it is), correct but longer: add each new code here,
 * to txpiped(8)'s table and to the worst case of test_item
 * (tests/unit/reason_codes.sh checks the first two against the sources).
 */
static const struct {
	const char *code, *stored;
} reason_codes[] = {
	{ "deny_list_customer", "dcu" },
	{ "deny_list_merchant", "dme" },
	{ "deny_list_card", "dca" },
	{ "deny_list_device", "dde" },
	{ "allow_listed", "al" },
	{ "allow_listed_merchant", "alm" },
	{ "velocity_customer_count_short", "vcns" },
	{ "velocity_customer_count_medium", "vcnm" },
	{ "velocity_customer_count_long", "vcnl" },
	{ "velocity_customer_amount_short", "vcas" },
	{ "velocity_customer_amount_medium", "vcam" },
	{ "velocity_customer_amount_long", "vcal" },
	{ "velocity_merchant_count_short", "vmns" },
	{ "velocity_merchant_count_medium", "vmnm" },
	{ "velocity_merchant_count_long", "vmnl" },
	{ "velocity_merchant_amount_short", "vmas" },
	{ "velocity_merchant_amount_medium", "vmam" },
	{ "velocity_merchant_amount_long", "vmal" },
	{ "velocity_state_full", "vsf" },
	{ "cross_border", "xb" },
	{ "high_risk_country", "hrc" },
	{ "round_amount", "ra" },
	{ "high_amount", "ha" },
	{ "high_amount_relative", "har" },
	{ "repeat_amount", "rpa" },
	{ "card_testing_customer", "tcu" },
	{ "card_testing_card", "tca" },
	{ "pan_in_field", "pif" },
	{ "sanctions_country", "sc" },
	{ "sanctions_list_match", "slm" },
	{ "sanctions_name_match", "snm" },
	{ "sanctions_name_unscreened", "snu" },
	{ "currency_rate_unknown", "cru" },
	{ "aml_reporting_threshold", "art" },
	{ "aml_structuring", "ast" },
	{ "compliance_state_full", "csf" },
	{ "kyc_failed", "kf" },
	{ "kyc_not_verified", "knv" },
	{ "fleet_state_stale", "fss" },
};

#define N_REASON_CODES (sizeof(reason_codes) / sizeof(reason_codes[0]))

/* The member name reason `code` is stored under. */
static const char *reason_stored(const char *code)
{
	for (size_t i = 0; i < N_REASON_CODES; i++)
		if (strcmp(code, reason_codes[i].code) == 0)
			return reason_codes[i].stored;
	return code;
}

/* The code a stored member name stands for (itself when not a short code). */
static const char *reason_shown(const char *stored)
{
	for (size_t i = 0; i < N_REASON_CODES; i++)
		if (strcmp(stored, reason_codes[i].stored) == 0)
			return reason_codes[i].code;
	return stored;
}

/* The stage offsets' order in stage_us. */
static const char *const stage_names[3] = { "validation", "fraud", "compliance" };

_Static_assert(TXP_NAME_FIELDS == 3, "one short name per party name field in attr_names");

#define SN(a) attr_names[a].stored

/* ---- AttributeValue helpers: each appends ,"name":{...} --------------- */

/* ,"name": for an attribute name of this file: constants of letters,
 * digits and '_', which JSON needs no escape for. */
static void av_name(struct txp_sbuf *b, const char *name)
{
	txp_sbuf_raw(b, ",\"", 2);
	txp_sbuf_str(b, name);
	txp_sbuf_raw(b, "\":", 2);
}

static void av_sn(struct txp_sbuf *b, const char *name, const char *value, size_t n)
{
	av_name(b, name);
	txp_sbuf_raw(b, "{\"S\":", 5);
	txp_sbuf_json_strn(b, value, n);
	txp_sbuf_raw(b, "}", 1);
}

static void av_s(struct txp_sbuf *b, const char *name, const char *value)
{
	av_sn(b, name, value, strlen(value));
}

/* A string attribute only when the value is not empty: DynamoDB rejects
 * empty strings in key attributes only, but an absent attribute says
 * "not given" more plainly than "". */
static void av_s_opt(struct txp_sbuf *b, const char *name, const char *value)
{
	if (value != NULL && value[0] != '\0')
		av_s(b, name, value);
}

/* TXP_TOKEN_HEX hex digits (a 128-bit keyed hash) as 22 base64url
 * characters without padding (RFC 4648, section 5): the same 128 bits,
 * 10 bytes shorter, and safe in a key condition or a URL.  A value that
 * is not such a hex token is stored as it is. */
#define TOKEN_B64_SIZE (sodium_base64_ENCODED_LEN(TXP_TOKEN_HEX / 2, sodium_base64_VARIANT_URLSAFE_NO_PADDING))

static void av_token_opt(struct txp_sbuf *b, const char *name, const char *hex)
{
	unsigned char bin[TXP_TOKEN_HEX / 2];
	char b64[TOKEN_B64_SIZE];

	if (hex == NULL || hex[0] == '\0')
		return;
	if (txp_hex_decode(hex, bin, sizeof(bin)) != 0) {
		av_s(b, name, hex);
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), bin, sizeof(bin), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	av_s(b, name, b64);
}

/* Numbers travel as strings in DynamoDB JSON, so 64-bit values stay exact. */
static void av_n(struct txp_sbuf *b, const char *name, long long v)
{
	av_name(b, name);
	txp_sbuf_raw(b, "{\"N\":\"", 6);
	txp_sbuf_int(b, v);
	txp_sbuf_str(b, "\"}");
}

/* ---- maps and sets: opened with their name, closed after the members -- */

/* Opens ,"name":{"M":{ ; members follow with av_member_n(). */
static void av_map_open(struct txp_sbuf *b, const char *name)
{
	av_name(b, name);
	txp_sbuf_raw(b, "{\"M\":{", 6);
}

static void av_map_close(struct txp_sbuf *b)
{
	txp_sbuf_str(b, "}}");
}

/* "member":{"N":"v"}, after a comma unless it is the first. */
static void av_member_n(struct txp_sbuf *b, bool first, const char *member, long long v)
{
	if (!first)
		txp_sbuf_raw(b, ",", 1);
	txp_sbuf_json_str(b, member);
	txp_sbuf_str(b, ":{\"N\":\"");
	txp_sbuf_int(b, v);
	txp_sbuf_str(b, "\"}");
}

/* "member":{"S":"value"}, after a comma unless it is the first. */
static void av_member_s(struct txp_sbuf *b, bool first, const char *member, const char *value)
{
	if (!first)
		txp_sbuf_raw(b, ",", 1);
	txp_sbuf_json_str(b, member);
	txp_sbuf_str(b, ":{\"S\":");
	txp_sbuf_json_str(b, value);
	txp_sbuf_raw(b, "}", 1);
}

/* The keyed pseudonym of each party name given (<field>_pseudonym), and
 * on a sanctions hit the list entry it matched as sanctions_match:
 * {"M":{field, list, entry, score}} (field the number of the party name
 * field, 1 to TXP_NAME_FIELDS in txp_name_fields' order; score in
 * thousandths; members under match_members' short names).  Never the
 * name itself. */
static void av_names(struct txp_sbuf *b, const struct txp_txn *t)
{
	for (int n = 0; n < TXP_NAME_FIELDS; n++)
		av_token_opt(b, SN(A_NAME_PSEUDONYM + n), t->name_pseud[n]);
	if (t->name_hit_field == 0 || t->name_hit_field > TXP_NAME_FIELDS)
		return;
	av_map_open(b, SN(A_SANCTIONS_MATCH));
	av_member_n(b, true, match_members[0][0], t->name_hit_field);
	av_member_s(b, false, match_members[1][0], t->name_hit_list);
	av_member_s(b, false, match_members[2][0], t->name_hit_entry);
	av_member_n(b, false, match_members[3][0], t->name_hit_score);
	av_map_close(b);
}

/* The index of the first reason with the code of reason i. */
static unsigned first_with_code(const struct txp_txn *t, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (strcmp(t->reasons[j].code, t->reasons[i].code) == 0)
			return j;
	return i;
}

/* reasons: {"M":{code:{"N":points}}}, each code under its short name
 * (reason_codes[]), a code given twice summed (a map has each name once);
 * an unscored decision's codes carry 0 points. */
static void av_reasons(struct txp_sbuf *b, const struct txp_txn *t)
{
	bool first = true;

	if (t->n_reasons == 0)
		return;
	av_map_open(b, SN(A_REASONS));
	for (unsigned i = 0; i < t->n_reasons; i++) {
		long long points = 0;

		if (first_with_code(t, i) != i)
			continue;
		for (unsigned j = i; j < t->n_reasons && t->scored; j++)
			if (strcmp(t->reasons[j].code, t->reasons[i].code) == 0)
				points += t->reasons[j].points;
		av_member_n(b, first, reason_stored(t->reasons[i].code), points);
		first = false;
	}
	av_map_close(b);
}

/* stage_us: {"L":[{"N":us}...]}, the stages reached in stage_names'
 * order (each stage follows the one before; a list does without the
 * names a map would store): microseconds after receipt at which each
 * finished, so received_at plus the offset is the stage's time (the last
 * one is the decision's). */
static void av_stages(struct txp_sbuf *b, const struct txp_txn *t)
{
	uint64_t done[3] = { t->t_validated, t->t_fraud, t->t_compliance };

	for (int i = 0; i < 3; i++) {
		if (t->t_received == 0 || done[i] == 0 || done[i] < t->t_received)
			break;
		if (i == 0) {
			txp_sbuf_raw(b, ",", 1);
			txp_sbuf_json_str(b, SN(A_STAGE_US));
			txp_sbuf_str(b, ":{\"L\":[");
		} else {
			txp_sbuf_raw(b, ",", 1);
		}
		txp_sbuf_str(b, "{\"N\":\"");
		txp_sbuf_int(b, (long long)((done[i] - t->t_received) / 1000u));
		txp_sbuf_str(b, "\"}");
		if (i == 2 || done[i + 1] == 0 || done[i + 1] < t->t_received)
			txp_sbuf_str(b, "]}");
	}
}

static bool is_decision(const struct txp_txn *t)
{
	return t->status == TXP_STATUS_APPROVED || t->status == TXP_STATUS_REVIEW || t->status == TXP_STATUS_DECLINED;
}

static char *build_item(const struct txp_txn *t, const char *version, size_t *len)
{
	struct txp_sbuf b = { 0 };
	char when[TXP_ISO8601_MS_SIZE];

	txp_sbuf_str(&b, "{\"transaction_id\":{\"S\":");
	txp_sbuf_json_str(&b, t->transaction_id);
	txp_sbuf_raw(&b, "}", 1);
	av_s(&b, SN(A_STATUS), txp_status_name(t->status));
	if (t->scored)
		av_n(&b, SN(A_RISK_SCORE), t->risk_score);
	av_reasons(&b, t);
	if (!is_decision(t)) {
		/* Rejected (or failed) lines keep only what is known to be
		 * valid: the id and why; the other fields were not validated
		 * and may be half-parsed. */
		av_s(&b, SN(A_ERROR_CODE), t->error.code);
		av_s_opt(&b, SN(A_ERROR_FIELD), t->error.field);
		av_s_opt(&b, SN(A_ERROR_MESSAGE), t->error.message);
	} else {
		av_n(&b, SN(A_AMOUNT), t->amount);
		av_s(&b, SN(A_CURRENCY), t->currency);
		av_n(&b, SN(A_CURRENCY_EXPONENT), t->currency_exponent);
		if (t->amount_usd_known)
			av_n(&b, SN(A_AMOUNT_USD_CENTS), t->amount_usd);
		av_s_opt(&b, SN(A_MERCHANT_ID), t->merchant_id);
		/* Only the pseudonym: the raw customer_id is personal data. */
		av_s_opt(&b, "customer_pseudonym", t->customer_pseud);
		av_s_opt(&b, SN(A_MERCHANT_COUNTRY), t->merchant_country);
		av_s_opt(&b, SN(A_CUSTOMER_COUNTRY), t->customer_country);
		if (t->has_card) {
			/* BIN, last four and the keyed token: never the PAN. */
			av_s_opt(&b, SN(A_CARD_BIN), t->card_bin);
			av_s_opt(&b, SN(A_CARD_LAST4), t->card_last4);
			av_s_opt(&b, "card_token", t->card_token);
		}
		av_s_opt(&b, SN(A_CHANNEL), txp_channel_name(t->channel));
		av_s_opt(&b, "mcc", t->merchant_category);
		av_s_opt(&b, SN(A_KYC), txp_kyc_name(t->kyc));
		av_token_opt(&b, SN(A_IP_PSEUDONYM), t->ip_pseud);
		av_token_opt(&b, SN(A_DEVICE_PSEUDONYM), t->device_pseud);
		av_names(&b, t);
		if (t->alerts & TXP_ALERT_FRAUD)
			av_s(&b, SN(A_FRAUD_SEVERITY), txp_severity_name(t->fraud_severity));
		if (t->alerts & TXP_ALERT_COMPLIANCE)
			av_s(&b, SN(A_COMPLIANCE_SEVERITY), txp_severity_name(t->compliance_severity));
		/* Unix milliseconds: 8 bytes as a number, 24 as ISO 8601. */
		if (t->has_timestamp)
			av_n(&b, SN(A_EVENT_TIME), t->timestamp_ms);
	}
	/* Also the sort key of the investigation indexes (provision.c): the
	 * decision's own time is received_at plus stage_us's last offset, not
	 * an attribute of its own, so the item stays within one write unit. */
	if (txp_iso8601_ms(t->received_ms, when) > 0)
		av_s(&b, "received_at", when);
	av_stages(&b, t);
	av_s(&b, SN(A_DAEMON_VERSION), version != NULL ? version : "");
	/* The rules that decided it (stages.h), absent for records from
	 * before rules versions.  Not their load time, which the journal
	 * record keeps: the version names the rules, the listening and
	 * reloaded log lines say when each was loaded, and its 23 bytes
	 * would take a heavily flagged item over one write unit. */
	av_s_opt(&b, SN(A_RULES_VERSION), t->rules_version);
	if (t->expires_at > 0)
		av_n(&b, "expires_at", t->expires_at);
	txp_sbuf_raw(&b, "}", 1);
	return txp_sbuf_finish(&b, len);
}

static char *build_alert(const struct txp_txn *t, unsigned kind, size_t *len)
{
	struct txp_sbuf b = { 0 };
	char when[TXP_ISO8601_MS_SIZE];
	uint8_t sev = kind == TXP_ALERT_KIND_FRAUD ? t->fraud_severity : t->compliance_severity;

	txp_sbuf_str(&b, "{\"alert_type\":");
	txp_sbuf_json_str(&b, txp_alert_kind_name(kind));
	txp_sbuf_str(&b, ",\"severity\":");
	txp_sbuf_json_str(&b, txp_severity_name(sev));
	txp_sbuf_str(&b, ",\"transaction_id\":");
	txp_sbuf_json_str(&b, t->transaction_id);
	txp_sbuf_str(&b, ",\"status\":");
	txp_sbuf_json_str(&b, txp_status_name(t->status));
	txp_txn_json_reasons(&b, t);
	if (is_decision(t)) {
		/* JSON numbers here: amounts are minor units far below 2^53 in
		 * practice, but a reader that needs exactness can use the
		 * record in DynamoDB, which keeps them as N strings. */
		txp_sbuf_str(&b, ",\"amount\":");
		txp_sbuf_int(&b, t->amount);
		txp_sbuf_str(&b, ",\"currency\":");
		txp_sbuf_json_str(&b, t->currency);
		txp_sbuf_str(&b, ",\"currency_exponent\":");
		txp_sbuf_int(&b, t->currency_exponent);
		if (t->amount_usd_known) {
			txp_sbuf_str(&b, ",\"amount_usd_cents\":");
			txp_sbuf_int(&b, t->amount_usd);
		}
		txp_sbuf_str(&b, ",\"merchant_id\":");
		txp_sbuf_json_str(&b, t->merchant_id);
		if (t->customer_pseud[0] != '\0') {
			txp_sbuf_str(&b, ",\"customer_pseudonym\":");
			txp_sbuf_json_str(&b, t->customer_pseud);
		}
		txp_sbuf_str(&b, ",\"merchant_country\":");
		txp_sbuf_json_str(&b, t->merchant_country);
		txp_sbuf_str(&b, ",\"customer_country\":");
		txp_sbuf_json_str(&b, t->customer_country);
		txp_txn_json_sanctions_match(&b, t);
	}
	if (txp_iso8601_ms(txp_item_decided_ms(t), when) > 0) {
		txp_sbuf_str(&b, ",\"decided_at\":");
		txp_sbuf_json_str(&b, when);
	}
	txp_sbuf_raw(&b, "}", 1);
	return txp_sbuf_finish(&b, len);
}

/* The shown name of stored attribute `name` (either layout), or NULL. */
static const char *shown_name(const char *name)
{
	for (int a = 0; a < A_COUNT; a++)
		if (strcmp(name, attr_names[a].stored) == 0)
			return attr_names[a].shown;
	return NULL;
}

/* stage_us's list as the map of stage to microseconds it stands for. */
static json_t *readable_stages(const json_t *list)
{
	json_t *m = json_object(), *v;
	size_t i;

	json_array_foreach (list, i, v)
		if (m != NULL && i < 3 && json_object_set(m, stage_names[i], v) < 0) {
			json_decref(m);
			return NULL;
		}
	return m;
}

/* sanctions_match with its members' shown names, the field by name. */
static json_t *readable_match(const json_t *match)
{
	json_t *m = json_object(), *v;
	const char *k;

	json_object_foreach ((json_t *)match, k, v) {
		const char *name = k;
		json_t *r = json_incref(v);
		for (int i = 0; i < 4; i++)
			if (strcmp(k, match_members[i][0]) == 0)
				name = match_members[i][1];
		if (strcmp(k, match_members[0][0]) == 0 && json_is_integer(v) && json_integer_value(v) >= 1 &&
		    json_integer_value(v) <= TXP_NAME_FIELDS) {
			json_decref(r);
			r = json_string(txp_name_fields[json_integer_value(v) - 1]);
		}
		/* json_object_set_new() takes r, also when it fails. */
		if (m == NULL || r == NULL || json_object_set_new(m, name, r) < 0) {
			if (m == NULL)
				json_decref(r);
			json_decref(m);
			return NULL;
		}
	}
	return m;
}

/* reasons with each short code replaced by the code it stands for. */
static json_t *readable_reasons(const json_t *reasons)
{
	json_t *m = json_object(), *v;
	const char *k;

	json_object_foreach ((json_t *)reasons, k, v)
		if (m == NULL || json_object_set(m, reason_shown(k), v) < 0) {
			json_decref(m);
			return NULL;
		}
	return m;
}

json_t *txp_item_readable(const json_t *plain)
{
	json_t *out = json_object(), *v;
	const char *k;

	if (out == NULL || !json_is_object(plain))
		goto err;
	json_object_foreach ((json_t *)plain, k, v) {
		const char *shown = shown_name(k);
		json_t *r;
		char when[TXP_ISO8601_MS_SIZE];

		if (shown == NULL) {
			/* The key, the indexes' keys, expires_at, and every
			 * attribute of a record from before short names. */
			shown = k;
			r = json_incref(v);
		} else if (strcmp(k, SN(A_STAGE_US)) == 0 && json_is_array(v)) {
			r = readable_stages(v);
		} else if (strcmp(k, SN(A_SANCTIONS_MATCH)) == 0 && json_is_object(v)) {
			r = readable_match(v);
		} else if (strcmp(k, SN(A_REASONS)) == 0 && json_is_object(v)) {
			r = readable_reasons(v);
		} else if (strcmp(k, SN(A_EVENT_TIME)) == 0 && json_is_integer(v) &&
		           txp_iso8601_ms(json_integer_value(v), when) > 0) {
			r = json_string(when);
		} else {
			r = json_incref(v);
		}
		if (r == NULL || json_object_set_new(out, shown, r) < 0)
			goto err;
	}
	return out;

err:
	json_decref(out);
	return NULL;
}

const char *txp_alert_kind_name(unsigned kind)
{
	return kind == TXP_ALERT_KIND_FRAUD ? "fraud" : "compliance";
}

int txp_item_build(struct txp_txn *t, const char *daemon_version)
{
	char *item = NULL, *alert[TXP_ALERT_KINDS] = { NULL, NULL };
	size_t len = 0, alen[TXP_ALERT_KINDS] = { 0, 0 };
	int rc = -ENOMEM;

	/* Without a valid id there is no key to store under and nothing a
	 * reader could look up: such lines are answered, never stored. */
	if (!t->has_id || t->transaction_id[0] == '\0')
		return 0;
	item = build_item(t, daemon_version, &len);
	if (item == NULL)
		goto err;
	for (unsigned k = 0; k < TXP_ALERT_KINDS; k++) {
		if (!(t->alerts & (1u << k)))
			continue;
		alert[k] = build_alert(t, k, &alen[k]);
		if (alert[k] == NULL)
			goto err_after_item;
	}
	free(t->item);
	t->item = item;
	t->item_len = (uint32_t)len;
	for (unsigned k = 0; k < TXP_ALERT_KINDS; k++) {
		free(t->alert[k]);
		t->alert[k] = alert[k];
		t->alert_len[k] = (uint32_t)alen[k];
	}
	return 0;

err_after_item:
	for (unsigned k = 0; k < TXP_ALERT_KINDS; k++)
		free(alert[k]);
	free(item);
err:
	return rc;
}
