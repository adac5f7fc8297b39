/* txpiped.c: the transaction-screening daemon: start-up, signals, drain, control requests. */
#include "txp_build_config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "txpipe/aws/client.h"
#include "txpipe/compliance.h"
#include "txpipe/config.h"
#include "txpipe/control.h"
#include "txpipe/dedup.h"
#include "txpipe/delivery.h"
#include "txpipe/fraud.h"
#include "txpipe/item.h"
#include "txpipe/journal.h"
#include "txpipe/log.h"
#include "txpipe/metrics.h"
#include "txpipe/notify.h"
#include "txpipe/pipeline.h"
#include "txpipe/record.h"
#include "txpipe/server.h"
#include "txpipe/stages.h"

#define DEFAULT_CONFIG TXP_SYSCONFDIR "/txpipe/txpiped.ini"
/* How often STATUS= (systemctl status) shows fresh figures. */
#define STATUS_INTERVAL_MS 2000
/* The duplicate window (dedup.h): a resubmission within this long of the
 * first decision, among the last DEDUP_MAX decisions, gets that decision
 * again.  Ten minutes covers a producer's retries across a restart;
 * 262144 entries of about 300 bytes keep it near 80 MB at most. */
#define DEDUP_WINDOW_MS (10u * 60u * 1000u)
#define DEDUP_MAX 262144u

/* Replies waiting for their record: (sequence number, transaction), in
 * increasing sequence order.  A released entry has t == NULL. */
struct hold {
	uint64_t seq;
	struct txp_txn *t;
};

struct holdq {
	struct hold *v;
	size_t head, len, cap;
};

struct daemon {
	uv_loop_t loop;
	struct txp_config cfg;
	struct txp_stages *stages;
	struct txp_server *server;
	struct txp_pipeline *pipeline;
	struct txp_aws_client *aws;     /* NULL when [aws] enabled = false */
	struct txp_delivery *delivery;
	struct txp_journal *journal;
	struct txp_dedup *dedup;
	enum txp_journal_ack ack;
	uint64_t durable_seq;   /* every record up to this one is durable */
	uint64_t last_seq;      /* the latest ACCEPTED record appended */
	struct holdq wait_durable, wait_stored;
	uint64_t *delivered;    /* sequence numbers to mark delivered, batched per loop turn */
	size_t n_delivered, cap_delivered;
	uv_check_t deliver_check;
	bool journal_refusing;  /* logged state of txp_journal_full() */
	int journal_error;
	uint64_t replay_recent, replay_rebuilt, replay_undelivered, replay_dedup;
	uint64_t duplicates, journal_append_failures, held_now;
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

static void on_deliver_check(uv_check_t *h);
static void holdq_clear(struct holdq *q);

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
			json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "stored",
		                  (json_int_t)ds.stored, "store_retries", (json_int_t)ds.store_retries,
		                  "alerts_published", (json_int_t)ds.alerts_published, "alert_retries",
		                  (json_int_t)ds.alert_retries, "dead_lettered", (json_int_t)ds.dead_lettered,
		                  "dlq_failures", (json_int_t)ds.dlq_failures, "pending", (json_int_t)ds.pending,
		                  "retrying", (json_int_t)ds.retrying, "held_for_dlq", (json_int_t)ds.held_for_dlq,
		                  "retry_budget_exhausted", (json_int_t)ds.retry_budget_exhausted, "dlq_dropped",
		                  (json_int_t)ds.dlq_dropped, "lost", (json_int_t)ds.lost, "kept", (json_int_t)ds.kept,
		                  "not_stored",
		                  (json_int_t)ds.not_stored, "inflight_calls", (json_int_t)ds.inflight_calls,
		                  "retry_budget_left", (json_int_t)ds.retry_budget_left, "congested",
		                  txp_delivery_congested(d->delivery)));
	}
	if (d->journal != NULL) {
		struct txp_journal_stats js;
		txp_journal_stats(d->journal, &js);
		json_object_set_new(
			root, "journal",
			json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "disk_bytes",
		                  (json_int_t)js.disk_bytes, "queued_bytes", (json_int_t)js.queued_bytes, "segments",
		                  (json_int_t)js.segments, "undelivered", (json_int_t)js.undelivered, "next_seq",
		                  (json_int_t)js.next_seq, "durable_seq", (json_int_t)js.durable_seq, "syncs",
		                  (json_int_t)js.syncs, "write_errors", (json_int_t)js.write_errors, "error",
		                  js.error != 0 ? strerror(-js.error) : "", "full", txp_journal_full(d->journal),
		                  "held_replies", (json_int_t)d->held_now, "refused",
		                  (json_int_t)ss->refused, "duplicates", (json_int_t)d->duplicates,
		                  "duplicate_window", (json_int_t)txp_dedup_count(d->dedup), "append_failures",
		                  (json_int_t)d->journal_append_failures, "replayed_recent",
		                  (json_int_t)d->replay_recent, "replayed_undelivered",
		                  (json_int_t)d->replay_undelivered, "velocity_rebuilt", (json_int_t)d->replay_rebuilt));
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
static json_t *redeliver(struct daemon *d, const struct txp_control_request *req, bool privileged)
{
	const char *failed = req->failed, *id = req->transaction_id;
	json_t *payload = req->payload;
	char *text;
	int rc;

	if (!privileged)
		return command_error("permission_denied", "redeliver needs root or the daemon's user");
	if (d->delivery == NULL)
		return command_error("unavailable", "delivery is disabled ([aws] enabled = false)");
	if (failed == NULL || id == NULL || id[0] == '\0')
		return command_error("bad_message", "message needs failed, transaction_id and item or alert");
	if (payload == NULL)
		return command_error("bad_message", "message has no item or alert object");
	/* json_dumpb into our own buffer: jansson's allocator is replaced at
	 * start-up (see dump_line). */
	size_t n = json_dumpb(payload, NULL, 0, JSON_COMPACT);
	text = n > 0 ? malloc(n) : NULL;
	if (text == NULL || json_dumpb(payload, text, n, JSON_COMPACT) != n) {
		free(text);
		return command_error("internal", "out of memory");
	}
	rc = txp_delivery_resubmit(d->delivery, failed, req->alert_type, id, text, n);
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
	struct txp_control_request req;
	json_t *reply;
	char err[1024];

	txp_control_parse(line, len, &req);
	if (req.command == TXP_CONTROL_INVALID) {
		reply = json_pack("{s:s,s:{s:s,s:s}}", "status", "error", "error", "code", "bad_command", "message",
		                  "a control request is {\"command\": \"stats\"|\"reload\"|\"version\"|\"tail\"|\"redeliver\"}");
	} else if (req.command == TXP_CONTROL_STATS) {
		reply = json_pack("{s:s,s:o}", "status", "ok", "stats", stats_json(d));
	} else if (req.command == TXP_CONTROL_REDELIVER) {
		reply = redeliver(d, &req, privileged);
	} else if (req.command == TXP_CONTROL_VERSION) {
		reply = json_pack("{s:s,s:s}", "status", "ok", "version", PACKAGE_VERSION);
	} else if (req.command == TXP_CONTROL_RELOAD) {
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
	txp_control_request_free(&req);
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
	/* What delivery finished goes into the journal's last commit; what
	 * it did not stays there for the next start. */
	on_deliver_check(&d->deliver_check);
	if (d->journal != NULL) {
		struct txp_journal_stats js;
		txp_journal_close(d->journal);
		txp_journal_stats(d->journal, &js);
		txp_log_notice("journal_closed", "durable_seq=%llu undelivered=%llu segments=%llu bytes=%llu",
		               (unsigned long long)js.durable_seq, (unsigned long long)js.undelivered,
		               (unsigned long long)js.segments, (unsigned long long)js.disk_bytes);
		d->journal = NULL;
	}
	uv_close((uv_handle_t *)&d->deliver_check, on_closed_ignore);
	holdq_clear(&d->wait_durable);
	holdq_clear(&d->wait_stored);
	free(d->delivered);
	d->delivered = NULL;
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
	/* Replies still held (drain timeout) go with their connections: the
	 * records stay in the journal, unacknowledged. */
	holdq_clear(&d->wait_durable);
	holdq_clear(&d->wait_stored);
	d->held_now = 0;
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

/* ---- journal: durability, replay, duplicates ------------------------ */

static bool is_decision(const struct txp_txn *t)
{
	return t->status == TXP_STATUS_APPROVED || t->status == TXP_STATUS_REVIEW ||
	       t->status == TXP_STATUS_DECLINED;
}

static int holdq_push(struct holdq *q, uint64_t seq, struct txp_txn *t)
{
	if (q->head + q->len == q->cap && q->head > 0) {
		memmove(q->v, q->v + q->head, q->len * sizeof(*q->v));
		q->head = 0;
	}
	if (q->len == q->cap) {
		size_t cap = q->cap > 0 ? q->cap * 2 : 1024;
		struct hold *nv = realloc(q->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		q->v = nv;
		q->cap = cap;
	}
	q->v[q->head + q->len++] = (struct hold){.seq = seq, .t = t};
	return 0;
}

/* Drops released entries from the front. */
static void holdq_trim(struct holdq *q)
{
	while (q->len > 0 && q->v[q->head].t == NULL) {
		q->head++;
		q->len--;
	}
	if (q->len == 0)
		q->head = 0;
}

/* Forgets every entry (the transactions belong to the server). */
static void holdq_clear(struct holdq *q)
{
	free(q->v);
	memset(q, 0, sizeof(*q));
}

static void release(struct daemon *d, struct hold *h)
{
	if (h->t == NULL)
		return;
	d->held_now--;
	txp_server_release(d->server, h->t);
	h->t = NULL;
}

/* Holds `t`'s reply until `seq` is durable (wait_durable) or delivered
 * (wait_stored).  Keys are pushed in increasing order. */
static void hold_until(struct daemon *d, struct holdq *q, uint64_t seq, struct txp_txn *t)
{
	if (holdq_push(q, seq, t) < 0) {
		/* The record is appended; answering before it is durable beats
		 * never answering. */
		txp_log_err("reply_hold_failed", "reason=out_of_memory journal_seq=%llu", (unsigned long long)seq);
		return;
	}
	t->held = true;
	d->held_now++;
}

static void on_durable(void *arg, uint64_t durable_seq)
{
	struct daemon *d = arg;
	struct holdq *q = &d->wait_durable;

	d->durable_seq = durable_seq;
	while (q->len > 0 && q->v[q->head].seq <= durable_seq) {
		release(d, &q->v[q->head]);
		q->head++;
		q->len--;
	}
	holdq_trim(q);
}

static void on_deliver_check(uv_check_t *h)
{
	struct daemon *d = h->data;
	int rc;

	uv_check_stop(h);
	if (d->n_delivered == 0 || d->journal == NULL)
		return;
	rc = txp_journal_deliver(d->journal, d->delivered, d->n_delivered, NULL);
	if (rc < 0)
		/* Not lost: the records are delivered again at the next start. */
		txp_log_err("journal_deliver_failed", "records=%zu error=\"%s\"", d->n_delivered, strerror(-rc));
	d->n_delivered = 0;
}

/* Queues `seq` for a DELIVERED record; one record per loop turn names
 * every sequence number delivered in it. */
static void mark_delivered(struct daemon *d, uint64_t seq)
{
	if (d->n_delivered == d->cap_delivered) {
		size_t cap = d->cap_delivered > 0 ? d->cap_delivered * 2 : 1024;
		uint64_t *nv = realloc(d->delivered, cap * sizeof(*nv));
		if (nv == NULL) {
			txp_log_err("journal_deliver_failed", "records=1 error=\"out of memory\"");
			return;
		}
		d->delivered = nv;
		d->cap_delivered = cap;
	}
	d->delivered[d->n_delivered++] = seq;
	uv_check_start(&d->deliver_check, on_deliver_check);
}

static void on_delivered(void *arg, uint64_t seq)
{
	struct daemon *d = arg;
	struct holdq *q = &d->wait_stored;
	size_t lo = 0, hi = q->len;

	mark_delivered(d, seq);
	/* wait_stored is sorted by sequence number: binary search. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->v[q->head + mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < q->len && q->v[q->head + lo].seq == seq) {
		release(d, &q->v[q->head + lo]);
		holdq_trim(q);
	}
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
			txp_log_warn("journal_full", "disk_bytes=%llu queued_bytes=%llu max_bytes=%llu undelivered=%llu "
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

/* Appends `t`'s redacted record (never the line: it may hold a card
 * number); sets t->journal_seq.  Returns 0 or a negative errno. */
static int journal_append(struct daemon *d, struct txp_txn *t)
{
	struct txp_journal_accepted a;
	uint8_t record[TXP_RECORD_MAX];
	int rc = txp_record_accepted(t, PACKAGE_VERSION, record, sizeof(record), &a);

	if (rc == 0)
		rc = txp_journal_append_accepted(d->journal, &a, &t->journal_seq);
	if (rc == 0)
		d->last_seq = t->journal_seq;
	return rc;
}

/* A transaction back from the pipeline, before its reply is queued:
 * duplicates, the journal, delivery, and when the reply may leave. */
static void on_completed(void *arg, struct txp_txn *t)
{
	struct daemon *d = arg;
	struct txp_dedup_hit hit;
	int rc;

	if (!t->duplicate && t->has_id && is_decision(t) &&
	    txp_dedup_get(d->dedup, t->transaction_id, t->received_ms, &hit)) {
		/* Scored while the first submission was still in flight: it is
		 * answered as a duplicate all the same, neither kept nor stored. */
		free(t->reply);
		t->reply = hit.reply;
		t->reply_len = (uint32_t)hit.reply_len;
		t->status = hit.status;
		t->journal_seq = hit.journal_seq;
		t->duplicate = true;
	}
	if (t->duplicate) {
		d->duplicates++;
		/* Never ahead of the first submission's own acknowledgement:
		 * everything appended so far includes its record. */
		if (d->ack != TXP_JOURNAL_ACK_DECIDED && t->journal_seq > d->durable_seq)
			hold_until(d, &d->wait_durable, d->last_seq, t);
		return;
	}
	if (!t->has_id || t->transaction_id[0] == '\0') {
		/* No valid id: answered, never stored, nothing to keep. */
		if (d->delivery != NULL)
			txp_delivery_take(d->delivery, t); /* counts it as not stored */
		return;
	}
	rc = journal_append(d, t);
	if (rc < 0) {
		/* Not kept, so not acknowledged: the producer retries. */
		d->journal_append_failures++;
		txp_log_err("journal_append_failed", "transaction_id=\"%s\" error=\"%s\"", t->transaction_id,
		            strerror(-rc));
		txp_txn_fail(t, TXP_STATUS_ERROR, "overloaded", NULL, "the journal cannot take it; retry later");
		if (txp_txn_build_reply(t) < 0)
			txp_log_err("reply_build_failed", "reason=out_of_memory");
		return;
	}
	if (t->has_id && is_decision(t) && t->reply != NULL &&
	    txp_dedup_put(d->dedup, t->transaction_id, t->status, t->journal_seq, t->reply, t->reply_len,
	                  t->received_ms, NULL) < 0)
		txp_log_warn("duplicate_window_full", "transaction_id=\"%s\" reason=out_of_memory", t->transaction_id);
	if (d->ack == TXP_JOURNAL_ACK_STORED && d->delivery != NULL)
		hold_until(d, &d->wait_stored, t->journal_seq, t);
	else if (d->ack != TXP_JOURNAL_ACK_DECIDED)
		hold_until(d, &d->wait_durable, t->journal_seq, t);
	if (d->delivery != NULL)
		txp_delivery_take(d->delivery, t);
	else
		mark_delivered(d, t->journal_seq); /* nowhere to deliver to */
}

/* ---- replay ------------------------------------------------------------ */

/* How far back the journal's records matter at start: the duplicate
 * window, and the velocity windows when they are rebuilt. */
static uint64_t history_ms(const struct txp_config *cfg)
{
	uint64_t w[] = {DEDUP_WINDOW_MS, cfg->fraud.window_long_ms, cfg->fraud.repeat_window_ms,
	                cfg->fraud.card_test_window_ms, cfg->compliance.structuring_window_ms};
	uint64_t ms = 0;

	for (size_t i = 0; i < (cfg->journal.velocity_rebuild ? sizeof(w) / sizeof(w[0]) : 1); i++)
		if (w[i] > ms)
			ms = w[i];
	return ms;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The decided transaction of an ACCEPTED record, or NULL (logged) when the
 * record does not decode.  Its reason codes point into rec->record: see
 * txp_record_decode(). */
static struct txp_txn *replay_txn(uint64_t seq, const struct txp_journal_accepted *rec,
                                  char version[TXP_RECORD_VERSION_MAX + 1])
{
	struct txp_txn *t = txp_txn_new();

	if (t == NULL || txp_record_decode(rec, t, version) < 0) {
		txp_log_err("replay_skipped", "journal_seq=%llu reason=\"%s\"", (unsigned long long)seq,
		            t == NULL ? "out of memory" : "the record does not decode");
		txp_txn_free(t);
		return NULL;
	}
	t->journal_seq = seq;
	return t;
}

static void on_replay_recent(void *arg, uint64_t seq, const struct txp_journal_accepted *rec)
{
	struct daemon *d = arg;
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_txn *t;

	d->replay_recent++;
	if (d->cfg.journal.velocity_rebuild && rec->customer_key_len > 0) {
		txp_stages_rebuild(d->stages, rec);
		d->replay_rebuilt++;
	}
	if (wall_ms() - rec->received_ms > (int64_t)DEDUP_WINDOW_MS)
		return;
	/* A resubmission after the restart gets the reply the first one got,
	 * rebuilt from the same fields. */
	t = replay_txn(seq, rec, version);
	if (t == NULL)
		return;
	if (t->has_id && is_decision(t) && txp_txn_build_reply(t) == 0 &&
	    txp_dedup_put(d->dedup, t->transaction_id, t->status, seq, t->reply, t->reply_len, rec->received_ms,
	                  NULL) == 0)
		d->replay_dedup++;
	t->n_reasons = 0;
	txp_txn_free(t);
}

/* An ACCEPTED record without a DELIVERED one: delivered again, under the
 * same key with the same content (the item and alerts are rebuilt from the
 * same fields by the same builder, with the version that decided it). */
static void on_replay_undelivered(void *arg, uint64_t seq, const struct txp_journal_accepted *rec)
{
	struct daemon *d = arg;
	char version[TXP_RECORD_VERSION_MAX + 1];
	struct txp_txn *t;

	d->replay_undelivered++;
	if (d->delivery == NULL)
		return; /* kept in the journal until delivery is enabled */
	t = replay_txn(seq, rec, version);
	if (t == NULL)
		return;
	if (txp_item_build(t, version) < 0 || t->item == NULL) {
		txp_log_err("replay_skipped", "journal_seq=%llu reason=\"%s\"", (unsigned long long)seq,
		            t->item == NULL && t->has_id ? "out of memory" : "the record has no transaction_id");
		t->n_reasons = 0;
		txp_txn_free(t);
		return;
	}
	t->n_reasons = 0;
	txp_delivery_submit(d->delivery, t);
}

static int open_journal(struct daemon *d, char *err, size_t errlen)
{
	struct txp_journal_options o;
	struct txp_journal_stats js;
	int rc;

	txp_journal_options_from_config(&o, &d->cfg);
	o.now_ms = wall_ms();
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
	txp_journal_stats(d->journal, &js);
	d->durable_seq = d->last_seq = js.durable_seq;
	txp_log_notice("journal_replayed",
	               "dir=%s ack=%s recent=%llu velocity_rebuilt=%llu duplicate_window=%llu undelivered=%llu "
	               "redelivering=%s",
	               d->cfg.journal.dir,
	               d->ack == TXP_JOURNAL_ACK_JOURNALED ? "journaled"
	               : d->ack == TXP_JOURNAL_ACK_STORED  ? "stored"
	                                                   : "decided",
	               (unsigned long long)d->replay_recent, (unsigned long long)d->replay_rebuilt,
	               (unsigned long long)d->replay_dedup, (unsigned long long)d->replay_undelivered,
	               d->delivery != NULL ? "yes" : "no");
	if (d->replay_undelivered > 0 && d->delivery == NULL)
		txp_log_warn("journal_undelivered_kept",
		             "records=%llu reason=\"[aws] enabled = false: kept in the journal until delivery is "
		             "enabled\"",
		             (unsigned long long)d->replay_undelivered);
	return 0;
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

static bool on_congested(void *arg)
{
	struct daemon *d = arg;

	return txp_delivery_congested(d->delivery);
}

static int run(struct daemon *d)
{
	struct txp_server_options so;
	struct txp_server_hooks hooks = {.decided = on_decided,
	                                 .command = on_command,
	                                 .completed = on_completed,
	                                 .refusing = on_refusing,
	                                 .congested = on_congested,
	                                 .arg = d};
	struct txp_stage_fns fns;
	char err[1024];
	int rc;

	rc = uv_loop_init(&d->loop);
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"uv_loop_init: %s\"", uv_strerror(rc));
		return EX_OSERR;
	}
	uv_check_init(&d->loop, &d->deliver_check);
	d->deliver_check.data = d;
	d->ack = (enum txp_journal_ack)d->cfg.journal.ack;
	d->dedup = txp_dedup_create(DEDUP_MAX, DEDUP_WINDOW_MS);
	if (d->dedup == NULL) {
		txp_log_err("start_failed", "reason=\"out of memory for the duplicate window\"");
		d->exit_code = EX_OSERR;
		uv_close((uv_handle_t *)&d->deliver_check, on_closed_ignore);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		goto err_after_loop;
	}
	rc = txp_stages_create(&d->stages, &d->cfg, err, sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = rc == -EINVAL ? EX_CONFIG : EX_SOFTWARE;
		goto err_after_delivery;
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
		txp_delivery_on_delivered(d->delivery, on_delivered, d);
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
	/* The socket is claimed first (a second daemon stops there); then the
	 * shards are made and the journal replayed into them, before the
	 * worker threads start and before any line is read. */
	txp_stages_set_dedup(d->stages, d->dedup);
	rc = txp_stages_setup(d->stages, (unsigned)d->cfg.pipeline.workers, &fns, err, sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = EX_OSERR;
		goto err_after_server;
	}
	rc = open_journal(d, err, sizeof(err));
	if (rc < 0) {
		txp_log_err("start_failed", "reason=\"%s\"", err);
		d->exit_code = rc == -EBUSY ? EX_TEMPFAIL : rc == -ENOMEM ? EX_OSERR : EX_CANTCREAT;
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
	txp_dedup_destroy(d->dedup);
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
	txp_dedup_destroy(d->dedup);
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
