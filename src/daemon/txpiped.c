/* txpiped.c: the transaction-screening daemon: builds and wires its modules, signals, shutdown. */
#include "txp_build_config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>

#include <sodium.h>
#include <uv.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "txpipe/aws/settings.h"
#include "txpipe/clock.h"
#include "txpipe/dedup.h"
#include "txpipe/log.h"
#include "txpipe/record.h"

#define DEFAULT_CONFIG TXP_SYSCONFDIR "/txpipe/txpiped.ini"
/* How often STATUS= (systemctl status) shows fresh figures. */
#define STATUS_INTERVAL_MS 2000

static void usage(FILE *f)
{
	fprintf(f, "Usage: txpiped [--config FILE] [--check-config]\n"
	           "       txpiped --version | --help\n"
	           "\n"
	           "Screens payment transactions sent as JSON lines to a Unix socket.\n"
	           "\n"
	           "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
	           "  -t, --check-config  validate the configuration and exit (0, or 78 with the problem)\n"
	           "  -V, --version       print the version and exit\n"
	           "  -h, --help          print this help and exit\n"
	           "\n"
	           "See txpiped(8) and txpiped.ini(5).\n");
}

/* ---- the post-decision path: what ack.c reaches through its ops ------- */

/* Appends t's redacted record (never the line: it may hold a card
 * number); sets t->journal_seq.  Returns 0 or a negative errno. */
static int ack_append(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;
	struct txp_journal_accepted a;
	uint8_t record[TXP_RECORD_MAX];
	int rc = txp_record_accepted(t, PACKAGE_VERSION, record, sizeof(record), &a);

	if (rc == 0)
		rc = txp_journal_append_accepted(d->journal, &a, &t->journal_seq);
	return rc;
}

static int ack_mark_delivered(void *arg, const uint64_t *seqs, size_t n)
{
	struct daemon *d = arg;

	return d->journal != NULL ? txp_journal_deliver(d->journal, seqs, n, NULL) : -EPIPE;
}

static void on_ack_flush(uv_check_t *h)
{
	struct daemon *d = h->data;

	uv_check_stop(h);
	txp_ack_flush(d->ack);
}

static void ack_schedule_flush(void *arg)
{
	struct daemon *d = arg;

	uv_check_start(&d->ack_flush, on_ack_flush);
}

static void ack_deliver(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	txp_delivery_take(d->delivery, t);
}

static void ack_release(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	if (!daemon_fleet_ack_release(d, t))
		txp_server_release(d->server, t);
}

static void ack_rebuild(void *arg, const struct txp_journal_accepted *rec)
{
	struct daemon *d = arg;

	txp_stages_rebuild(d->stages, rec);
}

static void on_durable(void *arg, uint64_t durable_seq)
{
	struct daemon *d = arg;

	txp_ack_durable(d->ack, durable_seq);
}

static void on_dropped(void *arg, uint64_t first_seq, uint64_t last_seq)
{
	struct daemon *d = arg;

	txp_ack_dropped(d->ack, first_seq, last_seq);
}

static void on_delivered(void *arg, uint64_t seq)
{
	struct daemon *d = arg;

	txp_ack_delivered(d->ack, seq);
}

static void on_stored_elsewhere(void *arg, uint64_t seq, char *reply, size_t len)
{
	struct daemon *d = arg;

	txp_ack_stored_elsewhere(d->ack, seq, reply, len);
}

static void on_completed(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	txp_ack_completed(d->ack, t);
	if (d->fleet != NULL)
		txp_fleet_note(d->fleet, t);
}

static void on_replay_recent(void *arg, uint64_t seq, const struct txp_journal_accepted *rec)
{
	struct daemon *d = arg;

	txp_ack_replay_recent(d->ack, seq, rec, txp_wall_ms());
}

static void on_replay_undelivered(void *arg, uint64_t seq, const struct txp_journal_accepted *rec)
{
	struct daemon *d = arg;

	txp_ack_replay_undelivered(d->ack, seq, rec);
}

static void on_journal_error(void *arg, int err)
{
	struct daemon *d = arg;

	if (err < 0 && d->journal_error == 0)
		txp_log_err("journal_refusing",
		            "error=\"%s\" action=\"new transactions are answered overloaded until the journal writes "
		            "again; nothing acknowledged is lost\"",
		            strerror(-err));
	else if (err == 0 && d->journal_error != 0)
		txp_log_notice("journal_accepting", "reason=recovered");
	d->journal_error = err;
}

static bool on_refusing(void *arg)
{
	struct daemon *d = arg;
	bool full = d->journal != NULL && txp_journal_full(d->journal);

	if (full != d->journal_refusing) {
		struct txp_journal_stats js;
		txp_journal_stats(d->journal, &js);
		if (full)
			txp_log_warn("journal_full",
			             "disk_bytes=%llu queued_bytes=%llu max_bytes=%llu undelivered=%llu "
			             "error=%d action=refusing_new_transactions",
			             (unsigned long long)js.disk_bytes, (unsigned long long)js.queued_bytes,
			             (unsigned long long)d->cfg.journal.max_bytes, (unsigned long long)js.undelivered,
			             js.error);
		else
			txp_log_notice("journal_accepting", "disk_bytes=%llu undelivered=%llu",
			               (unsigned long long)js.disk_bytes, (unsigned long long)js.undelivered);
		d->journal_refusing = full;
	}
	return full;
}

static bool on_congested(void *arg)
{
	struct daemon *d = arg;

	return txp_delivery_congested(d->delivery);
}

/* One line per decided transaction.  Identifiers are masked by then (card
 * numbers) and the customer appears only as its pseudonym. */
static void audit_line(const struct txp_txn *t)
{
	char reasons[512];
	size_t len = 0;

	reasons[0] = '\0';
	for (unsigned i = 0; i < t->n_reasons && len < sizeof(reasons); i++)
		len += (size_t)snprintf(reasons + len, sizeof(reasons) - len, "%s%s", i ? "," : "", t->reasons[i].code);
	txp_log_info("audit", "txn=%s status=%s score=%d reasons=%s customer=%s error=%s latency_us=%llu rules=%s",
	             t->has_id ? t->transaction_id : "-", txp_status_name(t->status), t->scored ? t->risk_score : -1,
	             reasons[0] ? reasons : "-", t->customer_pseud[0] ? t->customer_pseud : "-",
	             t->error.code[0] ? t->error.code : "-",
	             (unsigned long long)((t->t_compliance - t->t_received) / 1000),
	             t->rules_version[0] ? t->rules_version : "-");
}

static void on_decided(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	for (unsigned i = 0; i < t->n_reasons; i++)
		txp_reason_counts_add(&d->reasons, t->reasons[i].code);
	if (d->cfg.log.audit)
		audit_line(t);
	/* Delivery took the record and alerts when it came back (on_completed). */
	txp_stages_decided(d->stages, t);
}

static void status_figures(void *arg, struct txp_notify_figures *out)
{
	struct daemon *d = arg;
	const struct txp_server_stats *ss = txp_server_stats(d->server);

	memcpy(out->by_status, ss->by_status, sizeof(out->by_status));
	out->inflight = txp_pipeline_inflight(d->pipeline);
	out->connections = ss->connections_open;
	out->draining = d->draining;
}

/* ---- shutdown ---------------------------------------------------------- */

static void on_closed_ignore(uv_handle_t *h)
{
	(void)h;
}

/* Delivery is done (or its time is up): the AWS client, then the journal,
 * whose last commit takes the DELIVERED marks of this last turn. */
static void close_outputs(void *arg)
{
	struct daemon *d = arg;

	/* The delivery layer goes first: its calls still in flight are
	 * cancelled by the client's close and their callbacks free it. */
	txp_delivery_close(d->delivery);
	d->delivery = NULL;
	txp_fleet_lease_stop(d->lease);
	txp_aws_client_close(d->aws, NULL, NULL);
	d->aws = NULL;
	txp_ack_flush(d->ack);
	if (d->journal != NULL) {
		struct txp_journal_stats js;
		txp_journal_close(d->journal);
		txp_journal_stats(d->journal, &js);
		txp_log_notice("journal_closed", "durable_seq=%llu undelivered=%llu segments=%llu bytes=%llu",
		               (unsigned long long)js.durable_seq, (unsigned long long)js.undelivered,
		               (unsigned long long)js.segments, (unsigned long long)js.disk_bytes);
		d->journal = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&d->ack_flush))
		uv_close((uv_handle_t *)&d->ack_flush, on_closed_ignore);
	txp_ack_forget_held(d->ack);
}

/* The signals a daemon handles: stop (TERM, INT) and reload (HUP). */
static const int signums[DAEMON_SIGNALS] = { SIGTERM, SIGINT, SIGHUP };

/* Closes the signal handles that were initialised. */
static void close_signals(struct daemon *d)
{
	for (size_t i = 0; i < DAEMON_SIGNALS; i++)
		if (d->signals[i].loop != NULL && !uv_is_closing((uv_handle_t *)&d->signals[i]))
			uv_close((uv_handle_t *)&d->signals[i], on_closed_ignore);
}

static void finish(struct daemon *d)
{
	txp_notify_stop(&d->notify);
	uv_timer_stop(&d->stop_timer);
	uv_close((uv_handle_t *)&d->stop_timer, on_closed_ignore);
	close_signals(d);
	txp_metrics_server_close(d->metrics);
	d->metrics = NULL;
	txp_fleet_close(d->fleet);
	txp_pipeline_stop(d->pipeline);
	d->pipeline = NULL;
	/* Replies still held (drain timeout) go with their connections: the
	 * records stay in the journal, unacknowledged. */
	txp_ack_forget_held(d->ack);
	txp_server_close(d->server);
	d->server = NULL;
	/* Every decided transaction has been handed over: store what is
	 * still pending in what is left of the one shutdown budget (the drain
	 * spent the rest); what is not delivered by then stays in the journal.
	 * A fifth of what is left, at most 2 s, is kept for closing: freeing a
	 * backlog of a million jobs takes about 2 s on its own. */
	if (d->delivery != NULL) {
		uint64_t now, left, keep;
		uv_update_time(&d->loop);
		now = uv_now(&d->loop);
		left = d->stop_deadline_ms > now ? d->stop_deadline_ms - now : 0;
		keep = left / 5 < 2000 ? left / 5 : 2000;
		txp_delivery_flush(d->delivery, left - keep, close_outputs, d);
	} else {
		close_outputs(d);
	}
}

static void on_drained(struct txp_server *s, void *arg)
{
	struct daemon *d = arg;

	(void)s;
	txp_log_notice("drained", "inflight=0");
	finish(d);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct daemon *d = t->data;

	txp_log_err("drain_timeout", "inflight=%u timeout_ms=%llu", txp_pipeline_inflight(d->pipeline),
	            (unsigned long long)d->cfg.daemon.shutdown_timeout_ms);
	d->exit_code = EX_SOFTWARE;
	/* Whatever is still in the pipeline is waited for by the join in
	 * txp_pipeline_stop: stage work is bounded, only clients can stall. */
	finish(d);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	char err[1024];

	if (signum == SIGHUP) {
		txp_notify_reloading();
		(void)daemon_reload(d, err, sizeof(err));
		txp_notify_ready(NULL);
		return;
	}
	if (d->draining) {
		txp_log_notice("drain_in_progress", "signal=%d", signum);
		return;
	}
	d->draining = true;
	txp_notify_stopping();
	txp_log_notice("draining", "signal=%s", signum == SIGTERM ? "TERM" : "INT");
	d->stop_deadline_ms = uv_now(&d->loop) + d->cfg.daemon.shutdown_timeout_ms;
	uv_timer_start(&d->stop_timer, on_drain_timeout, d->cfg.daemon.shutdown_timeout_ms, 0);
	uv_unref((uv_handle_t *)&d->stop_timer);
	txp_server_drain(d->server, on_drained, d);
}

/* ---- start-up ---------------------------------------------------------- */

/*
 * The exit status for a failure to load the configuration or build the
 * stages from it: whatever the errno (a directory, a FIFO, a symbolic link
 * as key file, EIO from a special file), the operator must fix the
 * configuration, so 78; only running out of memory is the system's fault.
 */
static int config_exit_code(int rc)
{
	return rc == -ENOMEM ? EX_OSERR : EX_CONFIG;
}

/* The steps of start-up, in order.  A failure is logged once, by
 * start_failed(), and exits with its step's code (txpiped(8), EXIT
 * STATUS). */
enum step {
	STEP_LOOP,
	STEP_ACK,
	STEP_STAGES,
	STEP_AWS,
	STEP_SERVER,
	STEP_SHARDS,
	STEP_JOURNAL,
	STEP_LEASE,
	STEP_PIPELINE,
	STEP_FLEET,
	STEP_METRICS,
	STEP_SIGNALS
};

static int step_exit_code(enum step step, int rc)
{
	switch (step) {
	case STEP_STAGES:
		return config_exit_code(rc);
	case STEP_AWS:
		return rc == -EINVAL || rc == -EPERM ? EX_CONFIG : EX_SOFTWARE;
	case STEP_SERVER:
		return rc == -EADDRINUSE ? EX_TEMPFAIL : EX_UNAVAILABLE;
	case STEP_JOURNAL:
		return rc == -EBUSY ? EX_TEMPFAIL : rc == -ENOMEM ? EX_OSERR : EX_CANTCREAT;
	case STEP_LEASE:
		return rc == -EBUSY || rc == -EIO ? EX_TEMPFAIL : EX_UNAVAILABLE;
	case STEP_METRICS:
	case STEP_FLEET:
		return EX_CONFIG;
	default:
		return EX_OSERR;
	}
}

static int start_failed(struct daemon *d, enum step step, int rc, const char *err)
{
	txp_log_err("start_failed", "reason=\"%s\"", err);
	d->exit_code = step_exit_code(step, rc);
	return rc;
}

/*
 * Raises the soft descriptor limit to the hard one (systemd starts
 * services at 1024 soft) and returns how many descriptors the server may
 * use for its clients: the limit less what the rest of the daemon holds.
 * That is an estimate with room to spare: stdio, the loop (epoll, its
 * wake-up and signal descriptors, libuv's spare), the journal's
 * directory and segments and the notify socket (32); the AWS client's
 * connections to three services plus credential and name lookups
 * (4 per [aws] max_connections, and 16); the metrics listener and
 * scrapers (16).  0 means no limit.
 */
static unsigned client_fd_budget(const struct txp_config *cfg)
{
	struct rlimit rl;
	rlim_t reserve = 32;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		/* The unit's system-call filter refuses setrlimit: LimitNOFILE=
		 * sets the limit there. */
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			txp_log_warn("nofile_not_raised", "soft=%llu hard=%llu error=\"%s\"", (unsigned long long)soft,
			             (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = soft;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > UINT32_MAX)
		return 0;
	if (cfg->aws.enabled)
		reserve += 4 * (rlim_t)cfg->aws.max_connections + 16;
	if (cfg->metrics.listen[0] != '\0')
		reserve += 16;
	return rl.rlim_cur > reserve ? (unsigned)(rl.rlim_cur - reserve) : 1;
}

static int inherited_fd(void)
{
#ifdef HAVE_SYSTEMD
	int n = sd_listen_fds(1);
	if (n == 1)
		return SD_LISTEN_FDS_START;
	if (n > 1)
		txp_log_warn("socket_activation", "fds=%d using=first", n);
	return n > 0 ? SD_LISTEN_FDS_START : -1;
#else
	return -1;
#endif
}

/* How far back the journal's records matter at start: the duplicate
 * window, and the velocity windows when they are rebuilt. */
static uint64_t history_ms(const struct txp_config *cfg)
{
	uint64_t w[] = { TXP_DEDUP_WINDOW_MS, cfg->fraud.window_long_ms, cfg->fraud.repeat_window_ms,
		         cfg->fraud.card_test_window_ms, cfg->compliance.structuring_window_ms };
	uint64_t ms = 0;

	for (size_t i = 0; i < (cfg->journal.velocity_rebuild ? sizeof(w) / sizeof(w[0]) : 1); i++)
		if (w[i] > ms)
			ms = w[i];
	return ms;
}

static int create_ack(struct daemon *d, char *err, size_t errlen)
{
	struct txp_ack_options o = {
		.mode = (enum txp_journal_ack)d->cfg.journal.ack,
		.dedup_window_ms = TXP_DEDUP_WINDOW_MS,
		.velocity_rebuild = d->cfg.journal.velocity_rebuild,
	};
	struct txp_ack_ops ops = {
		.append = ack_append,
		.mark_delivered = ack_mark_delivered,
		.schedule_flush = ack_schedule_flush,
		.deliver = d->delivery != NULL ? ack_deliver : NULL,
		.release = ack_release,
		.rebuild = ack_rebuild,
		.arg = d,
	};
	int rc;

	d->dedup = txp_dedup_create(TXP_DEDUP_MAX, TXP_DEDUP_WINDOW_MS);
	if (d->dedup == NULL) {
		snprintf(err, errlen, "out of memory for the duplicate window");
		return -ENOMEM;
	}
	o.dedup = d->dedup;
	rc = txp_ack_create(&d->ack, &o, &ops);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory for the acknowledgement queues");
		txp_dedup_destroy(d->dedup);
		d->dedup = NULL;
	}
	return rc;
}

static int open_journal(struct daemon *d, char *err, size_t errlen)
{
	struct txp_journal_options o;
	struct txp_journal_stats js;
	struct txp_ack_stats as;
	int rc;

	txp_journal_options_from_config(&o, &d->cfg);
	o.now_ms = txp_wall_ms();
	o.recent_ms = history_ms(&d->cfg);
	o.retain_ms = o.recent_ms;
	o.on_recent = on_replay_recent;
	o.on_undelivered = on_replay_undelivered;
	o.replay_arg = d;
	rc = txp_journal_open(&d->journal, &d->loop, d->cfg.journal.dir, &o, err, errlen);
	if (rc < 0)
		return rc;
	txp_journal_on_durable(d->journal, on_durable, d);
	txp_journal_on_error(d->journal, on_journal_error, d);
	txp_journal_on_dropped(d->journal, on_dropped, d);
	txp_journal_stats(d->journal, &js);
	txp_ack_start(d->ack, js.durable_seq);
	txp_ack_stats(d->ack, &as);
	txp_log_notice("journal_replayed",
	               "dir=%s ack=%s recent=%llu velocity_rebuilt=%llu duplicate_window=%llu undelivered=%llu "
	               "redelivering=%s",
	               d->cfg.journal.dir, txp_ack_mode_name((enum txp_journal_ack)d->cfg.journal.ack),
	               (unsigned long long)as.replayed_recent, (unsigned long long)as.velocity_rebuilt,
	               (unsigned long long)as.replay_dedup, (unsigned long long)as.replayed_undelivered,
	               d->delivery != NULL ? "yes" : "no");
	if (as.replayed_undelivered > 0 && d->delivery == NULL)
		txp_log_warn("journal_undelivered_kept",
		             "records=%llu reason=\"[aws] enabled = false: kept in the journal until delivery is "
		             "enabled\"",
		             (unsigned long long)as.replayed_undelivered);
	return 0;
}

static int start_signals(struct daemon *d, char *err, size_t errlen)
{
	int rc;

	for (size_t i = 0; i < DAEMON_SIGNALS; i++) {
		d->signals[i].data = d;
		rc = uv_signal_init(&d->loop, &d->signals[i]);
		if (rc == 0)
			rc = uv_signal_start(&d->signals[i], on_signal, signums[i]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot watch signal %d: %s", signums[i], uv_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static int create_server(struct daemon *d, char *err, size_t errlen)
{
	struct txp_server_hooks hooks = { .decided = on_decided,
		                          .command = daemon_command,
		                          .completed = on_completed,
		                          .refusing = on_refusing,
		                          .congested = on_congested,
		                          .arg = d };
	struct txp_server_options so = {
		.socket_path = d->cfg.daemon.socket,
		.socket_mode = (unsigned)d->cfg.daemon.socket_mode,
		.socket_group = d->cfg.daemon.socket_group,
		.listen_fd = inherited_fd(),
		.max_line_bytes = d->cfg.daemon.max_line_bytes,
		.max_clients = (unsigned)d->cfg.daemon.max_clients,
		.max_inflight_per_client = (uint32_t)d->cfg.pipeline.max_inflight_per_client,
		.fd_budget = client_fd_budget(&d->cfg),
	};

	return txp_server_create(&d->server, &d->loop, &so, &hooks, err, errlen);
}

/*
 * Builds every module in dependency order, serves until a signal ends the
 * drain, and tears down.  A failed step unwinds what came before it, in
 * reverse; the loop then runs once more so every handle closes.
 */
static int run(struct daemon *d)
{
	struct txp_stage_fns fns;
	char err[1024], rules[TXP_RULES_VERSION_SIZE];
	int64_t rules_ms;
	unsigned workers;
	int rc;

	rc = uv_loop_init(&d->loop);
	if (rc < 0) {
		snprintf(err, sizeof(err), "uv_loop_init: %s", uv_strerror(rc));
		start_failed(d, STEP_LOOP, rc, err);
		return d->exit_code;
	}
	uv_check_init(&d->loop, &d->ack_flush);
	d->ack_flush.data = d;
	uv_timer_init(&d->loop, &d->stop_timer);
	d->stop_timer.data = d;
	rc = txp_stages_create(&d->stages, &d->cfg, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_STAGES, rc, err);
		goto err_after_loop;
	}
	if (d->cfg.aws.enabled) {
		struct txp_aws_settings aws_settings;

		txp_aws_settings_from_config(&d->cfg, &aws_settings);
		rc = txp_aws_client_create(&d->aws, &d->loop, &aws_settings, err, sizeof(err));
		if (rc == 0)
			rc = txp_delivery_create(&d->delivery, &d->loop, d->aws, &d->cfg, err, sizeof(err));
		if (rc == 0 && d->cfg.fleet.enabled)
			rc = daemon_fleet_records(d, err, sizeof(err));
		if (rc < 0) {
			start_failed(d, STEP_AWS, rc, err);
			goto err_after_aws;
		}
	} else {
		txp_log_warn("delivery_disabled", "reason=\"[aws] enabled = false: decisions are not stored\"");
	}
	rc = create_ack(d, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_ACK, rc, err);
		goto err_after_aws;
	}
	if (d->delivery != NULL) {
		txp_delivery_on_delivered(d->delivery, on_delivered, d);
		txp_delivery_on_conflict(d->delivery, on_stored_elsewhere, d);
	}
	rc = create_server(d, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_SERVER, rc, err);
		goto err_after_ack;
	}
	/* The socket is claimed first (a second daemon stops there); then the
	 * shards are made and the journal replayed into them, before the
	 * worker threads start and before any line is read. */
	txp_stages_set_dedup(d->stages, d->dedup);
	workers = txp_pipeline_workers(d->cfg.pipeline.workers);
	rc = txp_stages_setup(d->stages, workers, &fns, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_SHARDS, rc, err);
		goto err_after_server;
	}
	rc = open_journal(d, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_JOURNAL, rc, err);
		goto err_after_server;
	}
	rc = daemon_fleet_lease(d, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_LEASE, rc, err);
		goto err_after_journal;
	}
	rc = txp_pipeline_create(&d->pipeline, &d->loop, workers, (uint32_t)d->cfg.pipeline.ring_capacity, &fns,
	                         daemon_pipeline_done, d, err,
	                         sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_PIPELINE, rc, err);
		goto err_after_journal;
	}
	txp_pipeline_set_inline_below(d->pipeline, (uint32_t)d->cfg.pipeline.inline_below);
	txp_server_attach(d->server, d->pipeline);
	rc = daemon_fleet_start(d, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_FLEET, rc, err);
		goto err_after_pipeline;
	}
	if (d->cfg.metrics.listen[0] != '\0') {
		rc = txp_metrics_server_create(&d->metrics, &d->loop, d->cfg.metrics.listen, daemon_render_metrics, d,
		                               err, sizeof(err));
		if (rc < 0) {
			start_failed(d, STEP_METRICS, rc, err);
			goto err_after_pipeline;
		}
	}
	rc = start_signals(d, err, sizeof(err));
	if (rc < 0) {
		start_failed(d, STEP_SIGNALS, rc, err);
		goto err_after_metrics;
	}

	d->started_ns = txp_now_ns();
	txp_stages_rules(d->stages, rules, &rules_ms);
	txp_log_notice("listening", "socket=%s workers=%u%s ring_capacity=%u version=%s rules_version=%s",
	               d->cfg.daemon.socket, workers, d->cfg.pipeline.workers == TXP_CFG_AUTO ? " (auto)" : "",
	               txp_pipeline_capacity(d->pipeline), PACKAGE_VERSION, rules);
	rc = txp_notify_start(&d->notify, &d->loop, STATUS_INTERVAL_MS, status_figures, d, err, sizeof(err));
	if (rc < 0)
		txp_log_warn("watchdog_disabled", "reason=\"%s\"", err);
	txp_notify_ready("Screening transactions");
	uv_run(&d->loop, UV_RUN_DEFAULT);
	goto out;

err_after_metrics:
	txp_metrics_server_close(d->metrics);
	d->metrics = NULL;
	close_signals(d);
err_after_pipeline:
	txp_fleet_close(d->fleet);
	txp_pipeline_stop(d->pipeline);
	d->pipeline = NULL;
err_after_journal:
err_after_server:
	txp_server_close(d->server);
	d->server = NULL;
err_after_ack:
err_after_aws:
	/* Closes delivery, the AWS client and the journal (each NULL-safe). */
	close_outputs(d);
err_after_loop:
	if (!uv_is_closing((uv_handle_t *)&d->ack_flush))
		uv_close((uv_handle_t *)&d->ack_flush, on_closed_ignore);
	uv_close((uv_handle_t *)&d->stop_timer, on_closed_ignore);
	uv_run(&d->loop, UV_RUN_DEFAULT);
out:
	txp_fleet_destroy(d->fleet);
	/* Last: the journal is closed with its DELIVERED marks, the loop has run its last renewal. */
	txp_fleet_lease_release(d->lease);
	d->lease = NULL;
	txp_ack_destroy(d->ack);
	txp_stages_destroy(d->stages);
	txp_dedup_destroy(d->dedup);
	rc = uv_loop_close(&d->loop);
	if (rc != 0)
		txp_log_warn("loop_close", "error=\"%s\"", uv_strerror(rc));
	txp_log_notice("stopped", "exit_code=%d", d->exit_code);
	return d->exit_code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d;
	const char *path = DEFAULT_CONFIG;
	bool check_only = false;
	char err[2048];
	int c, rc;

	memset(&d, 0, sizeof(d));
	/* glibc gives the top of the heap back to the kernel once 128 KB of
	 * it is free, and the next request body grows it again: a brk()
	 * shrink (and its TLB shootdown to every CPU running a thread of
	 * ours) and page faults on the loop thread, over and over under
	 * load.  Keep up to 64 MB of free heap, and serve requests of up to
	 * 4 MB from the heap, not from mmap(), for the same reason (setting
	 * one threshold turns off glibc's own adjustment of both). */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("txpiped %s\n", PACKAGE_VERSION);
			return EX_OK;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "txpiped: libsodium failed to initialise\n");
		return EX_SOFTWARE;
	}
	rc = txp_config_load(&d.cfg, path, err, sizeof(err));
	if (rc == 0 && check_only) {
		/* Loading validated every setting; the stages read what
		 * that does not: the key files and the list files. */
		struct txp_stages *st = NULL;
		rc = txp_stages_create(&st, &d.cfg, err, sizeof(err));
		txp_stages_destroy(st);
	}
	if (rc < 0) {
		fprintf(stderr, "txpiped: %s\n", err);
		txp_config_free(&d.cfg);
		return config_exit_code(rc);
	}
	if (check_only) {
		printf("%s: configuration OK\n", path);
		txp_config_free(&d.cfg);
		return EX_OK;
	}
	txp_log_setup((enum txp_log_level)d.cfg.log.level, (enum txp_log_format)d.cfg.log.format);
	/* A client that disconnects mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	rc = run(&d);
	/* Repeats the rate limit held back would otherwise go unreported. */
	txp_log_flush();
	txp_config_free(&d.cfg);
	return rc;
}
