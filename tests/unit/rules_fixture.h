/* rules_fixture.h: shared helpers for the fraud and compliance tests: transactions, rates, list files. */
#ifndef TXPIPE_TESTS_RULES_FIXTURE_H
#define TXPIPE_TESTS_RULES_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txpipe/config.h"
#include "txpipe/rulelists.h"
#include "txpipe/txn.h"

/* 2026-11-02T00:00:00Z, a round number of seconds well past the epoch. */
#define FX_T0 INT64_C(1793577600000)

static const uint8_t fx_hash_key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* A validated transaction: USD, domestic, card present, verified KYC. */
static inline struct txp_txn *fx_txn(const char *customer, const char *merchant, int64_t cents, int64_t received_ms)
{
	struct txp_txn *t = txp_txn_new();

	ck_assert_ptr_nonnull(t);
	t->has_id = true;
	snprintf(t->transaction_id, sizeof(t->transaction_id), "tx-%s-%lld", customer, (long long)received_ms);
	t->amount = cents;
	memcpy(t->currency, "USD", 4);
	t->currency_exponent = 2;
	snprintf(t->customer_id, sizeof(t->customer_id), "%s", customer);
	/* The daemon keys history by the customer's pseudonym; any stable
	 * string per customer does here. */
	snprintf(t->customer_key, sizeof(t->customer_key), "%s", customer);
	snprintf(t->merchant_id, sizeof(t->merchant_id), "%s", merchant);
	memcpy(t->merchant_country, "US", 3);
	memcpy(t->customer_country, "US", 3);
	t->has_timestamp = true;
	t->timestamp_ms = received_ms;
	t->received_ms = received_ms;
	t->kyc = TXP_KYC_VERIFIED;
	t->channel = TXP_CHANNEL_ONLINE;
	return t;
}

static inline void fx_card(struct txp_txn *t, const char *token)
{
	t->has_card = true;
	snprintf(t->card_token, sizeof(t->card_token), "%s", token);
	memcpy(t->card_bin, "411111", 7);
	memcpy(t->card_last4, "1111", 5);
}

static inline bool fx_has(const struct txp_txn *t, const char *code)
{
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (strcmp(t->reasons[i].code, code) == 0)
			return true;
	}
	return false;
}

static inline int fx_points(const struct txp_txn *t, const char *code)
{
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (strcmp(t->reasons[i].code, code) == 0)
			return t->reasons[i].points;
	}
	return -1;
}

static inline void fx_rates(struct txp_rates *r)
{
	char err[128];

	ck_assert_int_eq(txp_rates_parse("USD:1000000, EUR:1080000, JPY:6700, KWD:3250000", r, err, sizeof(err)), 0);
}

/* Writes `text` to a new temporary file and returns its path (free it and
 * unlink it with fx_unlink). */
static inline char *fx_list_file(const char *text)
{
	char *path = strdup("/tmp/txp-rules-test-XXXXXX");
	int fd;

	ck_assert_ptr_nonnull(path);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static inline void fx_unlink(char *path)
{
	unlink(path);
	free(path);
}

/*
 * The real defaults, from the config table (src/config_table.c), as the
 * daemon gets them: the whole configuration is filled, the stage's part is
 * taken (its strings now owned by `out`: free with txp_*_config_free) and
 * the rest freed.
 */
static inline void fx_fraud_defaults(struct txp_fraud_config *out)
{
	struct txp_config all;

	ck_assert_int_eq(txp_config_defaults(&all), 0);
	*out = all.fraud;
	memset(&all.fraud, 0, sizeof(all.fraud));
	txp_config_free(&all);
}

static inline void fx_compliance_defaults(struct txp_compliance_config *out)
{
	struct txp_config all;

	ck_assert_int_eq(txp_config_defaults(&all), 0);
	*out = all.compliance;
	memset(&all.compliance, 0, sizeof(all.compliance));
	txp_config_free(&all);
}

static inline void fx_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	ck_assert_ptr_nonnull(*field);
}

#endif
