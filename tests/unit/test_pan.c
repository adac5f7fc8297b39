/* test_pan.c: the card-number scanner: Luhn, lengths, separators, boundaries and masking. */
#include "txpipe/pan.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The brands' published test numbers (not real cards). */
static const char *const test_pans[] = {
	"4111111111111111", /* Visa, 16 */
	"4222222222222",    /* Visa, 13 */
	"378282246310005",  /* American Express, 15 */
	"5555555555554444", /* Mastercard */
	"6011111111111117", /* Discover */
	"3530111333300000", /* JCB */
	"6250941006528599", /* UnionPay, 16 */
};

static bool found(const char *s, size_t *start, size_t *end)
{
	return txp_pan_find(s, strlen(s), 0, start, end);
}

START_TEST(luhn_accepts_valid_and_rejects_altered_numbers)
{
	for (size_t i = 0; i < sizeof(test_pans) / sizeof(test_pans[0]); i++) {
		char pan[32];
		size_t n = strlen(test_pans[i]);

		ck_assert_msg(txp_pan_luhn(test_pans[i], n), "%s", test_pans[i]);
		/* Changing any one digit breaks the check. */
		strcpy(pan, test_pans[i]);
		pan[n / 2] = (char)('0' + (pan[n / 2] - '0' + 1) % 10);
		ck_assert_msg(!txp_pan_luhn(pan, n), "%s", pan);
	}
	ck_assert(txp_pan_luhn("79927398713", 11));
	ck_assert(!txp_pan_luhn("79927398710", 11));
	ck_assert(!txp_pan_luhn("", 0));
}
END_TEST

START_TEST(finds_plain_spaced_and_dashed_card_numbers)
{
	size_t a, b;

	for (size_t i = 0; i < sizeof(test_pans) / sizeof(test_pans[0]); i++) {
		ck_assert_msg(found(test_pans[i], &a, &b), "%s", test_pans[i]);
		ck_assert_uint_eq(a, 0);
		ck_assert_uint_eq(b, strlen(test_pans[i]));
	}
	ck_assert(found("card 4111 1111 1111 1111 used", &a, &b));
	ck_assert_uint_eq(a, 5);
	ck_assert_uint_eq(b, 24);
	ck_assert(found("4111-1111-1111-1111", &a, &b));
	ck_assert(found("3782-822463-10005", &a, &b));
	ck_assert(found("4111-1111 1111-1111", &a, &b));
	/* Letters end a group, they do not hide the number. */
	ck_assert(found("dev4111111111111111x", &a, &b));
	ck_assert_uint_eq(a, 3);
	ck_assert_uint_eq(b, 19);
}
END_TEST

START_TEST(ignores_wrong_lengths_bad_checksums_and_double_separators)
{
	size_t a, b;

	ck_assert(!found("", &a, &b));
	ck_assert(!found("no digits here", &a, &b));
	ck_assert(!found("4111111111111112", &a, &b));       /* Luhn fails */
	ck_assert(!found("411111111111", &a, &b));           /* 12 digits */
	ck_assert(!found("41111111111111111111", &a, &b));   /* 20 digits, one run */
	ck_assert(!found("4111  1111  1111  1111", &a, &b)); /* two spaces split it */
	ck_assert(!found("4111--1111--1111--1111", &a, &b));
	ck_assert(!found("4111..1111..1111..1111", &a, &b));
	ck_assert(!found("4111.1111-1111_1111", &a, &b)); /* separators must agree */
	ck_assert(!found("device-12345678", &a, &b));
	/* Unix milliseconds in an identifier: "1-1793577601500" joins into a
	 * Luhn-valid 14-digit candidate (found by the compliance tests), and
	 * 1793577601502 is Luhn-valid alone. */
	ck_assert(txp_pan_luhn("11793577601500", 14));
	ck_assert(!found("tx-c1-1793577601500", &a, &b));
	ck_assert(txp_pan_luhn("1793577601502", 13));
	ck_assert(!found("1793577601502", &a, &b));
	/* 13 digits starting with 2 or 3 (timestamps 2033-2096) either. */
	ck_assert(txp_pan_luhn("2000000000008", 13));
	ck_assert(!found("2000000000008", &a, &b));
	ck_assert(found("4000000000006", &a, &b));
	/* MII 0 and 1 are not card networks. */
	ck_assert(txp_pan_luhn("1000000000000008", 16));
	ck_assert(!found("1000000000000008", &a, &b));
	/* A long reference with a Luhn-valid 16-digit window inside. */
	ck_assert(!found("9994111111111111111999", &a, &b));
}
END_TEST

/* Issue 14: these reached replies, the audit log, tail, the journal and
 * DynamoDB unmasked. */
START_TEST(finds_numbers_joined_by_any_separator_or_padded_with_zeros)
{
	static const char *const forms[] = {
		"4111.1111.1111.1111", "4111_1111_1111_1111", "4111:1111:1111:1111", "41111111.11111111",
		"04111111111111111",   "4111/1111/1111/1111", "4111+1111+1111+1111", "3782.822463.10005",
		"0004111111111111111", "4111*1111*1111*1111", "41111111_11111111",
	};
	size_t a, b;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char s[64];

		ck_assert_msg(found(forms[i], &a, &b), "%s", forms[i]);
		ck_assert_uint_eq(a, 0);
		ck_assert_uint_eq(b, strlen(forms[i]));
		snprintf(s, sizeof(s), "ord.%s.x", forms[i]);
		ck_assert_msg(found(s, &a, &b), "%s", s);
		ck_assert_uint_eq(a, 4);
	}
	/* A different separator before the number does not hide it. */
	ck_assert(found("2024.4111-1111-1111-1111", &a, &b));
	ck_assert_uint_eq(a, 5);
	ck_assert(found("12:34:4111.1111.1111.1111", &a, &b));
	ck_assert_uint_eq(a, 6);
	/* Too many zeros, or too few digits once they are gone. */
	ck_assert(!found("00004111111111111111", &a, &b)); /* 20 digits */
	ck_assert(!found("000000000000000000", &a, &b));
	ck_assert(!found("0001793577601502", &a, &b));
}
END_TEST

/* Deterministic xorshift, so the measured rates are the same every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const char *corpus_kind[] = {
	"uuid",
	"ORD-2024-000123",
	"YYYY-MM-DDThh:mm:ss.sssZ",
	"YYYYMMDD-NNNNNNNN",
	"unix-ms",
	"ip:port",
	"numeric 8-12 digits",
	"numeric 13-19 digits, first 2-9",
	"numeric 20-24 digits",
	"numeric 14-19 digits, first 0",
	"YYYYMMDDhhmmss[fff]",
};

/* One ordinary identifier of kind `k`. */
static void ordinary_id(int k, char *s, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n, i;

	switch (k) {
	case 0:
		for (i = 0; i < 36; i++)
			s[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[rnd() % 16];
		s[36] = '\0';
		break;
	case 1:
		snprintf(s, cap, "ORD-%04u-%06u", (unsigned)(2000 + rnd() % 30), (unsigned)(rnd() % 1000000));
		break;
	case 2:
		snprintf(s, cap, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(2000 + rnd() % 30),
		         (unsigned)(1 + rnd() % 12), (unsigned)(1 + rnd() % 28), (unsigned)(rnd() % 24),
		         (unsigned)(rnd() % 60), (unsigned)(rnd() % 60), (unsigned)(rnd() % 1000));
		break;
	case 3:
		snprintf(s, cap, "%04u%02u%02u-%08u", (unsigned)(2000 + rnd() % 30), (unsigned)(1 + rnd() % 12),
		         (unsigned)(1 + rnd() % 28), (unsigned)(rnd() % 100000000));
		break;
	case 4:
		snprintf(s, cap, "tx-%llu", (unsigned long long)(1500000000000ull + rnd() % 600000000000ull));
		break;
	case 5:
		snprintf(s, cap, "%u.%u.%u.%u:%u", (unsigned)(rnd() % 256), (unsigned)(rnd() % 256),
		         (unsigned)(rnd() % 256), (unsigned)(rnd() % 256), (unsigned)(rnd() % 65536));
		break;
	default:
		n = k == 6 ? 8 + rnd() % 5 : k == 7 ? 13 + rnd() % 7 : k == 8 ? 20 + rnd() % 5 : 14 + rnd() % 6;
		for (i = 0; i < n; i++)
			s[i] = (char)('0' + rnd() % 10);
		if (k == 7)
			s[0] = (char)('2' + rnd() % 8);
		if (k == 9)
			s[0] = '0';
		if (k == 10)
			snprintf(s, cap, "%04u%02u%02u%02u%02u%02u%s", (unsigned)(2000 + rnd() % 30),
			         (unsigned)(1 + rnd() % 12), (unsigned)(1 + rnd() % 28), (unsigned)(rnd() % 24),
			         (unsigned)(rnd() % 60), (unsigned)(rnd() % 60), rnd() % 2 ? "123" : "");
		s[n] = '\0';
		break;
	}
}

/*
 * The false-positive rate on ordinary identifiers, printed for the record.
 * Structured ids (order numbers, dates, addresses) must never match; a
 * random all-digit id of a card's length and first digit matches when it
 * passes Luhn, about one in ten, and nothing can tell it from a card (so
 * does a compact timestamp, or a zero-padded number).  A
 * UUID matches in the rare case that it holds "...1234-5678-9012-3456"
 * (a group ending in four digits, then three all-digit groups): a card's
 * printed layout, the same before separators were widened.
 */
START_TEST(false_positives_on_ordinary_identifiers_stay_low)
{
	enum { N = 200000 };
	char s[64];
	size_t a, b;

	for (int k = 0; k < (int)(sizeof(corpus_kind) / sizeof(corpus_kind[0])); k++) {
		unsigned hits = 0;
		double rate;

		for (int i = 0; i < N; i++) {
			ordinary_id(k, s, sizeof(s));
			hits += found(s, &a, &b);
		}
		rate = (double)hits / N;
		fprintf(stderr, "pan false positives: %-34s %6u / %u = %.4f%%\n", corpus_kind[k], hits, (unsigned)N,
		        100 * rate);
		if (k == 7)
			ck_assert_msg(rate > 0.08 && rate < 0.12, "%s: %f", corpus_kind[k], rate);
		else if (k == 9 || k == 10)
			ck_assert_msg(rate < 0.12, "%s: %f", corpus_kind[k], rate);
		else if (k == 0)
			ck_assert_msg(rate < 0.001, "%s: %f", corpus_kind[k], rate);
		else
			ck_assert_msg(hits == 0, "%s: %u, last %s", corpus_kind[k], hits, s);
	}
}
END_TEST

START_TEST(finds_a_number_among_neighbouring_digit_groups)
{
	size_t a, b;
	const char *s = "order 12 4111 1111 1111 1111 99";

	/* 12 + the card + 99 is 20 digits; the card alone is found. */
	ck_assert(found(s, &a, &b));
	ck_assert_uint_eq(a, 9);
	ck_assert_uint_eq(b, 28);
	/* 19-digit PANs are in range. */
	ck_assert(found("4000000000000000006", &a, &b));
	ck_assert_uint_eq(b - a, 19);
}
END_TEST

START_TEST(finds_a_number_at_the_end_of_a_very_long_run_of_groups)
{
	char s[512];
	size_t len = 0, a, b;

	/* 100 single-digit groups, then the card: longer than the scanner's
	 * group buffer (64), so it has to slide.  Single-digit groups are no
	 * card layout, so the one candidate is the card itself, far past the
	 * buffer. */
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, "5 ");
	len += (size_t)snprintf(s + len, sizeof(s) - len, "4111 1111 1111 1111");
	ck_assert(txp_pan_find(s, len, 0, &a, &b));
	ck_assert_uint_eq(a, 100 * 2);
	ck_assert_uint_eq(b, 100 * 2 + 19);
}
END_TEST

START_TEST(mask_replaces_every_digit_of_every_number_keeping_layout)
{
	char s[] = "a 4111 1111 1111 1111 b 378282246310005 c 12345 d";

	ck_assert_uint_eq(txp_pan_mask(s), 2);
	ck_assert_str_eq(s, "a **** **** **** **** b *************** c 12345 d");
	ck_assert_uint_eq(txp_pan_mask(s), 0);
}
END_TEST

START_TEST(mask_masks_an_ungrouped_imei_but_not_one_in_its_printed_layout)
{
	/* An IMEI is 14 digits plus a Luhn check digit (3GPP TS 23.003), so
	 * ungrouped it is indistinguishable from a 15-digit PAN and is masked;
	 * in its printed layout (2-6-6-1) it is no card layout and stays. */
	char s[] = "imei-352099001761481";
	char grouped[] = "imei-35-209900-176148-1";

	ck_assert_uint_eq(txp_pan_mask(s), 1);
	ck_assert_str_eq(s, "imei-***************");
	ck_assert_uint_eq(txp_pan_mask(grouped), 0);
}
END_TEST

START_TEST(identifiers_grouped_unlike_cards_are_not_masked)
{
	/* Luhn-valid by chance (one number in ten is), but 6-12 is no card
	 * layout: a producer's id must come back as it was sent. */
	char id[] = "tb70b18c666943-000000000297";
	char amex[] = "ref 3782-822463-10005";
	char fours[] = "ref 4111-1111-1111-1111";

	ck_assert_uint_eq(txp_pan_mask(id), 0);
	ck_assert_str_eq(id, "tb70b18c666943-000000000297");
	ck_assert_uint_eq(txp_pan_mask(amex), 1);
	ck_assert_uint_eq(txp_pan_mask(fours), 1);
}
END_TEST

START_TEST(mask_leaves_text_without_card_numbers_alone)
{
	char s[] = "dev-8f14e45f 2001:db8::1 order 4111111111111112 ref 12345678901234567890123";
	char copy[sizeof(s)];

	memcpy(copy, s, sizeof(s));
	ck_assert_uint_eq(txp_pan_mask(s), 0);
	ck_assert_str_eq(s, copy);
}
END_TEST

static Suite *pan_suite(void)
{
	Suite *s = suite_create("pan");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, luhn_accepts_valid_and_rejects_altered_numbers);
	tcase_add_test(tc, finds_plain_spaced_and_dashed_card_numbers);
	tcase_add_test(tc, ignores_wrong_lengths_bad_checksums_and_double_separators);
	tcase_add_test(tc, finds_a_number_among_neighbouring_digit_groups);
	tcase_add_test(tc, finds_numbers_joined_by_any_separator_or_padded_with_zeros);
	tcase_add_test(tc, false_positives_on_ordinary_identifiers_stay_low);
	tcase_add_test(tc, finds_a_number_at_the_end_of_a_very_long_run_of_groups);
	tcase_add_test(tc, mask_replaces_every_digit_of_every_number_keeping_layout);
	tcase_add_test(tc, mask_masks_an_ungrouped_imei_but_not_one_in_its_printed_layout);
	tcase_add_test(tc, identifiers_grouped_unlike_cards_are_not_masked);
	tcase_add_test(tc, mask_leaves_text_without_card_numbers_alone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
