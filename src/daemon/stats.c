/* stats.c: every figure the daemon reports, declared once, rendered as JSON, text and Prometheus. */
#include "txpipe/stats.h"

#include <stddef.h>
#include <string.h>

#include "txpipe/sbuf.h"

enum section { SEC_DAEMON, SEC_ACK, SEC_JOURNAL, SEC_DELIVERY, SEC_FLEET, SEC_COUNT };

/* JSON: the daemon's figures sit at the top level, the others in an object
 * named after their section.  Prometheus: txpipe_[<section>_]<name>. */
static const char *const section_name[SEC_COUNT] = { "", "ack", "journal", "delivery", "fleet" };

/* The rings into each stage, then the results ring back to the loop. */
static const char *const ring_names[TXP_STAGE_COUNT + 1] = { "validation_in", "fraud_in", "compliance_in", "results" };

enum kind { COUNTER, GAUGE, FLAG /* a gauge that is 0 or 1, true or false in JSON */ };

struct def {
	enum section sec;
	const char *name; /* JSON member, and the Prometheus name unless `prom` */
	const char *prom; /* NULL: txpipe_[<section>_]<name>, plus _total for a counter */
	enum kind kind;
	size_t off; /* of a uint64_t in struct txp_stats_snapshot */
	const char *help;
};

#define S(sec, field, name, prom, kind, help)                                           \
	{                                                                               \
		sec, name, prom, kind, offsetof(struct txp_stats_snapshot, field), help \
	}

/* The scalar figures, in the order they are shown. */
static const struct def defs[] = {
	S(SEC_DAEMON, uptime_s, "uptime_s", "txpipe_uptime_seconds", GAUGE, "Seconds since the daemon started."),
	S(SEC_DAEMON, workers, "workers", NULL, GAUGE, "Validation threads, and fraud and compliance shards."),
	S(SEC_DAEMON, connections_open, "connections_open", NULL, GAUGE, "Producer connections open."),
	S(SEC_DAEMON, connections_total, "connections_total", NULL, COUNTER, "Producer connections accepted."),
	S(SEC_DAEMON, clients_refused, "clients_refused", NULL, COUNTER, "Connections refused over max_clients."),
	S(SEC_DAEMON, lines, "lines", NULL, COUNTER, "Lines received from producers."),
	S(SEC_DAEMON, lines_too_long, "lines_too_long", NULL, COUNTER, "Lines refused for exceeding max_line_bytes."),
	S(SEC_DAEMON, backpressure_pauses, "backpressure_pauses", NULL, COUNTER,
	  "Times reading a client paused for backpressure."),
	S(SEC_DAEMON, refused, "refused", NULL, COUNTER,
	  "Transaction lines answered overloaded because the journal could not take them."),
	S(SEC_DAEMON, tail_dropped, "tail_dropped", NULL, COUNTER, "Decisions a slow tail subscriber missed."),
	S(SEC_DAEMON, reloads, "reloads", NULL, COUNTER, "Configuration reloads applied."),
	S(SEC_DAEMON, reload_failures, "reload_failures", NULL, COUNTER, "Configuration reloads rejected."),
	S(SEC_DAEMON, rules_loaded_ms, "rules_loaded_ms", NULL, GAUGE,
	  "When the running rules were loaded, Unix ms (see txpipe_rules_info)."),
	S(SEC_DAEMON, rates_date, "rates_date", NULL, GAUGE,
	  "Date of the USD rates in use, as YYYYMMDD (usd_rates_file or the built-in table)."),
	S(SEC_DAEMON, rates_age_days, "rates_age_days", NULL, GAUGE, "Whole days since the USD rates' date."),

	S(SEC_ACK, ack.duplicates, "duplicates", NULL, COUNTER,
	  "Resubmissions answered with the first decision of their transaction_id."),
	S(SEC_ACK, duplicate_window, "duplicate_window", NULL, GAUGE, "Decisions remembered for duplicate checks."),
	S(SEC_ACK, ack.held_now, "held_replies", NULL, GAUGE, "Replies waiting for their record to be kept."),
	S(SEC_ACK, ack.append_failures, "append_failures", NULL, COUNTER,
	  "Decisions the journal could not take, answered overloaded."),
	S(SEC_ACK, ack.hold_failures, "hold_failures", NULL, COUNTER,
	  "Decisions whose reply could not be held (no memory), answered overloaded."),
	S(SEC_ACK, ack.dropped_replies, "dropped_replies", NULL, COUNTER,
	  "Held replies answered overloaded because the journal dropped their record."),
	S(SEC_ACK, ack.replayed_recent, "replayed_recent", NULL, COUNTER, "Recent journal records replayed at start."),
	S(SEC_ACK, ack.replayed_undelivered, "replayed_undelivered", NULL, COUNTER,
	  "Undelivered journal records delivered again at start."),
	S(SEC_ACK, ack.velocity_rebuilt, "velocity_rebuilt", NULL, COUNTER,
	  "Journal records replayed into the velocity windows at start."),
	S(SEC_ACK, ack.replay_dedup, "replay_dedup", NULL, COUNTER,
	  "Journal records replayed into the duplicate window at start."),

	S(SEC_JOURNAL, journal.disk_bytes, "disk_bytes", NULL, GAUGE, "Bytes in live journal segments."),
	S(SEC_JOURNAL, journal.queued_bytes, "queued_bytes", NULL, GAUGE, "Bytes appended, not yet durable."),
	S(SEC_JOURNAL, journal.segments, "segments", NULL, GAUGE, "Live journal segment files."),
	S(SEC_JOURNAL, journal.undelivered, "undelivered", NULL, GAUGE,
	  "Durable records not yet delivered (stored or dead-lettered)."),
	S(SEC_JOURNAL, journal.next_seq, "next_seq", NULL, GAUGE, "The sequence number the next record gets."),
	S(SEC_JOURNAL, journal.durable_seq, "durable_seq", NULL, GAUGE, "Every record up to this one is durable."),
	S(SEC_JOURNAL, journal.syncs, "syncs", NULL, COUNTER, "Journal fdatasync calls that succeeded."),
	S(SEC_JOURNAL, journal.write_errors, "write_errors", NULL, COUNTER, "Journal write or sync errors."),
	S(SEC_JOURNAL, journal.dropped_records, "dropped", NULL, COUNTER,
	  "Records dropped after failed writes (their transactions were answered overloaded)."),
	S(SEC_JOURNAL, journal.skipped_records, "skipped_records", NULL, COUNTER,
	  "Records lost to damage found at start (each damaged segment kept as *.seg.corrupt)."),
	S(SEC_JOURNAL, journal.damaged_segments, "damaged_segments", NULL, COUNTER,
	  "Segments with damage found at start."),
	S(SEC_JOURNAL, journal_low_space, "low_space", NULL, FLAG,
	  "1 while the journal's file system has less than reserve_bytes free."),
	S(SEC_JOURNAL, journal_full, "full", NULL, FLAG, "1 while new transactions are refused: the journal is full."),

	S(SEC_DELIVERY, delivery.stored, "stored", NULL, COUNTER, "Records DynamoDB stored."),
	S(SEC_DELIVERY, delivery.store_retries, "store_retries", NULL, COUNTER, "Store attempts retried."),
	S(SEC_DELIVERY, delivery.alerts_published, "alerts_published", NULL, COUNTER, "Alerts SNS took."),
	S(SEC_DELIVERY, delivery.alert_retries, "alert_retries", NULL, COUNTER, "Alert attempts retried."),
	S(SEC_DELIVERY, delivery.dead_lettered, "dead_lettered", NULL, COUNTER, "Messages the SQS DLQ took."),
	S(SEC_DELIVERY, delivery.dlq_failures, "dlq_failures", NULL, COUNTER, "DLQ sends that failed."),
	S(SEC_DELIVERY, delivery.retry_budget_exhausted, "retry_budget_exhausted", NULL, COUNTER,
	  "Retries the retry budget refused (dead-lettered instead)."),
	S(SEC_DELIVERY, delivery.dlq_dropped, "dlq_dropped", NULL, COUNTER,
	  "DLQ messages dropped over [sqs] max_held (each logged)."),
	S(SEC_DELIVERY, delivery.lost, "lost", NULL, COUNTER, "Jobs never delivered and not journaled (each logged)."),
	S(SEC_DELIVERY, delivery.kept, "kept", NULL, COUNTER,
	  "Journaled jobs left undelivered at shutdown: the next start delivers them."),
	S(SEC_DELIVERY, delivery.not_stored, "not_stored", NULL, COUNTER,
	  "Answers without a valid transaction_id: nothing to key a record on."),
	S(SEC_DELIVERY, delivery.pending, "pending", NULL, GAUGE, "Jobs waiting to be sent or in flight."),
	S(SEC_DELIVERY, delivery.retrying, "retrying", NULL, GAUGE, "Jobs waiting for their retry backoff."),
	S(SEC_DELIVERY, delivery.held_for_dlq, "held_for_dlq", NULL, GAUGE, "DLQ messages SQS did not take yet."),
	S(SEC_DELIVERY, delivery.inflight_calls, "inflight_calls", NULL, GAUGE, "AWS calls in flight."),
	S(SEC_DELIVERY, delivery.retry_budget_left, "retry_budget_left", NULL, GAUGE,
	  "Retries the budget still allows this minute."),
	S(SEC_DELIVERY, delivery_congested, "congested", NULL, FLAG,
	  "1 while the delivery backlog is over max_pending and no new line is admitted."),

	S(SEC_FLEET, fleet.sync_lag_ms, "sync_lag_ms", NULL, GAUGE,
	  "Milliseconds since the start of the last complete read of the other hosts' events."),
	S(SEC_FLEET, fleet_stale, "stale", NULL, FLAG,
	  "1 while decisions are made on stale shared state (they get fleet_state_stale)."),
	S(SEC_FLEET, fleet.hosts_seen, "hosts_seen", NULL, GAUGE, "Other hosts with a live heartbeat."),
	S(SEC_FLEET, fleet.events_published, "events_published", NULL, COUNTER,
	  "This host's decided transactions written to the feed."),
	S(SEC_FLEET, fleet.events_applied, "events_applied", NULL, COUNTER,
	  "Other hosts' transactions applied to this host's rule state."),
	S(SEC_FLEET, fleet.events_late, "events_late", NULL, COUNTER,
	  "Applied events older than a window's ring, left out of that window."),
	S(SEC_FLEET, fleet.events_queued, "events_queued", NULL, GAUGE, "This host's events not yet published."),
	S(SEC_FLEET, fleet.events_dropped, "events_dropped", NULL, COUNTER,
	  "Events not published (max_queued_events) or not applied (no memory); records are unaffected."),
	S(SEC_FLEET, fleet.feed_write_requests, "feed_write_requests", NULL, COUNTER,
	  "BatchWriteItem calls to the feed."),
	S(SEC_FLEET, fleet.feed_write_items, "feed_write_items", NULL, COUNTER, "Feed items written."),
	S(SEC_FLEET, fleet.feed_read_requests, "feed_read_requests", NULL, COUNTER, "BatchGetItem calls to the feed."),
	S(SEC_FLEET, fleet.feed_read_items, "feed_read_items", NULL, COUNTER, "Feed items read."),
	S(SEC_FLEET, fleet.members_reads, "members_reads", NULL, COUNTER, "GetItem calls for the members item."),
	S(SEC_FLEET, fleet.members_writes, "members_writes", NULL, COUNTER, "UpdateItem calls on the members item."),
	S(SEC_FLEET, fleet.throttles, "throttles", NULL, COUNTER, "Fleet calls DynamoDB throttled."),
	S(SEC_FLEET, fleet.errors, "errors", NULL, COUNTER,
	  "Fleet calls that failed otherwise, and feed items found invalid or missing."),
	S(SEC_FLEET, fleet.stale_decisions, "stale_decisions", NULL, COUNTER,
	  "Decisions made on stale shared state (reason fleet_state_stale)."),
	S(SEC_FLEET, fleet.held, "held", NULL, GAUGE, "fresh mode: transactions waiting for a read of the feed."),
	S(SEC_FLEET, fleet.held_total, "held_total", NULL, COUNTER,
	  "fresh mode: transactions that waited for a read of the feed."),
	S(SEC_FLEET, delivery.conditional_conflicts, "conditional_conflicts", NULL, COUNTER,
	  "Records another host's decision had stored first (the stored one stays)."),
	S(SEC_FLEET, delivery.already_stored, "already_stored", NULL, COUNTER,
	  "Conditional puts that found the record stored already by an earlier attempt or a replay."),
};

#undef S

static uint64_t value(const struct txp_stats_snapshot *s, const struct def *d)
{
	uint64_t v;

	memcpy(&v, (const char *)s + d->off, sizeof(v));
	return v;
}

static bool section_present(const struct txp_stats_snapshot *s, enum section sec)
{
	return sec == SEC_JOURNAL    ? s->has_journal
	       : sec == SEC_DELIVERY ? s->has_delivery
	       : sec == SEC_FLEET    ? s->has_fleet
	                             : true;
}

void txp_stats_latency_copy(struct txp_stats_latency *out, const struct txp_latency *l)
{
	memset(out, 0, sizeof(*out));
	out->count = atomic_load_explicit(&l->count, memory_order_relaxed);
	out->sum_ns = atomic_load_explicit(&l->sum_ns, memory_order_relaxed);
	for (unsigned b = 0; b < TXP_LAT_BUCKETS; b++)
		out->buckets[b] = atomic_load_explicit(&l->buckets[b], memory_order_relaxed);
	out->p50_us = txp_latency_quantile_us(l, 500);
	out->p99_us = txp_latency_quantile_us(l, 990);
	out->p999_us = txp_latency_quantile_us(l, 999);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *buckets_json(const uint64_t *b)
{
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < TXP_LAT_BUCKETS; i++)
		json_array_append_new(a, json_integer((json_int_t)b[i]));
	return a;
}

static json_t *aws_json(const struct txp_aws_stats *as)
{
	json_t *o = json_object();

	for (int svc = 0; svc < TXP_AWS_SERVICE_COUNT; svc++) {
		json_t *x = json_object();
		json_object_set_new(x, "requests", json_integer((json_int_t)as->requests[svc]));
		json_object_set_new(x, "ok", json_integer((json_int_t)as->ok[svc]));
		json_object_set_new(x, "retryable", json_integer((json_int_t)as->retryable[svc]));
		json_object_set_new(x, "throttled", json_integer((json_int_t)as->throttled[svc]));
		json_object_set_new(x, "fatal", json_integer((json_int_t)as->fatal[svc]));
		json_object_set_new(
		        x, "latency_us_mean",
		        json_integer(
		                (json_int_t)(as->requests[svc] ? as->latency_us_sum[svc] / as->requests[svc] : 0)));
		json_object_set_new(o, txp_aws_service_name(svc), x);
	}
	json_object_set_new(o, "credentials_expire_ms", json_integer((json_int_t)as->credentials_expire_ms));
	json_object_set_new(o, "credentials_source",
	                    json_string(as->credentials_source != NULL ? as->credentials_source : "none"));
	return o;
}

json_t *txp_stats_json(const struct txp_stats_snapshot *s)
{
	const struct txp_pipeline_stats *ps = &s->pipeline;
	json_t *root = json_object(), *sec[SEC_COUNT], *o;

	if (root == NULL)
		return NULL;
	json_object_set_new(root, "version", json_string(s->version != NULL ? s->version : ""));
	json_object_set_new(root, "rules_version", json_string(s->rules_version));
	sec[SEC_DAEMON] = root;
	for (int k = SEC_DAEMON + 1; k < SEC_COUNT; k++) {
		sec[k] = NULL;
		if (section_present(s, (enum section)k)) {
			sec[k] = json_object();
			json_object_set_new(root, section_name[k], sec[k]);
		}
	}
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		const struct def *d = &defs[i];
		if (sec[d->sec] != NULL)
			json_object_set_new(sec[d->sec], d->name,
			                    d->kind == FLAG ? json_boolean(value(s, d) != 0)
			                                    : json_integer((json_int_t)value(s, d)));
	}
	if (sec[SEC_JOURNAL] != NULL)
		json_object_set_new(sec[SEC_JOURNAL], "error",
		                    json_string(s->journal.error != 0 ? strerror(-s->journal.error) : ""));

	o = json_object();
	for (int i = 0; i < TXP_STATUS_COUNT; i++)
		json_object_set_new(o, txp_status_name(i), json_integer((json_int_t)s->by_status[i]));
	json_object_set_new(root, "transactions", o);
	json_object_set_new(root, "reasons", txp_reason_counts_json(&s->reasons));

	o = json_object();
	for (int g = 0; g < TXP_STAGE_COUNT; g++) {
		json_t *x = json_object();
		json_object_set_new(x, "processed", json_integer((json_int_t)ps->processed[g]));
		json_object_set_new(x, "mean_ns", json_integer((json_int_t)ps->latency[g].mean_ns));
		json_object_set_new(x, "p50_us", json_integer((json_int_t)ps->latency[g].p50_us));
		json_object_set_new(x, "p99_us", json_integer((json_int_t)ps->latency[g].p99_us));
		json_object_set_new(x, "p999_us", json_integer((json_int_t)ps->latency[g].p999_us));
		json_object_set_new(x, "histogram", buckets_json(ps->latency[g].buckets));
		json_object_set_new(o, txp_stage_name(g), x);
	}
	json_object_set_new(root, "stages", o);

	o = json_object();
	json_object_set_new(o, "capacity", json_integer((json_int_t)ps->ring_capacity));
	json_object_set_new(o, "inflight", json_integer((json_int_t)ps->inflight));
	for (int r = 0; r <= TXP_STAGE_COUNT; r++)
		json_object_set_new(o, ring_names[r], json_integer((json_int_t)ps->ring_depth_max[r]));
	json_object_set_new(root, "rings", o);

	o = json_object();
	json_object_set_new(o, "count", json_integer((json_int_t)s->reply_latency.count));
	json_object_set_new(o, "p50_us", json_integer((json_int_t)s->reply_latency.p50_us));
	json_object_set_new(o, "p99_us", json_integer((json_int_t)s->reply_latency.p99_us));
	json_object_set_new(o, "p999_us", json_integer((json_int_t)s->reply_latency.p999_us));
	json_object_set_new(o, "sum_ns", json_integer((json_int_t)s->reply_latency.sum_ns));
	json_object_set_new(o, "histogram", buckets_json(s->reply_latency.buckets));
	json_object_set_new(root, "reply_latency", o);

	if (s->has_aws)
		json_object_set_new(root, "aws", aws_json(&s->aws));
	return root;
}

/* ---- text ------------------------------------------------------------------ */

char *txp_stats_text(const struct txp_stats_snapshot *s)
{
	const struct txp_pipeline_stats *ps = &s->pipeline;
	struct txp_sbuf b = { 0 };

	txp_sbuf_printf(&b, "txpiped %s rules %s", s->version != NULL ? s->version : "",
	                s->rules_version[0] ? s->rules_version : "-");
	for (int k = 0; k < SEC_COUNT; k++) {
		if (!section_present(s, (enum section)k))
			continue;
		txp_sbuf_printf(&b, "\n%s:", k == SEC_DAEMON ? "daemon" : section_name[k]);
		for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
			if (defs[i].sec == (enum section)k)
				txp_sbuf_printf(&b, " %s=%llu", defs[i].name, (unsigned long long)value(s, &defs[i]));
	}
	txp_sbuf_str(&b, "\ntransactions:");
	for (int i = 0; i < TXP_STATUS_COUNT; i++)
		txp_sbuf_printf(&b, " %s=%llu", txp_status_name(i), (unsigned long long)s->by_status[i]);
	txp_sbuf_str(&b, "\nreasons:");
	for (unsigned i = 0; i < s->reasons.used; i++)
		txp_sbuf_printf(&b, " %s=%llu", s->reasons.code[i], (unsigned long long)s->reasons.n[i]);
	txp_sbuf_printf(&b, "\n%-12s %12s %10s %8s %8s %8s\n", "stage", "processed", "mean_us", "p50_us", "p99_us",
	                "p999_us");
	for (int g = 0; g < TXP_STAGE_COUNT; g++)
		txp_sbuf_printf(&b, "%-12s %12llu %10.1f %8llu %8llu %8llu\n", txp_stage_name(g),
		                (unsigned long long)ps->processed[g], (double)ps->latency[g].mean_ns / 1000.0,
		                (unsigned long long)ps->latency[g].p50_us, (unsigned long long)ps->latency[g].p99_us,
		                (unsigned long long)ps->latency[g].p999_us);
	txp_sbuf_printf(&b, "rings: capacity=%u inflight=%u validation_in=%u fraud_in=%u compliance_in=%u results=%u",
	                ps->ring_capacity, ps->inflight, ps->ring_depth_max[0], ps->ring_depth_max[1],
	                ps->ring_depth_max[2], ps->ring_depth_max[3]);
	if (s->has_aws) {
		for (int svc = 0; svc < TXP_AWS_SERVICE_COUNT; svc++)
			txp_sbuf_printf(
			        &b,
			        "\naws %-8s requests=%llu ok=%llu retryable=%llu throttled=%llu fatal=%llu mean=%llu us",
			        txp_aws_service_name(svc), (unsigned long long)s->aws.requests[svc],
			        (unsigned long long)s->aws.ok[svc], (unsigned long long)s->aws.retryable[svc],
			        (unsigned long long)s->aws.throttled[svc], (unsigned long long)s->aws.fatal[svc],
			        (unsigned long long)(s->aws.requests[svc]
			                                     ? s->aws.latency_us_sum[svc] / s->aws.requests[svc]
			                                     : 0));
		txp_sbuf_printf(&b, "\naws credentials: %s, expire_ms=%lld",
		                s->aws.credentials_source != NULL ? s->aws.credentials_source : "none",
		                (long long)s->aws.credentials_expire_ms);
	}
	txp_sbuf_printf(&b, "\nreply latency: p50 %llu us, p99 %llu us, p99.9 %llu us over %llu replies\n",
	                (unsigned long long)s->reply_latency.p50_us, (unsigned long long)s->reply_latency.p99_us,
	                (unsigned long long)s->reply_latency.p999_us, (unsigned long long)s->reply_latency.count);
	return txp_sbuf_finish(&b, NULL);
}

/* ---- Prometheus ------------------------------------------------------------ */

static void family(struct txp_sbuf *b, const char *name, const char *type, const char *help)
{
	txp_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A Prometheus histogram in seconds from our log2 microsecond buckets. */
static void histogram_series(struct txp_sbuf *b, const char *name, const char *labels, const uint64_t *buckets,
                             uint64_t sum_ns)
{
	const char *sep = labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;

	for (unsigned i = 0; i < TXP_LAT_BUCKETS; i++) {
		cum += buckets[i];
		/* Bucket i holds latencies below 2^i us. */
		txp_sbuf_printf(b, "%s_bucket{%s%sle=\"%.6f\"} %llu\n", name, labels, sep,
		                (double)(UINT64_C(1) << i) / 1e6, (unsigned long long)cum);
	}
	txp_sbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
	txp_sbuf_printf(b, "%s_sum{%s} %.9f\n", name, labels, (double)sum_ns / 1e9);
	txp_sbuf_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
}

static void scalar(struct txp_sbuf *b, const struct txp_stats_snapshot *s, const struct def *d)
{
	char name[128];
	size_t n;

	if (d->prom != NULL) {
		snprintf(name, sizeof(name), "%s", d->prom);
	} else {
		n = (size_t)snprintf(name, sizeof(name), "txpipe_%s%s%s", section_name[d->sec],
		                     d->sec != SEC_DAEMON ? "_" : "", d->name);
		/* Counters end in _total (the exposition format's convention). */
		if (d->kind == COUNTER && (n < 6 || strcmp(name + n - 6, "_total") != 0))
			snprintf(name + n, sizeof(name) - n, "_total");
	}
	family(b, name, d->kind == COUNTER ? "counter" : "gauge", d->help);
	txp_sbuf_printf(b, "%s %llu\n", name, (unsigned long long)value(s, d));
}

static void aws_prometheus(struct txp_sbuf *b, const struct txp_aws_stats *as)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} per[] = {
		{ "txpipe_aws_requests_total", "AWS requests sent, by service.",
		  offsetof(struct txp_aws_stats, requests) },
		{ "txpipe_aws_ok_total", "AWS requests that succeeded.", offsetof(struct txp_aws_stats, ok) },
		{ "txpipe_aws_retryable_total", "AWS requests that failed with a retryable error.",
		  offsetof(struct txp_aws_stats, retryable) },
		{ "txpipe_aws_throttled_total", "AWS requests throttled.", offsetof(struct txp_aws_stats, throttled) },
		{ "txpipe_aws_fatal_total", "AWS requests that failed for good.",
		  offsetof(struct txp_aws_stats, fatal) },
	};

	for (size_t i = 0; i < sizeof(per) / sizeof(per[0]); i++) {
		const uint64_t *v = (const uint64_t *)(const void *)((const char *)as + per[i].off);
		family(b, per[i].name, "counter", per[i].help);
		for (int svc = 0; svc < TXP_AWS_SERVICE_COUNT; svc++)
			txp_sbuf_printf(b, "%s{service=\"%s\"} %llu\n", per[i].name, txp_aws_service_name(svc),
			                (unsigned long long)v[svc]);
	}
	family(b, "txpipe_aws_latency_seconds_sum", "counter", "Seconds spent in AWS requests, by service.");
	for (int svc = 0; svc < TXP_AWS_SERVICE_COUNT; svc++)
		txp_sbuf_printf(b, "txpipe_aws_latency_seconds_sum{service=\"%s\"} %.6f\n", txp_aws_service_name(svc),
		                (double)as->latency_us_sum[svc] / 1e6);
	family(b, "txpipe_aws_credentials_expire_ms", "gauge",
	       "When the credentials expire, Unix ms (0: they do not expire).");
	txp_sbuf_printf(b, "txpipe_aws_credentials_expire_ms %lld\n", (long long)as->credentials_expire_ms);
	family(b, "txpipe_aws_credentials_info", "gauge", "Where the credentials come from.");
	txp_sbuf_printf(b, "txpipe_aws_credentials_info{source=\"%s\"} 1\n",
	                as->credentials_source != NULL ? as->credentials_source : "none");
}

char *txp_stats_prometheus(const struct txp_stats_snapshot *s)
{
	const struct txp_pipeline_stats *ps = &s->pipeline;
	struct txp_sbuf b = { 0 };

	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (section_present(s, defs[i].sec))
			scalar(&b, s, &defs[i]);
	family(&b, "txpipe_rules_info", "gauge", "The running rules version: a hash of the deciding config and lists.");
	txp_sbuf_printf(&b, "txpipe_rules_info{version=\"%s\"} 1\n", s->rules_version);

	family(&b, "txpipe_transactions_total", "counter", "Transactions answered, by status.");
	for (int i = 0; i < TXP_STATUS_COUNT; i++)
		txp_sbuf_printf(&b, "txpipe_transactions_total{status=\"%s\"} %llu\n", txp_status_name(i),
		                (unsigned long long)s->by_status[i]);
	family(&b, "txpipe_reasons_total", "counter", "Reason codes given, by code.");
	for (unsigned i = 0; i < s->reasons.used; i++)
		txp_sbuf_printf(&b, "txpipe_reasons_total{reason=\"%s\"} %llu\n", s->reasons.code[i],
		                (unsigned long long)s->reasons.n[i]);

	family(&b, "txpipe_stage_processed_total", "counter", "Transactions through each stage.");
	for (int g = 0; g < TXP_STAGE_COUNT; g++)
		txp_sbuf_printf(&b, "txpipe_stage_processed_total{stage=\"%s\"} %llu\n", txp_stage_name(g),
		                (unsigned long long)ps->processed[g]);
	family(&b, "txpipe_stage_latency_seconds", "histogram",
	       "Time from the previous stage (or receipt) to the end of this stage, queueing included.");
	for (int g = 0; g < TXP_STAGE_COUNT; g++) {
		char labels[64];
		snprintf(labels, sizeof(labels), "stage=\"%s\"", txp_stage_name(g));
		histogram_series(&b, "txpipe_stage_latency_seconds", labels, ps->latency[g].buckets,
		                 ps->latency[g].mean_ns * ps->processed[g]);
	}
	family(&b, "txpipe_reply_latency_seconds", "histogram",
	       "Time from a line's receipt to its reply being queued.");
	histogram_series(&b, "txpipe_reply_latency_seconds", "", s->reply_latency.buckets, s->reply_latency.sum_ns);

	family(&b, "txpipe_ring_capacity", "gauge", "Slots per ring: the most transactions in flight.");
	txp_sbuf_printf(&b, "txpipe_ring_capacity %u\n", ps->ring_capacity);
	family(&b, "txpipe_inflight", "gauge", "Transactions in the pipeline now.");
	txp_sbuf_printf(&b, "txpipe_inflight %u\n", ps->inflight);
	family(&b, "txpipe_ring_depth", "gauge", "Deepest ring into each stage now.");
	for (int r = 0; r <= TXP_STAGE_COUNT; r++)
		txp_sbuf_printf(&b, "txpipe_ring_depth{ring=\"%s\"} %u\n", ring_names[r], ps->ring_depth_max[r]);
	if (s->has_aws)
		aws_prometheus(&b, &s->aws);
	return txp_sbuf_finish(&b, NULL);
}
