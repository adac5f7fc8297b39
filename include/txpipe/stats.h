/* stats.h: every figure the daemon reports, declared once, rendered as JSON, text and Prometheus. */
#ifndef TXPIPE_STATS_H
#define TXPIPE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "txpipe/ack.h"
#include "txpipe/aws/client.h"
#include "txpipe/delivery.h"
#include "txpipe/fleet.h"
#include "txpipe/journal.h"
#include "txpipe/metrics.h"
#include "txpipe/pipeline.h"
#include "txpipe/txn.h"

/* A latency histogram, copied out of its atomics (struct txp_latency). */
struct txp_stats_latency {
	uint64_t count, sum_ns, p50_us, p99_us, p999_us;
	uint64_t buckets[TXP_LAT_BUCKETS]; /* bucket i: below 2^i us */
};

/*
 * One consistent copy of every figure, taken on the loop thread by the
 * daemon and rendered by the pure functions below.  Each scalar figure is
 * declared once, in the table in stats.c (section, name, counter or gauge,
 * help); the families (per status, per reason, per stage, per ring, per AWS
 * service, latency histograms) are rendered by one function each.
 */
struct txp_stats_snapshot {
	const char *version;
	/* The running rules (stages.h): version, and when loaded (Unix ms). */
	char rules_version[TXP_RULES_VERSION_SIZE];
	uint64_t rules_loaded_ms;
	/* The daemon and its front end. */
	uint64_t uptime_s, workers, reloads, reload_failures;
	/* The USD rates in use: their date as YYYYMMDD and its age in whole
	 * days (0 and 0 when undated). */
	uint64_t rates_date, rates_age_days;
	uint64_t connections_open, connections_total, clients_refused;
	uint64_t lines, lines_too_long, backpressure_pauses, refused, tail_dropped;
	uint64_t by_status[TXP_STATUS_COUNT];
	struct txp_reason_counts reasons;
	struct txp_pipeline_stats pipeline;
	struct txp_stats_latency reply_latency;
	/* The post-decision path (ack.h) and the duplicate window. */
	struct txp_ack_stats ack;
	uint64_t duplicate_window;
	/* Sections present when their module runs. */
	bool has_journal, has_delivery, has_aws;
	bool has_fleet; /* [fleet] enabled: the fleet section is shown */
	struct txp_journal_stats journal;
	uint64_t journal_full, journal_low_space;
	struct txp_delivery_stats delivery;
	uint64_t delivery_congested;
	struct txp_aws_stats aws;
	struct txp_fleet_stats fleet;
	uint64_t fleet_stale;
};

/* Copies a live histogram. */
void txp_stats_latency_copy(struct txp_stats_latency *out, const struct txp_latency *l);

/* The {"command":"stats"} reply's "stats" object (a new reference), or NULL
 * when out of memory. */
json_t *txp_stats_json(const struct txp_stats_snapshot *s);

/* The text txpipectl stats prints, and the Prometheus text exposition
 * format 0.0.4 (GET /metrics).  Each returns a malloc'd NUL-terminated text
 * (caller frees) or NULL when out of memory. */
char *txp_stats_text(const struct txp_stats_snapshot *s);
char *txp_stats_prometheus(const struct txp_stats_snapshot *s);

#endif
