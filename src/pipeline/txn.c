/* txn.c: transaction lifetime, reason codes and the protocol's reply line. */
#include "txpipe/txn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "txpipe/sbuf.h"

const char *const txp_name_fields[TXP_NAME_FIELDS] = { "customer_name", "counterparty_name", "beneficiary_name" };

struct txp_txn *txp_txn_new(void)
{
	return calloc(1, sizeof(struct txp_txn));
}

struct txp_txn *txp_txn_new_line(const char *line, size_t len)
{
	struct txp_txn *t;

	if (len >= UINT32_MAX || len > SIZE_MAX - sizeof(*t) - 1)
		return NULL;
	t = malloc(sizeof(*t) + len + 1);
	if (t == NULL)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->line = (char *)(t + 1);
	memcpy(t->line, line, len);
	t->line[len] = '\0';
	t->line_len = (uint32_t)len;
	t->line_in_txn = true;
	return t;
}

void txp_txn_drop_line(struct txp_txn *t)
{
	if (t->line == NULL)
		return;
	sodium_memzero(t->line, t->line_len);
	if (!t->line_in_txn)
		free(t->line);
	t->line = NULL;
	t->line_len = 0;
	t->line_in_txn = false;
}

/* Frees what t owns; the raw line may hold a card number, so it is never
 * left in freed memory. */
static void release(struct txp_txn *t)
{
	txp_txn_drop_line(t);
	free(t->reply);
	free(t->item);
	free(t->alert[0]);
	free(t->alert[1]);
}

void txp_txn_free(struct txp_txn *t)
{
	if (t == NULL)
		return;
	release(t);
	/* Normally wiped by the compliance stage already; a transaction
	 * dropped on the way (shutdown) still never leaves them behind. */
	sodium_memzero(t->names, sizeof(t->names));
	free(t);
}

void txp_txn_clear(struct txp_txn *t)
{
	release(t);
	/* Zeroes the names too: t lives on, so this store is not dropped
	 * as one before a free can be. */
	memset(t, 0, sizeof(*t));
}

void txp_txn_add_reason(struct txp_txn *t, const char *code, int points)
{
	if (t->n_reasons < TXP_MAX_REASONS) {
		t->reasons[t->n_reasons].code = code;
		t->reasons[t->n_reasons].points = points;
		t->n_reasons++;
	}
}

void txp_txn_fail(struct txp_txn *t, enum txp_status status, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	t->status = status;
	snprintf(t->error.code, sizeof(t->error.code), "%s", code);
	snprintf(t->error.field, sizeof(t->error.field), "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(t->error.message, sizeof(t->error.message), fmt, ap);
	va_end(ap);
}

void txp_txn_escalate(struct txp_txn *t, enum txp_status s)
{
	/* The three decision outcomes are ordered by severity in the enum. */
	if (t->status > TXP_STATUS_DECLINED || s > TXP_STATUS_DECLINED)
		return;
	if (s > t->status)
		t->status = s;
}

void txp_txn_alert(struct txp_txn *t, uint32_t alert, enum txp_severity sev)
{
	uint8_t *slot;

	if (sev == TXP_SEVERITY_NONE || (unsigned)sev >= TXP_SEVERITY_COUNT)
		return;
	if (alert == TXP_ALERT_FRAUD)
		slot = &t->fraud_severity;
	else if (alert == TXP_ALERT_COMPLIANCE)
		slot = &t->compliance_severity;
	else
		return;
	t->alerts |= alert;
	if ((uint8_t)sev > *slot)
		*slot = (uint8_t)sev;
}

const char *txp_status_name(enum txp_status s)
{
	static const char *const names[TXP_STATUS_COUNT] = { "approved", "review", "declined", "rejected", "error" };
	return (unsigned)s < TXP_STATUS_COUNT ? names[s] : "error";
}

const char *txp_channel_name(enum txp_channel c)
{
	static const char *const names[TXP_CHANNEL_COUNT] = { "", "online", "pos", "atm", "mobile", "moto" };
	return (unsigned)c < TXP_CHANNEL_COUNT ? names[c] : "";
}

const char *txp_kyc_name(enum txp_kyc k)
{
	static const char *const names[TXP_KYC_COUNT] = { "", "verified", "pending", "unverified", "failed" };
	return (unsigned)k < TXP_KYC_COUNT ? names[k] : "";
}

const char *txp_severity_name(enum txp_severity s)
{
	static const char *const names[TXP_SEVERITY_COUNT] = { "none", "low", "medium", "high", "critical" };
	return (unsigned)s < TXP_SEVERITY_COUNT ? names[s] : "none";
}

void txp_txn_score_json(struct txp_sbuf *b, unsigned milli)
{
	char s[8];

	/* Thousandths as a JSON number with three decimals, without going
	 * through a double or the locale. */
	if (milli > 1000)
		milli = 1000;
	s[0] = (char)('0' + milli / 1000);
	s[1] = '.';
	s[2] = (char)('0' + milli / 100 % 10);
	s[3] = (char)('0' + milli / 10 % 10);
	s[4] = (char)('0' + milli % 10);
	txp_sbuf_raw(b, s, 5);
}

void txp_txn_json_reasons(struct txp_sbuf *b, const struct txp_txn *t)
{
	if (t->scored) {
		txp_sbuf_str(b, ",\"risk_score\":");
		txp_sbuf_int(b, t->risk_score);
	}
	txp_sbuf_str(b, ",\"reasons\":[");
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (i > 0)
			txp_sbuf_raw(b, ",", 1);
		txp_sbuf_json_str(b, t->reasons[i].code);
	}
	txp_sbuf_str(b, "]");
}

void txp_txn_json_sanctions_match(struct txp_sbuf *b, const struct txp_txn *t)
{
	if (t->name_hit_field == 0 || t->name_hit_field > TXP_NAME_FIELDS)
		return;
	/* The list entry a party name matched: never the name itself. */
	txp_sbuf_str(b, ",\"sanctions_match\":{\"field\":");
	txp_sbuf_json_str(b, txp_name_fields[t->name_hit_field - 1]);
	txp_sbuf_str(b, ",\"list\":");
	txp_sbuf_json_str(b, t->name_hit_list);
	txp_sbuf_str(b, ",\"entry\":");
	txp_sbuf_json_str(b, t->name_hit_entry);
	txp_sbuf_str(b, ",\"score\":");
	txp_txn_score_json(b, t->name_hit_score);
	txp_sbuf_str(b, "}");
}

int txp_txn_build_reply(struct txp_txn *t)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"transaction_id\":");
	if (t->has_id)
		txp_sbuf_json_str(&b, t->transaction_id);
	else
		txp_sbuf_str(&b, "null");
	txp_sbuf_str(&b, ",\"status\":\"");
	txp_sbuf_str(&b, txp_status_name(t->status));
	txp_sbuf_str(&b, "\"");
	txp_txn_json_reasons(&b, t);
	if (t->n_reasons > 0 && t->scored) {
		/* How much each reason contributed, in the order of `reasons`. */
		txp_sbuf_str(&b, ",\"contributions\":{");
		for (unsigned i = 0; i < t->n_reasons; i++) {
			if (i > 0)
				txp_sbuf_raw(&b, ",", 1);
			txp_sbuf_json_str(&b, t->reasons[i].code);
			txp_sbuf_raw(&b, ":", 1);
			txp_sbuf_int(&b, t->reasons[i].points);
		}
		txp_sbuf_str(&b, "}");
	}
	txp_txn_json_sanctions_match(&b, t);
	if (t->status == TXP_STATUS_REJECTED || t->status == TXP_STATUS_ERROR) {
		txp_sbuf_str(&b, ",\"error\":{\"code\":");
		txp_sbuf_json_str(&b, t->error.code);
		txp_sbuf_str(&b, ",\"message\":");
		txp_sbuf_json_str(&b, t->error.message);
		txp_sbuf_str(&b, ",\"field\":");
		if (t->error.field[0] != '\0')
			txp_sbuf_json_str(&b, t->error.field);
		else
			txp_sbuf_str(&b, "null");
		txp_sbuf_str(&b, "}");
	}
	txp_sbuf_str(&b, "}\n");
	size_t len;
	char *reply = txp_sbuf_finish(&b, &len);
	if (reply == NULL)
		return -ENOMEM;
	free(t->reply);
	t->reply = reply;
	t->reply_len = (uint32_t)len;
	return 0;
}

char *txp_reply_error(const char *code, const char *message, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"transaction_id\":null,\"status\":\"error\",\"reasons\":[],\"error\":{\"code\":");
	txp_sbuf_json_str(&b, code);
	txp_sbuf_str(&b, ",\"message\":");
	txp_sbuf_json_str(&b, message);
	txp_sbuf_str(&b, ",\"field\":null}}\n");
	return txp_sbuf_finish(&b, len);
}
