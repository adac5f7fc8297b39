/* test_sigv4_suite.c: the signer against every header-signing case of the published AWS SigV4 test suite. */
#include "sigv4_case.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * The suite (awslabs/aws-c-auth tests/aws-signing-test-suite/v4, Apache-2.0)
 * is read in place from $SIGV4_SUITE, which configure finds and make check
 * exports; it is never copied into the tree.  Without it the test reports
 * SKIP (exit 77); CI has the folder, so there it runs.
 */

#define EXIT_SKIP 77

static const char *suite_dir;
static char **case_names;
static int n_cases;

START_TEST(suite_case_signs_as_published)
{
	struct sigv4_case c;
	char why[512], msg[8192];
	int rc = sigv4_case_load(suite_dir, case_names[_i], &c, why, sizeof(why));

	/* Cases that do not apply were filtered out in main. */
	ck_assert_msg(rc == 0, "%s: cannot load: %s", case_names[_i], why);
	rc = sigv4_case_check(&c, msg, sizeof(msg));
	sigv4_case_free(&c);
	ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	char **all;
	int n_all, failed, skipped = 0;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	suite_dir = getenv("SIGV4_SUITE");
	if (suite_dir == NULL || suite_dir[0] == '\0') {
		printf("SKIP: SIGV4_SUITE is not set (configure found no AWS SigV4 test suite)\n");
		return EXIT_SKIP;
	}
	n_all = sigv4_case_list(suite_dir, &all);
	if (n_all < 0) {
		printf("SKIP: SIGV4_SUITE=%s cannot be read\n", suite_dir);
		return EXIT_SKIP;
	}
	/* A readable but empty suite is a broken checkout, not a skip. */
	if (n_all == 0) {
		printf("FAIL: SIGV4_SUITE=%s holds no case folders\n", suite_dir);
		return EXIT_FAILURE;
	}

	case_names = calloc((size_t)n_all, sizeof(*case_names));
	if (case_names == NULL)
		return EXIT_FAILURE;
	for (int i = 0; i < n_all; i++) {
		struct sigv4_case c;
		char why[512];
		int rc = sigv4_case_load(suite_dir, all[i], &c, why, sizeof(why));

		sigv4_case_free(&c);
		if (rc == 1) {
			printf("skip %s: %s\n", all[i], why);
			skipped++;
			continue;
		}
		/* Malformed cases stay in the list so their test fails with the reason. */
		case_names[n_cases++] = all[i];
	}
	printf("sigv4 suite %s: %d cases, %d for header signing, %d skipped\n", suite_dir, n_all, n_cases, skipped);

	s = suite_create("sigv4_suite");
	tc = tcase_create("header_signing");
	tcase_add_loop_test(tc, suite_case_signs_as_published, 0, n_cases);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(case_names);
	sigv4_case_names_free(all, n_all);
	/* Every case applies to header signing today; if none did, nothing was tested. */
	if (n_cases == 0)
		return EXIT_FAILURE;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
