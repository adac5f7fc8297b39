/* iam_check.c: validates an IAM policy file of conf/ and prints the actions it allows on each resource (for check-iam.sh). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/*
 * The rules are ours, stricter than IAM's grammar (IAM User Guide, "IAM JSON
 * policy element reference"): every statement allows named actions of the
 * three services txpipe calls, on named resources of those services, with no
 * wildcard anywhere, so that least privilege can be checked by reading the
 * file.  The placeholders REGION and ACCOUNT stand where the operator puts
 * the real values (docs/iam.md).
 */

static const char *const services[] = { "dynamodb", "sns", "sqs" };

static int fail(const char *file, const char *what, size_t stmt)
{
	if (stmt == 0)
		fprintf(stderr, "%s: %s\n", file, what);
	else
		fprintf(stderr, "%s: statement %zu: %s\n", file, stmt, what);
	return -1;
}

static const char *str(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static bool known_service(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (strlen(services[i]) == len && strncmp(services[i], s, len) == 0)
			return true;
	return false;
}

/* "service:Name", the name letters only: no wildcard, no other service. */
static bool valid_action(const char *a)
{
	const char *colon = strchr(a, ':');

	if (colon == NULL || !known_service(a, (size_t)(colon - a)) || colon[1] < 'A' || colon[1] > 'Z')
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return false;
	return true;
}

/* arn:aws:<service>:REGION:ACCOUNT:<name>, with the same service as the actions. */
static bool valid_resource(const char *r)
{
	static const char prefix[] = "arn:aws:";
	const char *svc = r + sizeof(prefix) - 1, *colon;

	if (strncmp(r, prefix, sizeof(prefix) - 1) != 0 || strpbrk(r, "*?") != NULL)
		return false;
	colon = strchr(svc, ':');
	if (colon == NULL || !known_service(svc, (size_t)(colon - svc)))
		return false;
	return strncmp(colon, ":REGION:ACCOUNT:", 16) == 0 && colon[16] != '\0';
}

/* A string, or a non-empty array of strings, each accepted by `ok`. */
static bool strings(json_t *v, bool (*ok)(const char *))
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return ok(json_string_value(v));
	if (!json_is_array(v) || json_array_size(v) == 0)
		return false;
	json_array_foreach (v, i, e) {
		if (!json_is_string(e) || !ok(json_string_value(e)))
			return false;
	}
	return true;
}

/* Prints "action resource" for each action of a statement and each of its
 * resources: the same action on two tables is two grants, not a repeat. */
static void print_actions(json_t *action, json_t *resource)
{
	json_t *as = json_is_string(action) ? json_pack("[O]", action) : json_incref(action);
	json_t *rs = json_is_string(resource) ? json_pack("[O]", resource) : json_incref(resource);
	size_t i, k;
	json_t *a, *r;

	json_array_foreach (as, i, a)
		json_array_foreach (rs, k, r)
			printf("%s %s\n", json_string_value(a), json_string_value(r));
	json_decref(as);
	json_decref(rs);
}

static int check_statement(const char *file, json_t *s, size_t n, json_t *sids)
{
	const char *key;
	json_t *v, *action, *resource;

	if (!json_is_object(s))
		return fail(file, "not an object", n);
	json_object_foreach (s, key, v) {
		if (strcmp(key, "Sid") != 0 && strcmp(key, "Effect") != 0 && strcmp(key, "Action") != 0 &&
		    strcmp(key, "Resource") != 0 && strcmp(key, "Condition") != 0) {
			fprintf(stderr, "%s: statement %zu: element %s is not allowed here\n", file, n, key);
			return -1;
		}
	}
	v = json_object_get(s, "Sid");
	if (v != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0)
			return fail(file, "Sid is not a non-empty string", n);
		if (json_object_get(sids, json_string_value(v)) != NULL)
			return fail(file, "Sid is not unique", n);
		json_object_set_new(sids, json_string_value(v), json_true());
	}
	if (strcmp(str(json_object_get(s, "Effect")), "Allow") != 0)
		return fail(file, "Effect is not \"Allow\"", n);
	action = json_object_get(s, "Action");
	if (!strings(action, valid_action))
		return fail(file, "Action must name dynamodb:, sns: or sqs: actions, without wildcards", n);
	resource = json_object_get(s, "Resource");
	if (!strings(resource, valid_resource))
		return fail(file, "Resource must be arn:aws:<service>:REGION:ACCOUNT:<name> ARNs, without wildcards",
		            n);
	v = json_object_get(s, "Condition");
	if (v != NULL && (!json_is_object(v) || json_object_size(v) == 0))
		return fail(file, "Condition is not a non-empty object", n);
	print_actions(action, resource);
	return 0;
}

static int check_file(const char *file)
{
	json_error_t e;
	json_t *doc, *stmts, *s, *sids = json_object();
	size_t i;
	int rc = -1;

	doc = json_load_file(file, JSON_REJECT_DUPLICATES, &e);
	if (doc == NULL) {
		fprintf(stderr, "%s:%d:%d: not JSON: %s\n", file, e.line, e.column, e.text);
		goto out;
	}
	if (!json_is_object(doc) || json_object_size(doc) != 2) {
		fail(file, "must be an object with exactly Version and Statement", 0);
		goto out;
	}
	if (strcmp(str(json_object_get(doc, "Version")), "2012-10-17") != 0) {
		fail(file, "Version is not \"2012-10-17\"", 0);
		goto out;
	}
	stmts = json_object_get(doc, "Statement");
	if (!json_is_array(stmts) || json_array_size(stmts) == 0) {
		fail(file, "Statement is not a non-empty array", 0);
		goto out;
	}
	json_array_foreach (stmts, i, s) {
		if (check_statement(file, s, i + 1, sids) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(sids);
	json_decref(doc);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: iam_check POLICY.json\n");
		return 64;
	}
	return check_file(argv[1]) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
