/* daemon_fleet.c: txpiped in a fleet: the shared screening state wired to the pipeline, records, the journal lease. */
#include "txp_build_config.h"

#include "daemon.h"

#include "txpipe/fleet.h"
#include "txpipe/log.h"

#include <errno.h>
#include <stdio.h>

static uint32_t fleet_apply(void *arg, struct txp_txn **ts, uint32_t n)
{
	struct daemon *d = arg;

	/* Another host's events take the same path as this host's
	 * transactions, so each shard's state has one writer at a time: its
	 * thread, or the loop running a burst inline (pipeline.c). */
	return d->pipeline != NULL ? txp_pipeline_submit(d->pipeline, ts, n) : 0;
}

static void fleet_stale(void *arg, bool stale)
{
	struct daemon *d = arg;

	txp_stages_fleet_stale(d->stages, !stale ? TXP_STAGES_FLEET_FRESH
	                                  : d->cfg.fleet.stale_action == TXP_FLEET_STALE_REVIEW
	                                          ? TXP_STAGES_FLEET_STALE_REVIEW
	                                          : TXP_STAGES_FLEET_STALE_NONE);
}

static void fleet_release(void *arg, struct txp_txn **ts, uint32_t n)
{
	struct daemon *d = arg;

	txp_pipeline_release(d->pipeline, ts, n);
}

static void fleet_reply_release(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	txp_server_release(d->server, t);
}

static bool fleet_hold(void *arg, struct txp_txn *t)
{
	return txp_fleet_hold(arg, t);
}

int daemon_fleet_start(struct daemon *d, char *err, size_t errlen)
{
	struct txp_fleet_ops ops = { .apply = fleet_apply,
		                     .stale = fleet_stale,
		                     .release = fleet_release,
		                     .reply_release = fleet_reply_release,
		                     /* Half the pipeline at most, so the
		                      * events these wait for always find room. */
		                     .hold_max = txp_pipeline_capacity(d->pipeline) / 2,
		                     .arg = d };
	int rc;

	if (!d->cfg.fleet.enabled)
		return 0;
	rc = txp_fleet_create(&d->fleet, &d->loop, d->aws, &d->cfg, d->instance_id, &ops, err, errlen);
	if (rc == 0 && d->cfg.fleet.mode == TXP_FLEET_FRESH)
		txp_pipeline_set_hold(d->pipeline, fleet_hold, d->fleet);
	return rc;
}

bool daemon_fleet_ack_release(struct daemon *d, struct txp_txn *t)
{
	return d->fleet != NULL && txp_fleet_ack_release(d->fleet, t);
}

void daemon_pipeline_done(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	if (t->fleet_apply)
		txp_fleet_applied(d->fleet, t);
	else
		txp_server_txn_done(d->server, t);
}

int daemon_fleet_records(struct daemon *d, char *err, size_t errlen)
{
	int rc;

	rc = txp_fleet_instance_id(&d->cfg, d->instance_id, sizeof(d->instance_id), err, errlen);
	if (rc < 0)
		return rc;
	rc = txp_delivery_set_fleet(d->delivery, d->instance_id);
	if (rc < 0) {
		snprintf(err, errlen, "[fleet] instance id %s is not valid", d->instance_id);
		return rc;
	}
	txp_log_notice("fleet_records", "instance=%s table=%s store=\"conditional PutItem, first decision wins\"",
	               d->instance_id, d->cfg.dynamodb.table);
	return 0;
}

int daemon_fleet_lease(struct daemon *d, char *err, size_t errlen)
{
	struct txp_fleet_lease_state before;
	char id[TXP_JOURNAL_ID_HEX + 1], msg[1024];
	int rc;

	if (!d->cfg.fleet.enabled || d->aws == NULL)
		return 0;
	rc = txp_journal_id(d->cfg.journal.dir, id, err, errlen);
	if (rc < 0)
		return rc;
	rc = txp_fleet_lease_take(&d->lease, &d->cfg, id, d->instance_id, &before, msg, sizeof(msg));
	if (rc == -EBUSY || d->lease == NULL) {
		snprintf(err, errlen, "journal %s: %s", d->cfg.journal.dir, msg);
		return rc;
	}
	if (rc < 0) {
		/* DynamoDB did not answer: screening goes on, the lease is
		 * taken when it does (a journal delivered twice stays harmless:
		 * the writes are conditional). */
		txp_log_warn("fleet_lease_unavailable",
		             "journal_id=%s reason=\"%s\" action=\"starting; taking it later\"", id, msg);
		before.found = false;
	}
	rc = txp_fleet_lease_keep(d->lease, &d->loop, d->aws);
	if (rc < 0) {
		/* d->lease is released at exit (nothing to delete when not held). */
		snprintf(err, errlen, "journal lease renewal timer: %s", uv_strerror(rc));
		return rc;
	}
	if (rc == 0)
		txp_log_notice("fleet_lease", "journal_id=%s owner=%s lease_ms=%llu before=\"%s\"", id, d->instance_id,
		               (unsigned long long)d->cfg.fleet.lease_ms, before.found ? before.owner : "-");
	return 0;
}
