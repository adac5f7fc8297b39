/* test_replay.c: txpipectl replay's engine: the same file under two configs reports exactly the changed decisions. */
#include "txpipe/replay.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txpipe/config.h"
#include "txpipe/keys.h"

static char dir[64];

static void set(struct txp_config *cfg, const char *section, const char *key, const char *value)
{
	char err[256];
	const struct txp_config_key *k = txp_config_find(section, key);

	ck_assert_ptr_nonnull(k);
	ck_assert_msg(txp_config_set(cfg, k, value, err, sizeof(err)) == 0, "%s", err);
}

/* A config with the shared key files and the high-amount rule at `usd`
 * major units for 60 points: over the review threshold (50) alone. */
static void config(struct txp_config *cfg, const char *usd)
{
	char path[128];

	ck_assert_int_eq(txp_config_defaults(cfg), 0);
	snprintf(path, sizeof(path), "%s/card.key", dir);
	set(cfg, "compliance", "card_token_key_file", path);
	snprintf(path, sizeof(path), "%s/pseud.key", dir);
	set(cfg, "compliance", "pseudonym_key_file", path);
	set(cfg, "fraud", "high_amount_usd", usd);
	set(cfg, "fraud", "high_amount_points", "60");
}

static void setup(void)
{
	char path[128], err[256];

	strcpy(dir, "/tmp/txp-replay-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/card.key", dir);
	ck_assert_int_eq(txp_key_generate(path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/pseud.key", dir);
	ck_assert_int_eq(txp_key_generate(path, err, sizeof(err)), 0);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#define TXN(id, amount, customer)                                                                               \
	"{\"transaction_id\":\"" id "\",\"amount\":\"" amount "\",\"currency\":\"USD\",\"merchant_id\":\"m-" id \
	"\",\"customer_id\":\"" customer "\",\"merchant_country\":\"DE\",\"customer_country\":\"DE\","          \
	"\"timestamp\":\"2026-12-06T10:00:00Z\"}\n"

static const char scenario[] = TXN("t1", "500.55", "c-1") TXN("t2", "1500.55", "c-2") "\n" TXN("t3", "1700.55", "c-3")
        TXN("t4", "4500.55", "c-4") "{\"transaction_id\":\"t5\",\"currency\":\"USD\"}\n" TXN("t2", "1500.55", "c-2");

/* Replays `scenario` under baseline / candidate thresholds; returns what
 * was printed (malloc'd). */
static char *replay(const char *base_usd, const char *cand_usd, struct txp_replay_summary *sum)
{
	struct txp_config a, b;
	struct txp_replayer *ra, *rb;
	char err[512], *text = NULL;
	size_t len = 0;
	FILE *in = fmemopen((void *)scenario, strlen(scenario), "r"), *out = open_memstream(&text, &len);

	config(&a, base_usd);
	config(&b, cand_usd);
	ck_assert_msg(txp_replayer_create(&ra, &a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(txp_replayer_create(&rb, &b, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(txp_replay_run(ra, rb, in, out, sum, err, sizeof(err)) == 0, "%s", err);
	fclose(in);
	fclose(out);
	txp_replayer_destroy(ra);
	txp_replayer_destroy(rb);
	txp_config_free(&a);
	txp_config_free(&b);
	return text;
}

START_TEST(raising_a_threshold_reports_exactly_the_transactions_it_changes)
{
	struct txp_replay_summary sum;
	char *text = replay("1000", "3000", &sum);
	const char *changes = "t2 review -> approved score 60 -> 0 -high_amount:60\n"
	                      "t3 review -> approved score 60 -> 0 -high_amount:60\n";

	/* t1 is under both thresholds, t4 over both, t5 rejected by both,
	 * and the second t2 is a duplicate answered with the first's
	 * decision on each side: the same change, so listed again. */
	ck_assert_msg(strncmp(text, changes, strlen(changes)) == 0, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "t2 review -> approved"));
	ck_assert_uint_eq(sum.lines, 6);
	ck_assert_uint_eq(sum.baseline[TXP_STATUS_APPROVED], 1);
	ck_assert_uint_eq(sum.baseline[TXP_STATUS_REVIEW], 3);
	ck_assert_uint_eq(sum.candidate[TXP_STATUS_APPROVED], 4);
	ck_assert_uint_eq(sum.candidate[TXP_STATUS_REVIEW], 0);
	ck_assert_uint_eq(sum.baseline[TXP_STATUS_DECLINED], 1);
	ck_assert_uint_eq(sum.candidate[TXP_STATUS_DECLINED], 1);
	ck_assert_uint_eq(sum.baseline[TXP_STATUS_REJECTED], 1);
	ck_assert_uint_eq(sum.candidate[TXP_STATUS_REJECTED], 1);
	ck_assert_uint_eq(sum.status_changed, 3);
	ck_assert_uint_eq(sum.reasons_changed, 0);
	ck_assert_ptr_nonnull(strstr(text, "approved              1            4       +3\n"));
	free(text);
}
END_TEST

START_TEST(the_same_rules_change_nothing)
{
	struct txp_replay_summary sum;
	char *text = replay("1000", "1000", &sum);

	ck_assert_uint_eq(sum.status_changed, 0);
	ck_assert_uint_eq(sum.reasons_changed, 0);
	/* Only the table and the summary line. */
	ck_assert_msg(strncmp(text, "status ", 7) == 0, "%s", text);
	free(text);
}
END_TEST

START_TEST(the_rules_version_names_each_side)
{
	struct txp_replay_summary sum;
	struct txp_config a, b;
	struct txp_replayer *ra, *rb;
	char err[512];

	config(&a, "1000");
	config(&b, "3000");
	ck_assert_msg(txp_replayer_create(&ra, &a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(txp_replayer_create(&rb, &b, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(txp_replayer_rules_version(ra)), 12);
	ck_assert_str_ne(txp_replayer_rules_version(ra), txp_replayer_rules_version(rb));
	txp_replayer_destroy(ra);
	txp_replayer_destroy(rb);
	txp_config_free(&a);
	txp_config_free(&b);
	(void)sum;
}
END_TEST

static Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, raising_a_threshold_reports_exactly_the_transactions_it_changes);
	tcase_add_test(tc, the_same_rules_change_nothing);
	tcase_add_test(tc, the_rules_version_names_each_side);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(replay_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
