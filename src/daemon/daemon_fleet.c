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

	txp_stages_fleet_stale(d->stages, !stale                                        ? TXP_STAGES_FLEET_FRESH
	                                  : d->cfg.fleet.stale_action == TXP_FLEET_STALE_REVIEW ? TXP_STAGES_FLEET_STALE_REVIEW
	                                                                                     : TXP_STAGES_FLEET_STALE_NONE);
}

int daemon_fleet_start(struct daemon *d, char *err, size_t errlen)
{
	struct txp_fleet_ops ops = { .apply = fleet_apply, .stale = fleet_stale, .arg = d };

	if (!d->cfg.fleet.enabled)
		return 0;
	return txp_fleet_create(&d->fleet, &d->loop, d->aws, &d->cfg, &ops, err, errlen);
}

void daemon_pipeline_done(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	if (t->fleet_apply)
		txp_fleet_applied(d->fleet, t);
	else
		txp_server_txn_done(d->server, t);
}
