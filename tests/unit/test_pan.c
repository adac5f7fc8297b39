/* test_pan.c: the card-number scanner: Luhn, lengths, separators, boundaries and masking. */
#include "txpipe/pan.h"

#include <check.h>
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
	ck_assert(!found("4111111111111112", &a, &b));          /* Luhn fails */
	ck_assert(!found("411111111111", &a, &b));              /* 12 digits */
	ck_assert(!found("41111111111111111111", &a, &b));      /* 20 digits, one run */
	ck_assert(!found("4111  1111  1111  1111", &a, &b));    /* two spaces split it */
	ck_assert(!found("4111--1111--1111--1111", &a, &b));
	ck_assert(!found("4111.1111.1111.1111", &a, &b));       /* dots are not separators */
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
