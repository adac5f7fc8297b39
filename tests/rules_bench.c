/* rules_bench.c: micro-benchmark (not a test) of fraud + compliance per transaction on one thread. */
#include "txpipe/compliance.h"
#include "txpipe/config.h"
#include "txpipe/fraud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Writes "c" and the decimal digits of v; cheaper than snprintf in the loop. */
static void put_id(char *dst, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	*dst++ = 'c';
	while (n > 0)
		*dst++ = tmp[--n];
	*dst = '\0';
}

/* xorshift64: a fixed, reproducible mix of customers, merchants and amounts. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	long customers = argc > 2 ? atol(argv[2]) : 50000;
	static const uint8_t key[16] = { 1 };
	struct txp_config all;
	struct txp_fraud_config *fcfg = &all.fraud;
	struct txp_compliance_config *ccfg = &all.compliance;
	struct txp_rates rates;
	struct txp_fraud_rules *fr;
	struct txp_compliance_rules *cr;
	struct txp_fraud_state *fs;
	struct txp_compliance_state *cs;
	struct txp_txn *pool;
	char err[256];
	uint64_t seed = 88172645463325252u, t0, t1;
	long declined = 0, review = 0;
	enum { POOL = 4096 };

	/* The daemon's defaults: the config table's. */
	if (txp_config_defaults(&all) != 0 ||
	    txp_rates_parse("USD:1000000,EUR:1080000,GBP:1270000,JPY:6700", &rates, err, sizeof(err)) != 0)
		return 1;
	fcfg->max_tracked_keys = (uint64_t)customers * 2;
	ccfg->max_tracked_keys = (uint64_t)customers * 2;
	if (txp_fraud_rules_create(fcfg, &rates, &fr, err, sizeof(err)) != 0 ||
	    txp_compliance_rules_create(ccfg, &rates, &cr, err, sizeof(err)) != 0 ||
	    txp_fraud_state_create(fr, key, &fs, err, sizeof(err)) != 0 ||
	    txp_compliance_state_create(cr, key, &cs, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* Prepared transactions, reset before each use, so the timing covers
	 * the stages only (validation and allocation are measured elsewhere). */
	pool = calloc(POOL, sizeof(*pool));
	for (int i = 0; i < POOL; i++) {
		struct txp_txn *t = &pool[i];
		uint64_t r = rnd(&seed);
		snprintf(t->transaction_id, sizeof(t->transaction_id), "tx-%d", i);
		snprintf(t->customer_id, sizeof(t->customer_id), "cust-%llu",
		         (unsigned long long)(r % (uint64_t)customers));
		snprintf(t->merchant_id, sizeof(t->merchant_id), "merchant-%llu", (unsigned long long)(r >> 40) % 2000);
		t->amount = (int64_t)(rnd(&seed) % 50000) + 100;
		memcpy(t->currency, i % 5 == 0 ? "EUR" : "USD", 4);
		t->currency_exponent = 2;
		memcpy(t->merchant_country, "US", 3);
		memcpy(t->customer_country, i % 7 == 0 ? "GB" : "US", 3);
		if (i % 2 == 0) {
			t->has_card = true;
			snprintf(t->card_token, sizeof(t->card_token), "%032llx", (unsigned long long)rnd(&seed));
		}
		snprintf(t->device_id, sizeof(t->device_id), "device-%llx", (unsigned long long)(r & 0xffffff));
		snprintf(t->ip_address, sizeof(t->ip_address), "192.0.2.%d", i % 250);
		t->kyc = TXP_KYC_VERIFIED;
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct txp_txn *t = &pool[i % POOL];
		t->status = TXP_STATUS_APPROVED;
		t->n_reasons = 0;
		t->alerts = 0;
		t->amount_usd_known = false;
		/* 100k tx/s of simulated daemon time. */
		t->received_ms = INT64_C(1793577600000) + i / 100;
		/* A fresh customer and amount each time, so the customer mix and
		 * the velocity state follow `customers`, not the pool size. */
		put_id(t->customer_id, rnd(&seed) % (uint64_t)customers);
		/* History is keyed by the pseudonym; the id stands in for it. */
		memcpy(t->customer_key, t->customer_id, sizeof(t->customer_key) - 1);
		t->customer_key[sizeof(t->customer_key) - 1] = '\0';
		t->amount = (int64_t)(rnd(&seed) % 50000) + 100;
		txp_fraud_score(fs, t);
		txp_compliance_check(cs, t);
		declined += t->status == TXP_STATUS_DECLINED;
		review += t->status == TXP_STATUS_REVIEW;
	}
	t1 = now_ns();
	printf("%ld transactions, %ld customers: %.0f ns per transaction (fraud + compliance), "
	       "%.0f tx/s on one core; review %ld, declined %ld\n",
	       n, customers, (double)(t1 - t0) / (double)n, (double)n * 1e9 / (double)(t1 - t0), review, declined);
	free(pool);
	txp_compliance_state_destroy(cs);
	txp_fraud_state_destroy(fs);
	txp_compliance_rules_unref(cr);
	txp_fraud_rules_unref(fr);
	txp_rates_free(&rates);
	txp_config_free(&all);
	return 0;
}
