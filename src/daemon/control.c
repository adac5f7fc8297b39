/* control.c: txpiped's control requests: stats, version, reload, redeliver. */
#include "txp_build_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "txpipe/control.h"
#include "txpipe/dedup.h"
#include "txpipe/item.h"
#include "txpipe/log.h"

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

/* The rates' date (Unix seconds at 00:00 UTC) as YYYYMMDD and its age in
 * days at `now`; both 0 when undated. */
static void rates_figures(int64_t date, int64_t now, uint64_t *yyyymmdd, uint64_t *age_days)
{
	time_t d = (time_t)date;
	struct tm tm;

	*yyyymmdd = *age_days = 0;
	if (date <= 0 || gmtime_r(&d, &tm) == NULL)
		return;
	*yyyymmdd = (uint64_t)(tm.tm_year + 1900) * 10000 + (uint64_t)(tm.tm_mon + 1) * 100 + (uint64_t)tm.tm_mday;
	*age_days = now > date ? (uint64_t)(now - date) / 86400 : 0;
}

void daemon_stats(struct daemon *d, struct txp_stats_snapshot *s)
{
	const struct txp_server_stats *ss = txp_server_stats(d->server);
	int64_t loaded_ms;

	memset(s, 0, sizeof(*s));
	s->version = PACKAGE_VERSION;
	txp_stages_rules(d->stages, s->rules_version, &loaded_ms);
	s->rules_loaded_ms = loaded_ms > 0 ? (uint64_t)loaded_ms : 0;
	s->uptime_s = (txp_now_ns() - d->started_ns) / 1000000000u;
	s->reloads = d->reloads;
	s->reload_failures = d->reload_failures;
	rates_figures(txp_stages_rates_date(d->stages), (int64_t)time(NULL), &s->rates_date, &s->rates_age_days);
	s->connections_open = ss->connections_open;
	s->connections_total = ss->connections_total;
	s->clients_refused = ss->clients_refused;
	s->lines = ss->lines;
	s->lines_too_long = ss->lines_too_long;
	s->backpressure_pauses = ss->paused_reads;
	s->refused = ss->refused;
	s->tail_dropped = ss->tail_dropped;
	memcpy(s->by_status, ss->by_status, sizeof(s->by_status));
	txp_stats_latency_copy(&s->reply_latency, &ss->reply_latency);
	s->reasons = d->reasons;
	txp_pipeline_stats(d->pipeline, &s->pipeline);
	s->workers = s->pipeline.workers;
	txp_ack_stats(d->ack, &s->ack);
	s->duplicate_window = txp_dedup_count(d->dedup);
	if (d->journal != NULL) {
		s->has_journal = true;
		txp_journal_stats(d->journal, &s->journal);
		s->journal_full = txp_journal_full(d->journal);
		s->journal_low_space = s->journal.low_space;
	}
	if (d->delivery != NULL) {
		s->has_delivery = true;
		txp_delivery_stats(d->delivery, &s->delivery);
		s->delivery_congested = txp_delivery_congested(d->delivery);
	}
	s->has_fleet = d->cfg.fleet.enabled;
	if (d->aws != NULL) {
		s->has_aws = true;
		txp_aws_client_stats(d->aws, &s->aws);
	}
	if (d->fleet != NULL) {
		s->has_fleet = true;
		txp_fleet_stats(d->fleet, &s->fleet);
		s->fleet.events_late = txp_stages_fleet_late(d->stages);
		s->fleet_stale = s->fleet.stale;
	}
}

char *daemon_render_metrics(void *arg)
{
	struct txp_stats_snapshot s;

	daemon_stats(arg, &s);
	return txp_stats_prometheus(&s);
}

/* {"command":"stats"} answers {"status":"ok","stats":{...}}; with
 * "format":"text" or "prometheus", {"status":"ok","format":F,"text":"..."}
 * rendered here, so every client shows the same figures the same way. */
static json_t *stats(struct daemon *d, const struct txp_control_request *req)
{
	const char *format = req->format;
	struct txp_stats_snapshot s;
	char *text;
	json_t *reply;

	daemon_stats(d, &s);
	if (format == NULL || strcmp(format, "json") == 0)
		return json_pack("{s:s,s:o}", "status", "ok", "stats", txp_stats_json(&s));
	if (strcmp(format, "text") == 0)
		text = txp_stats_text(&s);
	else if (strcmp(format, "prometheus") == 0)
		text = txp_stats_prometheus(&s);
	else
		return command_error("bad_command", "format: must be json, text or prometheus");
	if (text == NULL)
		return command_error("internal", "out of memory");
	reply = json_pack("{s:s,s:s,s:s}", "status", "ok", "format", format, "text", text);
	free(text);
	return reply;
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
	size_t n;
	int rc;

	if (!privileged)
		return command_error("permission_denied", "redeliver needs root or the daemon's user");
	if (d->delivery == NULL)
		return command_error("unavailable", "delivery is disabled ([aws] enabled = false)");
	if (failed == NULL || id == NULL || id[0] == '\0')
		return command_error("bad_message", "message needs failed, transaction_id and item or alert");
	if (payload == NULL)
		return command_error("bad_message", "message has no item or alert object");
	/* Into our own buffer, as dump_line does. */
	n = json_dumpb(payload, NULL, 0, JSON_COMPACT);
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

/* {"command":"version"}: the daemon's and the running rules' versions. */
static json_t *version_reply(struct daemon *d)
{
	char rules[TXP_RULES_VERSION_SIZE], when[TXP_ISO8601_MS_SIZE];
	int64_t loaded_ms;

	txp_stages_rules(d->stages, rules, &loaded_ms);
	(void)txp_iso8601_ms(loaded_ms, when);
	return json_pack("{s:s,s:s,s:s,s:s}", "status", "ok", "version", PACKAGE_VERSION, "rules_version", rules,
	                 "rules_loaded_at", when);
}

static json_t *reload(struct daemon *d, bool privileged)
{
	char err[1024];

	if (!privileged)
		return command_error("permission_denied", "reload needs root or the daemon's user");
	if (daemon_reload(d, err, sizeof(err)) < 0)
		return command_error("reload_failed", err);
	return json_pack("{s:s}", "status", "ok");
}

char *daemon_command(void *arg, const char *line, size_t len, bool privileged, size_t *reply_len)
{
	struct daemon *d = arg;
	struct txp_control_request req;
	json_t *reply;

	txp_control_parse(line, len, &req);
	if (req.command == TXP_CONTROL_INVALID)
		reply = command_error("bad_command", "a control request is {\"command\": "
		                                     "\"stats\"|\"reload\"|\"version\"|\"tail\"|\"redeliver\"}");
	else if (req.command == TXP_CONTROL_STATS)
		reply = stats(d, &req);
	else if (req.command == TXP_CONTROL_REDELIVER)
		reply = redeliver(d, &req, privileged);
	else if (req.command == TXP_CONTROL_VERSION)
		reply = version_reply(d);
	else if (req.command == TXP_CONTROL_RELOAD)
		reply = reload(d, privileged);
	else
		reply = command_error("bad_command",
		                      "unknown command (known: stats, reload, version, tail, redeliver)");
	txp_control_request_free(&req);
	return reply != NULL ? dump_line(reply, reply_len) : NULL;
}

int daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct txp_config next;
	char why[1024], rules[TXP_RULES_VERSION_SIZE], when[TXP_ISO8601_MS_SIZE];
	int64_t loaded_ms;
	int rc;

	rc = txp_config_load(&next, d->cfg.path, err, errlen);
	if (rc < 0)
		goto err_after_load;
	if (txp_config_diff_nonreloadable(&d->cfg, &next, why, sizeof(why)) > 0)
		txp_log_warn("reload_needs_restart", "keys=\"%s\"", why);
	/* Keys that cannot change live keep their running values. */
	rc = txp_config_keep_nonreloadable(&next, &d->cfg);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory applying the new configuration");
		goto err_after_load;
	}
	rc = txp_stages_reload(d->stages, &next, err, errlen);
	if (rc < 0)
		goto err_after_load;
	txp_config_free(&d->cfg);
	d->cfg = next;
	txp_log_setup((enum txp_log_level)d->cfg.log.level, (enum txp_log_format)d->cfg.log.format);
	txp_server_set_max_line(d->server, d->cfg.daemon.max_line_bytes);
	txp_server_set_max_clients(d->server, (unsigned)d->cfg.daemon.max_clients);
	d->reloads++;
	/* The audit trail of which rules decided from when on. */
	txp_stages_rules(d->stages, rules, &loaded_ms);
	(void)txp_iso8601_ms(loaded_ms, when);
	txp_log_notice("reloaded", "config=%s rules_version=%s rules_loaded_at=%s", d->cfg.path, rules, when);
	return 0;

err_after_load:
	txp_config_free(&next);
	d->reload_failures++;
	txp_log_err("reload_rejected", "reason=\"%s\"", err);
	return rc;
}
