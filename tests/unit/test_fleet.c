/* test_fleet.c: instance ids, first-decision-wins bodies and verdicts, journal leases, journal ids. */
#include "txpipe/config.h"
#include "txpipe/fleet.h"
#include "txpipe/journal.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- instance ids ---------------------------------------------------------- */

START_TEST(instance_ids_are_short_names_of_safe_characters)
{
	char long_id[TXP_FLEET_INSTANCE_ID_MAX + 2];

	ck_assert(txp_fleet_instance_id_valid("i-0123456789abcdef0"));
	ck_assert(txp_fleet_instance_id_valid("host_a.eu-west-1"));
	ck_assert(!txp_fleet_instance_id_valid(""));
	ck_assert(!txp_fleet_instance_id_valid("a b"));
	ck_assert(!txp_fleet_instance_id_valid("adopt@host"));
	ck_assert(!txp_fleet_instance_id_valid("a|b"));
	ck_assert(!txp_fleet_instance_id_valid("caf\xc3\xa9"));
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[TXP_FLEET_INSTANCE_ID_MAX] = '\0';
	ck_assert(txp_fleet_instance_id_valid(long_id));
	long_id[TXP_FLEET_INSTANCE_ID_MAX] = 'a';
	long_id[TXP_FLEET_INSTANCE_ID_MAX + 1] = '\0';
	ck_assert(!txp_fleet_instance_id_valid(long_id));
}
END_TEST

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
	ck_assert_ptr_nonnull(*field);
}

START_TEST(a_configured_instance_id_wins)
{
	struct txp_config cfg;
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1], err[256];

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	set_str(&cfg.fleet.instance_id, "host-a");
	/* Even with IMDS on: the configured name is not looked up. */
	cfg.aws.imds = true;
	set_str(&cfg.aws.imds_endpoint, "http://127.0.0.1:1");
	ck_assert_int_eq(txp_fleet_instance_id(&cfg, id, sizeof(id), err, sizeof(err)), 0);
	ck_assert_str_eq(id, "host-a");
	txp_config_free(&cfg);
}
END_TEST

START_TEST(without_imds_the_hostname_is_the_instance_id)
{
	struct txp_config cfg;
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1], err[256], host[HOST_NAME_MAX + 1];

	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	cfg.aws.imds = false;
	if (txp_fleet_instance_id_valid(host)) {
		ck_assert_int_eq(txp_fleet_instance_id(&cfg, id, sizeof(id), err, sizeof(err)), 0);
		ck_assert_str_eq(id, host);
	} else {
		ck_assert_int_eq(txp_fleet_instance_id(&cfg, id, sizeof(id), err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "instance_id"));
	}
	txp_config_free(&cfg);
}
END_TEST

START_TEST(imds_that_does_not_answer_falls_back_to_the_hostname)
{
	struct txp_config cfg;
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1], err[256], host[HOST_NAME_MAX + 1];

	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	if (!txp_fleet_instance_id_valid(host))
		return;
	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	cfg.aws.imds = true;
	/* Port 1 on loopback: refused at once. */
	set_str(&cfg.aws.imds_endpoint, "http://127.0.0.1:1");
	ck_assert_int_eq(txp_fleet_instance_id(&cfg, id, sizeof(id), err, sizeof(err)), 0);
	ck_assert_str_eq(id, host);
	txp_config_free(&cfg);
}
END_TEST

/* ---- first decision wins ------------------------------------------------------ */

static const char item[] = "{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},"
                           "\"risk_score\":{\"N\":\"12\"},\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}}}";

START_TEST(the_put_is_conditional_and_carries_decided_by)
{
	size_t len;
	char *body = txp_fleet_put_body("records", item, strlen(item), "host-a", &len);
	json_t *j, *it;

	ck_assert_ptr_nonnull(body);
	j = json_loadb(body, len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "TableName")), "records");
	ck_assert_str_eq(json_string_value(json_object_get(j, "ConditionExpression")),
	                 "attribute_not_exists(transaction_id)");
	it = json_object_get(j, "Item");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(it, "transaction_id"), "S")), "t-1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(it, "status"), "S")), "approved");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(it, "decided_by"), "S")), "host-a");
	ck_assert_uint_eq(json_object_size(it), 5);
	json_decref(j);
	free(body);
	/* Not an object: nothing to add the attribute to. */
	ck_assert_ptr_null(txp_fleet_put_body("records", "[1]", 3, "host-a", &len));
	ck_assert_ptr_null(txp_fleet_put_body("records", "{", 1, "host-a", &len));
}
END_TEST

START_TEST(a_transaction_carries_one_conditional_put_per_record_each_asking_for_the_stored_one)
{
	const char *items[2] = { item, "{\"transaction_id\":{\"S\":\"t-2\"}}" };
	uint32_t lens[2] = { (uint32_t)strlen(items[0]), (uint32_t)strlen(items[1]) };
	size_t len;
	char *body = txp_fleet_transact_body("records", items, lens, 2, "host-a", &len);
	json_t *j, *ti;

	ck_assert_ptr_nonnull(body);
	j = json_loadb(body, len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ti = json_object_get(j, "TransactItems");
	ck_assert_uint_eq(json_array_size(ti), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *put = json_object_get(json_array_get(ti, i), "Put");
		json_t *it = json_object_get(put, "Item");

		ck_assert_str_eq(json_string_value(json_object_get(put, "TableName")), "records");
		ck_assert_str_eq(json_string_value(json_object_get(put, "ConditionExpression")),
		                 "attribute_not_exists(transaction_id)");
		ck_assert_str_eq(json_string_value(json_object_get(put, "ReturnValuesOnConditionCheckFailure")), "ALL_OLD");
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(it, "decided_by"), "S")), "host-a");
		ck_assert_uint_eq(json_object_size(it), i == 0 ? 5 : 2);
	}
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(
	                         json_object_get(json_array_get(ti, 1), "Put"), "Item"), "transaction_id"), "S")),
	                 "t-2");
	json_decref(j);
	free(body);
	items[1] = "[1]";
	lens[1] = 3;
	ck_assert_ptr_null(txp_fleet_transact_body("records", items, lens, 2, "host-a", &len));
}
END_TEST

START_TEST(a_cancelled_transaction_gives_each_put_its_reason_and_the_stored_record)
{
	/* As DynamoDB (and DynamoDB Local) answer: a reason per put, in order. */
	const char *body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
	                   "\"CancellationReasons\":[{\"Code\":\"None\"},{\"Item\":{\"transaction_id\":{\"S\":\"t-2\"},"
	                   "\"fingerprint\":{\"S\":\"abcd\"}},\"Code\":\"ConditionalCheckFailed\",\"Message\":\"The "
	                   "conditional request failed\"},{\"Code\":\"TransactionConflict\"}],\"Message\":\"Transaction "
	                   "cancelled\"}";
	const char *t2 = "{\"transaction_id\":{\"S\":\"t-2\"}}";
	struct txp_fleet_cancel why[3];
	char winner[TXP_FLEET_INSTANCE_ID_MAX + 1], *reply;
	size_t n;

	ck_assert_int_eq(txp_fleet_cancellations(body, strlen(body), why, 3), 0);
	ck_assert_str_eq(why[0].code, "None");
	ck_assert_ptr_null(why[0].old);
	ck_assert_str_eq(why[1].code, "ConditionalCheckFailed");
	ck_assert_ptr_nonnull(why[1].old);
	/* The stored item reads as a GetItem answer would: ours, stored by a
	 * version that added a fingerprint. */
	ck_assert_int_eq(txp_fleet_stored_verdict(why[1].old, why[1].old_len, t2, strlen(t2), winner, sizeof(winner),
	                                          &reply, &n),
	                 TXP_FLEET_OURS);
	ck_assert_str_eq(why[2].code, "TransactionConflict");
	ck_assert_ptr_null(why[2].old);
	free(why[1].old);
	/* Not as many reasons as puts, or no reasons: unusable. */
	ck_assert_int_eq(txp_fleet_cancellations(body, strlen(body), why, 2), -EINVAL);
	ck_assert_int_eq(txp_fleet_cancellations("{\"Message\":\"x\"}", 15, why, 1), -EINVAL);
	ck_assert_int_eq(txp_fleet_cancellations("not json", 8, why, 1), -EINVAL);
}
END_TEST

START_TEST(the_read_back_is_consistent)
{
	size_t len;
	char *body = txp_fleet_get_body("records", "t-\"1", &len);
	json_t *j = json_loadb(body, len, 0, NULL);

	ck_assert_ptr_nonnull(j);
	ck_assert(json_is_true(json_object_get(j, "ConsistentRead")));
	ck_assert_str_eq(
	        json_string_value(json_object_get(json_object_get(json_object_get(j, "Key"), "transaction_id"), "S")),
	        "t-\"1");
	json_decref(j);
	free(body);
}
END_TEST

/* The verdict on `answer` for a put of `ours`. */
static int verdict(const char *answer, const char *ours, char *winner, char **reply)
{
	size_t n;
	return txp_fleet_stored_verdict(answer, strlen(answer), ours, strlen(ours), winner, TXP_FLEET_INSTANCE_ID_MAX + 1,
	                                reply, &n);
}

START_TEST(a_stored_record_equal_to_ours_is_ours)
{
	char winner[TXP_FLEET_INSTANCE_ID_MAX + 1], *reply;
	/* `item` as DynamoDB returns it: members in another order, decided_by added. */
	const char *answer = "{\"Item\":{\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}},\"status\":{\"S\":\"approved\"},"
	                     "\"decided_by\":{\"S\":\"host-a\"},\"risk_score\":{\"N\":\"12\"},"
	                     "\"transaction_id\":{\"S\":\"t-1\"}}}";
	/* Stored by another host (an adopted journal re-delivered under the
	 * lease's owner), or by a version that added a fingerprint: the same
	 * record all the same. */
	const char *adopted = "{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},"
	                      "\"risk_score\":{\"N\":\"12\"},\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}},"
	                      "\"decided_by\":{\"S\":\"host-b\"},\"fingerprint\":{\"S\":\"abcd\"}}}";

	ck_assert_int_eq(verdict(answer, item, winner, &reply), TXP_FLEET_OURS);
	ck_assert_ptr_null(reply);
	ck_assert_int_eq(verdict(adopted, item, winner, &reply), TXP_FLEET_OURS);
	ck_assert_ptr_null(reply);
}
END_TEST

START_TEST(a_stored_record_that_differs_in_any_attribute_is_not_ours)
{
	/* One value changed, one attribute more, one fewer, a map member more,
	 * a type changed: each another decision. */
	const char *answers[] = {
		"{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},\"risk_score\":{\"N\":\"13\"},"
		"\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}},\"decided_by\":{\"S\":\"host-a\"}}}",
		"{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},\"risk_score\":{\"N\":\"12\"},"
		"\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}},\"ra\":{\"S\":\"x\"},\"decided_by\":{\"S\":\"host-a\"}}}",
		"{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},"
		"\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}},\"decided_by\":{\"S\":\"host-a\"}}}",
		"{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},\"risk_score\":{\"N\":\"12\"},"
		"\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"},\"geo\":{\"N\":\"0\"}}},\"decided_by\":{\"S\":\"host-a\"}}}",
		"{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"approved\"},\"risk_score\":{\"S\":\"12\"},"
		"\"reasons\":{\"M\":{\"velocity\":{\"N\":\"12\"}}},\"decided_by\":{\"S\":\"host-a\"}}}",
	};

	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		char winner[TXP_FLEET_INSTANCE_ID_MAX + 1], *reply = NULL;

		ck_assert_msg(verdict(answers[i], item, winner, &reply) == TXP_FLEET_CONFLICT, "answer %zu", i);
		ck_assert_str_eq(winner, "host-a");
		free(reply);
	}
}
END_TEST

START_TEST(another_decision_is_a_conflict_whose_reply_says_the_stored_one)
{
	char winner[TXP_FLEET_INSTANCE_ID_MAX + 1], *reply;
	const char *answer = "{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"review\"},"
	                     "\"risk_score\":{\"N\":\"55\"},\"reasons\":{\"M\":{\"amount_high\":{\"N\":\"55\"}}},"
	                     "\"fingerprint\":{\"S\":\"ffff\"},\"decided_by\":{\"S\":\"host-b\"}}}";
	json_t *j;

	ck_assert_int_eq(verdict(answer, item, winner, &reply), TXP_FLEET_CONFLICT);
	ck_assert_str_eq(winner, "host-b");
	ck_assert_ptr_nonnull(reply);
	ck_assert_uint_eq(reply[strlen(reply) - 1], '\n');
	j = json_loads(reply, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "transaction_id")), "t-1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "review");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "risk_score")), 55);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "reasons"), 0)), "amount_high");
	ck_assert_str_eq(json_string_value(json_object_get(j, "decided_by")), "host-b");
	ck_assert_ptr_null(json_object_get(j, "error"));
	json_decref(j);
	free(reply);
}
END_TEST

START_TEST(a_stored_rejection_keeps_its_error_in_the_reply)
{
	char winner[TXP_FLEET_INSTANCE_ID_MAX + 1], *reply;
	const char *answer = "{\"Item\":{\"transaction_id\":{\"S\":\"t-1\"},\"status\":{\"S\":\"rejected\"},"
	                     "\"error_code\":{\"S\":\"invalid_field\"},\"error_field\":{\"S\":\"amount\"},"
	                     "\"error_message\":{\"S\":\"not a decimal\"}}}";
	json_t *j, *e;

	/* A record stored without the fleet attributes (a host outside the fleet) is someone else's too. */
	ck_assert_int_eq(verdict(answer, item, winner, &reply), TXP_FLEET_CONFLICT);
	ck_assert_str_eq(winner, "");
	j = json_loads(reply, 0, NULL);
	e = json_object_get(j, "error");
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "invalid_field");
	ck_assert_str_eq(json_string_value(json_object_get(e, "field")), "amount");
	ck_assert_ptr_null(json_object_get(j, "risk_score"));
	json_decref(j);
	free(reply);
}
END_TEST

START_TEST(no_item_is_missing_and_garbage_is_invalid)
{
	char winner[TXP_FLEET_INSTANCE_ID_MAX + 1], *reply;

	ck_assert_int_eq(verdict("{}", item, winner, &reply), TXP_FLEET_MISSING);
	ck_assert_int_eq(verdict("not json", item, winner, &reply), -EINVAL);
	ck_assert_int_eq(verdict("{\"Item\":{\"transaction_id\":{\"Q\":1}}}", item, winner, &reply), -EINVAL);
	ck_assert_int_eq(verdict("{\"Item\":[]}", item, winner, &reply), -EINVAL);
	ck_assert_ptr_null(reply);
}
END_TEST

/* ---- journal leases ------------------------------------------------------------- */

/* len by pointer: the body's call sets it, and argument evaluation is unsequenced. */
static json_t *parse(char *body, const size_t *len)
{
	json_t *j;

	ck_assert_ptr_nonnull(body);
	j = json_loadb(body, *len, 0, NULL);
	free(body);
	ck_assert_ptr_nonnull(j);
	return j;
}

static const char *s_of(json_t *o, const char *k)
{
	return json_string_value(json_object_get(json_object_get(o, k), "S"));
}

static const char *n_of(json_t *o, const char *k)
{
	return json_string_value(json_object_get(json_object_get(o, k), "N"));
}

START_TEST(taking_a_lease_is_conditional_on_it_being_free_expired_or_ours)
{
	size_t len;
	json_t *j = parse(txp_fleet_lease_take_body("fleet", "0a1b", "host-a", 1000, 1030, &len), &len);
	json_t *it = json_object_get(j, "Item"), *v = json_object_get(j, "ExpressionAttributeValues");

	ck_assert_str_eq(s_of(it, "pk"), "lease|0a1b");
	ck_assert_str_eq(s_of(it, "owner"), "host-a");
	ck_assert_str_eq(n_of(it, "expires"), "1030");
	ck_assert_str_eq(json_string_value(json_object_get(j, "ConditionExpression")),
	                 "attribute_not_exists(pk) OR #e < :now OR #o = :me");
	ck_assert_str_eq(s_of(v, ":me"), "host-a");
	ck_assert_str_eq(n_of(v, ":now"), "1000");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "ExpressionAttributeNames"), "#o")),
	                 "owner");
	json_decref(j);
}
END_TEST

START_TEST(renewing_and_releasing_need_the_lease_to_be_ours)
{
	size_t len;
	json_t *j = parse(txp_fleet_lease_renew_body("fleet", "0a1b", "adopt@host-b", 2000, &len), &len);

	ck_assert_str_eq(s_of(json_object_get(j, "Key"), "pk"), "lease|0a1b");
	ck_assert_str_eq(json_string_value(json_object_get(j, "UpdateExpression")), "SET #e = :exp");
	ck_assert_str_eq(json_string_value(json_object_get(j, "ConditionExpression")), "#o = :me");
	ck_assert_str_eq(s_of(json_object_get(j, "ExpressionAttributeValues"), ":me"), "adopt@host-b");
	ck_assert_str_eq(n_of(json_object_get(j, "ExpressionAttributeValues"), ":exp"), "2000");
	json_decref(j);
	j = parse(txp_fleet_lease_release_body("fleet", "0a1b", "host-a", &len), &len);
	ck_assert_str_eq(json_string_value(json_object_get(j, "ConditionExpression")), "#o = :me");
	ck_assert_str_eq(s_of(json_object_get(j, "ExpressionAttributeValues"), ":me"), "host-a");
	json_decref(j);
	j = parse(txp_fleet_lease_get_body("fleet", "0a1b", &len), &len);
	ck_assert(json_is_true(json_object_get(j, "ConsistentRead")));
	ck_assert_str_eq(s_of(json_object_get(j, "Key"), "pk"), "lease|0a1b");
	json_decref(j);
}
END_TEST

START_TEST(a_lease_blocks_others_only_while_it_runs)
{
	struct txp_fleet_lease_state st;
	const char *held = "{\"Item\":{\"pk\":{\"S\":\"lease|0a1b\"},\"owner\":{\"S\":\"host-a\"},"
	                   "\"expires\":{\"N\":\"1030\"}}}";

	ck_assert_int_eq(txp_fleet_lease_parse(held, strlen(held), &st), 0);
	ck_assert(st.found);
	ck_assert_str_eq(st.owner, "host-a");
	ck_assert_int_eq(st.expires_s, 1030);
	ck_assert(txp_fleet_lease_blocks(&st, "adopt@host-b", 1000));
	ck_assert(txp_fleet_lease_blocks(&st, "adopt@host-b", 1030));
	ck_assert(!txp_fleet_lease_blocks(&st, "adopt@host-b", 1031)); /* expired */
	ck_assert(!txp_fleet_lease_blocks(&st, "host-a", 1000));       /* ours: a restart */
	ck_assert_int_eq(txp_fleet_lease_parse("{}", 2, &st), 0);
	ck_assert(!st.found);
	ck_assert(!txp_fleet_lease_blocks(&st, "adopt@host-b", 1000));
	ck_assert_int_eq(txp_fleet_lease_parse("nope", 4, &st), -EINVAL);
}
END_TEST

/* ---- journal ids ---------------------------------------------------------------- */

START_TEST(a_journal_keeps_the_id_it_got_on_first_use)
{
	char tmpl[] = "/tmp/txp-test-fleet.XXXXXX", path[256], sub[160], a[TXP_JOURNAL_ID_HEX + 1],
	     b[TXP_JOURNAL_ID_HEX + 1], c[TXP_JOURNAL_ID_HEX + 1], err[256];
	char *dir = mkdtemp(tmpl);
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	snprintf(sub, sizeof(sub), "%s/journal", dir);
	ck_assert_int_eq(txp_journal_id(sub, a, err, sizeof(err)), 0); /* creates the directory too */
	ck_assert_uint_eq(strlen(a), TXP_JOURNAL_ID_HEX);
	ck_assert_int_eq(txp_journal_id(sub, b, err, sizeof(err)), 0);
	ck_assert_str_eq(a, b);
	/* Another directory, another id. */
	snprintf(path, sizeof(path), "%s/other", dir);
	ck_assert_int_eq(txp_journal_id(path, c, err, sizeof(err)), 0);
	ck_assert_str_ne(a, c);
	/* A damaged id file is an error, not silently replaced. */
	snprintf(path, sizeof(path), "%s/journal.id", sub);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not an id\n", f);
	fclose(f);
	ck_assert_int_eq(txp_journal_id(sub, b, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "journal.id"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/other/journal.id", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/other", dir);
	rmdir(path);
	rmdir(sub);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_add_test(tc, instance_ids_are_short_names_of_safe_characters);
	tcase_add_test(tc, a_configured_instance_id_wins);
	tcase_add_test(tc, without_imds_the_hostname_is_the_instance_id);
	tcase_add_test(tc, imds_that_does_not_answer_falls_back_to_the_hostname);
	tcase_add_test(tc, the_put_is_conditional_and_carries_decided_by);
	tcase_add_test(tc, a_transaction_carries_one_conditional_put_per_record_each_asking_for_the_stored_one);
	tcase_add_test(tc, a_cancelled_transaction_gives_each_put_its_reason_and_the_stored_record);
	tcase_add_test(tc, the_read_back_is_consistent);
	tcase_add_test(tc, a_stored_record_equal_to_ours_is_ours);
	tcase_add_test(tc, a_stored_record_that_differs_in_any_attribute_is_not_ours);
	tcase_add_test(tc, another_decision_is_a_conflict_whose_reply_says_the_stored_one);
	tcase_add_test(tc, a_stored_rejection_keeps_its_error_in_the_reply);
	tcase_add_test(tc, no_item_is_missing_and_garbage_is_invalid);
	tcase_add_test(tc, taking_a_lease_is_conditional_on_it_being_free_expired_or_ours);
	tcase_add_test(tc, renewing_and_releasing_need_the_lease_to_be_ours);
	tcase_add_test(tc, a_lease_blocks_others_only_while_it_runs);
	tcase_add_test(tc, a_journal_keeps_the_id_it_got_on_first_use);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
