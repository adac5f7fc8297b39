/* state_bench.c: measurement (not a test) of the screening state at real cardinality: memory, state-full decisions, ns per transaction. */
#include "txpipe/compliance.h"
#include "txpipe/config.h"
#include "txpipe/fraud.h"
#include "txpipe/stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Drives the real fraud and compliance rules, with the daemon's default
 * configuration and the table sizes the daemon would pick on this host
 * (max_tracked_keys = 0, one shard), through a simulated day:
 *
 *   tests/state_bench [customers [cards [transactions]]]
 *
 * (defaults 10,000,000 customers, 10,000,000 cards, twice the larger as
 * transactions).  Transactions are spread evenly over 24 hours of
 * simulated time (the rules take time as input).  The first max(customers,
 * cards) transactions bring every customer and every card once, each with a
 * small amount so that every card enters the card-testing table too (the
 * worst case for it); the rest are a retail mix of random customers and
 * cards, 40% small amounts, 60% USD 5-500, in USD, EUR and GBP, at 200,000
 * merchants.  Every key is still live at the end of the day (the longest
 * window is 24 h), so the tables hold the whole population at once.
 *
 * Prints the table sizes chosen, any *_state_full decisions (there must be
 * none), VmRSS and VmHWM from /proc/self/status before and after, the
 * state's resident bytes per key, and ns per transaction.  Build without
 * sanitizers: `make tests/state_bench`.
 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64: a fixed, reproducible mix. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* VmRSS or VmHWM in kB from /proc/self/status, 0 when unreadable. */
static unsigned long long status_kb(const char *field)
{
	char line[256];
	unsigned long long kb = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			kb = strtoull(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static void report_mem(const char *when)
{
	printf("%-28s VmRSS %8.1f MiB  VmHWM %8.1f MiB\n", when, (double)status_kb("VmRSS") / 1024.0,
	       (double)status_kb("VmHWM") / 1024.0);
}

static void print_table(const char *name, const struct txp_keytab_stats *s)
{
	printf("  %-22s %10zu of %10zu keys, %llu refused (full), %llu expired entries reused\n", name, s->used,
	       s->max_keys, (unsigned long long)s->overflows, (unsigned long long)s->evictions);
}

static bool has_reason(const struct txp_txn *t, const char *code)
{
	for (unsigned i = 0; i < t->n_reasons; i++) {
		if (strcmp(t->reasons[i].code, code) == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	uint64_t customers = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	uint64_t cards = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;
	uint64_t first = customers > cards ? customers : cards;
	uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 2 * first;
	static const uint8_t key[16] = { 7 };
	static const char *const currencies[3] = { "USD", "EUR", "GBP" };
	struct txp_config all;
	struct txp_fraud_config fcfg;
	struct txp_compliance_config ccfg;
	struct txp_rates rates;
	struct txp_fraud_rules *fr;
	struct txp_compliance_rules *cr;
	struct txp_fraud_state *fs;
	struct txp_compliance_state *cs;
	struct txp_fraud_stats fstat;
	struct txp_keytab_stats cstat;
	struct txp_txn *t;
	char err[256];
	uint64_t seed = 88172645463325252u, t0, t1, keys, phys;
	uint64_t velocity_full = 0, compliance_full = 0, review = 0, declined = 0;
	unsigned long long rss0, rss1;
	const int64_t day = INT64_C(86400000), start = INT64_C(1796342400000); /* 2026-12-04 */

	if (customers == 0 || cards == 0 || n < first) {
		fprintf(stderr, "usage: state_bench [customers [cards [transactions >= max(customers, cards)]]]\n");
		return 2;
	}
	if (txp_config_defaults(&all) != 0 ||
	    txp_rates_parse("USD:1000000,EUR:1160000,GBP:1330000", &rates, err, sizeof(err)) != 0)
		return 1;
	/* As the daemon sizes them (src/pipeline/stages.c), for its default
	 * single shard. */
	phys = txp_stages_host_memory();
	fcfg = all.fraud;
	ccfg = all.compliance;
	keys = txp_state_auto_keys(phys, 1, txp_fraud_bytes_per_key() + txp_compliance_bytes_per_key());
	txp_fraud_config_size(&fcfg, keys);
	if (ccfg.max_tracked_keys == 0)
		ccfg.max_tracked_keys = keys;
	printf("memory for sizing %.1f GiB; default config: %llu keys per table (merchants %llu); "
	       "%zu + %zu bytes per key (fraud + compliance)\n",
	       (double)phys / (1 << 30), (unsigned long long)fcfg.max_tracked_keys,
	       (unsigned long long)fcfg.max_tracked_merchants, txp_fraud_bytes_per_key(),
	       txp_compliance_bytes_per_key());
	printf("%llu customers, %llu cards, %llu transactions over 24 h of simulated time\n",
	       (unsigned long long)customers, (unsigned long long)cards, (unsigned long long)n);
	report_mem("before the state:");
	if (txp_fraud_rules_create(&fcfg, &rates, &fr, err, sizeof(err)) != 0 ||
	    txp_compliance_rules_create(&ccfg, &rates, &cr, err, sizeof(err)) != 0 ||
	    txp_fraud_state_create(fr, key, &fs, err, sizeof(err)) != 0 ||
	    txp_compliance_state_create(cr, key, &cs, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rss0 = status_kb("VmRSS");
	report_mem("state created (empty):");

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return 1;
	memcpy(t->merchant_country, "US", 3);
	memcpy(t->customer_country, "US", 3);
	t->currency_exponent = 2;
	t->kyc = TXP_KYC_VERIFIED;
	t->has_card = true;
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = rnd(&seed), c, k;
		bool small;

		t->status = TXP_STATUS_APPROVED;
		t->n_reasons = 0;
		t->alerts = 0;
		t->compliance_flags = 0;
		t->amount_usd_known = false;
		t->received_ms = start + (int64_t)(i * (uint64_t)day / n);
		if (i < first) {
			c = i % customers;
			k = (i * UINT64_C(2654435761)) % cards; /* every card once (2654435761 is prime) */
			small = true;
		} else {
			c = r % customers;
			k = (r >> 20) % cards;
			small = rnd(&seed) % 10 < 4;
		}
		snprintf(t->customer_key, sizeof(t->customer_key), "cust-%llu", (unsigned long long)c);
		memcpy(t->customer_id, t->customer_key, sizeof(t->customer_id) - 1);
		snprintf(t->card_token, sizeof(t->card_token), "%032llx", (unsigned long long)k * 0x9e3779b97f4a7c15u);
		snprintf(t->merchant_id, sizeof(t->merchant_id), "m-%llu", (unsigned long long)(r >> 40) % 200000);
		memcpy(t->currency, currencies[(r >> 8) % 3], 4);
		t->amount = small ? 50 + (int64_t)(rnd(&seed) % 300) : 500 + (int64_t)(rnd(&seed) % 49500);
		txp_fraud_score(fs, t);
		txp_compliance_check(cs, t);
		velocity_full += has_reason(t, "velocity_state_full");
		compliance_full += has_reason(t, "compliance_state_full");
		review += t->status == TXP_STATUS_REVIEW;
		declined += t->status == TXP_STATUS_DECLINED;
	}
	t1 = now_ns();
	rss1 = status_kb("VmRSS");
	report_mem("after the day:");
	txp_fraud_stats(fs, &fstat);
	txp_compliance_stats(cs, &cstat);
	print_table("fraud customers", &fstat.customers);
	print_table("fraud cards", &fstat.cards);
	print_table("fraud merchants", &fstat.merchants);
	print_table("compliance customers", &cstat);
	printf("velocity_state_full %llu, compliance_state_full %llu; review %llu, declined %llu\n",
	       (unsigned long long)velocity_full, (unsigned long long)compliance_full, (unsigned long long)review,
	       (unsigned long long)declined);
	printf("state grew by %.1f MiB: %.1f bytes per customer+card pair, %.1f MiB per million "
	       "customers with their cards\n",
	       (double)(rss1 - rss0) / 1024.0, (double)(rss1 - rss0) * 1024.0 / (double)first,
	       (double)(rss1 - rss0) / 1024.0 * 1e6 / (double)first);
	printf("%.0f ns per transaction (fraud + compliance, one thread)\n", (double)(t1 - t0) / (double)n);
	free(t);
	txp_compliance_state_destroy(cs);
	txp_fraud_state_destroy(fs);
	txp_compliance_rules_unref(cr);
	txp_fraud_rules_unref(fr);
	txp_rates_free(&rates);
	txp_config_free(&all);
	return velocity_full + compliance_full == 0 ? 0 : 1;
}
