/* item.c: the DynamoDB record and the SNS alert messages of a decided transaction (pure builders). */
#include "txpipe/item.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static const struct {
	uint32_t bit;
	const char *name;
} compliance_flag_names[] = {
	{ TXP_COMPLIANCE_AML_REPORT, "aml_report" }, { TXP_COMPLIANCE_STRUCTURING, "structuring" },
	{ TXP_COMPLIANCE_SANCTIONS, "sanctions" },   { TXP_COMPLIANCE_KYC, "kyc" },
	{ TXP_COMPLIANCE_PAN_MASKED, "pan_masked" }, { TXP_COMPLIANCE_RATE_UNKNOWN, "rate_unknown" },
};

/*
 * The record's layout, in DynamoDB's own types, so a query, a filter
 * expression, a GSI or an export reader finds each value where it
 * expects it: reasons a map of code to points (M of N), compliance flags
 * a string set (SS), stage offsets a map of stage to microseconds, and
 * every other value its own top-level attribute: the card token
 * (card_token) and the customer pseudonym top-level so a global secondary
 * index can find every payment of a card or a customer, with received_at
 * as the sort key.  Every item stays under 1 KB, one write unit
 * (txpiped(8) STORED RECORD gives the sizes; test_item pins the worst
 * case).
 */

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
 * {"M":{field, list, entry, score}} (score in thousandths).  Never the
 * name itself. */
static void av_names(struct txp_sbuf *b, const struct txp_txn *t)
{
	char attr[64];

	for (int n = 0; n < TXP_NAME_FIELDS; n++) {
		const char *v = t->name_pseud[n];

		if (v == NULL || v[0] == '\0')
			continue; /* the usual case: no name given, no formatting */
		snprintf(attr, sizeof(attr), "%s_pseudonym", txp_name_fields[n]);
		av_s(b, attr, v);
	}
	if (t->name_hit_field == 0 || t->name_hit_field > TXP_NAME_FIELDS)
		return;
	av_map_open(b, "sanctions_match");
	av_member_s(b, true, "field", txp_name_fields[t->name_hit_field - 1]);
	av_member_s(b, false, "list", t->name_hit_list);
	av_member_s(b, false, "entry", t->name_hit_entry);
	av_member_n(b, false, "score", t->name_hit_score);
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

/* reasons: {"M":{code:{"N":points}}}, a code given twice summed (a map
 * has each name once); an unscored decision's codes carry 0 points. */
static void av_reasons(struct txp_sbuf *b, const struct txp_txn *t)
{
	bool first = true;

	if (t->n_reasons == 0)
		return;
	av_map_open(b, "reasons");
	for (unsigned i = 0; i < t->n_reasons; i++) {
		long long points = 0;

		if (first_with_code(t, i) != i)
			continue;
		for (unsigned j = i; j < t->n_reasons && t->scored; j++)
			if (strcmp(t->reasons[j].code, t->reasons[i].code) == 0)
				points += t->reasons[j].points;
		av_member_n(b, first, t->reasons[i].code, points);
		first = false;
	}
	av_map_close(b);
}

/* compliance_flags: a string set, absent when empty (DynamoDB refuses an
 * empty set). */
static void av_flags(struct txp_sbuf *b, uint32_t flags)
{
	bool first = true;

	for (size_t i = 0; i < sizeof(compliance_flag_names) / sizeof(compliance_flag_names[0]); i++) {
		if (!(flags & compliance_flag_names[i].bit))
			continue;
		if (first)
			txp_sbuf_str(b, ",\"compliance_flags\":{\"SS\":[");
		else
			txp_sbuf_raw(b, ",", 1);
		txp_sbuf_json_str(b, compliance_flag_names[i].name);
		first = false;
	}
	if (!first)
		txp_sbuf_str(b, "]}");
}

/* stage_us: {"M":{stage:{"N":us}}} for each stage reached: microseconds
 * after receipt at which it finished, so received_at plus the offset is
 * the stage's time (the last one is the decision's). */
static void av_stages(struct txp_sbuf *b, const struct txp_txn *t)
{
	const char *names[3] = { "validation", "fraud", "compliance" };
	uint64_t done[3] = { t->t_validated, t->t_fraud, t->t_compliance };
	bool first = true;

	for (int i = 0; i < 3; i++) {
		if (t->t_received == 0 || done[i] == 0 || done[i] < t->t_received)
			continue;
		if (first)
			av_map_open(b, "stage_us");
		av_member_n(b, first, names[i], (long long)((done[i] - t->t_received) / 1000u));
		first = false;
	}
	if (!first)
		av_map_close(b);
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
	av_s(&b, "status", txp_status_name(t->status));
	if (t->scored)
		av_n(&b, "risk_score", t->risk_score);
	av_reasons(&b, t);
	if (!is_decision(t)) {
		/* Rejected (or failed) lines keep only what is known to be
		 * valid: the id and why; the other fields were not validated
		 * and may be half-parsed. */
		av_s(&b, "error_code", t->error.code);
		av_s_opt(&b, "error_field", t->error.field);
		av_s_opt(&b, "error_message", t->error.message);
	} else {
		av_n(&b, "amount", t->amount);
		av_s(&b, "currency", t->currency);
		av_n(&b, "currency_exponent", t->currency_exponent);
		if (t->amount_usd_known)
			av_n(&b, "amount_usd_cents", t->amount_usd);
		av_s_opt(&b, "merchant_id", t->merchant_id);
		/* Only the pseudonym: the raw customer_id is personal data. */
		av_s_opt(&b, "customer_pseudonym", t->customer_pseud);
		av_s_opt(&b, "merchant_country", t->merchant_country);
		av_s_opt(&b, "customer_country", t->customer_country);
		if (t->has_card) {
			/* BIN, last four and the keyed token: never the PAN. */
			av_s_opt(&b, "card_bin", t->card_bin);
			av_s_opt(&b, "card_last4", t->card_last4);
			av_s_opt(&b, "card_token", t->card_token);
		}
		av_s_opt(&b, "channel", txp_channel_name(t->channel));
		av_s_opt(&b, "mcc", t->merchant_category);
		av_s_opt(&b, "kyc", txp_kyc_name(t->kyc));
		av_s_opt(&b, "ip_pseudonym", t->ip_pseud);
		av_s_opt(&b, "device_pseudonym", t->device_pseud);
		av_names(&b, t);
		av_flags(&b, t->compliance_flags);
		if (t->alerts & TXP_ALERT_FRAUD)
			av_s(&b, "fraud_severity", txp_severity_name(t->fraud_severity));
		if (t->alerts & TXP_ALERT_COMPLIANCE)
			av_s(&b, "compliance_severity", txp_severity_name(t->compliance_severity));
		if (t->has_timestamp && txp_iso8601_ms(t->timestamp_ms, when) > 0)
			av_s(&b, "event_time", when);
	}
	/* Also the sort key of the investigation indexes (provision.c): the
	 * decision's own time is received_at plus stage_us's last offset, not
	 * an attribute of its own, so the item stays within one write unit. */
	if (txp_iso8601_ms(t->received_ms, when) > 0)
		av_s(&b, "received_at", when);
	av_stages(&b, t);
	av_s(&b, "daemon_version", version != NULL ? version : "");
	/* The rules that decided it (stages.h), absent for records from
	 * before rules versions.  Not their load time, which the journal
	 * record keeps: the version names the rules, the listening and
	 * reloaded log lines say when each was loaded, and its 23 bytes
	 * would take a heavily flagged item over one write unit. */
	av_s_opt(&b, "rules_version", t->rules_version);
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
