/* notify.c: sd_notify(3) messages: readiness, reload, stop, live STATUS= and the watchdog ping. */
#include "txp_build_config.h"

#include "txpipe/notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "txpipe/log.h"

static void send_state(const char *state)
{
#ifdef HAVE_SYSTEMD
	/* A failure to send is not worth more than a debug line: the manager
	 * may be gone while we drain, and the daemon serves all the same. */
	int rc = sd_notify(0, state);
	if (rc < 0)
		txp_log_debug("notify_failed", "error=\"%s\"", strerror(-rc));
#else
	(void)state;
#endif
}

int txp_notify_format_status(char *buf, size_t len, const struct txp_notify_figures *f)
{
	return snprintf(buf, len,
	                "%s: %" PRIu64 " approved, %" PRIu64 " review, %" PRIu64 " declined, %" PRIu64
	                " rejected, %" PRIu64 " error; %" PRIu32 " in flight; %" PRIu32 " connections",
	                f->draining ? "Draining" : "Screening", f->by_status[TXP_STATUS_APPROVED],
	                f->by_status[TXP_STATUS_REVIEW], f->by_status[TXP_STATUS_DECLINED],
	                f->by_status[TXP_STATUS_REJECTED], f->by_status[TXP_STATUS_ERROR], f->inflight, f->connections);
}

uint64_t txp_notify_watchdog_period_ms(uint64_t watchdog_usec)
{
	uint64_t ms = watchdog_usec / 2 / 1000;

	return ms > 0 ? ms : 1;
}

void txp_notify_ready(const char *status)
{
	char msg[320];

	if (status == NULL) {
		send_state("READY=1");
		return;
	}
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	send_state(msg);
}

void txp_notify_reloading(void)
{
	send_state("RELOADING=1");
}

void txp_notify_stopping(void)
{
	send_state("STOPPING=1");
}

#ifdef HAVE_SYSTEMD
static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	send_state("WATCHDOG=1");
}

static void on_status(uv_timer_t *t)
{
	struct txp_notify *n = t->data;
	struct txp_notify_figures f;
	char text[sizeof(n->last_status)];
	char msg[sizeof("STATUS=") + sizeof(text)];

	memset(&f, 0, sizeof(f));
	n->figures(n->arg, &f);
	txp_notify_format_status(text, sizeof(text), &f);
	/* An idle daemon would repeat itself: only changes are sent. */
	if (strcmp(text, n->last_status) == 0)
		return;
	memcpy(n->last_status, text, sizeof(text));
	snprintf(msg, sizeof(msg), "STATUS=%s", text);
	send_state(msg);
}

/* Whether a manager listens: sd_notify() sends nothing without it. */
static bool manager_listens(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s != NULL && s[0] != '\0';
}
#endif

int txp_notify_start(struct txp_notify *n, uv_loop_t *loop, uint64_t status_ms, txp_notify_figures_fn figures,
                     void *arg, char *err, size_t errlen)
{
	memset(n, 0, sizeof(*n));
	n->figures = figures;
	n->arg = arg;
	uv_timer_init(loop, &n->watchdog);
	uv_timer_init(loop, &n->status);
	n->watchdog.data = n->status.data = n;
	/* Neither timer is a reason to keep running: the loop ends when the
	 * server and the pipeline are closed. */
	uv_unref((uv_handle_t *)&n->watchdog);
	uv_unref((uv_handle_t *)&n->status);
	n->initialised = true;
#ifdef HAVE_SYSTEMD
	{
		uint64_t usec = 0;
		/* Keeps $WATCHDOG_USEC: a child would not inherit WATCHDOG_PID
		 * anyway, and the environment is read only here. */
		int rc = sd_watchdog_enabled(0, &usec);

		if (rc < 0) {
			snprintf(err, errlen, "WATCHDOG_USEC or WATCHDOG_PID from the service manager: %s",
			         strerror(-rc));
			return rc;
		}
		if (rc > 0) {
			n->watchdog_ms = txp_notify_watchdog_period_ms(usec);
			uv_timer_start(&n->watchdog, on_watchdog, n->watchdog_ms, n->watchdog_ms);
		}
		if (status_ms > 0 && figures != NULL && manager_listens()) {
			n->status_ms = status_ms;
			uv_timer_start(&n->status, on_status, status_ms, status_ms);
		}
	}
#else
	(void)status_ms;
	(void)err;
	(void)errlen;
#endif
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	(void)h;
}

void txp_notify_stop(struct txp_notify *n)
{
	if (!n->initialised)
		return;
	n->initialised = false;
	uv_timer_stop(&n->watchdog);
	uv_timer_stop(&n->status);
	uv_close((uv_handle_t *)&n->watchdog, on_closed);
	uv_close((uv_handle_t *)&n->status, on_closed);
}
