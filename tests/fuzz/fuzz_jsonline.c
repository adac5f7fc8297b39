/* fuzz_jsonline.c: libFuzzer harness for the NDJSON line reader (txp_jsonline), differential against jansson. */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "txpipe/jsonline.h"

#include "fuzz.h"

/* The reader holds 256 key slots: too big for every call's stack frame. */
static struct txp_jsonline rd;

/*
 * Properties, beyond "no crash, no out-of-bounds read past the line":
 *  - an error is sticky (a later call returns it again);
 *  - a line the reader accepts is an object jansson accepts too, with the
 *    same members, the same decoded strings and the same integer/real split
 *    (jansson without JSON_REJECT_DUPLICATES, since the reader does not
 *    compare the keys of nested objects, a documented difference);
 *  - a line jansson accepts as an object (duplicates refused) is accepted
 *    by the reader too, unless it has more members than the reader's limit
 *    or a raw NUL byte (jansson 2.14 skips one after a number or literal).
 * test_jsonline.c lists the same differences for its generated lines.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txp_jsonline_member m;
	char *line = malloc(size > 0 ? size : 1);
	json_t *root;
	size_t members = 0;
	int rc;

	if (line == NULL)
		abort();
	memcpy(line, data, size);
	txp_jsonline_init(&rd, line, size);
	while ((rc = txp_jsonline_next(&rd, &m)) > 0)
		members++;
	FUZZ_ASSERT(txp_jsonline_next(&rd, &m) == rc);
	FUZZ_ASSERT(rc == 0 || rd.what != NULL);

	if (rc == 0) {
		root = json_loadb((const char *)data, size, 0, NULL);
		FUZZ_ASSERT(json_is_object(root));
		FUZZ_ASSERT(json_object_size(root) == members);
		/* Read again: the first pass decoded the strings in place. */
		memcpy(line, data, size);
		txp_jsonline_init(&rd, line, size);
		while (txp_jsonline_next(&rd, &m) > 0) {
			json_t *v = json_object_get(root, m.key);
			FUZZ_ASSERT(v != NULL);
			FUZZ_ASSERT(strlen(m.key) == m.key_len);
			switch (m.value.type) {
			case TXP_JSONLINE_STRING:
				FUZZ_ASSERT(json_is_string(v) && json_string_length(v) == m.value.len &&
				            memcmp(json_string_value(v), m.value.text, m.value.len) == 0);
				break;
			case TXP_JSONLINE_NUMBER:
				FUZZ_ASSERT(m.value.is_integer ? json_is_integer(v) : json_is_real(v));
				break;
			case TXP_JSONLINE_TRUE:
				FUZZ_ASSERT(json_is_true(v));
				break;
			case TXP_JSONLINE_FALSE:
				FUZZ_ASSERT(json_is_false(v));
				break;
			case TXP_JSONLINE_NULL:
				FUZZ_ASSERT(json_is_null(v));
				break;
			case TXP_JSONLINE_OBJECT:
				FUZZ_ASSERT(json_is_object(v));
				break;
			case TXP_JSONLINE_ARRAY:
				FUZZ_ASSERT(json_is_array(v));
				break;
			}
		}
		json_decref(root);
	} else if (memchr(data, '\0', size) == NULL) {
		root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
		FUZZ_ASSERT(!json_is_object(root) || rc == TXP_JSONLINE_ELIMIT);
		json_decref(root);
	}
	txp_jsonline_wipe(&rd);
	free(line);
	return 0;
}
