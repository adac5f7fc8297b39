/* item.c: the DynamoDB record and the SNS alert messages of a decided transaction (pure builders). */
#include "txpipe/item.h"

#include <errno.h>
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
	unsigned year = (unsigned)tm.tm_year + 1900u, f[5] = {(unsigned)tm.tm_mon + 1u, (unsigned)tm.tm_mday,
	                                                       (unsigned)tm.tm_hour, (unsigned)tm.tm_min,
	                                                       (unsigned)tm.tm_sec};
	static const char seps[5] = {'-', 'T', ':', ':', '\0'};
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
	{TXP_COMPLIANCE_AML_REPORT, "aml_report"},     {TXP_COMPLIANCE_STRUCTURING, "structuring"},
	{TXP_COMPLIANCE_SANCTIONS, "sanctions"},       {TXP_COMPLIANCE_KYC, "kyc"},
	{TXP_COMPLIANCE_PAN_MASKED, "pan_masked"},     {TXP_COMPLIANCE_RATE_UNKNOWN, "rate_unknown"},
};

/*
 * The record's layout.  Every AttributeValue costs a DynamoDB
 * implementation a parse, a type check and a size computation, and
 * DynamoDB bills each started kilobyte of an item as one write request
 * unit, so related small values share one string attribute of
 * space-separated "name:value" tokens (reasons, countries, card, context,
 * pseudonyms, severity, stage_us): one value to check instead of up to
 * twenty, still read at a glance in the console and matched exactly with
 * contains(attr, "name:value").  What is filtered, summed or sorted on
 * stays a top-level scalar (status, risk_score, amount, currency,
 * amount_usd_cents, merchant_id, customer_pseudonym, received_at,
 * expires_at), and numbers stay N.  Tokens hold only codes, digits, hex,
 * and ISO codes, none of which contains a space or a colon.
 */

/* ---- AttributeValue helpers: each appends ,"name":{...} --------------- */

static void av_sn(struct txp_sbuf *b, const char *name, const char *value, size_t n)
{
	txp_sbuf_raw(b, ",", 1);
	txp_sbuf_json_str(b, name);
	txp_sbuf_str(b, ":{\"S\":");
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
	txp_sbuf_raw(b, ",", 1);
	txp_sbuf_json_str(b, name);
	txp_sbuf_str(b, ":{\"N\":\"");
	txp_sbuf_int(b, v);
	txp_sbuf_str(b, "\"}");
}

/* ---- token lists: "name:value name:value", one string attribute ------ */

static void tok_sep(struct txp_sbuf *k, const char *name)
{
	if (k->len > 0)
		txp_sbuf_raw(k, " ", 1);
	if (name != NULL) {
		txp_sbuf_str(k, name);
		txp_sbuf_raw(k, ":", 1);
	}
}

/* Appends "name:value" (or "value" with no name); nothing for an empty value. */
static void tok_s(struct txp_sbuf *k, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	tok_sep(k, name);
	txp_sbuf_str(k, value);
}

static void tok_int(struct txp_sbuf *k, const char *name, long long v)
{
	tok_sep(k, name);
	txp_sbuf_int(k, v);
}

/* Emits the token list as attribute `name` unless it is empty, and
 * empties it for the next attribute. */
static void av_tokens(struct txp_sbuf *b, const char *name, struct txp_sbuf *k)
{
	if (k->oom)
		b->oom = true;
	else if (k->len > 0)
		av_sn(b, name, k->p, k->len);
	k->len = 0;
}

/* "code:points" per reason in decision order (the reply's order), or
 * bare codes when the transaction was not scored. */
static void tok_reasons(struct txp_sbuf *k, const struct txp_txn *t)
{
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (t->scored)
			tok_int(k, t->reasons[i].code, t->reasons[i].points);
		else
			tok_s(k, NULL, t->reasons[i].code);
	}
}

/* "stage:us" for each stage reached: microseconds after receipt at which
 * it finished, so received_at plus the offset is the stage's time (the
 * last one is the decision's). */
static void tok_stage(struct txp_sbuf *k, const char *name, uint64_t received, uint64_t done)
{
	if (received == 0 || done == 0 || done < received)
		return;
	tok_sep(k, name);
	txp_sbuf_uint(k, (done - received) / 1000u);
}

static bool is_decision(const struct txp_txn *t)
{
	return t->status == TXP_STATUS_APPROVED || t->status == TXP_STATUS_REVIEW ||
	       t->status == TXP_STATUS_DECLINED;
}

static char *build_item(const struct txp_txn *t, const char *version, size_t *len)
{
	struct txp_sbuf b = {0}, k = {0};
	char when[TXP_ISO8601_MS_SIZE];

	txp_sbuf_str(&b, "{\"transaction_id\":{\"S\":");
	txp_sbuf_json_str(&b, t->transaction_id);
	txp_sbuf_raw(&b, "}", 1);
	av_s(&b, "status", txp_status_name(t->status));
	if (t->scored)
		av_n(&b, "risk_score", t->risk_score);
	tok_reasons(&k, t);
	av_tokens(&b, "reasons", &k);
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
		tok_s(&k, "merchant", t->merchant_country);
		tok_s(&k, "customer", t->customer_country);
		av_tokens(&b, "countries", &k);
		if (t->has_card) {
			/* BIN, last four and the keyed token: never the PAN. */
			tok_s(&k, "bin", t->card_bin);
			tok_s(&k, "last4", t->card_last4);
			tok_s(&k, "token", t->card_token);
			av_tokens(&b, "card", &k);
		}
		tok_s(&k, "channel", txp_channel_name(t->channel));
		tok_s(&k, "mcc", t->merchant_category);
		tok_s(&k, "kyc", txp_kyc_name(t->kyc));
		av_tokens(&b, "context", &k);
		tok_s(&k, "ip", t->ip_pseud);
		tok_s(&k, "device", t->device_pseud);
		av_tokens(&b, "pseudonyms", &k);
		for (size_t i = 0; i < sizeof(compliance_flag_names) / sizeof(compliance_flag_names[0]); i++)
			if (t->compliance_flags & compliance_flag_names[i].bit)
				tok_s(&k, NULL, compliance_flag_names[i].name);
		av_tokens(&b, "compliance_flags", &k);
		if (t->alerts & TXP_ALERT_FRAUD)
			tok_s(&k, "fraud", txp_severity_name(t->fraud_severity));
		if (t->alerts & TXP_ALERT_COMPLIANCE)
			tok_s(&k, "compliance", txp_severity_name(t->compliance_severity));
		av_tokens(&b, "severity", &k);
		if (t->has_timestamp && txp_iso8601_ms(t->timestamp_ms, when) > 0)
			av_s(&b, "event_time", when);
	}
	if (txp_iso8601_ms(t->received_ms, when) > 0)
		av_s(&b, "received_at", when);
	tok_stage(&k, "validation", t->t_received, t->t_validated);
	tok_stage(&k, "fraud", t->t_received, t->t_fraud);
	tok_stage(&k, "compliance", t->t_received, t->t_compliance);
	av_tokens(&b, "stage_us", &k);
	av_s(&b, "daemon_version", version != NULL ? version : "");
	/* The rules that decided it (stages.h), absent for records from
	 * before rules versions. */
	av_s_opt(&b, "rules_version", t->rules_version);
	if (t->rules_version[0] != '\0' && txp_iso8601_ms(t->rules_loaded_ms, when) > 0)
		av_s(&b, "rules_loaded_at", when);
	if (t->expires_at > 0)
		av_n(&b, "expires_at", t->expires_at);
	txp_sbuf_raw(&b, "}", 1);
	txp_sbuf_free(&k);
	return txp_sbuf_finish(&b, len);
}

static char *build_alert(const struct txp_txn *t, unsigned kind, size_t *len)
{
	struct txp_sbuf b = {0};
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
	if (t->scored) {
		txp_sbuf_str(&b, ",\"risk_score\":");
		txp_sbuf_int(&b, t->risk_score);
	}
	txp_sbuf_str(&b, ",\"reasons\":[");
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (i > 0)
			txp_sbuf_raw(&b, ",", 1);
		txp_sbuf_json_str(&b, t->reasons[i].code);
	}
	txp_sbuf_str(&b, "]");
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
	char *item = NULL, *alert[TXP_ALERT_KINDS] = {NULL, NULL};
	size_t len = 0, alen[TXP_ALERT_KINDS] = {0, 0};
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
