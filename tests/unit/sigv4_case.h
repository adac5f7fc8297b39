/* sigv4_case.h: loads one SigV4 test case folder (AWS test-suite layout) and checks the signer against it. */
#ifndef TXPIPE_TESTS_SIGV4_CASE_H
#define TXPIPE_TESTS_SIGV4_CASE_H

#include "txpipe/aws/sigv4.h"

#include <stddef.h>
#include <time.h>

/*
 * A case folder holds context.json (credentials, region, service, timestamp,
 * normalize, sign_body, omit_session_token), request.txt (the HTTP request)
 * and the expected header-signing results header-canonical-request.txt,
 * header-string-to-sign.txt, header-signature.txt and
 * header-signed-request.txt.  Everything a case points to is owned by it.
 */
struct sigv4_case {
	char *name;
	char *method, *path, *query; /* query NULL when the target has no '?' */
	struct txp_sigv4_header *headers;
	size_t n_headers;
	char *body;
	size_t body_len;
	char *access_key_id, *secret, *token;
	char *region, *service;
	time_t now;
	unsigned flags;
	char *exp_canonical, *exp_sts, *exp_signature, *exp_signed_request;
	/* Storage the pointers above point into. */
	char *request_text;
	char **header_storage;
	size_t n_header_storage;
};

/*
 * Loads dir/name.  Returns 0 when loaded, 1 when the case does not apply to
 * header signing (reason in why), -1 on a malformed case (reason in why).
 * The case must be freed with sigv4_case_free in every outcome.
 */
int sigv4_case_load(const char *dir, const char *name, struct sigv4_case *c, char *why, size_t whylen);
void sigv4_case_free(struct sigv4_case *c);

/* Signs the case and compares every expected output.  Returns 0 when all
 * match; otherwise -1 with a description of the first difference in msg. */
int sigv4_case_check(const struct sigv4_case *c, char *msg, size_t msglen);

/* Lists the subfolders of dir, sorted.  Returns the count (names in *names,
 * free with sigv4_case_names_free) or -1 when dir cannot be read. */
int sigv4_case_list(const char *dir, char ***names);
void sigv4_case_names_free(char **names, int n);

#endif
