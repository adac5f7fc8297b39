/* txpiped.c: the transaction-screening daemon: start-up, signals, drain, control requests. */
#include "txp_build_config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "txpipe/aws/client.h"
#include "txpipe/config.h"
#include "txpipe/delivery.h"
#include "txpipe/log.h"
#include "txpipe/metrics.h"
#include "txpipe/notify.h"
#include "txpipe/pipeline.h"
#include "txpipe/server.h"
#include "txpipe/stages.h"

#define DEFAULT_CONFIG TXP_SYSCONFDIR "/txpipe/txpiped.ini"
/* How often STATUS= (systemctl status) shows fresh figures. */
#define STATUS_INTERVAL_MS 2000

struct daemon {
	uv_loop_t loop;
	struct txp_config cfg;
	struct txp_stages *stages;
	struct txp_server *server;
	struct txp_pipeline *pipeline;
	struct txp_aws_client *aws;     /* NULL when [aws] enabled = false */
	struct txp_delivery *delivery;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t drain_timer;
	struct txp_notify notify;
	bool draining;
	int exit_code;
	uint64_t started_ns;
	uint64_t reloads, reload_failures;
	struct txp_reason_counts reasons;
	struct txp_metrics_server *metrics;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: txpiped [--config FILE] [--check-config]\n"
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

/* ---- control requests ------------------------------------------------ */

/* Requests per AWS service by outcome, with latency, and the credentials'
 * source and expiry (0: they do not expire). */
static json_t *aws_stats_json(const struct txp_aws_client *c)
{
	struct txp_aws_stats as;
	json_t *o = json_object();

	txp_aws_client_stats(c, &as);
	for (int svc = 0; svc < TXP_AWS_SERVICE_COUNT; svc++)
		json_object_set_new(
			o, txp_aws_service_name(svc),
			json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)as.requests[svc], "ok",
		                  (json_int_t)as.ok[svc], "retryable", (json_int_t)as.retryable[svc], "throttled",
		                  (json_int_t)as.throttled[svc], "fatal", (json_int_t)as.fatal[svc], "latency_us_mean",
		                  (json_int_t)(as.requests[svc] ? as.latency_us_sum[svc] / as.requests[svc] : 0)));
	json_object_set_new(o, "credentials_expire_ms", json_integer((json_int_t)as.credentials_expire_ms));
	json_object_set_new(o, "credentials_source",
	                    json_string(as.credentials_source != NULL ? as.credentials_source : "none"));
	return o;
}

static json_t *stats_json(struct daemon *d)
{
	const struct txp_server_stats *ss = txp_server_stats(d->server);
	struct txp_pipeline_stats ps;
	json_t *root, *status, *stages, *rings;

	txp_pipeline_stats(d->pipeline, &ps);
	status = json_object();
	for (int i = 0; i < TXP_STATUS_COUNT; i++)
		json_object_set_new(status, txp_status_name(i), json_integer((json_int_t)ss->by_status[i]));
	stages = json_object();
	for (int g = 0; g < TXP_STAGE_COUNT; g++) {
		json_t *hist = json_array();
		for (unsigned b = 0; b < TXP_LAT_BUCKETS; b++)
			json_array_append_new(hist, json_integer((json_int_t)ps.latency[g].buckets[b]));
		json_object_set_new(stages, txp_stage_name(g),
		                    json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "processed", (json_int_t)ps.processed[g],
		                              "mean_ns", (json_int_t)ps.latency[g].mean_ns, "p50_us",
		                              (json_int_t)ps.latency[g].p50_us, "p99_us",
		                              (json_int_t)ps.latency[g].p99_us, "p999_us",
		                              (json_int_t)ps.latency[g].p999_us, "histogram", hist));
	}
	rings = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "capacity", (json_int_t)ps.ring_capacity, "inflight",
	                  (json_int_t)ps.inflight, "validation_in", (json_int_t)ps.ring_depth_max[0], "fraud_in",
	                  (json_int_t)ps.ring_depth_max[1], "compliance_in", (json_int_t)ps.ring_depth_max[2],
	                  "results", (json_int_t)ps.ring_depth_max[3]);
	root = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I}}", "version",
	                 PACKAGE_VERSION, "uptime_s", (json_int_t)((txp_now_ns() - d->started_ns) / 1000000000u),
	                 "workers", (json_int_t)ps.workers, "connections_open", (json_int_t)ss->connections_open,
	                 "connections_total", (json_int_t)ss->connections_total, "lines", (json_int_t)ss->lines,
	                 "lines_too_long", (json_int_t)ss->lines_too_long, "clients_refused",
	                 (json_int_t)ss->clients_refused, "backpressure_pauses", (json_int_t)ss->paused_reads,
	                 "transactions", status, "stages", stages, "rings", rings, "reply_latency", "count",
	                 (json_int_t)atomic_load(&ss->reply_latency.count), "p50_us",
	                 (json_int_t)txp_latency_quantile_us(&ss->reply_latency, 500), "p99_us",
	                 (json_int_t)txp_latency_quantile_us(&ss->reply_latency, 990), "p999_us",
	                 (json_int_t)txp_latency_quantile_us(&ss->reply_latency, 999));
	json_object_set_new(json_object_get(root, "reply_latency"), "histogram",
	                    txp_latency_json_buckets(&ss->reply_latency));
	json_object_set_new(json_object_get(root, "reply_latency"), "sum_ns",
	                    json_integer((json_int_t)atomic_load(&ss->reply_latency.sum_ns)));
	json_object_set_new(root, "reasons", txp_reason_counts_json(&d->reasons));
	if (d->delivery != NULL) {
		struct txp_delivery_stats ds;
		txp_delivery_stats(d->delivery, &ds);
		json_object_set_new(
			root, "delivery",
			json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "stored",
		                  (json_int_t)ds.stored, "store_retries", (json_int_t)ds.store_retries,
		                  "alerts_published", (json_int_t)ds.alerts_published, "alert_retries",
		                  (json_int_t)ds.alert_retries, "dead_lettered", (json_int_t)ds.dead_lettered,
		                  "dlq_failures", (json_int_t)ds.dlq_failures, "pending", (json_int_t)ds.pending,
		                  "retrying", (json_int_t)ds.retrying, "held_for_dlq", (json_int_t)ds.held_for_dlq,
		                  "retry_budget_exhausted", (json_int_t)ds.retry_budget_exhausted, "dlq_dropped",
		                  (json_int_t)ds.dlq_dropped, "lost", (json_int_t)ds.lost, "not_stored",
		                  (json_int_t)ds.not_stored, "inflight_calls", (json_int_t)ds.inflight_calls,
		                  "retry_budget_left", (json_int_t)ds.retry_budget_left, "congested",
		                  txp_delivery_congested(d->delivery)));
	}
	if (d->aws != NULL)
		json_object_set_new(root, "aws", aws_stats_json(d->aws));
	json_object_set_new(root, "reloads", json_integer((json_int_t)d->reloads));
	json_object_set_new(root, "reload_failures", json_integer((json_int_t)d->reload_failures));
	return root;
}

static int reload_config(struct daemon *d, char *err, size_t errlen);

static char *render_metrics(void *arg)
{
	json_t *st = stats_json(arg);
	char *text = st != NULL ? txp_metrics_prometheus(st) : NULL;

	json_decref(st);
	return text;
}

/* Serialises `j` (consumed) as one reply line.  jansson's own allocator
 * is replaced at start-up (it wipes memory that held card numbers), so the
 * text is written straight into a buffer of ours. */
static char *dump_line(json_t *j, size_t *len)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
	char *line = n > 0 ? malloc(n + 1) : NULL;

	if (line != NULL && json_dumpb(j, line, n, JSON_COMPACT) == n) {
		line[n] = '\n';
		*len = n + 1;
	} else {
		free(line);
		line = NULL;
	}
	json_decref(j);
	return line;
}

static json_t *command_error(const char *code, const char *message)
{
	return json_pack("{s:s,s:{s:s,s:s}}", "status", "error", "error", "code", code, "message", message);
}

/*
 * {"command":"redeliver","message":<a dead-letter message body>} queues
 * its item or alert for delivery again (txpipectl dlq redrive deletes the
 * SQS message only after this answers ok).
 */
static json_t *redeliver(struct daemon *d, json_t *req, bool privileged)
{
	json_t *msg = json_object_get(req, "message");
	const char *failed = json_string_value(json_object_get(msg, "failed"));
	const char *id = json_string_value(json_object_get(msg, "transaction_id"));
	const char *alert_type = json_string_value(json_object_get(msg, "alert_type"));
	json_t *payload;
	char *text;
	int rc;

	if (!privileged)
		return command_error("permission_denied", "redeliver needs root or the daemon's user");
	if (d->delivery == NULL)
		return command_error("unavailable", "delivery is disabled ([aws] enabled = false)");
	if (failed == NULL || id == NULL || id[0] == '\0')
		return command_error("bad_message", "message needs failed, transaction_id and item or alert");
	payload = json_object_get(msg, strcmp(failed, "alert") == 0 ? "alert" : "item");
	if (!json_is_object(payload))
		return command_error("bad_message", "message has no item or alert object");
	/* json_dumpb into our own buffer: jansson's allocator is replaced at
	 * start-up (see dump_line). */
	size_t n = json_dumpb(payload, NULL, 0, JSON_COMPACT);
	text = n > 0 ? malloc(n) : NULL;
	if (text == NULL || json_dumpb(payload, text, n, JSON_COMPACT) != n) {
		free(text);
		return command_error("internal", "out of memory");
	}
	rc = txp_delivery_resubmit(d->delivery, failed, alert_type, id, text, n);
	free(text);
	if (rc == -EAGAIN)
		return command_error("overloaded", "delivery backlog is full; retry later");
	if (rc < 0)
		return command_error("bad_message", "failed must be store, or alert with alert_type fraud|compliance");
	return json_pack("{s:s}", "status", "ok");
}

static char *on_command(void *arg, const char *line, size_t len, bool privileged, size_t *reply_len)
{
	struct daemon *d = arg;
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *cmd = req != NULL ? json_string_value(json_object_get(req, "command")) : NULL;
	json_t *reply;
	char err[1024];

	if (cmd == NULL) {
		reply = json_pack("{s:s,s:{s:s,s:s}}", "status", "error", "error", "code", "bad_command", "message",
		                  "a control request is {\"command\": \"stats\"|\"reload\"|\"version\"|\"tail\"|\"redeliver\"}");
	} else if (strcmp(cmd, "stats") == 0) {
		reply = json_pack("{s:s,s:o}", "status", "ok", "stats", stats_json(d));
	} else if (strcmp(cmd, "redeliver") == 0) {
		reply = redeliver(d, req, privileged);
	} else if (strcmp(cmd, "version") == 0) {
		reply = json_pack("{s:s,s:s}", "status", "ok", "version", PACKAGE_VERSION);
	} else if (strcmp(cmd, "reload") == 0) {
		if (!privileged)
			reply = json_pack("{s:s,s:{s:s,s:s}}", "status", "error", "error", "code", "permission_denied",
			                  "message", "reload needs root or the daemon's user");
		else if (reload_config(d, err, sizeof(err)) < 0)
			reply = json_pack("{s:s,s:{s:s,s:s}}", "status", "error", "error", "code", "reload_failed",
			                  "message", err);
		else
			reply = json_pack("{s:s}", "status", "ok");
	} else {
		reply = json_pack("{s:s,s:{s:s,s:s}}", "status", "error", "error", "code", "bad_command", "message",
		                  "unknown command (known: stats, reload, version, tail, redeliver)");
	}
	json_decref(req);
	return reply != NULL ? dump_line(reply, reply_len) : NULL;
}

/* ---- reload and drain ------------------------------------------------ */

static int reload_config(struct daemon *d, char *err, size_t errlen)
{
	struct txp_config next;
	char why[1024];
	int rc;

	rc = txp_config_load(&next, d->cfg.path, err, errlen);
	if (rc < 0) {
		txp_config_free(&next);
		d->reload_failures++;
		txp_log_err("reload_rejected", "reason=\"%s\"", err);
		return rc;
	}
	if (txp_config_diff_nonreloadable(&d->cfg, &next, why, sizeof(why)) > 0)
		txp_log_warn("reload_needs_restart", "keys=\"%s\"", why);
	/* Keys that cannot change live keep their running values. */
	rc = txp_config_keep_nonreloadable(&next, &d->cfg);
	if (rc == 0)
		rc = txp_stages_reload(d->stages, &next, err, errlen);
	else
		snprintf(err, errlen, "out of memory applying the new configuration");
	if (rc < 0) {
		txp_config_free(&next);
		d->reload_failures++;
		txp_log_err("reload_rejected", "reason=\"%s\"", err);
		return rc;
	}
	txp_config_free(&d->cfg);
	d->cfg = next;
	txp_log_setup((enum txp_log_level)d->cfg.log.level, (enum txp_log_format)d->cfg.log.format);
	txp_server_set_max_line(d->server, d->cfg.daemon.max_line_bytes);
	txp_server_set_max_clients(d->server, (unsigned)d->cfg.daemon.max_clients);
	d->reloads++;
	txp_log_notice("reloaded", "config=%s", d->cfg.path);
	return 0;
}

static void on_closed_ignore(uv_handle_t *h)
{
	(void)h;
}

static void on_delivery_flushed(void *arg)
{
	struct daemon *d = arg;

	/* The delivery layer goes first: its calls still in flight are
	 * cancelled by the client's close and their callbacks free it. */
	txp_delivery_close(d->delivery);
	d->delivery = NULL;
	txp_aws_client_close(d->aws, NULL, NULL);
	d->aws = NULL;
}

static void finish(struct daemon *d)
{
	txp_notify_stop(&d->notify);
	uv_timer_stop(&d->drain_timer);
	uv_close((uv_handle_t *)&d->drain_timer, on_closed_ignore);
	uv_close((uv_handle_t *)&d->sig_term, on_closed_ignore);
	uv_close((uv_handle_t *)&d->sig_int, on_closed_ignore);
	uv_close((uv_handle_t *)&d->sig_hup, on_closed_ignore);
	txp_metrics_server_close(d->metrics);
	d->metrics = NULL;
	txp_pipeline_stop(d->pipeline);
	d->pipeline = NULL;
	txp_server_close(d->server);
	d->server = NULL;
	/* Every decided transaction has been handed over: store what is
	 * still pending, within the shutdown timeout once more. */
	if (d->delivery != NULL)
		txp_delivery_flush(d->delivery, d->cfg.daemon.shutdown_timeout_ms, on_delivery_flushed, d);
	else
		on_delivery_flushed(d);
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
		(void)reload_config(d, err, sizeof(err));
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
	uv_timer_start(&d->drain_timer, on_drain_timeout, d->cfg.daemon.shutdown_timeout_ms, 0);
	uv_unref((uv_handle_t *)&d->drain_timer);
	txp_server_drain(d->server, on_drained, d);
}

/* ---- start-up -------------------------------------------------------- */

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

/* One line per decided transaction.  Identifiers are masked by then (card
 * numbers) and the customer appears only as its pseudonym. */
static void audit_line(const struct txp_txn *t)
{
	char reasons[512];
	size_t len = 0;

	reasons[0] = '\0';
	for (unsigned i = 0; i < t->n_reasons && len < sizeof(reasons); i++)
		len += (size_t)snprintf(reasons + len, sizeof(reasons) - len, "%s%s", i ? "," : "",
		                        t->reasons[i].code);
	txp_log_info("audit", "txn=%s status=%s score=%d reasons=%s customer=%s error=%s latency_us=%llu",
	             t->has_id ? t->transaction_id : "-", txp_status_name(t->status), t->scored ? t->risk_score : -1,
	             reasons[0] ? reasons : "-", t->customer_pseud[0] ? t->customer_pseud : "-",
	             t->error.code[0] ? t->error.code : "-",
	             (unsigned long long)((t->t_compliance - t->t_received) / 1000));
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

static void on_decided(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;

	for (unsigned i = 0; i < t->n_reasons; i++)
		txp_reason_counts_add(&d->reasons, t->reasons[i].code);
	if (d->cfg.log.audit)
		audit_line(t);
	if (d->delivery != NULL) {
		txp_delivery_submit(d->delivery, t);
		t = NULL;
	}
	txp_stages_decided(d->stages, t);
}

static bool on_congested(void *arg)
{
	struct daemon *d = arg;

	return txp_delivery_congested(d->delivery);
}

static int run(struct daemon *d)
{
	struct txp_server_options so;
	struct txp_server_hooks hooks = {
		.decided = on_decided, .command = on_command, .congested = on_congested, .arg = d};
	struct txp_stage_fns fns;
	char err[1024];
	int rc;

	rc = uv_loop_init(&d->loop);
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"uv_loop_init: %s\"", uv_strerror(rc));
		return EX_OSERR;
	}
	rc = txp_stages_create(&d->stages, &d->cfg, err, sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = rc == -EINVAL ? EX_CONFIG : EX_SOFTWARE;
		goto err_after_loop;
	}
	if (d->cfg.aws.enabled) {
		rc = txp_aws_client_create(&d->aws, &d->loop, &d->cfg, err, sizeof(err));
		if (rc == 0)
			rc = txp_delivery_create(&d->delivery, &d->loop, d->aws, &d->cfg, err, sizeof(err));
		if (rc < 0) {
			txp_log_err("start_failed", "reason=\"%s\"", err);
			d->exit_code = rc == -EINVAL || rc == -EPERM ? EX_CONFIG : EX_SOFTWARE;
			goto err_after_delivery;
		}
	} else {
		txp_log_warn("delivery_disabled", "reason=\"[aws] enabled = false: decisions are not stored\"");
	}
	memset(&so, 0, sizeof(so));
	so.socket_path = d->cfg.daemon.socket;
	so.socket_mode = (unsigned)d->cfg.daemon.socket_mode;
	so.socket_group = d->cfg.daemon.socket_group;
	so.listen_fd = inherited_fd();
	so.max_line_bytes = d->cfg.daemon.max_line_bytes;
	so.max_clients = (unsigned)d->cfg.daemon.max_clients;
	so.max_inflight_per_client = (uint32_t)d->cfg.pipeline.max_inflight_per_client;
	rc = txp_server_create(&d->server, &d->loop, &so, &hooks, err, sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = rc == -EADDRINUSE ? EX_TEMPFAIL : EX_UNAVAILABLE;
		goto err_after_delivery;
	}
	rc = txp_stages_setup(d->stages, (unsigned)d->cfg.pipeline.workers, &fns, err, sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = EX_OSERR;
		goto err_after_server;
	}
	rc = txp_pipeline_create(&d->pipeline, &d->loop, (unsigned)d->cfg.pipeline.workers,
	                         (uint32_t)d->cfg.pipeline.ring_capacity, &fns, txp_server_txn_done, d->server, err,
	                         sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = EX_OSERR;
		goto err_after_server;
	}
	txp_server_attach(d->server, d->pipeline);
	if (d->cfg.metrics.listen[0] != '\0') {
		rc = txp_metrics_server_create(&d->metrics, &d->loop, d->cfg.metrics.listen, render_metrics, d, err,
		                               sizeof(err));
		if (rc < 0) {
			txp_log_err("start_failed", "reason=\"%s\"", err);
			d->exit_code = EX_CONFIG;
			txp_pipeline_stop(d->pipeline);
			goto err_after_server;
		}
	}

	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	uv_signal_init(&d->loop, &d->sig_hup);
	uv_timer_init(&d->loop, &d->drain_timer);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d->drain_timer.data = d;
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

	d->started_ns = txp_now_ns();
	txp_log_notice("listening", "socket=%s workers=%llu ring_capacity=%u version=%s", d->cfg.daemon.socket,
	               (unsigned long long)d->cfg.pipeline.workers, txp_pipeline_capacity(d->pipeline),
	               PACKAGE_VERSION);
	rc = txp_notify_start(&d->notify, &d->loop, STATUS_INTERVAL_MS, status_figures, d, err, sizeof(err));
	if (rc < 0)
		txp_log_warn("watchdog_disabled", "reason=\"%s\"", err);
	txp_notify_ready("Screening transactions");
	uv_run(&d->loop, UV_RUN_DEFAULT);
	txp_stages_destroy(d->stages);
	rc = uv_loop_close(&d->loop);
	if (rc != 0)
		txp_log_warn("loop_close", "error=\"%s\"", uv_strerror(rc));
	txp_log_notice("stopped", "exit_code=%d", d->exit_code);
	return d->exit_code;

err_after_server:
	txp_server_close(d->server);
err_after_delivery:
	on_delivery_flushed(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	txp_stages_destroy(d->stages);
err_after_loop:
	uv_loop_close(&d->loop);
	return d->exit_code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon d;
	const char *path = DEFAULT_CONFIG;
	bool check_only = false;
	char err[2048];
	int c, rc;

	memset(&d, 0, sizeof(d));
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
		/* The stages check what the table cannot: key files, list
		 * files, rule consistency. */
		struct txp_stages *st = NULL;
		rc = txp_stages_create(&st, &d.cfg, err, sizeof(err));
		txp_stages_destroy(st);
	}
	if (rc < 0) {
		fprintf(stderr, "txpiped: %s\n", err);
		txp_config_free(&d.cfg);
		return rc == -EINVAL ? EX_CONFIG : (rc == -ENOENT || rc == -EACCES) ? EX_CONFIG : EX_SOFTWARE;
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
	txp_config_free(&d.cfg);
	return rc;
}
