/* fleet.c: txpiped's part in a fleet ([fleet] enabled): its instance id, first-decision-wins records, its journal's lease. */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>

#include "txpipe/log.h"

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
