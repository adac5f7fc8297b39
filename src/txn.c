/* txn.c: transaction lifetime, reason codes and the protocol's reply line. */
#include "txpipe/txn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct txp_txn *txp_txn_new(void)
{
	return calloc(1, sizeof(struct txp_txn));
}

void txp_txn_free(struct txp_txn *t)
{
	if (t == NULL)
		return;
	if (t->line != NULL) {
		/* The raw line may hold a card number: never leave it in freed
		 * memory. */
		sodium_memzero(t->line, t->line_len);
		free(t->line);
	}
	free(t->reply);
	free(t->item);
	free(t->alert[0]);
	free(t->alert[1]);
	free(t);
}

void txp_txn_add_reason(struct txp_txn *t, const char *code, int points)
{
	if (t->n_reasons < TXP_MAX_REASONS) {
		t->reasons[t->n_reasons].code = code;
		t->reasons[t->n_reasons].points = points;
		t->n_reasons++;
	}
}

void txp_txn_fail(struct txp_txn *t, enum txp_status status, const char *code, const char *field,
                  const char *fmt, ...)
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
	static const char *const names[TXP_STATUS_COUNT] = {"approved", "review", "declined", "rejected",
	                                                     "error"};
	return (unsigned)s < TXP_STATUS_COUNT ? names[s] : "error";
}

const char *txp_channel_name(enum txp_channel c)
{
	static const char *const names[TXP_CHANNEL_COUNT] = {"", "online", "pos", "atm", "mobile", "moto"};
	return (unsigned)c < TXP_CHANNEL_COUNT ? names[c] : "";
}

const char *txp_kyc_name(enum txp_kyc k)
{
	static const char *const names[TXP_KYC_COUNT] = {"", "verified", "pending", "unverified", "failed"};
	return (unsigned)k < TXP_KYC_COUNT ? names[k] : "";
}

const char *txp_severity_name(enum txp_severity s)
{
	static const char *const names[TXP_SEVERITY_COUNT] = {"none", "low", "medium", "high", "critical"};
	return (unsigned)s < TXP_SEVERITY_COUNT ? names[s] : "none";
}

/* A growable buffer for building small JSON texts without jansson's
 * allocations on the hot path. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
	char *np;
	size_t ncap;

	if (b->oom || b->len + more + 1 <= b->cap)
		return;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + more + 1)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (np == NULL) {
		b->oom = true;
		return;
	}
	b->p = np;
	b->cap = ncap;
}

static void sb_raw(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_raw(b, s, strlen(s));
}

/* Appends `s` as a JSON string literal.  Input is valid UTF-8 by the time it
 * gets here (validation checks it); control characters are escaped.  Runs
 * of characters that need no escape are copied in one go: this is on every
 * reply's path. */
static void sb_json_str(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	sb_raw(b, "\"", 1);
	for (;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sb_raw(b, run, (size_t)(s - run));
		if (c == '\0')
			break;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			sb_raw(b, esc, 2);
		} else {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sb_raw(b, esc, 6);
		}
		run = s + 1;
	}
	sb_raw(b, "\"", 1);
}

static void sb_int(struct sbuf *b, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);
	sb_raw(b, num, (size_t)n);
}

int txp_txn_build_reply(struct txp_txn *t)
{
	struct sbuf b = {0};

	sb_reserve(&b, 192);
	sb_str(&b, "{\"transaction_id\":");
	if (t->has_id)
		sb_json_str(&b, t->transaction_id);
	else
		sb_str(&b, "null");
	sb_str(&b, ",\"status\":\"");
	sb_str(&b, txp_status_name(t->status));
	sb_str(&b, "\"");
	if (t->scored) {
		sb_str(&b, ",\"risk_score\":");
		sb_int(&b, t->risk_score);
	}
	sb_str(&b, ",\"reasons\":[");
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (i > 0)
			sb_raw(&b, ",", 1);
		sb_json_str(&b, t->reasons[i].code);
	}
	sb_str(&b, "]");
	if (t->n_reasons > 0 && t->scored) {
		/* How much each reason contributed, in the order of `reasons`. */
		sb_str(&b, ",\"contributions\":{");
		for (unsigned i = 0; i < t->n_reasons; i++) {
			if (i > 0)
				sb_raw(&b, ",", 1);
			sb_json_str(&b, t->reasons[i].code);
			sb_raw(&b, ":", 1);
			sb_int(&b, t->reasons[i].points);
		}
		sb_str(&b, "}");
	}
	if (t->status == TXP_STATUS_REJECTED || t->status == TXP_STATUS_ERROR) {
		sb_str(&b, ",\"error\":{\"code\":");
		sb_json_str(&b, t->error.code);
		sb_str(&b, ",\"message\":");
		sb_json_str(&b, t->error.message);
		sb_str(&b, ",\"field\":");
		if (t->error.field[0] != '\0')
			sb_json_str(&b, t->error.field);
		else
			sb_str(&b, "null");
		sb_str(&b, "}");
	}
	sb_str(&b, "}\n");
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	free(t->reply);
	t->reply = b.p;
	t->reply_len = (uint32_t)b.len;
	return 0;
}

char *txp_reply_error(const char *code, const char *message, size_t *len)
{
	struct sbuf b = {0};

	sb_str(&b, "{\"transaction_id\":null,\"status\":\"error\",\"reasons\":[],\"error\":{\"code\":");
	sb_json_str(&b, code);
	sb_str(&b, ",\"message\":");
	sb_json_str(&b, message);
	sb_str(&b, ",\"field\":null}}\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
