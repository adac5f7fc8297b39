/* test_item.c: the DynamoDB record and SNS alerts of a decided transaction, read back with jansson. */
#include "txpipe/aws/dynamodb.h"
#include "txpipe/delivery.h"
#include "txpipe/fleet.h"
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
	/* A code of the stages under its short name; one the table does not
	 * know (the fixture's) whole. */
	ck_assert_str_eq(member_n(item, "rn", "velocity_customer_1h"), "40");
	ck_assert_str_eq(member_n(item, "rn", "ha"), "25");
	ck_assert_ptr_null(member_n(item, "rn", "high_amount"));
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
	/* No device pseudonym was derived, so no device attribute.  The IP
	 * pseudonym's 128 bits in base64url (ff..ff). */
	ck_assert_str_eq(attr(item, "ip", "S"), "_____________________w");
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
	ck_assert_str_eq(member_n(item, "rn", "ha"), "0");
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
	size_t digits = 0, zeros = 0;

	/* Leading and trailing zeroes are trimmed: significant digits only
	 * (the builder writes integers, without exponents). */
	while (*n == '-' || *n == '0' || *n == '.')
		n++;
	for (; *n != '\0'; n++) {
		if (*n < '0' || *n > '9')
			continue;
		digits++;
		zeros = *n == '0' ? zeros + 1 : 0;
	}
	digits -= zeros;
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

/*
 * Every reason code that can fire together (fraud.c, compliance.c,
 * stages.c): each one the stages have but one of each set that exclude one
 * another, the longest: allow_listed or allow_listed_merchant waive
 * heuristics, so neither; velocity_state_full means a table was full, so
 * not card_testing_card too (its table); sanctions_name_match or _unscreened;
 * aml_reporting_threshold, currency_rate_unknown or one of
 * compliance_state_full and aml_structuring; kyc_not_verified or kyc_failed.
 * Every one of them would fire with at least these points.
 */
static const char *const firing_codes[] = {
	"deny_list_customer", "deny_list_merchant", "deny_list_card", "deny_list_device", "high_amount",
	"high_amount_relative", "velocity_customer_count_short", "velocity_customer_amount_short",
	"velocity_customer_count_medium", "velocity_customer_amount_medium", "velocity_customer_count_long",
	"velocity_customer_amount_long", "repeat_amount", "card_testing_customer", "velocity_merchant_count_short",
	"velocity_merchant_amount_short", "velocity_merchant_count_medium", "velocity_merchant_amount_medium",
	"velocity_merchant_count_long", "velocity_merchant_amount_long", "cross_border", "high_risk_country",
	"round_amount", "velocity_state_full",
	/* compliance: 0 points */
	"pan_in_field", "sanctions_country", "sanctions_list_match", "sanctions_name_unscreened",
	"aml_reporting_threshold", "kyc_not_verified", "fleet_state_stale"
};
#define N_FIRING (sizeof(firing_codes) / sizeof(firing_codes[0]))
#define N_FRAUD_CODES 24

/* The codes the stages have that firing_codes leaves out, for the
 * read-back test. */
static const char *const other_codes[] = { "allow_listed",          "allow_listed_merchant",
	                                   "card_testing_card",     "sanctions_name_match",
	                                   "currency_rate_unknown", "compliance_state_full",
	                                   "aml_structuring",       "kyc_failed" };

/* Fills `n` bytes of `dst` with `c` and ends it. */
static void fill(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
}

/*
 * The largest record validation and the stages let through: every id at
 * its longest, every number with the most significant digits it can have
 * (amounts near INT64_MAX, an event time in year 9999, stage offsets of
 * 10 digits), the longest names (declined, mobile, unverified, critical),
 * every reason of firing_codes with 99 points (fraud) or 0 (compliance),
 * both alerts, a card, every pseudonym, the three party names and a
 * sanctions hit on the second with the longest list label and entry.
 */
static struct txp_txn *worst_case(void)
{
	struct txp_txn *t = txp_test_decided();

	fill(t->transaction_id, 'x', TXP_ID_MAX);
	fill(t->merchant_id, 'm', TXP_ID_MAX);
	t->status = TXP_STATUS_DECLINED;
	t->risk_score = 99;
	t->n_reasons = 0;
	for (unsigned i = 0; i < N_FIRING; i++)
		txp_txn_add_reason(t, firing_codes[i], i < N_FRAUD_CODES ? 99 : 0);
	t->amount = INT64_MAX;
	t->currency_exponent = 4;
	t->amount_usd = INT64_MAX;
	fill(t->customer_pseud, 'c', TXP_TOKEN_HEX);
	fill(t->card_token, 'a', TXP_TOKEN_HEX);
	strcpy(t->device_pseud, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	t->channel = TXP_CHANNEL_MOBILE;
	t->kyc = TXP_KYC_UNVERIFIED;
	for (int k = 0; k < TXP_NAME_FIELDS; k++)
		fill(t->name_pseud[k], (char)('1' + k), TXP_TOKEN_HEX);
	t->name_hit_field = 2;
	fill(t->name_hit_list, 'l', TXP_NAME_LIST_MAX);
	fill(t->name_hit_entry, '7', TXP_NAME_ENTRY_MAX);
	t->name_hit_score = 999;
	t->compliance_flags = TXP_COMPLIANCE_AML_REPORT | TXP_COMPLIANCE_STRUCTURING | TXP_COMPLIANCE_SANCTIONS |
	                      TXP_COMPLIANCE_KYC | TXP_COMPLIANCE_PAN_MASKED | TXP_COMPLIANCE_RATE_UNKNOWN;
	t->has_timestamp = true;
	t->timestamp_ms = INT64_C(253402300799999); /* 9999-12-31T23:59:59.999Z */
	t->t_validated = t->t_received + UINT64_C(9999999999) * 1000;
	t->t_fraud = t->t_validated + UINT64_C(1111111111) * 1000;
	t->t_compliance = t->t_fraud + UINT64_C(1111111111) * 1000;
	t->expires_at = INT64_C(253402300799);
	txp_txn_alert(t, TXP_ALERT_COMPLIANCE, TXP_SEVERITY_CRITICAL);
	txp_txn_alert(t, TXP_ALERT_FRAUD, TXP_SEVERITY_CRITICAL);
	strcpy(t->rules_version, "0123456789ab");
	t->rules_loaded_ms = t->received_ms - 3600000;
	return t;
}

/* The item as [fleet] stores it: decided_by (the longest instance id)
 * added by the real put body (records.c).  A new reference. */
static json_t *fleet_item(const struct txp_txn *t)
{
	char id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	size_t len = 0;
	char *body;
	json_t *root, *item;

	fill(id, 'i', TXP_FLEET_INSTANCE_ID_MAX);
	ck_assert(txp_fleet_instance_id_valid(id));
	body = txp_fleet_put_body("txpipe", t->item, t->item_len, id, &len);
	ck_assert_ptr_nonnull(body);
	root = load(body, len);
	item = json_incref(json_object_get(root, "Item"));
	ck_assert_ptr_nonnull(item);
	json_decref(root);
	free(body);
	return item;
}

/* The largest record there can be stays under 1 KB, one write unit.
 * The figures are the documentation's (txpiped(8) STORED RECORD). */
START_TEST(the_largest_possible_record_stays_within_one_write_unit)
{
	struct txp_txn *typical = txp_test_decided(), *worst = worst_case();
	json_t *a, *b, *f;
	size_t na, nb, nf;

	strcpy(typical->rules_version, "0123456789ab");
	typical->rules_loaded_ms = typical->received_ms - 3600000;
	ck_assert_int_eq(txp_item_build(typical, PACKAGE_VERSION), 0);
	ck_assert_int_eq(txp_item_build(worst, PACKAGE_VERSION), 0);
	a = load(typical->item, typical->item_len);
	b = load(worst->item, worst->item_len);
	f = fleet_item(worst);
	na = ddb_item_size(a);
	nb = ddb_item_size(b);
	nf = ddb_item_size(f);
	/* Every reason and every optional attribute is there. */
	ck_assert_uint_eq(json_object_size(json_object_get(json_object_get(b, "rn"), "M")), N_FIRING);
	ck_assert_ptr_nonnull(json_object_get(b, "sm"));
	ck_assert_ptr_nonnull(json_object_get(b, "bn"));
	ck_assert_ptr_nonnull(json_object_get(b, "au"));
	ck_assert_ptr_nonnull(json_object_get(b, "cs"));
	ck_assert_ptr_nonnull(json_object_get(f, "decided_by"));
	fprintf(stderr,
	        "item size: typical %zu bytes, worst case %zu bytes (%zu with [fleet]'s decided_by; %u reasons)\n", na,
	        nb, nf, worst->n_reasons);
	ck_assert_uint_lt(na, 1024);
	ck_assert_uint_lt(nb, 1024);
	ck_assert_uint_lt(nf, 1024);
	json_decref(a);
	json_decref(b);
	json_decref(f);
	/* A rejected line's record with the longest error it can carry. */
	worst->status = TXP_STATUS_REJECTED;
	fill(worst->error.code, 'c', sizeof(worst->error.code) - 1);
	fill(worst->error.field, 'f', sizeof(worst->error.field) - 1);
	fill(worst->error.message, 'e', sizeof(worst->error.message) - 1);
	ck_assert_int_eq(txp_item_build(worst, PACKAGE_VERSION), 0);
	f = fleet_item(worst);
	ck_assert_ptr_nonnull(json_object_get(f, "em"));
	nf = ddb_item_size(f);
	fprintf(stderr, "item size: rejected with the longest error %zu bytes with [fleet]'s decided_by\n", nf);
	ck_assert_uint_lt(nf, 1024);
	json_decref(f);
	txp_txn_free(typical);
	txp_txn_free(worst);
}
END_TEST

/* Each code the stages have is stored under a short name of at most 4
 * bytes, so the reasons map stays small whichever fire. */
START_TEST(every_reason_code_is_stored_under_a_short_name)
{
	struct txp_txn *t = txp_test_decided();
	json_t *item, *m, *v;
	const char *k;

	t->n_reasons = 0;
	for (unsigned i = 0; i < N_FIRING; i++)
		txp_txn_add_reason(t, firing_codes[i], 1);
	for (unsigned i = 0; i < sizeof(other_codes) / sizeof(other_codes[0]); i++)
		txp_txn_add_reason(t, other_codes[i], 1);
	ck_assert_int_eq(txp_item_build(t, "v"), 0);
	item = load(t->item, t->item_len);
	m = json_object_get(json_object_get(item, "rn"), "M");
	/* No two codes share a short name: each is a member of its own. */
	ck_assert_uint_eq(json_object_size(m), t->n_reasons);
	json_object_foreach (m, k, v)
		ck_assert_msg(strlen(k) <= 4, "reason stored as %s", k);
	json_decref(item);
	txp_txn_free(t);
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
	ck_assert_str_eq(member_n(item, "rn", "ha"), "30");
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
	/* Every attribute a record can have, under its documented name
	 * (txpiped(8) STORED RECORD; the error attributes below). */
	static const char *const documented[] = { "transaction_id",
		                                  "status",
		                                  "risk_score",
		                                  "reasons",
		                                  "amount",
		                                  "currency",
		                                  "currency_exponent",
		                                  "amount_usd_cents",
		                                  "merchant_id",
		                                  "customer_pseudonym",
		                                  "merchant_country",
		                                  "customer_country",
		                                  "card_bin",
		                                  "card_last4",
		                                  "card_token",
		                                  "channel",
		                                  "mcc",
		                                  "kyc",
		                                  "ip_pseudonym",
		                                  "device_pseudonym",
		                                  "customer_name_pseudonym",
		                                  "counterparty_name_pseudonym",
		                                  "beneficiary_name_pseudonym",
		                                  "sanctions_match",
		                                  "fraud_severity",
		                                  "compliance_severity",
		                                  "event_time",
		                                  "received_at",
		                                  "stage_us",
		                                  "daemon_version",
		                                  "rules_version",
		                                  "expires_at",
		                                  "decided_by" };
	struct txp_txn *t = worst_case();
	json_t *item, *plain, *r, *reasons;

	strcpy(t->merchant_category, "5999");
	t->t_validated = t->t_received + 15000;
	t->t_fraud = t->t_validated + 40000;
	t->t_compliance = t->t_fraud + 2500000;
	t->timestamp_ms = t->received_ms - 1000;
	strcpy(t->name_hit_entry, "12345");
	t->name_hit_score = 987;
	/* Every code the stages have, the exclusive ones too. */
	for (unsigned i = 0; i < sizeof(other_codes) / sizeof(other_codes[0]); i++)
		txp_txn_add_reason(t, other_codes[i], 7);
	ck_assert_int_eq(txp_item_build(t, "0.1.0"), 0);
	item = fleet_item(t);
	plain = txp_ddb_unmarshal(item);
	r = txp_item_readable(plain);
	ck_assert_ptr_nonnull(r);
	/* Every attribute there, each under its documented name. */
	ck_assert_uint_eq(json_object_size(r), sizeof(documented) / sizeof(documented[0]));
	for (size_t i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
		ck_assert_msg(json_object_get(r, documented[i]) != NULL, "%s not read back", documented[i]);
	ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "declined");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "risk_score")), 99);
	/* The reasons under the stages' codes, each with its points. */
	reasons = json_object_get(r, "reasons");
	ck_assert_uint_eq(json_object_size(reasons), t->n_reasons);
	for (unsigned i = 0; i < t->n_reasons; i++)
		ck_assert_msg(json_integer_value(json_object_get(reasons, t->reasons[i].code)) == t->reasons[i].points,
		              "reason %s not read back", t->reasons[i].code);
	ck_assert_int_eq(json_integer_value(json_object_get(reasons, "kyc_not_verified")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(reasons, "deny_list_card")), 99);
	ck_assert_int_eq(json_integer_value(json_object_get(reasons, "allow_listed")), 7);
	ck_assert(json_integer_value(json_object_get(r, "amount")) == INT64_MAX);
	ck_assert_str_eq(json_string_value(json_object_get(r, "transaction_id")), t->transaction_id);
	ck_assert_str_eq(json_string_value(json_object_get(r, "merchant_country")), "FR");
	ck_assert_str_eq(json_string_value(json_object_get(r, "card_bin")), "411111");
	/* The indexes' keys as they were: 32 hex digits. */
	ck_assert_str_eq(json_string_value(json_object_get(r, "card_token")), t->card_token);
	ck_assert_str_eq(json_string_value(json_object_get(r, "customer_pseudonym")), t->customer_pseud);
	/* The other pseudonyms: the same 128 bits in base64url (ee..ee, 11..11). */
	ck_assert_str_eq(json_string_value(json_object_get(r, "device_pseudonym")), "7u7u7u7u7u7u7u7u7u7u7g");
	ck_assert_str_eq(json_string_value(json_object_get(r, "customer_name_pseudonym")), "EREREREREREREREREREREQ");
	ck_assert_str_eq(json_string_value(json_object_get(r, "channel")), "mobile");
	ck_assert_str_eq(json_string_value(json_object_get(r, "kyc")), "unverified");
	ck_assert_str_eq(json_string_value(json_object_get(r, "fraud_severity")), "critical");
	ck_assert_str_eq(json_string_value(json_object_get(r, "compliance_severity")), "critical");
	ck_assert_str_eq(json_string_value(json_object_get(r, "event_time")), "2025-12-31T23:59:59.123Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "stage_us"), "validation")), 15);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "stage_us"), "compliance")), 2555);
	/* The hit's field by name again. */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "sanctions_match"), "field")),
	                 "counterparty_name");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "sanctions_match"), "list")),
	                 t->name_hit_list);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "sanctions_match"), "entry")), "12345");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "sanctions_match"), "score")), 987);
	ck_assert_str_eq(json_string_value(json_object_get(r, "rules_version")), "0123456789ab");
	ck_assert_str_eq(json_string_value(json_object_get(r, "daemon_version")), "0.1.0");
	ck_assert_str_eq(json_string_value(json_object_get(r, "decided_by")),
	                 "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii");
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
	tcase_add_test(tc, every_reason_code_is_stored_under_a_short_name);
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
