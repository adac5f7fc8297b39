/* daemon_fleet.c: wires the fleet's shared screening state (src/fleet) to this daemon's pipeline and stages. */
#include "txp_build_config.h"

#include "daemon.h"

#include "txpipe/fleet.h"

static uint32_t fleet_apply(void *arg, struct txp_txn **ts, uint32_t n)
{
	struct daemon *d = arg;

	/* Another host's events take the same path as this host's
	 * transactions, so each shard's state has one writer, its thread. */
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
	rc = txp_fleet_create(&d->fleet, &d->loop, d->aws, &d->cfg, &ops, err, errlen);
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
