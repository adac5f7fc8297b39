/* daemon.h: the parts of txpiped one process wires together, shared by its start-up and control files. */
#ifndef TXPIPE_DAEMON_H
#define TXPIPE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/ack.h"
#include "txpipe/aws/client.h"
#include "txpipe/config.h"
#include "txpipe/delivery.h"
#include "txpipe/fleet.h"
#include "txpipe/journal.h"
#include "txpipe/metrics.h"
#include "txpipe/notify.h"
#include "txpipe/pipeline.h"
#include "txpipe/server.h"
#include "txpipe/stages.h"
#include "txpipe/stats.h"

#define DAEMON_SIGNALS 3

/*
 * One daemon: its configuration and every module, each owned here and
 * reached through its own interface.  txpiped.c builds, wires and tears
 * them down; control.c answers control requests (stats, reload,
 * redeliver).  Loop thread only.
 */
struct daemon {
	uv_loop_t loop;
	struct txp_config cfg;
	struct txp_stages *stages;
	struct txp_server *server;
	struct txp_pipeline *pipeline;
	struct txp_aws_client *aws;    /* NULL when [aws] enabled = false */
	struct txp_delivery *delivery; /* likewise */
	struct txp_journal *journal;
	struct txp_dedup *dedup;
	struct txp_ack *ack;
	uv_check_t ack_flush;                /* DELIVERED marks, once per loop turn */
	bool journal_refusing;               /* logged state of txp_journal_full() */
	int journal_error;                   /* logged state of the writer's error */
	uv_signal_t signals[DAEMON_SIGNALS]; /* TERM, INT, HUP */
	uv_timer_t stop_timer;               /* [daemon] shutdown_timeout_ms */
	uint64_t stop_deadline_ms;           /* loop time by which a stopping daemon exits */
	struct txp_notify notify;
	bool draining;
	int exit_code;
	uint64_t started_ns;
	uint64_t reloads, reload_failures;
	struct txp_reason_counts reasons;
	struct txp_metrics_server *metrics;
	struct txp_fleet *fleet; /* NULL unless [fleet] enabled */
	char instance_id[TXP_FLEET_INSTANCE_ID_MAX + 1];
	struct txp_fleet_lease *lease; /* this journal's lease, held while running */
};

/* daemon_fleet.c */

/* Starts the shared screening state when [fleet] is on (after the
 * pipeline); 0 or a negative errno with the reason in err. */
int daemon_fleet_start(struct daemon *d, char *err, size_t errlen);

/* The journal lets the reply of `t` go: true when the fleet still holds
 * it (fresh mode, its event not yet published), which then releases it. */
bool daemon_fleet_ack_release(struct daemon *d, struct txp_txn *t);

/* The pipeline's completion callback: another host's events end in the
 * fleet, transactions in the server. */
void daemon_pipeline_done(void *arg, struct txp_txn *t);

/* Resolves this host's instance id and turns on first-decision-wins
 * records in delivery.  Returns 0, or a negative errno with err. */
int daemon_fleet_records(struct daemon *d, char *err, size_t errlen);

/* Takes this host's lease on its journal (the journal is open: its flock
 * says no other process of this host uses it) and keeps renewing it.
 * Returns 0 (also when [fleet] or AWS is off), -EBUSY when a live owner
 * holds it, or another negative errno, with err. */
int daemon_fleet_lease(struct daemon *d, char *err, size_t errlen);

/* control.c */

/* The server's command hook: answers one control request line. */
char *daemon_command(void *arg, const char *line, size_t len, bool privileged, size_t *reply_len);

/* Re-reads the configuration file (SIGHUP, reload).  Returns 0, or a
 * negative errno with the reason in err (the running configuration stays). */
int daemon_reload(struct daemon *d, char *err, size_t errlen);

/* Every figure now, for stats and /metrics. */
void daemon_stats(struct daemon *d, struct txp_stats_snapshot *out);

/* The /metrics listener's renderer: Prometheus text (caller frees). */
char *daemon_render_metrics(void *arg);

#endif
