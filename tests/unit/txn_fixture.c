/* txn_fixture.c: the decided transaction of txn_fixture.h. */
#include "txn_fixture.h"

#include <string.h>

struct txp_txn *txp_test_decided(void)
{
	struct txp_txn *t = txp_txn_new();

	t->has_id = true;
	strcpy(t->transaction_id, "tx-\"1\"");
	t->status = TXP_STATUS_REVIEW;
	t->scored = true;
	t->risk_score = 65;
	txp_txn_add_reason(t, "velocity_customer_1h", 40);
	txp_txn_add_reason(t, "high_amount", 25);
	t->amount = 9007199254740993; /* beyond 2^53: must stay exact */
	strcpy(t->currency, "EUR");
	t->currency_exponent = 2;
	t->amount_usd_known = true;
	t->amount_usd = 123456;
	strcpy(t->merchant_id, "m-42");
	strcpy(t->customer_id, "alice@example.com");
	strcpy(t->customer_pseud, "0123456789abcdef0123456789abcdef");
	strcpy(t->ip_address, "192.0.2.7");
	strcpy(t->ip_pseud, "ffffffffffffffffffffffffffffffff");
	strcpy(t->device_id, "device-raw-1");
	strcpy(t->merchant_country, "FR");
	strcpy(t->customer_country, "DE");
	t->has_card = true;
	strcpy(t->card_bin, "411111");
	strcpy(t->card_last4, "1111");
	strcpy(t->card_token, "abcdefabcdefabcdefabcdefabcdefab");
	strcpy(t->merchant_category, "5999");
	t->channel = TXP_CHANNEL_ONLINE;
	t->kyc = TXP_KYC_VERIFIED;
	t->compliance_flags = TXP_COMPLIANCE_AML_REPORT | TXP_COMPLIANCE_KYC;
	t->received_ms = 1767225600123; /* 2026-01-01T00:00:00.123Z */
	t->t_received = 1000000000;
	t->t_validated = t->t_received + 15000; /* 15 us */
	t->t_fraud = t->t_validated + 40000;    /* 40 us */
	t->t_compliance = t->t_fraud + 2500000; /* 2500 us: decided 2 ms later */
	t->expires_at = 1798761600;
	txp_txn_alert(t, TXP_ALERT_FRAUD, TXP_SEVERITY_HIGH);
	return t;
}
