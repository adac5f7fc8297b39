/* ctl_replay.c: txpipectl replay, deciding a file offline under two configurations. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "txpipe/config.h"
#include "txpipe/replay.h"

#include "ctl_int.h"

/* Loads a configuration for replay; prints the reason and returns
 * EX_CONFIG when it does not load. */
static int replay_side(const char *path, struct txp_config *cfg, struct txp_replayer **r)
{
	char err[2048];
	int rc = txp_config_load(cfg, path, err, sizeof(err));

	if (rc == 0)
		rc = txp_replayer_create(r, cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "txpipectl: replay: %s\n", err);
		txp_config_free(cfg);
		return EX_CONFIG;
	}
	return EX_OK;
}

/*
 * Decides every line of FILE under the candidate and the baseline
 * configuration with the daemon's own stages, offline (replay.h), and
 * prints what changed.  The baseline is --baseline, else the daemon's own
 * configuration (-c, or the default path).
 */
int ctl__replay(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "baseline", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *candidate = NULL, *baseline = ctl->config_path;
	struct txp_config bcfg, ccfg;
	struct txp_replayer *br = NULL, *cr = NULL;
	struct txp_replay_summary sum;
	char err[512];
	FILE *in;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:b:", opts, NULL)) != -1) {
		if (c == 'c') {
			candidate = optarg;
		} else if (c == 'b') {
			baseline = optarg;
		} else {
			ctl__usage(stderr);
			return EX_USAGE;
		}
	}
	if (candidate == NULL || optind != argc - 1) {
		fprintf(stderr, "txpipectl: replay takes --config CANDIDATE.ini [--baseline BASELINE.ini] FILE\n");
		return EX_USAGE;
	}
	in = strcmp(argv[optind], "-") == 0 ? stdin : fopen(argv[optind], "r");
	if (in == NULL) {
		fprintf(stderr, "txpipectl: replay: %s: %s\n", argv[optind], strerror(errno));
		return EX_NOINPUT;
	}
	rc = replay_side(baseline, &bcfg, &br);
	if (rc != EX_OK)
		goto out_after_open;
	rc = replay_side(candidate, &ccfg, &cr);
	if (rc != EX_OK)
		goto out_after_baseline;
	if (txp_replay_run(br, cr, in, stdout, &sum, err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: replay: %s\n", err);
		rc = EX_IOERR;
	}
	txp_replayer_destroy(cr);
	txp_config_free(&ccfg);
out_after_baseline:
	txp_replayer_destroy(br);
	txp_config_free(&bcfg);
out_after_open:
	if (in != stdin)
		fclose(in);
	return rc;
}
