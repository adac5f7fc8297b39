/* validate_bench.c: micro-benchmark (not a test) of txp_validate on a typical 14-field line, one thread. */
#include "txpipe/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this thread: other load on the machine (or a hypervisor
 * stealing cycles) does not count against the code under test. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What a JSON encoder with ", " and ": " separators writes for a full
 * transaction: every field of the protocol, 14 in all. */
static const char line[] =
        "{\"transaction_id\": \"tx-20240501-000123456\", \"amount\": \"1234.56\", \"currency\": \"USD\", "
        "\"merchant_id\": \"merchant-00042\", \"customer_id\": \"customer-0001234\", "
        "\"merchant_country\": \"US\", \"customer_country\": \"DE\", "
        "\"timestamp\": \"2024-05-01T12:30:00.250Z\", \"card_number\": \"4111 1111 1111 1111\", "
        "\"merchant_category\": \"5411\", \"channel\": \"online\", \"ip_address\": \"192.0.2.7\", "
        "\"device_id\": \"device-abcdef0123456789-android-14\", \"customer_kyc_status\": \"verified\"}";

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	static const unsigned char key[TXP_CARD_KEY_BYTES] = { 1 };
	struct txp_config cfg;
	struct txp_validator *v;
	struct txp_txn *t;
	size_t len = sizeof(line) - 1;
	uint64_t t0, t1, t2;
	long bad = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.validation.max_amount = 1000000;
	if (txp_validate_global_init() != 0 || (v = txp_validator_new(&cfg, key)) == NULL ||
	    (t = txp_txn_new()) == NULL)
		return 1;
	/* The copy loop alone: what the server pays to hand over a line. */
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		char *l = malloc(len + 1);
		memcpy(l, line, len + 1);
		__asm__ volatile("" : : "r"(l) : "memory");
		free(l);
	}
	t1 = now_ns();
	for (long i = 0; i < n; i++) {
		t->line = malloc(len + 1);
		memcpy(t->line, line, len + 1);
		t->line_len = (uint32_t)len;
		if (txp_validate(v, t) != 0)
			bad++;
	}
	t2 = now_ns();
	printf("line %zu bytes, %ld lines, %ld rejected, thread CPU time: copy %.1f ns/line, copy+validate "
	       "%.1f ns/line, validate %.1f ns/line\n",
	       len, n, bad, (double)(t1 - t0) / (double)n, (double)(t2 - t1) / (double)n,
	       (double)((t2 - t1) - (t1 - t0)) / (double)n);
	txp_txn_free(t);
	txp_validator_free(v);
	return bad != 0;
}
