/* records.c: first decision wins across the fleet: the conditional put, the read-back and its verdict (pure). */
#include "txpipe/fleet.h"
#include "txpipe/item.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "txpipe/aws/dynamodb.h"
#include "txpipe/sbuf.h"

/* Appends the fields of a conditional put of `item` (TableName, Item with
 * decided_by, ConditionExpression), without braces.  Returns false for an
 * item that is not a JSON object. */
static bool put_fields(struct txp_sbuf *b, const char *table, const char *item, size_t item_len, const char *decided_by)
{
	/* The item is one JSON object: decided_by goes before its final '}'. */
	if (item_len < 2 || item[0] != '{' || item[item_len - 1] != '}')
		return false;
	txp_sbuf_str(b, "\"TableName\":");
	txp_sbuf_json_str(b, table);
	txp_sbuf_str(b, ",\"Item\":");
	txp_sbuf_raw(b, item, item_len - 1);
	txp_sbuf_str(b,
	             item_len > 2 ? ",\"" TXP_FLEET_DECIDED_BY "\":{\"S\":" : "\"" TXP_FLEET_DECIDED_BY "\":{\"S\":");
	txp_sbuf_json_str(b, decided_by);
	/* A record is written once: a second decision of its transaction_id
	 * fails with ConditionalCheckFailedException instead of replacing it
	 * (DynamoDB Developer Guide, "Condition expressions"). */
	txp_sbuf_str(b, "}},\"ConditionExpression\":\"attribute_not_exists(" TXP_FLEET_RECORD_KEY ")\"");
	return true;
}

char *txp_fleet_put_body(const char *table, const char *item, size_t item_len, const char *decided_by, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{");
	if (!put_fields(&b, table, item, item_len, decided_by)) {
		txp_sbuf_free(&b);
		return NULL;
	}
	txp_sbuf_str(&b, "}");
	return txp_sbuf_finish(&b, len);
}

char *txp_fleet_transact_body(const char *table, const char *const *items, const uint32_t *lens, size_t n,
                              const char *decided_by, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"TransactItems\":[");
	for (size_t i = 0; i < n; i++) {
		txp_sbuf_str(&b, i == 0 ? "{\"Put\":{" : ",{\"Put\":{");
		if (!put_fields(&b, table, items[i], lens[i], decided_by)) {
			txp_sbuf_free(&b);
			return NULL;
		}
		txp_sbuf_str(&b, ",\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\"}}");
	}
	txp_sbuf_str(&b, "]}");
	return txp_sbuf_finish(&b, len);
}

int txp_fleet_cancellations(const char *body, size_t len, struct txp_fleet_cancel *out, size_t n)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *reasons = json_object_get(root, "CancellationReasons"), *r;
	size_t i;
	int rc = -EINVAL;

	memset(out, 0, n * sizeof(out[0]));
	if (!json_is_array(reasons) || json_array_size(reasons) != n)
		goto out;
	json_array_foreach (reasons, i, r) {
		const char *code = json_string_value(json_object_get(r, "Code"));
		json_t *item = json_object_get(r, "Item");

		if (!json_is_object(r) || code == NULL || strlen(code) >= sizeof(out[i].code))
			goto fail;
		memcpy(out[i].code, code, strlen(code) + 1);
		if (json_is_object(item)) {
			/* Into our own malloc'd buffer: json_dumps would
			 * allocate with jansson's functions, which the daemon
			 * replaces (they free with theirs, not free()). */
			json_t *wrap = json_pack("{sO}", "Item", item);
			size_t need = wrap != NULL ? json_dumpb(wrap, NULL, 0, JSON_COMPACT) : 0;

			out[i].old = need > 0 ? malloc(need + 1) : NULL;
			if (out[i].old != NULL) {
				out[i].old_len = json_dumpb(wrap, out[i].old, need, JSON_COMPACT);
				out[i].old[out[i].old_len] = '\0';
			}
			json_decref(wrap);
			if (out[i].old == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
		}
	}
	rc = 0;
	goto out;
fail:
	for (i = 0; i < n; i++) {
		free(out[i].old);
		out[i].old = NULL;
	}
out:
	json_decref(root);
	return rc;
}

char *txp_fleet_get_body(const char *table, const char *id, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ",\"Key\":{\"" TXP_FLEET_RECORD_KEY "\":{\"S\":");
	txp_sbuf_json_str(&b, id);
	/* Eventually consistent reads may miss a write that just won. */
	txp_sbuf_str(&b, "}},\"ConsistentRead\":true}");
	return txp_sbuf_finish(&b, len);
}

static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

/* The reply line of a stored record (its unmarshalled item `it`), in the
 * protocol's field order (txp_txn_build_reply). */
static char *stored_reply(const json_t *it, size_t *len)
{
	struct txp_sbuf b = { 0 };
	json_t *score = json_object_get(it, "risk_score"), *reasons = json_object_get(it, "reasons");
	const char *status = str_of(it, "status"), *code;
	json_t *v;
	bool first = true;

	txp_sbuf_str(&b, "{\"transaction_id\":");
	txp_sbuf_json_str(&b, str_of(it, TXP_FLEET_RECORD_KEY));
	txp_sbuf_str(&b, ",\"status\":");
	txp_sbuf_json_str(&b, status);
	if (json_is_integer(score))
		txp_sbuf_printf(&b, ",\"risk_score\":%lld", (long long)json_integer_value(score));
	txp_sbuf_str(&b, ",\"reasons\":[");
	json_object_foreach (reasons, code, v) {
		if (!first)
			txp_sbuf_raw(&b, ",", 1);
		txp_sbuf_json_str(&b, code);
		first = false;
	}
	txp_sbuf_str(&b, "]");
	if (strcmp(status, "rejected") == 0 || strcmp(status, "error") == 0) {
		txp_sbuf_str(&b, ",\"error\":{\"code\":");
		txp_sbuf_json_str(&b, str_of(it, "error_code"));
		txp_sbuf_str(&b, ",\"message\":");
		txp_sbuf_json_str(&b, str_of(it, "error_message"));
		txp_sbuf_str(&b, ",\"field\":");
		if (str_of(it, "error_field")[0] != '\0')
			txp_sbuf_json_str(&b, str_of(it, "error_field"));
		else
			txp_sbuf_str(&b, "null");
		txp_sbuf_str(&b, "}");
	}
	/* Which host's decision this is: the producer asked another one. */
	txp_sbuf_str(&b, ",\"" TXP_FLEET_DECIDED_BY "\":");
	txp_sbuf_json_str(&b, str_of(it, TXP_FLEET_DECIDED_BY));
	txp_sbuf_str(&b, "}\n");
	return txp_sbuf_finish(&b, len);
}

/* Whether an attribute is one a host adds to the item it was given. */
static bool added_attribute(const char *name)
{
	return strcmp(name, TXP_FLEET_DECIDED_BY) == 0 || strcmp(name, TXP_FLEET_FINGERPRINT) == 0;
}

/* Whether `stored` (AttributeValue JSON) holds the attributes of `item`,
 * equal value for equal value (json_equal: a map's members in any order),
 * and no other but the added ones.  The values compare as DynamoDB returns
 * them: an item's numbers are integers written without leading zeros or a
 * sign for zero (item.c), which DynamoDB keeps as they are, and its lists
 * keep their order. */
static bool same_record(json_t *stored, const char *item, size_t item_len)
{
	json_t *ours = json_loadb(item, item_len, 0, NULL), *v;
	const char *name;
	size_t n = 0, m = 0;
	bool same = json_is_object(ours);

	json_object_foreach (ours, name, v) {
		if (added_attribute(name))
			continue;
		if (!json_equal(v, json_object_get(stored, name))) {
			same = false;
			break;
		}
		n++;
	}
	json_object_foreach (stored, name, v) {
		if (!added_attribute(name))
			m++;
	}
	json_decref(ours);
	return same && n == m;
}

int txp_fleet_stored_verdict(const char *body, size_t len, const char *item_ours, size_t item_len, char *winner,
                             size_t winner_len, char **reply, size_t *reply_len)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL, *item, *it = NULL;
	int rc = -EINVAL;

	*reply = NULL;
	*reply_len = 0;
	if (winner_len > 0)
		winner[0] = '\0';
	if (!json_is_object(root))
		goto out;
	item = json_object_get(root, "Item");
	if (item == NULL) {
		rc = TXP_FLEET_MISSING;
		goto out;
	}
	if (json_is_object(item) && same_record(item, item_ours, item_len)) {
		rc = TXP_FLEET_OURS;
		goto out;
	}
	it = json_is_object(item) ? txp_ddb_unmarshal(item) : NULL;
	if (it == NULL)
		goto out;
	if (winner_len > 0) {
		strncpy(winner, str_of(it, TXP_FLEET_DECIDED_BY), winner_len - 1);
		winner[winner_len - 1] = '\0';
	}
	{
		/* The stored record under its documented names (the item
		 * keeps short ones), either layout. */
		json_t *readable = txp_item_readable(it);

		*reply = readable != NULL ? stored_reply(readable, reply_len) : NULL;
		json_decref(readable);
	}
	rc = *reply != NULL ? TXP_FLEET_CONFLICT : -ENOMEM;
out:
	json_decref(it);
	json_decref(root);
	return rc;
}
