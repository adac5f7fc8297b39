/* test_stages.c: the chained stages: card-like ids keep their identity; duplicates, conflicts; the rules version. */
#include "txpipe/stages.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txpipe/compliance.h"
#include "txpipe/config.h"
#include "txpipe/dedup.h"
#include "txpipe/keys.h"

struct rig {
	char dir[64];
	struct txp_config cfg;
	struct txp_stages *st;
	struct txp_stage_fns fns;
	struct txp_dedup *dedup;
};

static void set(struct txp_config *cfg, const char *section, const char *key, const char *value)
{
	char err[256];
	const struct txp_config_key *k = txp_config_find(section, key);

	ck_assert_ptr_nonnull(k);
	ck_assert_msg(txp_config_set(cfg, k, value, err, sizeof(err)) == 0, "%s", err);
}

static void rig_up(struct rig *r)
{
	char path[128], err[256];

	strcpy(r->dir, "/tmp/txp-stages-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	ck_assert_int_eq(txp_config_defaults(&r->cfg), 0);
	snprintf(path, sizeof(path), "%s/card.key", r->dir);
	ck_assert_int_eq(txp_key_generate(path, err, sizeof(err)), 0);
	set(&r->cfg, "compliance", "card_token_key_file", path);
	snprintf(path, sizeof(path), "%s/pseud.key", r->dir);
	ck_assert_int_eq(txp_key_generate(path, err, sizeof(err)), 0);
	set(&r->cfg, "compliance", "pseudonym_key_file", path);
	ck_assert_msg(txp_stages_create(&r->st, &r->cfg, err, sizeof(err)) == 0, "%s", err);
	/* Inline: one validator and one shard, run in order on this thread. */
	ck_assert_msg(txp_stages_setup(r->st, 0, &r->fns, err, sizeof(err)) == 0, "%s", err);
	r->dedup = txp_dedup_create(1000, 600000);
	ck_assert_ptr_nonnull(r->dedup);
	txp_stages_set_dedup(r->st, r->dedup);
}

static void rig_down(struct rig *r)
{
	char cmd[128];

	txp_stages_destroy(r->st);
	txp_dedup_destroy(r->dedup);
	txp_config_free(&r->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Runs `line` through the three stages at `ms`; then, as the daemon does
 * once a decision is journaled, remembers it in the duplicate window. */
static struct txp_txn *screen(struct rig *r, const char *line, int64_t ms)
{
	struct txp_txn *t = txp_txn_new();

	ck_assert_ptr_nonnull(t);
	t->line = strdup(line);
	t->line_len = (uint32_t)strlen(line);
	t->received_ms = ms;
	r->fns.validate(r->fns.validate_ctx[0], t);
	r->fns.fraud(r->fns.fraud_ctx[0], t);
	r->fns.comply(r->fns.comply_ctx[0], t);
	ck_assert_ptr_nonnull(t->reply);
	if (!t->duplicate && t->status <= TXP_STATUS_DECLINED)
		ck_assert_int_eq(txp_dedup_put(r->dedup, t->transaction_id, t->fingerprint, t->status, 1, t->reply,
		                               t->reply_len, ms, NULL),
		                 0);
	return t;
}

static bool has_reason(const struct txp_txn *t, const char *code)
{
	for (unsigned i = 0; i < t->n_reasons; i++)
		if (strcmp(t->reasons[i].code, code) == 0)
			return true;
	return false;
}

static const char small[] =
        "{\"transaction_id\":\"2024120600000008\",\"amount\":\"3.50\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
        "\"customer_id\":\"c-small\",\"merchant_country\":\"DE\",\"customer_country\":\"DE\"}";
static const char sanctioned_fmt[] =
        "{\"transaction_id\":\"%s\",\"amount\":\"9500.00\",\"currency\":\"USD\",\"merchant_id\":\"m-9\","
        "\"customer_id\":\"c-big\",\"merchant_country\":\"IR\",\"customer_country\":\"KP\","
        "\"customer_kyc_status\":\"failed\"}";

START_TEST(two_card_like_ids_are_two_transactions)
{
	struct rig r;
	struct txp_txn *a, *b;
	char line[512];

	rig_up(&r);
	a = screen(&r, small, 1000);
	ck_assert_int_eq(a->status, TXP_STATUS_APPROVED);
	snprintf(line, sizeof(line), sanctioned_fmt, "2024120600000016");
	b = screen(&r, line, 2000);
	ck_assert(!b->duplicate);
	ck_assert_int_eq(b->status, TXP_STATUS_DECLINED);
	ck_assert(has_reason(b, "sanctions_country"));
	ck_assert(has_reason(b, "pan_in_field"));
	ck_assert_str_ne(a->transaction_id, b->transaction_id);
	ck_assert_int_eq(strncmp(b->transaction_id, "tok_", 4), 0);
	ck_assert_ptr_null(strstr(b->reply, "2024120600000016"));
	ck_assert_ptr_nonnull(strstr(b->reply, b->transaction_id));
	txp_txn_free(a);
	txp_txn_free(b);
	rig_down(&r);
}
END_TEST

/* The stored customer pseudonym is the keyed BLAKE2b of customer_id under
 * the pseudonym key, the same value the velocity history is keyed under,
 * made once at validation and copied by the compliance stage. */
START_TEST(the_customer_pseudonym_is_made_once_and_is_the_customer_key)
{
	struct rig r;
	struct txp_txn *t;
	uint8_t key[TXP_KEY_BYTES];
	char path[128], err[256], want[TXP_TOKEN_HEX + 1];

	rig_up(&r);
	t = screen(&r, small, 1000);
	snprintf(path, sizeof(path), "%s/pseud.key", r.dir);
	ck_assert_msg(txp_key_load(path, key, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(txp_compliance_pseudonym(key, sizeof(key), "customer_id", "c-small", want), 0);
	ck_assert_uint_eq(strlen(want), TXP_TOKEN_HEX);
	ck_assert_str_eq(t->customer_key, want);
	ck_assert_str_eq(t->customer_pseud, want);
	txp_txn_free(t);
	rig_down(&r);
}
END_TEST

START_TEST(a_resubmission_is_found_before_scoring_and_other_content_is_a_conflict)
{
	struct rig r;
	struct txp_txn *a, *again, *other;
	char line[512];
	json_t *j;

	rig_up(&r);
	a = screen(&r, small, 1000);
	again = screen(&r, small, 1500);
	/* Found by the validation stage, under the token: the reply is the
	 * first one's, and nothing was scored. */
	ck_assert(again->duplicate);
	ck_assert(!again->scored);
	ck_assert_int_eq(again->status, TXP_STATUS_APPROVED);
	j = json_loadb(again->reply, again->reply_len, 0, NULL);
	ck_assert(json_is_true(json_object_get(j, "duplicate")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "transaction_id")), a->transaction_id);
	json_decref(j);

	snprintf(line, sizeof(line), sanctioned_fmt, "2024120600000008");
	other = screen(&r, line, 2000);
	ck_assert(other->duplicate); /* not journaled or stored */
	ck_assert(!other->scored);
	ck_assert_int_eq(other->status, TXP_STATUS_REJECTED);
	ck_assert_str_eq(other->error.code, "duplicate_id_conflict");
	ck_assert_str_eq(other->transaction_id, a->transaction_id);
	j = json_loadb(other->reply, other->reply_len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "rejected");
	ck_assert_ptr_null(json_object_get(j, "duplicate"));
	json_decref(j);
	txp_txn_free(a);
	txp_txn_free(again);
	txp_txn_free(other);
	rig_down(&r);
}
END_TEST

static void version_of(const struct txp_config *cfg, char out[TXP_RULES_VERSION_SIZE])
{
	char err[256];

	ck_assert_msg(txp_rules_version(cfg, out, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(out), 12);
}

START_TEST(the_rules_version_follows_the_deciding_keys_and_list_files_only)
{
	struct rig r;
	char v0[TXP_RULES_VERSION_SIZE], v1[TXP_RULES_VERSION_SIZE], path[128], ts[64], err[256];
	int64_t loaded_ms;
	struct txp_txn *t;
	FILE *f;

	rig_up(&r);
	version_of(&r.cfg, v0);
	/* Not a decision key: the same version. */
	set(&r.cfg, "daemon", "socket", "/tmp/elsewhere.sock");
	set(&r.cfg, "journal", "commit_interval_ms", "7ms");
	version_of(&r.cfg, v1);
	ck_assert_str_eq(v0, v1);
	/* The same value written another way: the same version. */
	set(&r.cfg, "fraud", "review_threshold", "050");
	version_of(&r.cfg, v1);
	ck_assert_str_eq(v0, v1);
	/* A threshold. */
	set(&r.cfg, "fraud", "review_threshold", "51");
	version_of(&r.cfg, v1);
	ck_assert_str_ne(v0, v1);
	set(&r.cfg, "fraud", "review_threshold", "50");
	set(&r.cfg, "validation", "max_amount", "1234");
	version_of(&r.cfg, v1);
	ck_assert_str_ne(v0, v1);
	set(&r.cfg, "validation", "max_amount", "1000000");
	version_of(&r.cfg, v1);
	ck_assert_str_eq(v0, v1);
	/* A change at the end of a value of 5000 bytes. */
	{
		char rates[8192] = "";
		for (int i = 0; i < 500; i++)
			snprintf(rates + strlen(rates), sizeof(rates) - strlen(rates), "%sX%03d:%d", i ? "," : "", i,
			         1000 + i);
		set(&r.cfg, "compliance", "usd_rates", rates);
		version_of(&r.cfg, v0);
		rates[strlen(rates) - 1] = '1';
		set(&r.cfg, "compliance", "usd_rates", rates);
		version_of(&r.cfg, v1);
		ck_assert_str_ne(v0, v1);
		set(&r.cfg, "compliance", "usd_rates", "USD:1000000");
	}
	/* A deny list: its content, not only its name. */
	snprintf(path, sizeof(path), "%s/deny.txt", r.dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("m-bad\n", f);
	fclose(f);
	set(&r.cfg, "fraud", "deny_merchants", path);
	version_of(&r.cfg, v0);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("m-worse\n", f);
	fclose(f);
	version_of(&r.cfg, v1);
	ck_assert_str_ne(v0, v1);
	/* What the stages stamp on each decision is the version they run. */
	version_of(&r.cfg, v0);
	set(&r.cfg, "fraud", "deny_merchants", "");
	version_of(&r.cfg, v1);
	txp_stages_rules(r.st, ts, &loaded_ms);
	ck_assert_str_eq(ts, v1);
	ck_assert_int_gt(loaded_ms, 1700000000000);
	t = screen(&r, small, 1000);
	ck_assert_str_eq(t->rules_version, v1);
	ck_assert_int_eq(t->rules_loaded_ms, loaded_ms);
	txp_txn_free(t);
	set(&r.cfg, "fraud", "deny_merchants", path);
	ck_assert_msg(txp_stages_reload(r.st, &r.cfg, err, sizeof(err)) == 0, "%s", err);
	t = screen(&r, small, 2000);
	ck_assert_str_eq(t->rules_version, v0);
	txp_txn_free(t);
	rig_down(&r);
}
END_TEST

static Suite *stages_suite(void)
{
	Suite *s = suite_create("stages");
	TCase *tc = tcase_create("identity");

	tcase_add_test(tc, two_card_like_ids_are_two_transactions);
	tcase_add_test(tc, the_customer_pseudonym_is_made_once_and_is_the_customer_key);
	tcase_add_test(tc, a_resubmission_is_found_before_scoring_and_other_content_is_a_conflict);
	tcase_add_test(tc, the_rules_version_follows_the_deciding_keys_and_list_files_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stages_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
