/* test_item.c: the DynamoDB record and SNS alerts of a decided transaction, read back with jansson. */
#include "txpipe/aws/dynamodb.h"
#include "txpipe/delivery.h"
#include "txpipe/item.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "txn_fixture.h"

#define PAN "4111111111111111"

static json_t *load(const char *text, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

	ck_assert_msg(j != NULL, "not JSON: %s (%s)", e.text, text);
	return j;
}

static const char *attr(json_t *item, const char *name, const char *type)
{
	return json_string_value(json_object_get(json_object_get(item, name), type));
}

/* The number at `i` of the list attribute `name`. */
static const char *element_n(json_t *item, const char *name, size_t i)
{
	json_t *l = json_object_get(json_object_get(item, name), "L");

	return json_string_value(json_object_get(json_array_get(l, i), "N"));
}

/* The number `member` of the map attribute `name`. */
static const char *member_n(json_t *item, const char *name, const char *member)
{
	json_t *m = json_object_get(json_object_get(item, name), "M");

	return json_string_value(json_object_get(json_object_get(m, member), "N"));
}

START_TEST(item_holds_the_decision_in_attribute_value_form)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	ck_assert_int_eq(txp_item_build(t, "1.2.3"), 0);
	ck_assert_ptr_nonnull(t->item);
	ck_assert_uint_eq(strlen(t->item), t->item_len);
	item = load(t->item, t->item_len);
	ck_assert_str_eq(attr(item, "transaction_id", "S"), "tx-\"1\"");
	ck_assert_str_eq(attr(item, "st", "S"), "review");
	ck_assert_str_eq(attr(item, "rs", "N"), "65");
	/* Each code with its points, a map of numbers. */
	ck_assert_uint_eq(json_object_size(json_object_get(json_object_get(item, "rn"), "M")), 2);
	ck_assert_str_eq(member_n(item, "rn", "velocity_customer_1h"), "40");
	ck_assert_str_eq(member_n(item, "rn", "high_amount"), "25");
	ck_assert_ptr_null(json_object_get(item, "contributions"));
	ck_assert_str_eq(attr(item, "am", "N"), "9007199254740993");
	ck_assert_str_eq(attr(item, "cu", "S"), "EUR");
	ck_assert_str_eq(attr(item, "ce", "N"), "2");
	ck_assert_str_eq(attr(item, "au", "N"), "123456");
	ck_assert_str_eq(attr(item, "mi", "S"), "m-42");
	ck_assert_str_eq(attr(item, "customer_pseudonym", "S"), "0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(attr(item, "mc", "S"), "FR");
	ck_assert_str_eq(attr(item, "cc", "S"), "DE");
	ck_assert_str_eq(attr(item, "cb", "S"), "411111");
	ck_assert_str_eq(attr(item, "c4", "S"), "1111");
	/* Top-level, so a global secondary index can key on it. */
	ck_assert_str_eq(attr(item, "card_token", "S"), "abcdefabcdefabcdefabcdefabcdefab");
	ck_assert_str_eq(attr(item, "ch", "S"), "online");
	ck_assert_str_eq(attr(item, "mcc", "S"), "5999");
	ck_assert_str_eq(attr(item, "ky", "S"), "verified");
	/* No device pseudonym was derived, so no device attribute. */
	ck_assert_str_eq(attr(item, "ip", "S"), "ffffffffffffffffffffffffffffffff");
	ck_assert_ptr_null(json_object_get(item, "dp"));
	/* The compliance flags are the compliance reasons' (in rn): not stored twice. */
	ck_assert_ptr_null(json_object_get(item, "compliance_flags"));
	ck_assert_ptr_null(json_object_get(item, "cf"));
	ck_assert_str_eq(attr(item, "fs", "S"), "high");
	ck_assert_ptr_null(json_object_get(item, "cs"));
	/* None of the token strings of the earlier layout. */
	ck_assert_ptr_null(json_object_get(item, "countries"));
	ck_assert_ptr_null(json_object_get(item, "card"));
	ck_assert_ptr_null(json_object_get(item, "context"));
	ck_assert_ptr_null(json_object_get(item, "pseudonyms"));
	ck_assert_ptr_null(json_object_get(item, "severity"));
	ck_assert_str_eq(attr(item, "received_at", "S"), "2026-01-01T00:00:00.123Z");
	/* Each stage's time as microseconds after receipt; the last is the decision. */
	ck_assert_str_eq(element_n(item, "su", 0), "15");
	ck_assert_str_eq(element_n(item, "su", 1), "55");
	ck_assert_str_eq(element_n(item, "su", 2), "2555");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(item, "su"), "L")), 3);
	/* Every name but the key's, the indexes' keys and the TTL's is short. */
	{
		const char *k;
		json_t *v;
		json_object_foreach (item, k, v)
			ck_assert_msg(strlen(k) <= 3 || strcmp(k, "transaction_id") == 0 ||
			                      strcmp(k, "customer_pseudonym") == 0 || strcmp(k, "card_token") == 0 ||
			                      strcmp(k, "received_at") == 0 || strcmp(k, "expires_at") == 0,
			              "long attribute name %s", k);
	}
	ck_assert_str_eq(attr(item, "dv", "S"), "1.2.3");
	ck_assert_str_eq(attr(item, "expires_at", "N"), "1798761600");
	ck_assert_ptr_null(json_object_get(item, "ec"));
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

START_TEST(item_and_alert_never_carry_raw_personal_data_or_the_pan)
{
	struct txp_txn *t = txp_test_decided();

	/* Even if a PAN were left in a field the stages do not copy, it must
	 * not appear: the builder only takes the listed fields. */
	strcpy(t->device_id, PAN);
	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, TXP_SEVERITY_CRITICAL);
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	for (unsigned k = 0; k < 3; k++) {
		const char *text = k == 0 ? t->item : t->alert[k - 1];
		ck_assert_ptr_nonnull(text);
		ck_assert_ptr_null(strstr(text, PAN));
		ck_assert_ptr_null(strstr(text, "alice@example.com"));
		ck_assert_ptr_null(strstr(text, "192.0.2.7"));
		ck_assert_ptr_null(strstr(text, "device-raw-1"));
	}
	txp_txn_free(t);
}
END_TEST

START_TEST(no_pseudonym_means_no_customer_attribute)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	t->customer_pseud[0] = '\0';
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	item = load(t->item, t->item_len);
	ck_assert_ptr_null(json_object_get(item, "customer_pseudonym"));
	ck_assert_ptr_null(json_object_get(item, "customer_id"));
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

START_TEST(rejected_with_an_id_is_stored_with_its_error_and_nothing_unvalidated)
{
	struct txp_txn *t = txp_txn_new();
	json_t *item;

	t->has_id = true;
	strcpy(t->transaction_id, "tx-bad");
	t->amount = 500; /* half-parsed: must not be stored */
	strcpy(t->currency, "EUR");
	t->received_ms = 1767225600000;
	t->t_received = 5000000;
	t->t_validated = 5000000 + 3000;
	txp_txn_fail(t, TXP_STATUS_REJECTED, "invalid_value", "amount", "amount must be positive");
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	item = load(t->item, t->item_len);
	ck_assert_str_eq(attr(item, "st", "S"), "rejected");
	ck_assert_str_eq(attr(item, "ec", "S"), "invalid_value");
	ck_assert_str_eq(attr(item, "ef", "S"), "amount");
	ck_assert_str_eq(attr(item, "em", "S"), "amount must be positive");
	ck_assert_ptr_null(json_object_get(item, "am"));
	ck_assert_ptr_null(json_object_get(item, "cu"));
	ck_assert_ptr_null(json_object_get(item, "rs"));
	ck_assert_ptr_null(json_object_get(item, "expires_at"));
	ck_assert_str_eq(element_n(item, "su", 0), "3");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(item, "su"), "L")), 1);
	ck_assert_ptr_null(json_object_get(item, "rn"));
	ck_assert_ptr_null(json_object_get(item, "mc"));
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

START_TEST(without_a_valid_id_nothing_is_built)
{
	struct txp_txn *t = txp_txn_new();

	txp_txn_fail(t, TXP_STATUS_ERROR, "malformed_json", NULL, "the line is not valid JSON");
	txp_txn_alert(t, TXP_ALERT_FRAUD, TXP_SEVERITY_LOW);
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	ck_assert_ptr_null(t->item);
	ck_assert_ptr_null(t->alert[0]);
	txp_txn_free(t);
}
END_TEST

START_TEST(one_alert_message_per_raised_kind_with_its_severity)
{
	struct txp_txn *t = txp_test_decided();
	json_t *a;

	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, TXP_SEVERITY_CRITICAL);
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	ck_assert_ptr_nonnull(t->alert[TXP_ALERT_KIND_FRAUD]);
	ck_assert_ptr_nonnull(t->alert[TXP_ALERT_KIND_COMPLIANCE]);
	a = load(t->alert[TXP_ALERT_KIND_FRAUD], t->alert_len[TXP_ALERT_KIND_FRAUD]);
	ck_assert_str_eq(json_string_value(json_object_get(a, "alert_type")), "fraud");
	ck_assert_str_eq(json_string_value(json_object_get(a, "severity")), "high");
	ck_assert_str_eq(json_string_value(json_object_get(a, "transaction_id")), "tx-\"1\"");
	ck_assert_str_eq(json_string_value(json_object_get(a, "status")), "review");
	ck_assert_int_eq(json_integer_value(json_object_get(a, "risk_score")), 65);
	ck_assert_uint_eq(json_array_size(json_object_get(a, "reasons")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "amount")), 9007199254740993);
	ck_assert_str_eq(json_string_value(json_object_get(a, "currency")), "EUR");
	ck_assert_str_eq(json_string_value(json_object_get(a, "merchant_id")), "m-42");
	ck_assert_str_eq(json_string_value(json_object_get(a, "customer_pseudonym")),
	                 "0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(json_string_value(json_object_get(a, "merchant_country")), "FR");
	ck_assert_str_eq(json_string_value(json_object_get(a, "customer_country")), "DE");
	ck_assert_str_eq(json_string_value(json_object_get(a, "decided_at")), "2026-01-01T00:00:00.125Z");
	ck_assert_ptr_null(json_object_get(a, "card_bin"));
	ck_assert_ptr_null(json_object_get(a, "card_token"));
	json_decref(a);
	a = load(t->alert[TXP_ALERT_KIND_COMPLIANCE], t->alert_len[TXP_ALERT_KIND_COMPLIANCE]);
	ck_assert_str_eq(json_string_value(json_object_get(a, "alert_type")), "compliance");
	ck_assert_str_eq(json_string_value(json_object_get(a, "severity")), "critical");
	json_decref(a);
	txp_txn_free(t);
}
END_TEST

START_TEST(no_alert_message_when_no_alert_was_raised)
{
	struct txp_txn *t = txp_test_decided();

	t->alerts = 0;
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	ck_assert_ptr_null(t->alert[0]);
	ck_assert_ptr_null(t->alert[1]);
	ck_assert_ptr_null(strstr(t->item, "\"fs\""));
	ck_assert_ptr_null(strstr(t->item, "\"cs\""));
	txp_txn_free(t);
}
END_TEST

START_TEST(rebuilding_replaces_the_previous_outputs)
{
	struct txp_txn *t = txp_test_decided();

	ck_assert_int_eq(txp_item_build(t, "v1"), 0);
	t->status = TXP_STATUS_DECLINED;
	ck_assert_int_eq(txp_item_build(t, "v1"), 0);
	ck_assert_ptr_nonnull(strstr(t->item, "\"declined\""));
	txp_txn_free(t); /* ASan reports the first outputs if they leaked */
}
END_TEST

START_TEST(a_record_without_reasons_flags_or_optional_fields_omits_those_attributes)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	t->n_reasons = 0;
	t->compliance_flags = 0;
	t->alerts = 0;
	t->has_card = false;
	t->ip_pseud[0] = '\0';
	t->merchant_category[0] = '\0';
	t->channel = TXP_CHANNEL_UNSPECIFIED;
	t->kyc = TXP_KYC_UNSPECIFIED;
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	item = load(t->item, t->item_len);
	ck_assert_str_eq(attr(item, "rs", "N"), "65");
	ck_assert_ptr_null(json_object_get(item, "rn"));
	ck_assert_ptr_null(json_object_get(item, "compliance_flags"));
	ck_assert_ptr_null(json_object_get(item, "fs"));
	ck_assert_ptr_null(json_object_get(item, "card_token"));
	ck_assert_ptr_null(json_object_get(item, "cb"));
	ck_assert_ptr_null(json_object_get(item, "ip"));
	ck_assert_ptr_null(json_object_get(item, "ch"));
	ck_assert_ptr_null(json_object_get(item, "ky"));
	ck_assert_ptr_null(json_object_get(item, "mcc"));
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

START_TEST(an_unscored_decision_lists_its_reason_codes_at_zero_points)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	t->scored = false;
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	item = load(t->item, t->item_len);
	ck_assert_str_eq(member_n(item, "rn", "velocity_customer_1h"), "0");
	ck_assert_str_eq(member_n(item, "rn", "high_amount"), "0");
	ck_assert_ptr_null(json_object_get(item, "rs"));
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

/*
 * DynamoDB's item size (Developer Guide, "Item sizes and formats"): the
 * UTF-8 length of each attribute name plus its value's size: a string's
 * UTF-8 length; a number's significant digits / 2 + 1 bytes (rounded up);
 * a boolean or null 1 byte; a map or list 3 bytes plus 1 per element plus
 * its elements (a map's names count like attribute names); a set the sum
 * of its members.
 */
static size_t number_size(const char *n)
{
	size_t digits = 0;

	while (*n == '-' || *n == '0')
		n++;
	for (; *n != '\0'; n++)
		digits += *n >= '0' && *n <= '9';
	return (digits + 1) / 2 + 1;
}

static size_t ddb_value_size(json_t *av)
{
	const char *type, *name;
	json_t *v, *x;
	size_t size = 0, i;

	ck_assert_uint_eq(json_object_size(av), 1);
	json_object_foreach (av, type, v) {
		if (strcmp(type, "S") == 0)
			return strlen(json_string_value(v));
		if (strcmp(type, "N") == 0)
			return number_size(json_string_value(v));
		if (strcmp(type, "BOOL") == 0 || strcmp(type, "NULL") == 0)
			return 1;
		if (strcmp(type, "SS") == 0) {
			json_array_foreach (v, i, x)
				size += strlen(json_string_value(x));
			return size;
		}
		if (strcmp(type, "NS") == 0) {
			json_array_foreach (v, i, x)
				size += number_size(json_string_value(x));
			return size;
		}
		if (strcmp(type, "L") == 0) {
			json_array_foreach (v, i, x)
				size += 1 + ddb_value_size(x);
			return 3 + size;
		}
		if (strcmp(type, "M") == 0) {
			json_object_foreach (v, name, x)
				size += 1 + strlen(name) + ddb_value_size(x);
			return 3 + size;
		}
		ck_abort_msg("unknown AttributeValue type %s", type);
	}
	return 0;
}

static size_t ddb_item_size(json_t *item)
{
	const char *name;
	json_t *v;
	size_t size = 0;

	json_object_foreach (item, name, v)
		size += strlen(name) + ddb_value_size(v);
	return size;
}

/* The longest reason codes the stages give, for the worst case. */
static const char *const long_codes[] = { "velocity_customer_count_short",
	                                  "velocity_customer_amount_short",
	                                  "velocity_customer_count_medium",
	                                  "velocity_customer_amount_medium",
	                                  "velocity_customer_amount_long",
	                                  "velocity_merchant_count_short",
	                                  "velocity_merchant_amount_short",
	                                  "velocity_merchant_count_medium",
	                                  "velocity_merchant_amount_medium",
	                                  "velocity_merchant_amount_long",
	                                  "high_amount_relative",
	                                  "high_risk_country",
	                                  "card_testing_customer",
	                                  "aml_reporting_threshold",
	                                  "sanctions_country",
	                                  "kyc_not_verified",
	                                  "structuring_suspected" };

/* Everything at once: every id at its longest, every reason above, every
 * flag, both alerts, a card, all three pseudonyms, the rules version. */
static struct txp_txn *worst_case(void)
{
	struct txp_txn *t = txp_test_decided();

	memset(t->transaction_id, 'x', TXP_ID_MAX);
	t->transaction_id[TXP_ID_MAX] = '\0';
	memset(t->merchant_id, 'm', TXP_ID_MAX);
	t->merchant_id[TXP_ID_MAX] = '\0';
	strcpy(t->device_pseud, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	t->n_reasons = 0;
	for (unsigned i = 0; i < sizeof(long_codes) / sizeof(long_codes[0]); i++)
		txp_txn_add_reason(t, long_codes[i], 100);
	t->compliance_flags = TXP_COMPLIANCE_AML_REPORT | TXP_COMPLIANCE_STRUCTURING | TXP_COMPLIANCE_SANCTIONS |
	                      TXP_COMPLIANCE_KYC | TXP_COMPLIANCE_PAN_MASKED | TXP_COMPLIANCE_RATE_UNKNOWN;
	t->has_timestamp = true;
	t->timestamp_ms = t->received_ms - 1000;
	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, TXP_SEVERITY_CRITICAL);
	strcpy(t->rules_version, "0123456789ab");
	t->rules_loaded_ms = t->received_ms - 3600000;
	return t;
}

/* Every reason the stages have at once, with 64-byte ids (the codes alone
 * are ~500 bytes): under 1 KB, one write unit, with short attribute names
 * (1323 bytes in the layout of long names, two units).  The figures are
 * the documentation's. */
START_TEST(the_largest_possible_record_stays_within_one_write_unit)
{
	struct txp_txn *typical = txp_test_decided(), *worst = worst_case();
	json_t *a, *b;
	size_t na, nb;

	strcpy(typical->rules_version, "0123456789ab");
	typical->rules_loaded_ms = typical->received_ms - 3600000;
	ck_assert_int_eq(txp_item_build(typical, "0.1.0"), 0);
	ck_assert_int_eq(txp_item_build(worst, "0.1.0"), 0);
	a = load(typical->item, typical->item_len);
	b = load(worst->item, worst->item_len);
	na = ddb_item_size(a);
	nb = ddb_item_size(b);
	/* The figures the documentation quotes (txpiped(8) STORED RECORD). */
	fprintf(stderr, "item size: typical %zu bytes, worst case %zu bytes (%u reasons)\n", na, nb, worst->n_reasons);
	ck_assert_uint_lt(na, 1024);
	ck_assert_uint_lt(nb, 1024);
	json_decref(a);
	json_decref(b);
	txp_txn_free(typical);
	txp_txn_free(worst);
}
END_TEST

START_TEST(a_reason_given_twice_is_one_map_member_with_the_points_summed)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	txp_txn_add_reason(t, "high_amount", 5);
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	/* JSON_REJECT_DUPLICATES: a map member twice would not load. */
	item = load(t->item, t->item_len);
	ck_assert_str_eq(member_n(item, "rn", "high_amount"), "30");
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

START_TEST(a_heavily_flagged_record_with_a_card_stays_within_one_write_unit)
{
	static const char *const codes[] = { "velocity_customer_count_short",
		                             "velocity_customer_amount_short",
		                             "velocity_customer_count_medium",
		                             "velocity_customer_amount_medium",
		                             "velocity_customer_amount_long",
		                             "high_amount_relative",
		                             "high_risk_country",
		                             "aml_reporting_threshold",
		                             "sanctions_country",
		                             "kyc_not_verified" };
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	/* Ten reasons (more than any generated transaction gets), every
	 * flag, both alerts, a card, all three pseudonyms, a UUID as id. */
	strcpy(t->transaction_id, "123e4567-e89b-12d3-a456-426614174000");
	strcpy(t->merchant_id, "merchant-000000000001");
	strcpy(t->device_pseud, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	t->n_reasons = 0;
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		txp_txn_add_reason(t, codes[i], 25);
	t->compliance_flags = TXP_COMPLIANCE_AML_REPORT | TXP_COMPLIANCE_STRUCTURING | TXP_COMPLIANCE_SANCTIONS |
	                      TXP_COMPLIANCE_KYC | TXP_COMPLIANCE_PAN_MASKED | TXP_COMPLIANCE_RATE_UNKNOWN;
	t->has_timestamp = true;
	t->timestamp_ms = t->received_ms - 1000;
	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, TXP_SEVERITY_CRITICAL);
	strcpy(t->rules_version, "0123456789ab");
	ck_assert_int_eq(txp_item_build(t, "0.1.0"), 0);
	item = load(t->item, t->item_len);
	/* DynamoDB bills a write per started 1 KB of item. */
	fprintf(stderr, "item size: heavily flagged %zu bytes\n", ddb_item_size(item));
	ck_assert_uint_le(ddb_item_size(item), 1024);
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

/* txpipectl get shows a record under the documented names, whichever
 * layout stored it. */
START_TEST(a_stored_record_reads_back_under_its_long_names_in_either_layout)
{
	static const char old[] =
	        "{\"transaction_id\":{\"S\":\"t1\"},\"status\":{\"S\":\"review\"},"
	        "\"reasons\":{\"M\":{\"high_amount\":{\"N\":\"25\"}}},"
	        "\"compliance_flags\":{\"SS\":[\"kyc\"]},\"event_time\":{\"S\":\"2026-01-01T00:00:00.123Z\"},"
	        "\"stage_us\":{\"M\":{\"validation\":{\"N\":\"15\"}}}}";
	struct txp_txn *t = worst_case();
	json_t *item, *plain, *r;

	t->name_hit_field = 1;
	strcpy(t->name_hit_list, "ofac");
	strcpy(t->name_hit_entry, "12345");
	t->name_hit_score = 987;
	ck_assert_int_eq(txp_item_build(t, "0.1.0"), 0);
	item = load(t->item, t->item_len);
	plain = txp_ddb_unmarshal(item);
	r = txp_item_readable(plain);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "review");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "risk_score")), 65);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "reasons"), "kyc_not_verified")), 100);
	ck_assert_str_eq(json_string_value(json_object_get(r, "merchant_country")), "FR");
	ck_assert_str_eq(json_string_value(json_object_get(r, "card_bin")), "411111");
	ck_assert_str_eq(json_string_value(json_object_get(r, "card_token")), "abcdefabcdefabcdefabcdefabcdefab");
	ck_assert_str_eq(json_string_value(json_object_get(r, "device_pseudonym")), "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	ck_assert_str_eq(json_string_value(json_object_get(r, "compliance_severity")), "critical");
	ck_assert_str_eq(json_string_value(json_object_get(r, "event_time")), "2025-12-31T23:59:59.123Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "stage_us"), "validation")), 15);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "stage_us"), "compliance")), 2555);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "sanctions_match"), "field")),
	                 "customer_name");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "sanctions_match"), "entry")), "12345");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "sanctions_match"), "score")), 987);
	ck_assert_str_eq(json_string_value(json_object_get(r, "rules_version")), "0123456789ab");
	ck_assert_str_eq(json_string_value(json_object_get(r, "daemon_version")), "0.1.0");
	ck_assert_ptr_null(json_object_get(r, "st"));
	ck_assert_uint_eq(json_object_size(r), json_object_size(plain));
	json_decref(r);
	json_decref(plain);
	json_decref(item);
	/* The earlier layout: as it was. */
	item = load(old, sizeof(old) - 1);
	plain = txp_ddb_unmarshal(item);
	r = txp_item_readable(plain);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_equal(r, plain));
	json_decref(r);
	json_decref(plain);
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

START_TEST(iso8601_formats_milliseconds_in_utc_also_before_1970)
{
	char buf[TXP_ISO8601_MS_SIZE];

	ck_assert_uint_eq(txp_iso8601_ms(0, buf), 24);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	txp_iso8601_ms(1767225600123, buf);
	ck_assert_str_eq(buf, "2026-01-01T00:00:00.123Z");
	txp_iso8601_ms(-1, buf);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	ck_assert_uint_eq(txp_iso8601_ms(INT64_MAX, buf), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(decided_at_without_monotonic_stamps_is_the_receipt_time)
{
	struct txp_txn *t = txp_txn_new();

	t->received_ms = 42;
	ck_assert_int_eq(txp_item_decided_ms(t), 42);
	t->t_received = 1000;
	t->t_validated = 1000 + 7000000;
	ck_assert_int_eq(txp_item_decided_ms(t), 49);
	txp_txn_free(t);
}
END_TEST

START_TEST(control_characters_in_ids_are_escaped)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item;

	strcpy(t->merchant_id, "m\n\t\\x");
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	ck_assert_ptr_null(strchr(t->item, '\n'));
	item = load(t->item, t->item_len);
	ck_assert_str_eq(attr(item, "mi", "S"), "m\n\t\\x");
	json_decref(item);
	txp_txn_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("item");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, item_holds_the_decision_in_attribute_value_form);
	tcase_add_test(tc, item_and_alert_never_carry_raw_personal_data_or_the_pan);
	tcase_add_test(tc, no_pseudonym_means_no_customer_attribute);
	tcase_add_test(tc, rejected_with_an_id_is_stored_with_its_error_and_nothing_unvalidated);
	tcase_add_test(tc, without_a_valid_id_nothing_is_built);
	tcase_add_test(tc, one_alert_message_per_raised_kind_with_its_severity);
	tcase_add_test(tc, the_largest_possible_record_stays_within_one_write_unit);
	tcase_add_test(tc, a_stored_record_reads_back_under_its_long_names_in_either_layout);
	tcase_add_test(tc, a_reason_given_twice_is_one_map_member_with_the_points_summed);
	tcase_add_test(tc, no_alert_message_when_no_alert_was_raised);
	tcase_add_test(tc, rebuilding_replaces_the_previous_outputs);
	tcase_add_test(tc, a_record_without_reasons_flags_or_optional_fields_omits_those_attributes);
	tcase_add_test(tc, an_unscored_decision_lists_its_reason_codes_at_zero_points);
	tcase_add_test(tc, a_heavily_flagged_record_with_a_card_stays_within_one_write_unit);
	tcase_add_test(tc, iso8601_formats_milliseconds_in_utc_also_before_1970);
	tcase_add_test(tc, decided_at_without_monotonic_stamps_is_the_receipt_time);
	tcase_add_test(tc, control_characters_in_ids_are_escaped);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
