/* notify.h: telling the service manager (sd_notify) about readiness, live status and liveness. */
#ifndef TXPIPE_NOTIFY_H
#define TXPIPE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "txpipe/txn.h"

/*
 * Every function here is a no-op when the daemon was built without
 * libsystemd or runs without a notifying manager ($NOTIFY_SOCKET unset), so
 * callers never test for either.  All are called on the loop thread.
 */

/* The live figures shown in STATUS=. */
struct txp_notify_figures {
	uint64_t by_status[TXP_STATUS_COUNT]; /* replies sent, per status */
	uint32_t inflight;                    /* transactions in the pipeline */
	uint32_t connections;                 /* open client connections */
	bool draining;
};

/* Fills *out; called on the loop thread from the status timer. */
typedef void (*txp_notify_figures_fn)(void *arg, struct txp_notify_figures *out);

/*
 * Writes the STATUS= text for `f` into buf (always NUL-terminated when
 * len > 0), for example "Screening: 12 approved, 1 review, 0 declined,
 * 2 rejected, 0 error; 3 in flight; 2 connections".  Returns what
 * snprintf returns.  Pure.
 */
int txp_notify_format_status(char *buf, size_t len, const struct txp_notify_figures *f);

/*
 * The watchdog ping period for a manager's WATCHDOG_USEC: half of it, as
 * sd_watchdog_enabled(3) recommends, in ms and at least 1.  Pure.
 */
uint64_t txp_notify_watchdog_period_ms(uint64_t watchdog_usec);

/* READY=1, with STATUS=`status` when it is not NULL. */
void txp_notify_ready(const char *status);
/* RELOADING=1: a reload started; txp_notify_ready() ends it. */
void txp_notify_reloading(void);
/* STOPPING=1: the drain started. */
void txp_notify_stopping(void);

/* The periodic notifications: embed in the caller's state; the loop
 * needs it until the close callbacks ran. */
struct txp_notify {
	uv_timer_t watchdog;
	uv_timer_t status;
	uint64_t watchdog_ms; /* ping period; 0 when no watchdog was asked for */
	uint64_t status_ms;   /* status period; 0 when status is not sent */
	txp_notify_figures_fn figures;
	void *arg;
	char last_status[256]; /* the last STATUS= sent, to skip repeats */
	bool initialised;
};

/*
 * Starts, on `loop`, a timer sending WATCHDOG=1 every half of the
 * manager's watchdog interval when it asked for one (WatchdogSec=), so a
 * loop that stops turning is noticed and restarted; and a timer sending
 * STATUS= with `figures` every `status_ms` (0: never) when a manager
 * listens.  Neither timer keeps the loop alive.  Returns 0, or a negative
 * errno with a message in err (a malformed $WATCHDOG_USEC).  Call
 * txp_notify_stop() before the loop is closed, also after a failure.
 */
int txp_notify_start(struct txp_notify *n, uv_loop_t *loop, uint64_t status_ms, txp_notify_figures_fn figures,
                     void *arg, char *err, size_t errlen);

/* Stops and closes both timers (run the loop so they finish closing).
 * Safe on a zeroed struct and when called twice. */
void txp_notify_stop(struct txp_notify *n);

#endif
