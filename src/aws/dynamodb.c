/* dynamodb.c: DynamoDB request bodies and response reading (JSON 1.0 protocol, pure). */
#include "txpipe/aws/dynamodb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txpipe/sbuf.h"

char *txp_ddb_batch_body(const char *table, const char *const *items, const uint32_t *lens, size_t n, size_t *len)
{
	struct txp_sbuf b = { 0 };
	size_t need = strlen(table) * 6 + 32;

	/* Once, at its final size: 25 items grown by doubling would be six
	 * reallocs and copies of up to 16 KB on every batch. */
	for (size_t i = 0; i < n; i++)
		need += lens[i] + sizeof(",{\"PutRequest\":{\"Item\":}}");
	txp_sbuf_reserve(&b, need);
	txp_sbuf_str(&b, "{\"RequestItems\":{");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ":[");
	for (size_t i = 0; i < n; i++) {
		txp_sbuf_str(&b, i > 0 ? ",{\"PutRequest\":{\"Item\":" : "{\"PutRequest\":{\"Item\":");
		txp_sbuf_raw(&b, items[i], lens[i]);
		txp_sbuf_str(&b, "}}");
	}
	txp_sbuf_str(&b, "]}}");
	return txp_sbuf_finish(&b, len);
}

int txp_ddb_unprocessed(const char *body, size_t body_len, const char *table, void (*found)(void *arg, const char *id),
                        void *arg)
{
	json_t *root = body != NULL ? json_loadb(body, body_len, 0, NULL) : NULL;
	json_t *un, *list, *req;
	size_t i;
	int n = 0;

	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	/* An absent UnprocessedItems is as good as an empty one. */
	un = json_object_get(root, "UnprocessedItems");
	list = json_is_object(un) ? json_object_get(un, table) : NULL;
	json_array_foreach (list, i, req) {
		json_t *id = json_object_get(
		        json_object_get(json_object_get(json_object_get(req, "PutRequest"), "Item"), "transaction_id"),
		        "S");
		if (json_is_string(id)) {
			found(arg, json_string_value(id));
			n++;
		}
	}
	json_decref(root);
	return n;
}

static json_t *unmarshal_value(const json_t *av)
{
	const char *type;
	json_t *v, *out;
	size_t i;

	if (!json_is_object(av) || json_object_size(av) != 1)
		return NULL;
	json_object_foreach ((json_t *)av, type, v) {
		if (strcmp(type, "S") == 0 && json_is_string(v))
			return json_incref(v);
		if (strcmp(type, "N") == 0 && json_is_string(v)) {
			/* DynamoDB numbers are exact decimals: keep the text
			 * unless it is a plain integer that fits. */
			const char *s = json_string_value(v);
			char *end;
			errno = 0;
			long long n = strtoll(s, &end, 10);
			if (errno == 0 && *end == '\0' && end != s)
				return json_integer(n);
			return json_incref(v);
		}
		if (strcmp(type, "BOOL") == 0 && json_is_boolean(v))
			return json_incref(v);
		if (strcmp(type, "NULL") == 0)
			return json_null();
		if (strcmp(type, "L") == 0 && json_is_array(v)) {
			json_t *e;
			out = json_array();
			json_array_foreach (v, i, e) {
				json_t *u = unmarshal_value(e);
				if (u == NULL) {
					json_decref(out);
					return NULL;
				}
				json_array_append_new(out, u);
			}
			return out;
		}
		if (strcmp(type, "M") == 0 && json_is_object(v))
			return txp_ddb_unmarshal(v);
		if ((strcmp(type, "SS") == 0 || strcmp(type, "NS") == 0) && json_is_array(v))
			return json_incref(v);
	}
	return NULL;
}

json_t *txp_ddb_unmarshal(const json_t *item)
{
	const char *k;
	json_t *v, *out = json_object();

	json_object_foreach ((json_t *)item, k, v) {
		json_t *u = unmarshal_value(v);
		if (u == NULL) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, k, u);
	}
	return out;
}
