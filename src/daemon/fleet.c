/* fleet.c: txpiped in a fleet ([fleet] enabled): instance id, first-decision-wins records, journal lease. */
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
