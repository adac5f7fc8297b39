/* metrics.h: counters by reason code and the loopback /metrics listener. */
#ifndef TXPIPE_METRICS_H
#define TXPIPE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "txpipe/pipeline.h"

/* Counts per reason code (the codes are static strings: compared by
 * pointer first, text second).  Loop thread only. */
#define TXP_MAX_REASON_CODES 128
struct txp_reason_counts {
	const char *code[TXP_MAX_REASON_CODES];
	uint64_t n[TXP_MAX_REASON_CODES];
	unsigned used;
	uint64_t overflow; /* codes beyond the table */
};
void txp_reason_counts_add(struct txp_reason_counts *rc, const char *code);
json_t *txp_reason_counts_json(const struct txp_reason_counts *rc);

/*
 * Parses "HOST:PORT" for [metrics] listen and refuses a host that is not a
 * loopback address (metrics carry business volumes: never exposed beyond
 * the host).  Returns 0 or -EINVAL with the reason in err.
 */
int txp_metrics_parse_listen(const char *spec, struct sockaddr_storage *out, char *err, size_t errlen);

/* A tiny HTTP/1.1 listener answering GET /metrics with render(arg). */
struct txp_metrics_server;
int txp_metrics_server_create(struct txp_metrics_server **out, uv_loop_t *loop, const char *listen,
                              char *(*render)(void *arg), void *arg, char *err, size_t errlen);
/* Closes the listener and its connections; frees when closed.  NULL is safe. */
void txp_metrics_server_close(struct txp_metrics_server *m);

#endif
