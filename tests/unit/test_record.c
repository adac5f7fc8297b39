/* test_record.c: the journaled record of a decision gives back the same item, alerts and reply. */
#include "txpipe/record.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txn_fixture.h"
#include "txpipe/item.h"

/* The shared fixture, plus the fields it leaves out that the item, the
 * alerts and the reply can still show. */
static struct txp_txn *decided(void)
{
	struct txp_txn *t = txp_test_decided();

	txp_txn_add_reason(t, "aml_report", 0);
	strcpy(t->customer_key, "00112233445566778899aabbccddeeff");
	strcpy(t->device_pseud, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	t->kyc = TXP_KYC_PENDING;
	t->has_timestamp = true;
	t->timestamp_ms = 1767225599000;
	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, TXP_SEVERITY_CRITICAL);
	return t;
}

static struct txp_txn *rejected(void)
{
	struct txp_txn *t = txp_txn_new();

	t->has_id = true;
	strcpy(t->transaction_id, "tx-bad");
	t->received_ms = 1767225600999;
	t->t_received = 5000;
	t->t_validated = 9000;
	/* Validation stopped here; what was half-parsed is not kept. */
	strcpy(t->merchant_id, "half-parsed");
	txp_txn_fail(t, TXP_STATUS_REJECTED, "invalid_currency", "currency", "'%s' is not an ISO 4217 code", "XXQ");
	return t;
}

/* Journals `t` and reads it back as a restart would: through the journal's
 * own payload codec, then the record's. */
static struct txp_txn *round_trip(const struct txp_txn *t, const char *version, uint8_t *payload, size_t cap,
                                  char got_version[TXP_RECORD_VERSION_MAX + 1])
{
	uint8_t record[TXP_RECORD_MAX];
	struct txp_journal_accepted a, b;
	struct txp_txn *u = txp_txn_new();
	size_t n;

	ck_assert_int_eq(txp_record_accepted(t, version, record, sizeof(record), &a), 0);
	n = txp_journal_accepted_encode(&a, payload, cap);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(txp_journal_accepted_decode(payload, n, &b), 0);
	ck_assert_int_eq(txp_record_decode(&b, u, got_version), 0);
	return u;
}

static void assert_same_output(struct txp_txn *t, struct txp_txn *u, const char *version)
{
	ck_assert_int_eq(txp_item_build(t, version), 0);
	ck_assert_int_eq(txp_item_build(u, version), 0);
	ck_assert_ptr_nonnull(u->item);
	ck_assert_uint_eq(u->item_len, t->item_len);
	ck_assert_mem_eq(u->item, t->item, t->item_len);
	for (unsigned k = 0; k < TXP_ALERT_KINDS; k++) {
		ck_assert_uint_eq(u->alert_len[k], t->alert_len[k]);
		if (t->alert[k] != NULL)
			ck_assert_mem_eq(u->alert[k], t->alert[k], t->alert_len[k]);
	}
	ck_assert_int_eq(txp_txn_build_reply(t), 0);
	ck_assert_int_eq(txp_txn_build_reply(u), 0);
	ck_assert_uint_eq(u->reply_len, t->reply_len);
	ck_assert_mem_eq(u->reply, t->reply, t->reply_len);
}

START_TEST(a_decision_comes_back_as_the_same_item_alerts_and_reply)
{
	struct txp_txn *t = decided(), *u;
	uint8_t payload[TXP_RECORD_MAX + 512];
	char version[TXP_RECORD_VERSION_MAX + 1];

	u = round_trip(t, "0.9.1", payload, sizeof(payload), version);
	ck_assert_str_eq(version, "0.9.1");
	ck_assert_str_eq(u->transaction_id, t->transaction_id);
	ck_assert_int_eq(u->amount, t->amount);
	ck_assert_str_eq(u->customer_key, t->customer_key);
	ck_assert_str_eq(u->card_token, t->card_token);
	ck_assert_uint_eq(u->n_reasons, 3);
	ck_assert_str_eq(u->reasons[1].code, "high_amount");
	ck_assert_int_eq(u->reasons[1].points, 25);
	assert_same_output(t, u, version);
	u->n_reasons = 0; /* the codes pointed into `payload` */
	txp_txn_free(u);
	txp_txn_free(t);
}
END_TEST

START_TEST(a_rejection_comes_back_without_unvalidated_fields)
{
	struct txp_txn *t = rejected(), *u;
	uint8_t payload[TXP_RECORD_MAX + 512];
	char version[TXP_RECORD_VERSION_MAX + 1];

	u = round_trip(t, "0.9.1", payload, sizeof(payload), version);
	ck_assert_int_eq(u->status, TXP_STATUS_REJECTED);
	ck_assert_str_eq(u->error.code, "invalid_currency");
	ck_assert_str_eq(u->error.field, "currency");
	ck_assert_str_eq(u->error.message, t->error.message);
	ck_assert_str_eq(u->merchant_id, "");
	assert_same_output(t, u, version);
	txp_txn_free(u);
	txp_txn_free(t);
}
END_TEST

START_TEST(the_record_never_holds_raw_personal_data)
{
	struct txp_txn *t = decided();
	uint8_t record[TXP_RECORD_MAX];
	size_t n = txp_record_encode(t, "1", record, sizeof(record));

	ck_assert_uint_gt(n, 0);
	ck_assert_ptr_null(memmem(record, n, "alice", 5));
	ck_assert_ptr_null(memmem(record, n, "192.0.2.7", 9));
	ck_assert_ptr_null(memmem(record, n, "device-raw-1", 12));
	txp_txn_free(t);
}
END_TEST

START_TEST(the_names_section_round_trips_and_records_without_it_decode)
{
	struct txp_txn *t = decided(), *u;
	uint8_t payload[TXP_RECORD_MAX + 512], plain[TXP_RECORD_MAX], named[TXP_RECORD_MAX];
	char version[TXP_RECORD_VERSION_MAX + 1];
	size_t n0 = txp_record_encode(t, "1", plain, sizeof(plain)), n1;

	/* A record of a transaction without names is the version-1 record
	 * of before name screening, byte for byte: no section. */
	ck_assert_uint_gt(n0, 0);
	t->name_hit_field = 3;
	t->name_hit_score = 953;
	strcpy(t->name_hit_list, "ofac");
	strcpy(t->name_hit_entry, "12345");
	strcpy(t->name_pseud[0], "11111111111111111111111111111111");
	strcpy(t->name_pseud[2], "33333333333333333333333333333333");
	/* Still held if the stage had not wiped it: never encoded. */
	strcpy(t->names[2], "Ivan Petrovsky");
	n1 = txp_record_encode(t, "1", named, sizeof(named));
	ck_assert_ptr_null(memmem(named, n1, "Petrovsky", 9));
	ck_assert_uint_eq(n1, n0 + 4 + (2 + 4) + (2 + 5) + (2 + 32) + 2 + (2 + 32));
	ck_assert_mem_eq(named, plain, n0);

	u = round_trip(t, "0.9.1", payload, sizeof(payload), version);
	ck_assert_uint_eq(u->name_hit_field, 3);
	ck_assert_uint_eq(u->name_hit_score, 953);
	ck_assert_str_eq(u->name_hit_list, "ofac");
	ck_assert_str_eq(u->name_hit_entry, "12345");
	ck_assert_str_eq(u->name_pseud[0], t->name_pseud[0]);
	ck_assert_str_eq(u->name_pseud[1], "");
	ck_assert_str_eq(u->name_pseud[2], t->name_pseud[2]);
	assert_same_output(t, u, version);
	ck_assert_ptr_nonnull(strstr(u->reply, "\"sanctions_match\":{\"field\":\"beneficiary_name\",\"list\":\"ofac\","
	                                       "\"entry\":\"12345\",\"score\":0.953}"));
	/* Under the stored item's short names (item.c): the field by number,
	 * the pseudonym's 128 bits in base64url. */
	ck_assert_ptr_nonnull(strstr(u->item, "\"sm\":{\"M\":{\"f\":{\"N\":\"3\"},"
	                                      "\"l\":{\"S\":\"ofac\"},\"e\":{\"S\":\"12345\"},"
	                                      "\"s\":{\"N\":\"953\"}}}"));
	ck_assert_ptr_nonnull(strstr(u->item, "\"bn\":{\"S\":\"MzMzMzMzMzMzMzMzMzMzMw\"}"));
	u->n_reasons = 0;
	txp_txn_free(u);

	/* A bad field number or score in the section is refused. */
	{
		struct txp_journal_accepted a;
		uint8_t rec[TXP_RECORD_MAX];
		ck_assert_int_eq(txp_record_accepted(t, "1", rec, sizeof(rec), &a), 0);
		rec[n0 + 1] = TXP_NAME_FIELDS + 1;
		u = txp_txn_new();
		ck_assert_int_eq(txp_record_decode(&a, u, version), -EINVAL);
		rec[n0 + 1] = 3;
		rec[n0 + 2] = 0xe9;
		rec[n0 + 3] = 0x03; /* 1001 */
		memset(u, 0, sizeof(*u));
		ck_assert_int_eq(txp_record_decode(&a, u, version), -EINVAL);
		txp_txn_free(u);
	}
	txp_txn_free(t);
}
END_TEST

START_TEST(damaged_records_are_refused)
{
	struct txp_txn *t = decided(), *u;
	uint8_t record[TXP_RECORD_MAX + 1];
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_journal_accepted a;

	ck_assert_int_eq(txp_record_accepted(t, "1", record, sizeof(record) - 1, &a), 0);
	/* Every shorter prefix and a trailing byte. */
	for (uint32_t cut = 0; cut < a.record_len; cut++) {
		struct txp_journal_accepted c = a;

		c.record_len = cut;
		u = txp_txn_new();
		ck_assert_int_eq(txp_record_decode(&c, u, version), -EINVAL);
		txp_txn_free(u);
	}
	a.record_len++;
	u = txp_txn_new();
	ck_assert_int_eq(txp_record_decode(&a, u, version), -EINVAL);
	a.record_len--;
	/* An unknown version, and values out of their ranges. */
	for (size_t i = 0; i < 4; i++) {
		static const size_t at[] = { 0, 1, 3, 7 };
		static const uint8_t bad[] = { 4, TXP_STATUS_COUNT, 101, TXP_CHANNEL_COUNT };
		uint8_t keep = record[at[i]];

		record[at[i]] = bad[i];
		memset(u, 0, sizeof(*u));
		ck_assert_int_eq(txp_record_decode(&a, u, version), -EINVAL);
		record[at[i]] = keep;
	}
	memset(u, 0, sizeof(*u));
	ck_assert_int_eq(txp_record_decode(&a, u, version), 0);
	u->n_reasons = 0;
	txp_txn_free(u);
	/* Too small a buffer writes nothing. */
	ck_assert_uint_eq(txp_record_encode(t, "1", record, a.record_len - 1), 0);
	txp_txn_free(t);
}
END_TEST

START_TEST(the_content_fingerprint_survives_a_restart)
{
	struct txp_txn *t = decided(), *u;
	uint8_t payload[TXP_RECORD_MAX + 512];
	char version[TXP_RECORD_VERSION_MAX + 1];

	for (unsigned i = 0; i < TXP_FINGERPRINT_BYTES; i++)
		t->fingerprint[i] = (uint8_t)(0xa0 + i);
	u = round_trip(t, "0.9.1", payload, sizeof(payload), version);
	ck_assert_mem_eq(u->fingerprint, t->fingerprint, TXP_FINGERPRINT_BYTES);
	u->n_reasons = 0;
	txp_txn_free(u);
	txp_txn_free(t);
}
END_TEST

/* A journal written before fingerprints (version 1: the same layout
 * without the trailing fingerprint) still replays, fingerprint unknown. */
START_TEST(a_version_1_record_still_decodes_without_a_fingerprint)
{
	struct txp_txn *t = decided(), *u = txp_txn_new();
	uint8_t record[TXP_RECORD_MAX];
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_journal_accepted a;

	memset(t->fingerprint, 0x5a, TXP_FINGERPRINT_BYTES);
	t->rules_version[0] = '\0';
	ck_assert_int_eq(txp_record_accepted(t, "0.9.0", record, sizeof(record), &a), 0);
	ck_assert_uint_eq(record[0], 3);
	record[0] = 1;
	/* Without the rules version (an empty string, its length byte and
	 * NUL, and the i64 load time) and the fingerprint. */
	a.record_len -= 2 + 8 + TXP_FINGERPRINT_BYTES;
	memset(u->fingerprint, 0xff, TXP_FINGERPRINT_BYTES);
	ck_assert_int_eq(txp_record_decode(&a, u, version), 0);
	ck_assert_str_eq(version, "0.9.0");
	ck_assert_str_eq(u->transaction_id, t->transaction_id);
	ck_assert_uint_eq(u->n_reasons, t->n_reasons);
	for (unsigned i = 0; i < TXP_FINGERPRINT_BYTES; i++)
		ck_assert_uint_eq(u->fingerprint[i], 0);
	/* A version 2 record cut short of its fingerprint is damaged. */
	record[0] = 2;
	memset(u, 0, sizeof(*u));
	ck_assert_int_eq(txp_record_decode(&a, u, version), -EINVAL);
	u->n_reasons = 0;
	txp_txn_free(u);
	txp_txn_free(t);
}
END_TEST

START_TEST(the_rules_version_survives_a_restart)
{
	struct txp_txn *t = decided(), *u;
	uint8_t payload[TXP_RECORD_MAX + 512];
	char version[TXP_RECORD_VERSION_MAX + 1];

	strcpy(t->rules_version, "0123456789ab");
	t->rules_loaded_ms = 1796550000123;
	u = round_trip(t, "0.9.1", payload, sizeof(payload), version);
	ck_assert_str_eq(u->rules_version, "0123456789ab");
	ck_assert_int_eq(u->rules_loaded_ms, 1796550000123);
	assert_same_output(t, u, version);
	ck_assert_msg(strstr(u->item, "\"rv\":{\"S\":\"0123456789ab\"}") != NULL, "%.*s", (int)u->item_len, u->item);

	u->n_reasons = 0;
	txp_txn_free(u);
	txp_txn_free(t);
}
END_TEST

/* A journal written before rules versions (version 2: no rules version
 * after the fingerprint) still replays, with an unknown one, and its item
 * has no rules attributes. */
START_TEST(a_version_2_record_decodes_with_an_unknown_rules_version)
{
	struct txp_txn *t = decided(), *u = txp_txn_new();
	uint8_t record[TXP_RECORD_MAX];
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_journal_accepted a;

	memset(t->fingerprint, 0x5a, TXP_FINGERPRINT_BYTES);
	strcpy(t->rules_version, "0123456789ab");
	ck_assert_int_eq(txp_record_accepted(t, "0.9.0", record, sizeof(record), &a), 0);
	record[0] = 2;
	a.record_len -= 2 + 12 + 8;
	strcpy(u->rules_version, "garbage");
	u->rules_loaded_ms = 7;
	ck_assert_int_eq(txp_record_decode(&a, u, version), 0);
	ck_assert_str_eq(u->rules_version, "");
	ck_assert_int_eq(u->rules_loaded_ms, 0);
	ck_assert_uint_eq(u->fingerprint[0], 0x5a);
	ck_assert_int_eq(txp_item_build(u, version), 0);
	ck_assert_ptr_null(strstr(u->item, "\"rv\""));
	u->n_reasons = 0;
	txp_txn_free(u);
	txp_txn_free(t);
}
END_TEST

START_TEST(a_version_too_long_for_the_record_is_refused)
{
	struct txp_txn *t = decided();
	uint8_t record[TXP_RECORD_MAX];
	char v[TXP_RECORD_VERSION_MAX + 2];

	memset(v, '9', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	ck_assert_uint_eq(txp_record_encode(t, v, record, sizeof(record)), 0);
	v[TXP_RECORD_VERSION_MAX] = '\0';
	ck_assert_uint_gt(txp_record_encode(t, v, record, sizeof(record)), 0);
	txp_txn_free(t);
}
END_TEST

static Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, a_decision_comes_back_as_the_same_item_alerts_and_reply);
	tcase_add_test(tc, a_rejection_comes_back_without_unvalidated_fields);
	tcase_add_test(tc, the_record_never_holds_raw_personal_data);
	tcase_add_test(tc, damaged_records_are_refused);
	tcase_add_test(tc, the_names_section_round_trips_and_records_without_it_decode);
	tcase_add_test(tc, a_version_too_long_for_the_record_is_refused);
	tcase_add_test(tc, the_content_fingerprint_survives_a_restart);
	tcase_add_test(tc, a_version_1_record_still_decodes_without_a_fingerprint);
	tcase_add_test(tc, the_rules_version_survives_a_restart);
	tcase_add_test(tc, a_version_2_record_decodes_with_an_unknown_rules_version);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(record_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
