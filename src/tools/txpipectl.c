/* txpipectl.c: the operator's and producer's tool: submit, stats, reload, get, replay, check-config, provision, doctor. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "txp_build_config.h"
#include "txpipe/aws/dynamodb.h"
#include "txpipe/aws/ops.h"
#include "txpipe/aws/provision.h"
#include "txpipe/aws/settings.h"
#include "txpipe/config.h"
#include "txpipe/keys.h"
#include "txpipe/replay.h"

#include "doctor.h"

#define DEFAULT_CONFIG TXP_SYSCONFDIR "/txpipe/txpiped.ini"
/* Lines sent ahead of their replies; the daemon bounds what it reads from
 * one client anyway, this only keeps the tool's own buffers small. */
#define MAX_AHEAD 512

struct ctl {
	const char *config_path;
	const char *socket_path;
	bool config_given;
	const char *format;
	bool quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: txpipectl [--socket PATH | --config FILE] COMMAND [ARGS]\n"
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
	        "table holds items (give --delete-data); 78 bad configuration.\n"
	        "See txpipectl(1).\n");
}

/* Resolves the socket path: --socket wins, else [daemon] socket of the
 * config file.  Returns a malloc'd path or NULL with the reason printed. */
static char *resolve_socket(struct ctl *ctl, int *exit_code)
{
	struct txp_config cfg;
	char err[1024];
	char *path;

	if (ctl->socket_path != NULL)
		return strdup(ctl->socket_path);
	if (txp_config_load(&cfg, ctl->config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: %s\n", err);
		if (!ctl->config_given)
			fprintf(stderr, "txpipectl: give --socket PATH or --config FILE\n");
		txp_config_free(&cfg);
		*exit_code = EX_CONFIG;
		return NULL;
	}
	path = strdup(cfg.daemon.socket);
	txp_config_free(&cfg);
	return path;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "txpipectl: socket path too long: %s\n", path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "txpipectl: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A growable byte buffer. */
struct buf {
	char *p;
	size_t len, cap, off;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 65536;
		char *np;
		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

/* Appends `n` bytes read from the daemon and calls fn on each complete
 * reply line (len excludes its '\n', which still follows it); keeps an
 * unfinished line for the next call.  Returns 0, or the first nonzero fn
 * result, which stops it there. */
static int buf_feed_lines(struct buf *b, const char *data, size_t n, int (*fn)(void *arg, char *line, size_t len),
                          void *arg)
{
	char *start, *nl;
	int rc = 0;

	buf_add(b, data, n);
	start = b->p + b->off;
	while (rc == 0 && (nl = memchr(start, '\n', (size_t)(b->p + b->len - start))) != NULL) {
		rc = fn(arg, start, (size_t)(nl - start));
		start = nl + 1;
	}
	b->off = (size_t)(start - b->p);
	return rc;
}

struct submit {
	FILE *in;           /* NULL: lines come from argv */
	char **args;
	int nargs, next_arg;
	bool input_done;
	uint64_t sent, answered;
	uint64_t by_status[6];
	struct buf out, in_buf;
	bool progress;
	double t0, last_progress;
	bool quiet;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Queues the next input line; returns false when the input is exhausted. */
static bool next_line(struct submit *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (s->in == NULL) {
		if (s->next_arg >= s->nargs)
			return false;
		const char *a = s->args[s->next_arg++];
		if (buf_add(&s->out, a, strlen(a)) < 0 || buf_add(&s->out, "\n", 1) < 0)
			return false;
		s->sent++;
		return true;
	}
	for (;;) {
		n = getline(&line, &cap, s->in);
		if (n < 0) {
			free(line);
			return false;
		}
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n == 0)
			continue; /* blank input lines are not transactions */
		break;
	}
	if (buf_add(&s->out, line, (size_t)n) < 0 || buf_add(&s->out, "\n", 1) < 0) {
		free(line);
		return false;
	}
	free(line);
	s->sent++;
	return true;
}

static const char *const status_names[] = {"approved", "review", "declined", "rejected", "error", "other"};

static void count_reply(struct submit *s, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	const char *st = j != NULL ? json_string_value(json_object_get(j, "status")) : NULL;
	int k = 5;

	for (int i = 0; st != NULL && i < 5; i++)
		if (strcmp(st, status_names[i]) == 0)
			k = i;
	s->by_status[k]++;
	json_decref(j);
}

/* buf_feed_lines() callback of submit: one reply of ours. */
static int submit_reply(void *arg, char *line, size_t len)
{
	struct submit *s = arg;

	count_reply(s, line, len);
	if (!s->quiet)
		fwrite(line, 1, len + 1, stdout);
	s->answered++;
	return 0;
}

static void show_progress(struct submit *s, bool final)
{
	double t = now_s();
	double rate;

	if (!s->progress || (!final && t - s->last_progress < 0.2))
		return;
	s->last_progress = t;
	rate = t > s->t0 ? (double)s->answered / (t - s->t0) : 0;
	fprintf(stderr, "\r\033[K%llu sent, %llu answered, %.0f tx/s", (unsigned long long)s->sent,
	        (unsigned long long)s->answered, rate);
	if (final)
		fputc('\n', stderr);
}

static int cmd_submit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"file", required_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	struct submit s;
	const char *file = NULL;
	char *path;
	int fd, c, exit_code = EX_OK;

	memset(&s, 0, sizeof(s));
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
		if (c != 'f') {
			usage(stderr);
			return EX_USAGE;
		}
		file = optarg;
	}
	if (file != NULL && optind < argc) {
		fprintf(stderr, "txpipectl: submit takes --file or JSON arguments, not both\n");
		return EX_USAGE;
	}
	if (file != NULL) {
		s.in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
		if (s.in == NULL) {
			fprintf(stderr, "txpipectl: %s: %s\n", file, strerror(errno));
			return EX_NOINPUT;
		}
	} else if (optind < argc) {
		s.args = argv + optind;
		s.nargs = argc - optind;
	} else {
		s.in = stdin;
	}
	s.quiet = ctl->quiet;
	/* A progress line only on a terminal, and only when the replies do
	 * not scroll over it on that same terminal. */
	s.progress = isatty(STDERR_FILENO) && s.in != NULL && (s.quiet || !isatty(STDOUT_FILENO));
	path = resolve_socket(ctl, &exit_code);
	if (path == NULL)
		return exit_code;
	fd = connect_socket(path);
	free(path);
	if (fd < 0)
		return EX_UNAVAILABLE;
	s.t0 = now_s();

	while (!s.input_done || s.answered < s.sent) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		while (!s.input_done && s.sent - s.answered < MAX_AHEAD && s.out.len - s.out.off < 65536)
			if (!next_line(&s))
				s.input_done = true;
		if (s.out.len > s.out.off)
			pfd.events |= POLLOUT;
		if (s.input_done && s.answered == s.sent)
			break;
		if (poll(&pfd, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(fd, s.out.p + s.out.off, s.out.len - s.out.off, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "txpipectl: send: %s\n", strerror(errno));
				exit_code = EX_PROTOCOL;
				break;
			}
			if (n > 0)
				s.out.off += (size_t)n;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			char chunk[65536];
			ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
			if (n <= 0) {
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				fprintf(stderr, "txpipectl: the daemon closed the connection after %llu of %llu replies\n",
				        (unsigned long long)s.answered, (unsigned long long)s.sent);
				exit_code = EX_PROTOCOL;
				break;
			}
			buf_feed_lines(&s.in_buf, chunk, (size_t)n, submit_reply, &s);
			show_progress(&s, false);
		}
	}
	close(fd);
	show_progress(&s, true);
	if (s.in != NULL && s.in != stdin)
		fclose(s.in);
	free(s.out.p);
	free(s.in_buf.p);
	fflush(stdout);
	if (s.in != NULL || s.quiet) {
		double dt = now_s() - s.t0;
		fprintf(stderr,
		        "txpipectl: %llu sent, %llu answered in %.2f s (%.0f tx/s): %llu approved, %llu review, "
		        "%llu declined, %llu rejected, %llu error\n",
		        (unsigned long long)s.sent, (unsigned long long)s.answered, dt,
		        dt > 0 ? (double)s.answered / dt : 0.0, (unsigned long long)s.by_status[0],
		        (unsigned long long)s.by_status[1], (unsigned long long)s.by_status[2],
		        (unsigned long long)s.by_status[3], (unsigned long long)s.by_status[4]);
	}
	if (exit_code == EX_OK && (s.by_status[3] + s.by_status[4] + s.by_status[5]) > 0)
		exit_code = 1;
	return exit_code;
}

/* Sends one control request and returns the parsed reply, or NULL with
 * *exit_code set. */
/* Reads the daemon's next reply line on `fd` and parses it; NULL when the
 * connection ends first or the line is not JSON. */
static json_t *read_reply(int fd)
{
	struct buf in = {0};
	json_t *reply;

	for (;;) {
		char chunk[16384];
		ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_add(&in, chunk, (size_t)r);
		if (memchr(chunk, '\n', (size_t)r) != NULL)
			break;
	}
	/* A reply cut off by the end of the connection is still parsed. */
	reply = in.len > 0 ? json_loadb(in.p, in.len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	free(in.p);
	return reply;
}

/* Sends {"command":COMMAND[,"format":FORMAT]} and returns the reply. */
static json_t *control(struct ctl *ctl, const char *command, const char *format, int *exit_code)
{
	char req[128];
	char *path;
	json_t *reply;
	int fd, n;

	path = resolve_socket(ctl, exit_code);
	if (path == NULL)
		return NULL;
	fd = connect_socket(path);
	free(path);
	if (fd < 0) {
		*exit_code = EX_UNAVAILABLE;
		return NULL;
	}
	if (format != NULL)
		n = snprintf(req, sizeof(req), "{\"command\":\"%s\",\"format\":\"%s\"}\n", command, format);
	else
		n = snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", command);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "txpipectl: send: %s\n", strerror(errno));
		close(fd);
		*exit_code = EX_UNAVAILABLE;
		return NULL;
	}
	shutdown(fd, SHUT_WR);
	reply = read_reply(fd);
	close(fd);
	if (reply == NULL) {
		fprintf(stderr, "txpipectl: no valid reply from the daemon\n");
		*exit_code = EX_PROTOCOL;
		return NULL;
	}
	const char *st = json_string_value(json_object_get(reply, "status"));
	if (st == NULL || strcmp(st, "ok") != 0) {
		const char *msg = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
		fprintf(stderr, "txpipectl: %s: %s\n", command, msg != NULL ? msg : "failed");
		json_decref(reply);
		*exit_code = 1;
		return NULL;
	}
	return reply;
}

static const char *str_or(const char *s, const char *fallback)
{
	return s != NULL ? s : fallback;
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
	const char *format = "text";
	int c, exit_code = EX_OK;
	json_t *reply;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+F:", opts, NULL)) != -1) {
		if (c != 'F') {
			usage(stderr);
			return EX_USAGE;
		}
		format = optarg;
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "prometheus") != 0) {
		fprintf(stderr, "txpipectl: --format is text, json or prometheus\n");
		return EX_USAGE;
	}
	/* The daemon renders every format from its one table of figures. */
	reply = control(ctl, "stats", format, &exit_code);
	if (reply == NULL)
		return exit_code;
	if (strcmp(format, "json") == 0) {
		json_dumpf(json_object_get(reply, "stats"), stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (json_is_string(json_object_get(reply, "text"))) {
		fputs(json_string_value(json_object_get(reply, "text")), stdout);
	} else {
		fprintf(stderr, "txpipectl: the daemon sent no %s stats (an older txpiped?)\n", format);
		exit_code = EX_PROTOCOL;
	}
	json_decref(reply);
	return exit_code;
}

static int cmd_simple(struct ctl *ctl, const char *command)
{
	int exit_code = EX_OK;
	json_t *reply = control(ctl, command, NULL, &exit_code);

	if (reply == NULL)
		return exit_code;
	if (strcmp(command, "version") == 0)
		printf("txpipectl %s, txpiped %s, rules %s (loaded %s)\n", PACKAGE_VERSION,
		       json_string_value(json_object_get(reply, "version")),
		       str_or(json_string_value(json_object_get(reply, "rules_version")), "-"),
		       str_or(json_string_value(json_object_get(reply, "rules_loaded_at")), "-"));
	else
		printf("%s: ok\n", command);
	json_decref(reply);
	return EX_OK;
}

/* Streams decisions until the daemon goes away or the user interrupts. */
/* buf_feed_lines() callback of tail; *arg is true until the subscription's
 * own answer came.  Returns 1 (after saying why) when it was refused. */
static int tail_line(void *arg, char *line, size_t len)
{
	bool *first = arg;
	json_t *r;
	const char *st;

	if (!*first) {
		fwrite(line, 1, len + 1, stdout);
		return 0;
	}
	r = json_loadb(line, len, 0, NULL);
	st = json_string_value(json_object_get(r, "status"));
	if (st == NULL || strcmp(st, "ok") != 0) {
		const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

		fprintf(stderr, "txpipectl: tail: %s\n", msg != NULL ? msg : "refused");
		json_decref(r);
		return 1;
	}
	json_decref(r);
	*first = false;
	return 0;
}

static int cmd_tail(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"status", required_argument, NULL, 'S'}, {"reason", required_argument, NULL, 'R'}, {NULL, 0, NULL, 0}};
	json_t *req = json_pack("{s:s,s:[],s:[]}", "command", "tail", "status", "reason");
	char *path, *line;
	int c, fd, exit_code = EX_OK;
	bool first = true;
	struct buf in = {0};

	optind = 1;
	while ((c = getopt_long(argc, argv, "+S:R:", opts, NULL)) != -1) {
		if (c != 'S' && c != 'R') {
			json_decref(req);
			usage(stderr);
			return EX_USAGE;
		}
		json_array_append_new(json_object_get(req, c == 'S' ? "status" : "reason"), json_string(optarg));
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	path = resolve_socket(ctl, &exit_code);
	if (path == NULL || line == NULL) {
		free(path);
		free(line);
		return exit_code != EX_OK ? exit_code : EX_SOFTWARE;
	}
	fd = connect_socket(path);
	free(path);
	if (fd < 0) {
		free(line);
		return EX_UNAVAILABLE;
	}
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		free(line);
		close(fd);
		return EX_UNAVAILABLE;
	}
	free(line);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		char chunk[65536];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_feed_lines(&in, chunk, (size_t)n, tail_line, &first) != 0) {
			free(in.p);
			close(fd);
			return 1;
		}
	}
	free(in.p);
	close(fd);
	return EX_OK;
}

static int load_config(struct ctl *ctl, struct txp_config *cfg)
{
	char err[2048];

	if (txp_config_load(cfg, ctl->config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "txpipectl: %s\n", err);
		txp_config_free(cfg);
		return EX_CONFIG;
	}
	return EX_OK;
}

/* Prints a plain (unmarshalled) value on one line: maps as "k=v, k=v",
 * lists and sets comma-separated, strings as they are. */
static void print_plain(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
	} else if (json_is_object(v)) {
		bool first = true;
		json_object_foreach((json_t *)v, k, x) {
			printf("%s%s=", first ? "" : ", ", k);
			print_plain(x);
			first = false;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if (i > 0)
				fputs(", ", stdout);
			print_plain(x);
		}
	} else {
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		fputs(text != NULL ? text : "?", stdout);
		free(text);
	}
}

/* The amount in major units, exactly ("12.34 USD" for 1234 at exponent 2). */
static void print_amount(const json_t *item)
{
	json_t *a = json_object_get(item, "amount"), *e = json_object_get(item, "currency_exponent");
	const char *cur = json_string_value(json_object_get(item, "currency"));
	long long minor = json_integer_value(a), unit = 1;
	int exp = (int)json_integer_value(e);

	if (!json_is_integer(a) || !json_is_integer(e) || exp < 0 || exp > 4) {
		print_plain(a);
		return;
	}
	for (int i = 0; i < exp; i++)
		unit *= 10;
	if (exp == 0)
		printf("%lld %s", minor, str_or(cur, ""));
	else
		printf("%s%lld.%0*lld %s", minor < 0 ? "-" : "", llabs(minor / unit), exp, llabs(minor % unit),
		       str_or(cur, ""));
}

/*
 * The stored record readably: one "name: value" line per attribute, the
 * decision first, then the money, the parties, the card, the context, the
 * audit fields; an attribute this list does not know is shown after them,
 * so a newer daemon's record still prints whole.  --json prints the plain
 * JSON instead.
 */
static void print_record(const json_t *item)
{
	static const char *const order[] = {
		"transaction_id", "status", "risk_score", "reasons", "error_code", "error_field", "error_message",
		"amount", "amount_usd_cents", "merchant_id", "merchant_country", "customer_pseudonym",
		"customer_country", "card_bin", "card_last4", "card_token", "channel", "mcc", "kyc", "ip_pseudonym",
		"device_pseudonym", "compliance_flags", "fraud_severity", "compliance_severity", "event_time",
		"received_at", "stage_us", "rules_version", "daemon_version", "expires_at"};
	const char *k;
	json_t *v;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		v = json_object_get(item, order[i]);
		if (v == NULL)
			continue;
		printf("%-20s ", order[i]);
		if (strcmp(order[i], "amount") == 0)
			print_amount(item);
		else
			print_plain(v);
		putchar('\n');
	}
	json_object_foreach((json_t *)item, k, v) {
		bool known = strcmp(k, "currency") == 0 || strcmp(k, "currency_exponent") == 0;
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && !known; i++)
			known = strcmp(k, order[i]) == 0;
		if (known)
			continue;
		printf("%-20s ", k);
		print_plain(v);
		putchar('\n');
	}
}

/* Prints the stored record of one transaction, read consistently. */
static int cmd_get(struct ctl *ctl, int argc, char **argv)
{
	struct txp_config cfg;
	struct txp_aws_settings settings;
	json_t *req, *resp = NULL, *item, *plain;
	char *body, err[1024];
	const char *id;
	bool as_json = false;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--json") == 0) {
		as_json = true;
		id = argv[2];
	} else if (argc == 2) {
		id = argv[1];
	} else {
		fprintf(stderr, "txpipectl: get takes [--json] TRANSACTION_ID\n");
		return EX_USAGE;
	}
	if ((rc = load_config(ctl, &cfg)) != EX_OK)
		return rc;
	req = json_pack("{s:s,s:{s:{s:s}},s:b}", "TableName", cfg.dynamodb.table, "Key", "transaction_id", "S", id,
	                "ConsistentRead", 1);
	body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	txp_aws_settings_from_config(&cfg, &settings);
	rc = body != NULL ? txp_aws_call_sync(&settings, TXP_AWS_DYNAMODB, "GetItem", body, &resp, err, sizeof(err))
	                  : -ENOMEM;
	free(body);
	txp_config_free(&cfg);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: get: %s\n", rc == -ENOMEM ? "out of memory" : err);
		return EX_UNAVAILABLE;
	}
	item = json_object_get(resp, "Item");
	if (item == NULL) {
		fprintf(stderr, "txpipectl: get: no record for %s\n", id);
		json_decref(resp);
		return 1;
	}
	plain = txp_ddb_unmarshal(item);
	if (as_json || plain == NULL) {
		json_dumpf(plain != NULL ? plain : item, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		print_record(plain);
	}
	json_decref(plain);
	json_decref(resp);
	return EX_OK;
}

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
static int cmd_replay(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"baseline", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
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
			usage(stderr);
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

/* Builds a JSON request body (consumes `req`); NULL on no memory. */
static char *json_body(json_t *req)
{
	char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;

	json_decref(req);
	return body;
}

/* One SQS call; prints the error and returns NULL on failure. */
static json_t *sqs_call(const struct txp_config *cfg, const char *op, json_t *req)
{
	struct txp_aws_settings settings;
	char *body = json_body(req), err[1024];
	json_t *resp = NULL;
	int rc;

	txp_aws_settings_from_config(cfg, &settings);
	rc = body != NULL ? txp_aws_call_sync(&settings, TXP_AWS_SQS, op, body, &resp, err, sizeof(err)) : -ENOMEM;

	free(body);
	if (rc < 0) {
		fprintf(stderr, "txpipectl: %s: %s\n", op, rc == -ENOMEM ? "out of memory" : err);
		return NULL;
	}
	return resp != NULL ? resp : json_object();
}

/* Receives up to 10 dead-lettered messages, hidden for `visibility` s. */
static json_t *dlq_receive(const struct txp_config *cfg, int visibility)
{
	return sqs_call(cfg, "ReceiveMessage",
	                json_pack("{s:s,s:i,s:i,s:i}", "QueueUrl", cfg->sqs.queue_url, "MaxNumberOfMessages", 10,
	                          "VisibilityTimeout", visibility, "WaitTimeSeconds", 1));
}


static void dlq_print(const json_t *msg)
{
	json_t *b = json_loads(json_string_value(json_object_get(msg, "Body")), 0, NULL);
	const char *failed = json_string_value(json_object_get(b, "failed"));
	const char *alert_type = json_string_value(json_object_get(b, "alert_type"));

	printf("%s  %-24s %s%s%s  %s after %lld attempt(s): %s\n",
	       str_or(json_string_value(json_object_get(b, "dead_lettered_at")), "-"),
	       str_or(json_string_value(json_object_get(b, "transaction_id")), "-"), str_or(failed, "?"), alert_type ? "/" : "",
	       str_or(alert_type, ""), str_or(json_string_value(json_object_get(b, "error_code")), "-"),
	       (long long)json_integer_value(json_object_get(b, "attempts")),
	       str_or(json_string_value(json_object_get(b, "error_message")), ""));
	json_decref(b);
}

/* Sends one control request on an open connection and reads its reply. */
static json_t *control_on(int fd, const char *line)
{
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
		return NULL;
	return read_reply(fd);
}

static int dlq_redrive(struct ctl *ctl, const struct txp_config *cfg, long max)
{
	long done = 0, failed = 0;
	char *path;
	int fd, exit_code = EX_OK;

	path = resolve_socket(ctl, &exit_code);
	if (path == NULL)
		return exit_code;
	fd = connect_socket(path);
	free(path);
	if (fd < 0)
		return EX_UNAVAILABLE;
	while (done + failed < max) {
		/* Hidden for a minute while we hand them over: a message the
		 * daemon refuses comes back by itself. */
		json_t *resp = dlq_receive(cfg, 60), *msgs, *m;
		size_t i;
		if (resp == NULL) {
			exit_code = EX_UNAVAILABLE;
			break;
		}
		msgs = json_object_get(resp, "Messages");
		if (json_array_size(msgs) == 0) {
			json_decref(resp);
			break;
		}
		json_array_foreach(msgs, i, m) {
			json_t *body = json_loads(json_string_value(json_object_get(m, "Body")), 0, NULL);
			char *line = json_body(json_pack("{s:s,s:o*}", "command", "redeliver", "message", body));
			json_t *reply = line != NULL ? control_on(fd, line) : NULL;
			const char *st = json_string_value(json_object_get(reply, "status"));
			free(line);
			if (st != NULL && strcmp(st, "ok") == 0) {
				json_t *del = sqs_call(cfg, "DeleteMessage",
				                       json_pack("{s:s,s:s}", "QueueUrl", cfg->sqs.queue_url, "ReceiptHandle",
				                                 json_string_value(json_object_get(m, "ReceiptHandle"))));
				if (del != NULL) {
					done++;
					printf("redriven: ");
					dlq_print(m);
				} else {
					failed++;
				}
				json_decref(del);
			} else {
				const char *why = json_string_value(
					json_object_get(json_object_get(reply, "error"), "message"));
				fprintf(stderr, "txpipectl: redrive refused: %s\n", why != NULL ? why : "no reply from the daemon");
				failed++;
			}
			json_decref(reply);
		}
		json_decref(resp);
		if (failed > 0)
			break;
	}
	close(fd);
	printf("%ld redriven, %ld left in the queue after failures\n", done, failed);
	return exit_code != EX_OK ? exit_code : failed > 0 ? 1 : EX_OK;
}

static int cmd_dlq(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"max", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0}};
	struct txp_config cfg;
	long max = 100;
	int c, rc;

	optind = 2;
	while ((c = getopt_long(argc, argv, "+m:", opts, NULL)) != -1) {
		if (c != 'm' || (max = strtol(optarg, NULL, 10)) <= 0) {
			fprintf(stderr, "txpipectl: dlq --max takes a positive number\n");
			return EX_USAGE;
		}
	}
	if (argc < 2 || optind != argc || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "redrive") != 0)) {
		fprintf(stderr, "txpipectl: dlq list|redrive [--max N]\n");
		return EX_USAGE;
	}
	if ((rc = load_config(ctl, &cfg)) != EX_OK)
		return rc;
	if (cfg.sqs.queue_url[0] == '\0') {
		fprintf(stderr, "txpipectl: [sqs] queue_url is not set in %s\n", ctl->config_path);
		txp_config_free(&cfg);
		return EX_CONFIG;
	}
	if (strcmp(argv[1], "redrive") == 0) {
		rc = dlq_redrive(ctl, &cfg, max);
	} else {
		json_t *attrs = sqs_call(&cfg, "GetQueueAttributes",
		                         json_pack("{s:s,s:[s]}", "QueueUrl", cfg.sqs.queue_url, "AttributeNames",
		                                   "ApproximateNumberOfMessages"));
		json_t *seen = json_object();
		long shown = 0;
		int idle_rounds = 0;
		rc = attrs != NULL ? EX_OK : EX_UNAVAILABLE;
		if (attrs != NULL)
			printf("%s: about %s message(s)\n", cfg.sqs.queue_url,
			       str_or(json_string_value(json_object_get(json_object_get(attrs, "Attributes"),
			                                         "ApproximateNumberOfMessages")), "?"));
		json_decref(attrs);
		/* Receiving is the only way to read SQS.  With a visibility
		 * timeout of 0 nothing is hidden from the daemon or a redrive;
		 * the same message may come back, so they are told apart by
		 * MessageId, and listing stops after three rounds that show
		 * nothing new: on a large queue this is a sample (the count
		 * above is SQS's own). */
		while (rc == EX_OK && shown < max && idle_rounds < 3) {
			json_t *resp = dlq_receive(&cfg, 0), *m;
			size_t i;
			bool fresh = false;
			if (resp == NULL) {
				rc = EX_UNAVAILABLE;
				break;
			}
			if (json_array_size(json_object_get(resp, "Messages")) == 0) {
				json_decref(resp);
				break;
			}
			json_array_foreach(json_object_get(resp, "Messages"), i, m) {
				const char *mid = json_string_value(json_object_get(m, "MessageId"));
				if (mid == NULL || json_object_get(seen, mid) != NULL || shown >= max)
					continue;
				json_object_set_new(seen, mid, json_true());
				fresh = true;
				shown++;
				dlq_print(m);
			}
			idle_rounds = fresh ? 0 : idle_rounds + 1;
			json_decref(resp);
		}
		json_decref(seen);
	}
	txp_config_free(&cfg);
	return rc;
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

static int cmd_deprovision(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"yes", no_argument, NULL, 'y'}, {"delete-data", no_argument, NULL, 'D'}, {NULL, 0, NULL, 0}};
	struct txp_deprovision_options o = {.interactive = isatty(STDIN_FILENO) == 1};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+y", opts, NULL)) != -1) {
		if (c == 'y') {
			o.yes = true;
		} else if (c == 'D') {
			o.delete_data = true;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "txpipectl: deprovision takes only --yes and --delete-data\n");
		return EX_USAGE;
	}
	return txp_deprovision_run(ctl->config_path, &o, stdin, stdout, stderr);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
		{"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	struct ctl ctl = {.config_path = DEFAULT_CONFIG};
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
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("txpipectl %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
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
			usage(stdout);
			return EX_OK;
		}
	}
	if (strcmp(cmd, "submit") == 0)
		return cmd_submit(&ctl, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(&ctl, argc, argv);
	if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "version") == 0)
		return cmd_simple(&ctl, cmd);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(&ctl);
	if (strcmp(cmd, "tail") == 0)
		return cmd_tail(&ctl, argc, argv);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(&ctl, argc, argv);
	if (strcmp(cmd, "replay") == 0)
		return cmd_replay(&ctl, argc, argv);
	if (strcmp(cmd, "dlq") == 0)
		return cmd_dlq(&ctl, argc, argv);
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
		return cmd_deprovision(&ctl, argc, argv);
	if (strcmp(cmd, "doctor") == 0) {
		if (argc != 1) {
			fprintf(stderr, "txpipectl: doctor takes no arguments\n");
			return EX_USAGE;
		}
		return txp_doctor_run(ctl.config_path, ctl.socket_path, stdout);
	}
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EX_OK;
	}
	fprintf(stderr, "txpipectl: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
