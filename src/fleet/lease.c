/* lease.c: journal leases in the fleet table, taken, renewed and released by conditional writes. */
#include "txpipe/fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "txpipe/aws/client.h"
#include "txpipe/aws/dynamodb.h"
#include "txpipe/aws/ops.h"
#include "txpipe/aws/settings.h"
#include "txpipe/config.h"
#include "txpipe/log.h"
#include "txpipe/sbuf.h"

/* ---- request bodies (pure) ------------------------------------------------ */

/* {"pk":{"S":"lease|<journal id>"}}: the lease's key, or the key part of its item. */
static void lease_key(struct txp_sbuf *b, const char *journal_id, bool close)
{
	char key[128];

	snprintf(key, sizeof(key), TXP_FLEET_LEASE_PREFIX "%s", journal_id);
	txp_sbuf_str(b, "{\"" TXP_FLEET_KEY_ATTRIBUTE "\":{\"S\":");
	txp_sbuf_json_str(b, key);
	txp_sbuf_str(b, close ? "}}" : "}");
}

/* "owner" is a DynamoDB reserved word, so every expression names it #o
 * (DynamoDB Developer Guide, "Reserved words"); "expires" gets #e alike. */
#define NAMES ",\"ExpressionAttributeNames\":{\"#o\":\"owner\",\"#e\":\"" TXP_FLEET_TTL_ATTRIBUTE "\"}"

char *txp_fleet_lease_take_body(const char *table, const char *journal_id, const char *owner, int64_t now_s,
                                int64_t expires_s, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ",\"Item\":");
	lease_key(&b, journal_id, false);
	txp_sbuf_str(&b, ",\"owner\":{\"S\":");
	txp_sbuf_json_str(&b, owner);
	txp_sbuf_printf(&b, "},\"" TXP_FLEET_TTL_ATTRIBUTE "\":{\"N\":\"%" PRId64 "\"}}", expires_s);
	/* Free (no item, or expired), or ours already (a restart of the same
	 * host: its journal's flock says the old process is gone). */
	txp_sbuf_str(&b, ",\"ConditionExpression\":\"attribute_not_exists(" TXP_FLEET_KEY_ATTRIBUTE
	                 ") OR #e < :now OR #o = :me\"" NAMES ",\"ExpressionAttributeValues\":{\":me\":{\"S\":");
	txp_sbuf_json_str(&b, owner);
	txp_sbuf_printf(&b, "},\":now\":{\"N\":\"%" PRId64 "\"}}}", now_s);
	return txp_sbuf_finish(&b, len);
}

char *txp_fleet_lease_renew_body(const char *table, const char *journal_id, const char *owner, int64_t expires_s,
                                 size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ",\"Key\":");
	lease_key(&b, journal_id, true);
	txp_sbuf_str(&b, ",\"UpdateExpression\":\"SET #e = :exp\",\"ConditionExpression\":\"#o = :me\"" NAMES
	                 ",\"ExpressionAttributeValues\":{\":me\":{\"S\":");
	txp_sbuf_json_str(&b, owner);
	txp_sbuf_printf(&b, "},\":exp\":{\"N\":\"%" PRId64 "\"}}}", expires_s);
	return txp_sbuf_finish(&b, len);
}

char *txp_fleet_lease_release_body(const char *table, const char *journal_id, const char *owner, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ",\"Key\":");
	lease_key(&b, journal_id, true);
	txp_sbuf_str(&b, ",\"ConditionExpression\":\"#o = :me\",\"ExpressionAttributeNames\":{\"#o\":\"owner\"}"
	                 ",\"ExpressionAttributeValues\":{\":me\":{\"S\":");
	txp_sbuf_json_str(&b, owner);
	txp_sbuf_str(&b, "}}}");
	return txp_sbuf_finish(&b, len);
}

char *txp_fleet_lease_get_body(const char *table, const char *journal_id, size_t *len)
{
	struct txp_sbuf b = { 0 };

	txp_sbuf_str(&b, "{\"TableName\":");
	txp_sbuf_json_str(&b, table);
	txp_sbuf_str(&b, ",\"Key\":");
	lease_key(&b, journal_id, true);
	txp_sbuf_str(&b, ",\"ConsistentRead\":true}");
	return txp_sbuf_finish(&b, len);
}

int txp_fleet_lease_parse(const char *body, size_t len, struct txp_fleet_lease_state *st)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL, *item;
	const char *owner, *exp;
	char *end;

	memset(st, 0, sizeof(*st));
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	item = json_object_get(root, "Item");
	if (item != NULL) {
		owner = json_string_value(json_object_get(json_object_get(item, "owner"), "S"));
		exp = json_string_value(json_object_get(json_object_get(item, TXP_FLEET_TTL_ATTRIBUTE), "N"));
		st->found = true;
		snprintf(st->owner, sizeof(st->owner), "%s", owner != NULL ? owner : "");
		/* An unreadable expiry is taken as expired: the take condition
		 * (#e < :now) cannot hold a lease that has none either. */
		st->expires_s = exp != NULL ? strtoll(exp, &end, 10) : 0;
	}
	json_decref(root);
	return 0;
}

bool txp_fleet_lease_blocks(const struct txp_fleet_lease_state *st, const char *owner, int64_t now_s)
{
	return st->found && st->expires_s >= now_s && strcmp(st->owner, owner) != 0;
}

/* ---- taking and releasing (synchronous) --------------------------------------- */

struct txp_fleet_lease {
	struct txp_aws_settings settings;
	char *table;
	char journal_id[64];
	char owner[TXP_FLEET_LEASE_OWNER_MAX + 1];
	uint64_t lease_ms;
	/* renewal on the daemon's loop */
	uv_timer_t timer;
	struct txp_aws_client *client;
	bool held;     /* taken, and not known to be lost */
	bool keeping;  /* the timer runs */
	bool renewing; /* a take or renewal is in flight */
	bool refused_logged;
	uint64_t lost;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int call(struct txp_aws_session *s, const char *op, char *body, struct txp_aws_reply *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	if (body == NULL)
		return -ENOMEM;
	rc = txp_aws_session_call(s, TXP_AWS_DYNAMODB, op, body, r);
	free(body);
	return rc;
}

/* Reads the lease as it is into *st.  Returns 0 or a negative errno (err). */
static int read_state(struct txp_aws_session *s, const struct txp_fleet_lease *l, struct txp_fleet_lease_state *st,
                      char *err, size_t errlen)
{
	struct txp_aws_reply r;
	size_t len;
	int rc = call(s, "GetItem", txp_fleet_lease_get_body(l->table, l->journal_id, &len), &r);

	if (rc == 0 && r.kind != TXP_AWS_OK) {
		snprintf(err, errlen, "reading the lease of journal %s from table %s: %s: %s", l->journal_id, l->table,
		         r.code, r.message);
		rc = -EIO;
	} else if (rc == 0 && txp_fleet_lease_parse(r.body, r.body_len, st) < 0) {
		snprintf(err, errlen, "reading the lease of journal %s: not a GetItem answer", l->journal_id);
		rc = -EINVAL;
	} else if (rc < 0) {
		snprintf(err, errlen, "reading the lease of journal %s: %s", l->journal_id, strerror(-rc));
	}
	free(r.body);
	return rc;
}

int txp_fleet_lease_take(struct txp_fleet_lease **out, const struct txp_config *cfg, const char *journal_id,
                         const char *owner, struct txp_fleet_lease_state *before, char *err, size_t errlen)
{
	struct txp_fleet_lease *l = calloc(1, sizeof(*l));
	struct txp_fleet_lease_state st = { 0 };
	struct txp_aws_session *s = NULL;
	struct txp_aws_reply r = { 0 };
	int64_t now = now_s();
	size_t len;
	int rc = -ENOMEM;

	*out = NULL;
	if (l == NULL || (l->table = strdup(cfg->fleet.table)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	snprintf(l->journal_id, sizeof(l->journal_id), "%s", journal_id);
	snprintf(l->owner, sizeof(l->owner), "%s", owner);
	l->lease_ms = cfg->fleet.lease_ms;
	txp_aws_settings_from_config(cfg, &l->settings);
	rc = txp_aws_session_open(&s, &l->settings, err, errlen);
	if (rc < 0)
		goto err_free;
	/* Read first: to say who holds it when it is refused, and so that an
	 * adopter knows whose journal it delivers. */
	rc = read_state(s, l, &st, err, errlen);
	if (rc < 0)
		goto err_unheld;
	if (before != NULL)
		*before = st;
	rc = call(s, "PutItem",
	          txp_fleet_lease_take_body(l->table, l->journal_id, owner, now,
	                                    now + (int64_t)((l->lease_ms + 999) / 1000), &len),
	          &r);
	if (rc < 0) {
		snprintf(err, errlen, "taking the lease of journal %s: %s", journal_id, strerror(-rc));
		goto err_unheld;
	}
	if (r.kind != TXP_AWS_OK && strcmp(r.code, "ConditionalCheckFailedException") == 0) {
		/* Taken meanwhile, or held: read again to name the holder. */
		if (read_state(s, l, &st, err, errlen) == 0)
			snprintf(err, errlen,
			         "journal %s is held by %s, whose lease runs %lld s more (until %lld): a live "
			         "owner is never replaced; if it is gone, try again after its lease ends",
			         journal_id, st.owner[0] != '\0' ? st.owner : "?",
			         (long long)(st.expires_s - now_s() + 1), (long long)st.expires_s);
		rc = -EBUSY;
		goto err_session;
	}
	if (r.kind != TXP_AWS_OK) {
		snprintf(err, errlen, "taking the lease of journal %s in table %s: %s: %s", journal_id, l->table,
		         r.code, r.message);
		rc = -EIO;
		goto err_unheld;
	}
	free(r.body);
	txp_aws_session_close(s);
	l->held = true;
	*out = l;
	return 0;
err_unheld:
	/* Not refused, just not answered: the caller may go on without it and
	 * let txp_fleet_lease_keep() take it once DynamoDB answers. */
	free(r.body);
	txp_aws_session_close(s);
	*out = l;
	return rc;
err_session:
	free(r.body);
	txp_aws_session_close(s);
err_free:
	if (l != NULL)
		free(l->table);
	free(l);
	return rc;
}

int txp_fleet_lease_release(struct txp_fleet_lease *l)
{
	struct txp_aws_session *s = NULL;
	struct txp_aws_reply r = { 0 };
	char err[512];
	size_t len;
	int rc;

	if (l == NULL)
		return 0;
	if (!l->held) {
		rc = 0;
		goto out;
	}
	rc = txp_aws_session_open(&s, &l->settings, err, sizeof(err));
	if (rc == 0) {
		rc = call(s, "DeleteItem", txp_fleet_lease_release_body(l->table, l->journal_id, l->owner, &len), &r);
		if (rc == 0 && r.kind != TXP_AWS_OK) {
			/* ConditionalCheckFailed: no longer ours, nothing to release. */
			snprintf(err, sizeof(err), "%s: %s", r.code, r.message);
			rc = strcmp(r.code, "ConditionalCheckFailedException") == 0 ? -EPERM : -EIO;
		} else if (rc < 0) {
			snprintf(err, sizeof(err), "%s", strerror(-rc));
		}
		free(r.body);
		txp_aws_session_close(s);
	}
	if (rc < 0)
		txp_log_warn("fleet_lease_release_failed",
		             "journal_id=%s owner=\"%s\" error=\"%s\" action=\"it expires by itself\"", l->journal_id,
		             l->owner, err);
out:
	free(l->table);
	free(l);
	return rc;
}

/* ---- renewal on the loop ------------------------------------------------------------ */

static void on_renewed(void *arg, const struct txp_aws_result *r)
{
	struct txp_fleet_lease *l = arg;

	l->renewing = false;
	if (r->kind == TXP_AWS_OK)
		return;
	if (strcmp(r->code, "ConditionalCheckFailedException") == 0) {
		/* The lease expired (renewals failed for lease_ms) and another
		 * host took this journal: it delivers the records too, which
		 * conditional writes make harmless, but an operator must know. */
		l->lost++;
		l->held = false;
		txp_log_err("fleet_lease_lost",
		            "journal_id=%s owner=\"%s\" action=\"another host took this journal's lease; stop "
		            "this daemon\"",
		            l->journal_id, l->owner);
		return;
	}
	if (strcmp(r->code, "cancelled") != 0)
		txp_log_warn("fleet_lease_renew_failed", "journal_id=%s error=%s message=\"%s\"", l->journal_id,
		             r->code, r->message);
}

/* A take sent from the timer (DynamoDB did not answer the one at start). */
static void on_taken(void *arg, const struct txp_aws_result *r)
{
	struct txp_fleet_lease *l = arg;

	l->renewing = false;
	if (r->kind == TXP_AWS_OK) {
		l->held = true;
		l->refused_logged = false;
		txp_log_notice("fleet_lease", "journal_id=%s owner=%s lease_ms=%llu late=true", l->journal_id, l->owner,
		               (unsigned long long)l->lease_ms);
	} else if (strcmp(r->code, "ConditionalCheckFailedException") != 0) {
		/* One line per attempt, every third of lease_ms at most. */
		if (strcmp(r->code, "cancelled") != 0)
			txp_log_warn("fleet_lease_take_failed", "journal_id=%s error=%s message=\"%s\"", l->journal_id,
			             r->code, r->message);
	} else if (!l->refused_logged) {
		l->refused_logged = true;
		txp_log_err("fleet_lease_held_elsewhere",
		            "journal_id=%s owner=\"%s\" action=\"another host holds this journal's lease; stop this "
		            "daemon\"",
		            l->journal_id, l->owner);
	}
}

static void on_renew_timer(uv_timer_t *t)
{
	struct txp_fleet_lease *l = t->data;
	int64_t now = now_s(), until = now + (int64_t)((l->lease_ms + 999) / 1000);
	size_t len;
	char *body;

	if (l->renewing)
		return; /* the last one has not come back: wait for it */
	body = l->held ? txp_fleet_lease_renew_body(l->table, l->journal_id, l->owner, until, &len)
	               : txp_fleet_lease_take_body(l->table, l->journal_id, l->owner, now, until, &len);
	if (body != NULL && txp_aws_call(l->client, TXP_AWS_DYNAMODB, l->held ? "UpdateItem" : "PutItem", body, len,
	                                 l->held ? on_renewed : on_taken, l) == 0)
		l->renewing = true;
	free(body);
}

int txp_fleet_lease_keep(struct txp_fleet_lease *l, struct uv_loop_s *loop, struct txp_aws_client *client)
{
	uint64_t every = l->lease_ms / 3;
	int rc;

	l->client = client;
	rc = uv_timer_init(loop, &l->timer);
	if (rc < 0)
		return rc;
	l->timer.data = l;
	l->keeping = true;
	return uv_timer_start(&l->timer, on_renew_timer, every, every);
}

void txp_fleet_lease_stop(struct txp_fleet_lease *l)
{
	if (l == NULL || !l->keeping)
		return;
	l->keeping = false;
	uv_close((uv_handle_t *)&l->timer, NULL);
}

uint64_t txp_fleet_lease_lost(const struct txp_fleet_lease *l)
{
	return l != NULL ? l->lost : 0;
}
