/* ctl_adopt.c: txpipectl journal adopt: deliver a lost host's journal under its lease, as the daemon does. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <uv.h>

#include "txpipe/ack.h"
#include "txpipe/aws/client.h"
#include "txpipe/aws/settings.h"
#include "txpipe/clock.h"
#include "txpipe/config.h"
#include "txpipe/dedup.h"
#include "txpipe/delivery.h"
#include "txpipe/fleet.h"
#include "txpipe/journal.h"
#include "txpipe/log.h"

#include "ctl_int.h"

#define DEFAULT_TIMEOUT_MS (10u * 60u * 1000u)

/*
 * The daemon's path from the journal to AWS, without the daemon: the
 * journal replays its undelivered records into txp_ack (no screening state
 * is rebuilt: no rebuild op, no recent replay), which hands them to
 * txp_delivery; delivered ones get their DELIVERED marks in that journal.
 */
struct adopt {
	uv_loop_t loop;
	uv_check_t flush_check; /* DELIVERED marks, once per loop turn */
	struct txp_config cfg;
	struct txp_aws_client *client;
	struct txp_delivery *delivery;
	struct txp_journal *journal;
	struct txp_dedup *dedup;
	struct txp_ack *ack;
	struct txp_fleet_lease *lease;
	struct txp_delivery_stats st; /* taken when delivery is over */
	struct txp_journal_stats js;  /* taken as the journal closes */
	uint64_t delivered;
	bool flushed;
};

static int ack_append(void *arg, struct txp_txn *t)
{
	(void)arg;
	(void)t;
	return -EPERM; /* adopt decides nothing new */
}

static int ack_mark_delivered(void *arg, const uint64_t *seqs, size_t n)
{
	struct adopt *a = arg;

	return a->journal != NULL ? txp_journal_deliver(a->journal, seqs, n, NULL) : -EPIPE;
}

static void on_flush_check(uv_check_t *h)
{
	struct adopt *a = h->data;

	uv_check_stop(h);
	txp_ack_flush(a->ack);
}

static void ack_schedule_flush(void *arg)
{
	struct adopt *a = arg;

	uv_check_start(&a->flush_check, on_flush_check);
}

static void ack_deliver(void *arg, struct txp_txn *t)
{
	struct adopt *a = arg;

	txp_delivery_take(a->delivery, t);
}

static void ack_release(void *arg, struct txp_txn *t)
{
	(void)arg;
	(void)t; /* replayed records hold no reply */
}

static void on_delivered(void *arg, uint64_t seq)
{
	struct adopt *a = arg;

	a->delivered++;
	txp_ack_delivered(a->ack, seq);
}

static void on_conflict(void *arg, uint64_t seq, char *reply, size_t len)
{
	struct adopt *a = arg;

	txp_ack_stored_elsewhere(a->ack, seq, reply, len); /* no producer waits: freed */
}

static void on_undelivered(void *arg, uint64_t seq, const struct txp_journal_accepted *rec)
{
	struct adopt *a = arg;

	txp_ack_replay_undelivered(a->ack, seq, rec);
}

/* Everything was delivered, or what is left waits for services that cannot
 * be reached, or the time is up: close in the daemon's order (delivery,
 * client, the last DELIVERED marks, the journal). */
static void on_flushed(void *arg)
{
	struct adopt *a = arg;

	a->flushed = true;
	txp_delivery_stats(a->delivery, &a->st);
	txp_delivery_close(a->delivery);
	a->delivery = NULL;
	txp_fleet_lease_stop(a->lease);
	txp_aws_client_close(a->client, NULL, NULL);
	a->client = NULL;
	txp_ack_flush(a->ack);
	txp_journal_close(a->journal);
	/* As of its last commit, with the last DELIVERED marks; freed once the loop runs. */
	txp_journal_stats(a->journal, &a->js);
	a->journal = NULL;
	uv_close((uv_handle_t *)&a->flush_check, NULL);
}

/* Whose decisions these are: the lease's last daemon owner, else ours. */
static const char *decided_by(const struct txp_fleet_lease_state *before, const char *self)
{
	if (before->found && txp_fleet_instance_id_valid(before->owner))
		return before->owner;
	return self;
}

static int run(struct adopt *a, const char *dir, uint64_t timeout_ms)
{
	struct txp_ack_options ao = { .mode = TXP_JOURNAL_ACK_JOURNALED, .dedup_window_ms = TXP_DEDUP_WINDOW_MS };
	struct txp_ack_ops ops = {
		.append = ack_append,
		.mark_delivered = ack_mark_delivered,
		.schedule_flush = ack_schedule_flush,
		.deliver = ack_deliver,
		.release = ack_release,
		.arg = a,
	};
	struct txp_fleet_lease_state before;
	struct txp_journal_options jo;
	struct txp_journal_stats js;
	struct txp_aws_settings settings;
	struct txp_ack_stats as;
	char self[TXP_FLEET_INSTANCE_ID_MAX + 1], owner[TXP_FLEET_LEASE_OWNER_MAX + 1];
	char id[TXP_JOURNAL_ID_HEX + 1], err[2048];
	int rc, status = 1;

	if (!a->cfg.fleet.enabled || !a->cfg.aws.enabled) {
		fprintf(stderr, "txpipectl: journal adopt: needs [fleet] enabled and [aws] enabled (the lease lives in "
		                "the fleet table)\n");
		return EX_CONFIG;
	}
	if (txp_fleet_instance_id(&a->cfg, self, sizeof(self), err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: journal adopt: %s\n", err);
		return EX_CONFIG;
	}
	snprintf(owner, sizeof(owner), TXP_FLEET_ADOPT_PREFIX "%s", self);
	if (txp_journal_id(dir, id, err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: journal adopt: %s\n", err);
		return EX_NOINPUT;
	}
	/* The lease first: a live owner (the daemon, or another adopt) is never
	 * joined, so two hosts never deliver one journal at once. */
	rc = txp_fleet_lease_take(&a->lease, &a->cfg, id, owner, &before, err, sizeof(err));
	if (rc == -EBUSY) {
		fprintf(stderr, "txpipectl: journal adopt: refused: %s: %s\n", dir, err);
		return EX_TEMPFAIL;
	}
	if (rc < 0) {
		/* Adopting needs the lease: never deliver without it. */
		fprintf(stderr, "txpipectl: journal adopt: %s\n", err);
		txp_fleet_lease_release(a->lease);
		return EX_UNAVAILABLE;
	}
	printf("journal %s (id %s): lease taken as %s (last held by %s)\n", dir, id, owner,
	       before.found ? before.owner : "nobody");
	fflush(stdout);

	rc = uv_loop_init(&a->loop);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: journal adopt: uv_loop_init: %s\n", uv_strerror(rc));
		goto out_lease;
	}
	uv_check_init(&a->loop, &a->flush_check);
	a->flush_check.data = a;
	txp_aws_settings_from_config(&a->cfg, &settings);
	rc = txp_aws_client_create(&a->client, &a->loop, &settings, err, sizeof(err));
	if (rc == 0)
		rc = txp_delivery_create(&a->delivery, &a->loop, a->client, &a->cfg, err, sizeof(err));
	if (rc == 0)
		rc = txp_delivery_set_fleet(a->delivery, decided_by(&before, self));
	a->dedup = rc == 0 ? txp_dedup_create(1024, TXP_DEDUP_WINDOW_MS) : NULL;
	ao.dedup = a->dedup;
	if (rc == 0 && (a->dedup == NULL || txp_ack_create(&a->ack, &ao, &ops) < 0)) {
		snprintf(err, sizeof(err), "out of memory");
		rc = -ENOMEM;
	}
	if (rc < 0) {
		fprintf(stderr, "txpipectl: journal adopt: %s\n", err);
		goto out_loop;
	}
	txp_delivery_on_delivered(a->delivery, on_delivered, a);
	txp_delivery_on_conflict(a->delivery, on_conflict, a);
	txp_journal_options_from_config(&jo, &a->cfg);
	jo.now_ms = txp_wall_ms();
	jo.on_undelivered = on_undelivered;
	jo.replay_arg = a;
	rc = txp_journal_open(&a->journal, &a->loop, dir, &jo, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "txpipectl: journal adopt: %s\n", err);
		goto out_loop;
	}
	txp_journal_stats(a->journal, &js);
	txp_ack_start(a->ack, js.durable_seq);
	txp_ack_stats(a->ack, &as);
	printf("undelivered records: %llu\n", (unsigned long long)as.replayed_undelivered);
	fflush(stdout);
	rc = txp_fleet_lease_keep(a->lease, &a->loop, a->client);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: journal adopt: lease renewal timer: %s\n", uv_strerror(rc));
		goto out_loop;
	}
	txp_delivery_flush(a->delivery, timeout_ms, on_flushed, a);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	js = a->js;
	printf("delivered: %llu (stored %llu, already stored %llu, stored first by another host %llu, "
	       "dead-lettered %llu)\n",
	       (unsigned long long)a->delivered, (unsigned long long)a->st.stored,
	       (unsigned long long)a->st.already_stored, (unsigned long long)a->st.conditional_conflicts,
	       (unsigned long long)a->st.dead_lettered);
	printf("left undelivered: %llu\n", (unsigned long long)js.undelivered);
	status = js.undelivered == 0 && txp_fleet_lease_lost(a->lease) == 0 ? EX_OK : 1;
out_loop:
	if (!a->flushed) {
		txp_delivery_close(a->delivery);
		txp_fleet_lease_stop(a->lease);
		txp_aws_client_close(a->client, NULL, NULL);
		txp_journal_close(a->journal);
		if (!uv_is_closing((uv_handle_t *)&a->flush_check))
			uv_close((uv_handle_t *)&a->flush_check, NULL);
	}
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&a->loop) != 0)
		fprintf(stderr, "txpipectl: journal adopt: the loop did not close\n");
	txp_ack_destroy(a->ack);
	txp_dedup_destroy(a->dedup);
out_lease:
	if (txp_fleet_lease_release(a->lease) == 0)
		printf("lease released\n");
	return status;
}

/* txpipectl journal adopt [--config FILE] [--timeout-ms N] DIR */
int ctl__journal(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = ctl->config_path;
	uint64_t timeout_ms = DEFAULT_TIMEOUT_MS;
	struct adopt *a;
	char err[2048], *end;
	int c, status;

	if (argc < 2 || strcmp(argv[1], "adopt") != 0) {
		fprintf(stderr, "txpipectl: journal: the only subcommand is adopt DIR\n");
		return EX_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			timeout_ms = strtoull(optarg, &end, 10);
			if (*end != '\0' || timeout_ms == 0) {
				fprintf(stderr, "txpipectl: journal adopt: --timeout-ms wants a positive number\n");
				return EX_USAGE;
			}
			break;
		default:
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "txpipectl: journal adopt: give one journal directory\n");
		return EX_USAGE;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return EX_OSERR;
	if (txp_config_load(&a->cfg, config_path, err, sizeof(err)) != 0) {
		/* A failed load leaves the defaults it started from to free. */
		fprintf(stderr, "txpipectl: %s\n", err);
		txp_config_free(&a->cfg);
		free(a);
		return EX_CONFIG;
	}
	txp_log_setup(TXP_LOG_WARNING, (enum txp_log_format)a->cfg.log.format);
	status = run(a, argv[optind], timeout_ms);
	txp_config_free(&a->cfg);
	free(a);
	return status;
}
