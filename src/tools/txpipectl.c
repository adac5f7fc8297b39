/* txpipectl.c: the operator's and producer's tool: options, usage and the dispatch to each command (ctl_*.c). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <sodium.h>

#include "txp_build_config.h"
#include "txpipe/aws/provision.h"
#include "txpipe/config.h"
#include "txpipe/keys.h"

#include "ctl_int.h"
#include "doctor.h"

#define DEFAULT_CONFIG TXP_SYSCONFDIR "/txpipe/txpiped.ini"

void ctl__usage(FILE *f)
{
	fprintf(f, "Usage: txpipectl [--socket PATH | --config FILE] COMMAND [ARGS]\n"
	           "\n"
	           "Commands:\n"
	           "  submit [JSON ...]          send transactions given as arguments\n"
	           "  submit --file FILE|-       send NDJSON transactions from a file or stdin\n"
	           "  stats [--format text|json|prometheus]\n"
	           "                             print the daemon's counters, ring depths, latencies\n"
	           "  reload                     make the daemon re-read its configuration\n"
	           "  tail [--status S]... [--reason R]...\n"
	           "                             stream decisions live, optionally filtered\n"
	           "  get [--json] TRANSACTION_ID\n"
	           "                             print the transaction's stored record (DynamoDB)\n"
	           "  dlq list [--max N]         show dead-lettered transactions\n"
	           "  dlq redrive [--max N]      hand them back to the daemon, deleting each once accepted\n"
	           "  check-config               validate the configuration file and exit\n"
	           "  genkey FILE                create a new random key file (mode 0600) for\n"
	           "                             card_token_key_file or pseudonym_key_file\n"
	           "  provision                  create the DynamoDB table, SNS topic and SQS queue the\n"
	           "                             configuration names, when missing\n"
	           "  deprovision [--yes] [--delete-data]\n"
	           "                             delete what provision created, after listing it and asking\n"
	           "  doctor                     check the configuration, keys, daemon, credentials, clock,\n"
	           "                             endpoints, AWS resources, journal and DLQ; name each fix\n"
	           "  replay --config CANDIDATE [--baseline BASELINE] FILE|-\n"
	           "                             decide an NDJSON file offline under the candidate and the\n"
	           "                             baseline configuration (default: the daemon's) and print\n"
	           "                             per-status counts and every changed decision\n"
	           "  journal adopt [--timeout-ms N] DIR\n"
	           "                             deliver a lost host's journal ([fleet] on): take its\n"
	           "                             lease (refused while its owner's is live), deliver every\n"
	           "                             undelivered record, mark them delivered, release the lease\n"
	           "  version                    print the tool's, the daemon's and the rules' versions\n"
	           "\n"
	           "Options:\n"
	           "  -s, --socket PATH   the daemon's socket\n"
	           "  -c, --config FILE   the daemon's INI file, to find its socket (default " DEFAULT_CONFIG ")\n"
	           "  -q, --quiet         submit: print only the summary\n"
	           "  -h, --help          this help\n"
	           "\n"
	           "Exit status: 0 success; 1 some transactions were rejected or failed; 64 usage;\n"
	           "66 input file missing; 69 daemon unreachable; 76 protocol error; 77 deprovision: the\n"
	           "table holds items (give --delete-data); 75 journal adopt: the journal's lease is held;\n"
	           "78 bad configuration.\n"
	           "See txpipectl(1).\n");
}

static int cmd_check_config(struct ctl *ctl)
{
	struct txp_config cfg;
	char err[2048];
	int rc = txp_config_load(&cfg, ctl->config_path, err, sizeof(err));

	txp_config_free(&cfg);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: %s\n", err);
		return EX_CONFIG;
	}
	printf("%s: configuration OK\n", ctl->config_path);
	return EX_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },        { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .config_path = DEFAULT_CONFIG };
	const char *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+s:c:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl.socket_path = optarg;
			break;
		case 'c':
			ctl.config_path = optarg;
			ctl.config_given = true;
			break;
		case 'q':
			ctl.quiet = true;
			break;
		case 'h':
			ctl__usage(stdout);
			return EX_OK;
		case 'V':
			printf("txpipectl %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			ctl__usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		ctl__usage(stderr);
		return EX_USAGE;
	}
	if (sodium_init() < 0)
		return EX_SOFTWARE;
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	/* --help after any command prints the usage, which covers them all. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ctl__usage(stdout);
			return EX_OK;
		}
	}
	if (strcmp(cmd, "submit") == 0)
		return ctl__submit(&ctl, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return ctl__stats(&ctl, argc, argv);
	if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "version") == 0)
		return ctl__simple(&ctl, cmd);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(&ctl);
	if (strcmp(cmd, "tail") == 0)
		return ctl__tail(&ctl, argc, argv);
	if (strcmp(cmd, "get") == 0)
		return ctl__get(&ctl, argc, argv);
	if (strcmp(cmd, "replay") == 0)
		return ctl__replay(&ctl, argc, argv);
	if (strcmp(cmd, "journal") == 0)
		return ctl__journal(&ctl, argc, argv);
	if (strcmp(cmd, "dlq") == 0)
		return ctl__dlq(&ctl, argc, argv);
	if (strcmp(cmd, "genkey") == 0) {
		char err[512];
		if (argc != 2) {
			fprintf(stderr, "txpipectl: genkey takes one FILE\n");
			return EX_USAGE;
		}
		if (txp_key_generate(argv[1], err, sizeof(err)) < 0) {
			fprintf(stderr, "txpipectl: genkey: %s\n", err);
			return EX_CANTCREAT;
		}
		printf("%s: new key written (mode 0600)\n", argv[1]);
		return EX_OK;
	}
	if (strcmp(cmd, "provision") == 0)
		return txp_provision_run(ctl.config_path, stdout, stderr);
	if (strcmp(cmd, "deprovision") == 0)
		return ctl__deprovision(&ctl, argc, argv);
	if (strcmp(cmd, "doctor") == 0) {
		if (argc != 1) {
			fprintf(stderr, "txpipectl: doctor takes no arguments\n");
			return EX_USAGE;
		}
		return txp_doctor_run(ctl.config_path, ctl.socket_path, stdout);
	}
	if (strcmp(cmd, "help") == 0) {
		ctl__usage(stdout);
		return EX_OK;
	}
	fprintf(stderr, "txpipectl: unknown command '%s'\n", cmd);
	ctl__usage(stderr);
	return EX_USAGE;
}
