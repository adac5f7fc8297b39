/* doctor.c: `txpipectl doctor`: checks a txpipe installation in the order an operator would, naming each fix. */
#include "doctor.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "txpipe/aws/ops.h"
#include "txpipe/aws/query.h"
#include "txpipe/aws/settings.h"
#include "txpipe/aws/xml.h"
#include "txpipe/config.h"
#include "txpipe/keys.h"
#include "txpipe/log.h"
#include "txpipe/sbuf.h"

/* SigV4 signatures are refused when the clocks differ by more than 5
 * minutes (AWS General Reference, "Signing AWS API requests"). */
#define SKEW_FAIL_S 300
#define SKEW_WARN_S 30
/* The longest SQS retention, 14 days, which provision sets. */
#define DLQ_RETENTION_S "1209600"
#define TTL_ATTRIBUTE "expires_at"
#define SOCKET_TIMEOUT_S 5
/* The user systemd/txpiped.service runs the daemon as (sysusers.d/txpipe.conf). */
#define DAEMON_USER "txpipe"

#define NO_CREDENTIALS_FIX                                                                                              \
	"on EC2 attach an instance role (IMDSv2; in a container set the metadata hop limit to 2); elsewhere set [aws] " \
	"profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"

enum level { OK, WARN, FAIL };

struct doctor {
	FILE *out;
	int failures, warnings;
	const char *config_path;
	struct txp_config cfg;
	bool cfg_loaded;
	json_t *daemon_stats; /* NULL when the daemon did not answer */
	struct txp_aws_session *s;
	struct txp_aws_settings settings;
	/* The read calls that proved an IAM action, and the ones denied. */
	char proven[512], denied[512];
};

static void say(struct doctor *d, enum level lv, const char *check, const char *fix, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void say(struct doctor *d, enum level lv, const char *check, const char *fix, const char *fmt, ...)
{
	static const char *const names[] = { "ok", "warn", "FAIL" };
	va_list ap;

	fprintf(d->out, "%-4s  %-17s ", names[lv], check);
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
	if (lv != OK && fix != NULL)
		fprintf(d->out, "      %-17s fix: %s\n", "", fix);
	if (lv == FAIL)
		d->failures++;
	else if (lv == WARN)
		d->warnings++;
	fflush(d->out);
}

static void list_add(char *list, size_t len, const char *item)
{
	size_t n = strlen(list);

	snprintf(list + n, len - n, "%s%s", n > 0 ? ", " : "", item);
}

/* ---- local checks ---------------------------------------------------------------------------------- */

static bool check_config(struct doctor *d)
{
	char err[2048];

	if (txp_config_load(&d->cfg, d->config_path, err, sizeof(err)) < 0) {
		txp_config_free(&d->cfg);
		say(d, FAIL, "config", "correct the line named above; `txpipectl check-config` checks it again", "%s",
		    err);
		return false;
	}
	d->cfg_loaded = true;
	say(d, OK, "config", NULL, "%s is valid", d->config_path);
	return true;
}

static void check_key(struct doctor *d, const char *key, const char *path)
{
	struct stat st;
	struct passwd *daemon_pw;
	bool owner_ok;
	uint8_t k[TXP_KEY_BYTES];
	char err[512], fix[1024];

	if (path == NULL || path[0] == '\0') {
		say(d, OK, key, NULL, "not set");
		return;
	}
	if (stat(path, &st) != 0) {
		snprintf(fix, sizeof(fix), "restore the key from its backup, or create one with `txpipectl genkey %s`",
		         path);
		say(d, FAIL, key, fix, "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		say(d, FAIL, key, "point the key at a regular file", "%s is not a regular file", path);
		return;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(fix, sizeof(fix), "chmod 0600 %s (readable by the daemon's user only)", path);
		say(d, FAIL, key, fix, "%s has mode %04o: group or others may read it", path,
		    (unsigned)(st.st_mode & 07777));
		return;
	}
	if (txp_key_load(path, k, err, sizeof(err)) < 0) {
		say(d, FAIL, key, "the file must hold a key written by `txpipectl genkey`", "%s", err);
		return;
	}
	sodium_memzero(k, sizeof(k));
	owner_ok = st.st_uid == 0 || st.st_uid == geteuid() ||
	           ((daemon_pw = getpwnam(DAEMON_USER)) != NULL && st.st_uid == daemon_pw->pw_uid);
	if (!owner_ok) {
		struct passwd *pw = getpwuid(st.st_uid);
		say(d, WARN, key, "chown the key to the user txpiped runs as (" DAEMON_USER ")",
		    "%s is owned by %s, not by root, " DAEMON_USER " or the user running this check", path,
		    pw != NULL ? pw->pw_name : "an unknown user");
		return;
	}
	say(d, OK, key, NULL, "%s: regular, mode %04o, readable", path, (unsigned)(st.st_mode & 07777));
}

/* Sends one control request and reads one reply line; NULL on failure with the reason in err. */
static json_t *control_request(const char *path, const char *line, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct timeval tv = { SOCKET_TIMEOUT_S, 0 };
	char buf[65536];
	size_t len = 0;
	json_t *reply = NULL;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		return NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		snprintf(err, errlen, "send: %s", strerror(errno));
		goto out;
	}
	while (len < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
	reply = len > 0 ? json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	if (reply == NULL)
		snprintf(err, errlen, "no reply from %s within %d s", path, SOCKET_TIMEOUT_S);
out:
	if (fd >= 0)
		close(fd);
	return reply;
}

static void check_socket(struct doctor *d, const char *socket_path)
{
	const char *path = socket_path != NULL ? socket_path : d->cfg.daemon.socket;
	char err[512];
	json_t *v = control_request(path, "{\"command\":\"version\"}", err, sizeof(err));
	const char *ver = json_string_value(json_object_get(v, "version"));

	if (ver == NULL) {
		/* Connecting needs write permission on the socket: root or its group. */
		say(d, FAIL, "socket",
		    strstr(err, "Permission denied") != NULL
		            ? "run as root or as a member of the socket's group ([daemon] socket_group)"
		            : "start the daemon (systemctl start txpiped) and read its log (journalctl -u txpiped)",
		    "%s", v == NULL ? err : "the daemon's version reply has no version");
		json_decref(v);
		return;
	}
	say(d, OK, "socket", NULL, "%s answers: txpiped %s", path, ver);
	json_decref(v);
	v = control_request(path, "{\"command\":\"stats\",\"format\":\"json\"}", err, sizeof(err));
	if (json_is_object(json_object_get(v, "stats")))
		d->daemon_stats = json_incref(json_object_get(v, "stats"));
	json_decref(v);
}

/* ---- AWS checks ------------------------------------------------------------------------------------ */

static bool denied(const struct txp_aws_reply *r)
{
	return strstr(r->code, "AccessDenied") != NULL || strcmp(r->code, "AuthorizationError") == 0;
}

static bool unsupported(const struct txp_aws_reply *r)
{
	return strcmp(r->code, "UnknownOperationException") == 0 || strcmp(r->code, "InvalidAction") == 0;
}

/* One read call; records the IAM action it proves or finds denied. */
static void read_call(struct doctor *d, enum txp_aws_service svc, const char *op, char *body, struct txp_aws_reply *r)
{
	char action[96];
	int rc = body != NULL ? txp_aws_session_call(d->s, svc, op, body, r) : -ENOMEM;

	free(body);
	if (rc < 0) {
		memset(r, 0, sizeof(*r));
		r->kind = TXP_AWS_FATAL;
		snprintf(r->code, sizeof(r->code), "request_failed");
		snprintf(r->message, sizeof(r->message), "%s", strerror(-rc));
	}
	snprintf(action, sizeof(action), "%s:%s", txp_aws_service_name(svc), op);
	if (r->kind == TXP_AWS_OK)
		list_add(d->proven, sizeof(d->proven), action);
	else if (denied(r))
		list_add(d->denied, sizeof(d->denied), action);
}

static char *json_req(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static char *form_topic(const char *arn)
{
	struct txp_sbuf f = { 0 };

	txp_aws_query_add(&f, "TopicArn", arn);
	if (f.oom) {
		txp_sbuf_free(&f);
		return NULL;
	}
	return f.p;
}

/* The failure line for a read call that did not succeed. */
static void say_call_failed(struct doctor *d, const char *check, const char *op, const char *svc,
                            const struct txp_aws_reply *r)
{
	char fix[512];

	if (denied(r)) {
		snprintf(fix, sizeof(fix),
		         "allow %s:%s to these credentials (conf/iam-policy-operator.json grants what doctor reads)",
		         svc, op);
		say(d, FAIL, check, fix, "%s denied: %s", op, r->message);
	} else if (r->http_status == 0) {
		say(d, FAIL, check, "see the endpoint check above", "%s: no answer: %s: %s", op, r->code, r->message);
	} else {
		say(d, FAIL, check, NULL, "%s: %s: %s (HTTP %ld)", op, r->code, r->message, r->http_status);
	}
}

static bool credentials_error(const struct txp_aws_reply *r)
{
	return r->kind == TXP_AWS_CREDENTIALS || strcmp(r->code, "no_credentials") == 0;
}

static void check_credentials(struct doctor *d, const struct txp_aws_reply *first)
{
	struct txp_aws_stats st;

	txp_aws_session_stats(d->s, &st);
	if (strcmp(first->code, "no_credentials") == 0 || st.credentials_source == NULL ||
	    strcmp(st.credentials_source, "none") == 0) {
		say(d, FAIL, "credentials", NO_CREDENTIALS_FIX,
		    "none found (environment, shared credentials file, IMDS): %s", first->message);
		return;
	}
	if (first->kind == TXP_AWS_CREDENTIALS) {
		say(d, FAIL, "credentials", "renew the keys, or check the clock (below) if the signature is refused",
		    "from %s, refused: %s: %s", st.credentials_source, first->code, first->message);
		return;
	}
	if (st.credentials_expire_ms > 0) {
		int64_t left = st.credentials_expire_ms / 1000 - (int64_t)time(NULL);
		say(d, left < 300 ? WARN : OK, "credentials",
		    "they are refreshed before expiry; if not, see the IMDS notes in txpiped(8)",
		    "from %s, expire in %" PRId64 " min", st.credentials_source, left / 60);
	} else {
		say(d, OK, "credentials", NULL, "from %s, do not expire", st.credentials_source);
	}
}

static void check_clock(struct doctor *d, const struct txp_aws_reply *r)
{
	struct tm tm;
	time_t server, now = time(NULL);
	long skew;

	memset(&tm, 0, sizeof(tm));
	if (r == NULL || r->date[0] == '\0' || strptime(r->date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL) {
		say(d, WARN, "clock", "check that chronyd or systemd-timesyncd runs",
		    "no Date header to compare with: skew not measured");
		return;
	}
	server = timegm(&tm);
	skew = (long)(now - server);
	if (labs(skew) > SKEW_FAIL_S)
		say(d, FAIL, "clock", "synchronise the clock (chronyd, systemd-timesyncd; on EC2 169.254.169.123)",
		    "%+ld s off the server's Date (%s): AWS refuses signatures more than %d s off", skew, r->date,
		    SKEW_FAIL_S);
	else if (labs(skew) > SKEW_WARN_S)
		say(d, WARN, "clock", "synchronise the clock (chronyd, systemd-timesyncd)",
		    "%+ld s off the server's Date", skew);
	else
		say(d, OK, "clock", NULL, "%+ld s off the server's Date", skew);
}

static void check_endpoint(struct doctor *d, enum txp_aws_service svc, const struct txp_aws_reply *r)
{
	struct txp_aws_endpoint ep;
	char err[256], check[32];

	snprintf(check, sizeof(check), "%s endpoint", txp_aws_service_name(svc));
	if (txp_aws_endpoint_resolve(svc, d->settings.region, d->settings.endpoint[svc], &ep, err, sizeof(err)) != 0) {
		say(d, FAIL, check, "correct the endpoint key of that section", "%s", err);
		return;
	}
	if (r == NULL) {
		say(d, OK, check, NULL, "%s: not used by this configuration", ep.url);
		return;
	}
	if (r->http_status == 0) {
		say(d, FAIL, check,
		    "check DNS (private DNS of the VPC endpoint), the route or VPC interface endpoint, and that the "
		    "security groups allow TCP 443 out to it; a CA problem needs [aws] ca_file",
		    "%s unreachable: %s: %s", ep.url, r->code, r->message);
		return;
	}
	if (strncmp(ep.url, "https://", 8) == 0)
		say(d, OK, check, NULL, "%s reachable over TLS", ep.url);
	else
		say(d, WARN, check, "production endpoints are https", "%s: plain HTTP (test endpoint)", ep.url);
}

static void check_table(struct doctor *d, const struct txp_aws_reply *r)
{
	const char *t = d->cfg.dynamodb.table;
	json_t *j, *tab;
	const char *status, *billing, *sse;
	char fix[512];
	struct txp_aws_reply b;

	if (r->kind != TXP_AWS_OK) {
		if (strcmp(r->code, "ResourceNotFoundException") == 0)
			say(d, FAIL, "table", "create it: txpipectl provision", "%s does not exist", t);
		else
			say_call_failed(d, "table", "DescribeTable", "dynamodb", r);
		return;
	}
	j = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
	tab = json_object_get(j, "Table");
	status = json_string_value(json_object_get(tab, "TableStatus"));
	billing = json_string_value(json_object_get(json_object_get(tab, "BillingModeSummary"), "BillingMode"));
	sse = json_string_value(json_object_get(json_object_get(tab, "SSEDescription"), "Status"));
	if (status == NULL || strcmp(status, "ACTIVE") != 0)
		say(d, FAIL, "table", "wait for it to become ACTIVE", "%s is %s", t,
		    status != NULL ? status : "in no state");
	else if (billing == NULL || strcmp(billing, "PAY_PER_REQUEST") != 0) {
		snprintf(fix, sizeof(fix), "aws dynamodb update-table --table-name %s --billing-mode PAY_PER_REQUEST",
		         t);
		say(d, FAIL, "table", fix,
		    "%s billing mode is %s, not on-demand (PAY_PER_REQUEST): bursts get throttled", t,
		    billing != NULL ? billing : "PROVISIONED");
	} else {
		/* No SSEDescription: encrypted with an AWS owned key, which DynamoDB always does. */
		say(d, OK, "table", NULL, "%s ACTIVE, on-demand, encrypted at rest (%s)", t,
		    sse != NULL ? "KMS" : "AWS owned key");
	}
	json_decref(j);

	read_call(d, TXP_AWS_DYNAMODB, "DescribeContinuousBackups", json_req(json_pack("{s:s}", "TableName", t)), &b);
	if (b.kind == TXP_AWS_OK) {
		json_t *k = b.body != NULL ? json_loads(b.body, 0, NULL) : NULL;
		const char *pitr = json_string_value(
		        json_object_get(json_object_get(json_object_get(k, "ContinuousBackupsDescription"),
		                                        "PointInTimeRecoveryDescription"),
		                        "PointInTimeRecoveryStatus"));
		snprintf(fix, sizeof(fix),
		         "txpipectl provision enables it (or aws dynamodb update-continuous-backups "
		         "--table-name %s --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true)",
		         t);
		if (pitr != NULL && strcmp(pitr, "ENABLED") == 0)
			say(d, OK, "table PITR", NULL, "point-in-time recovery on");
		else
			say(d, FAIL, "table PITR", fix, "point-in-time recovery is %s", pitr != NULL ? pitr : "off");
		json_decref(k);
	} else if (unsupported(&b)) {
		say(d, WARN, "table PITR", "none at a test endpoint",
		    "the endpoint does not support DescribeContinuousBackups");
	} else {
		say_call_failed(d, "table PITR", "DescribeContinuousBackups", "dynamodb", &b);
	}
	free(b.body);

	if (d->cfg.compliance.retention_days == 0)
		return;
	read_call(d, TXP_AWS_DYNAMODB, "DescribeTimeToLive", json_req(json_pack("{s:s}", "TableName", t)), &b);
	if (b.kind == TXP_AWS_OK) {
		json_t *k = b.body != NULL ? json_loads(b.body, 0, NULL) : NULL;
		json_t *td = json_object_get(k, "TimeToLiveDescription");
		const char *st = json_string_value(json_object_get(td, "TimeToLiveStatus"));
		const char *attr = json_string_value(json_object_get(td, "AttributeName"));
		if (st != NULL && (strcmp(st, "ENABLED") == 0 || strcmp(st, "ENABLING") == 0) && attr != NULL &&
		    strcmp(attr, TTL_ATTRIBUTE) == 0)
			say(d, OK, "table TTL", NULL, "on %s (retention_days %u)", TTL_ATTRIBUTE,
			    (unsigned)d->cfg.compliance.retention_days);
		else
			say(d, FAIL, "table TTL", "txpipectl provision enables TTL on " TTL_ATTRIBUTE,
			    "TTL is %s%s%s: records outlive retention_days", st != NULL ? st : "off",
			    attr != NULL ? " on " : "", attr != NULL ? attr : "");
		json_decref(k);
	} else if (unsupported(&b)) {
		say(d, WARN, "table TTL", "none at a test endpoint",
		    "the endpoint does not support DescribeTimeToLive");
	} else {
		say_call_failed(d, "table TTL", "DescribeTimeToLive", "dynamodb", &b);
	}
	free(b.body);
}

static void check_topic(struct doctor *d, const struct txp_aws_reply *r)
{
	const char *p, *inner;
	size_t n;
	char key[64], value[256];
	bool kms = false;

	if (r == NULL) {
		say(d, OK, "topic", NULL, "[sns] topic_arn is empty: alerts are off");
		return;
	}
	if (r->kind != TXP_AWS_OK) {
		if (strcmp(r->code, "NotFound") == 0 || strcmp(r->code, "NotFoundException") == 0)
			say(d, FAIL, "topic", "create it: txpipectl provision", "%s does not exist",
			    d->cfg.sns.topic_arn);
		else
			say_call_failed(d, "topic", "GetTopicAttributes", "sns", r);
		return;
	}
	p = r->body;
	while (p != NULL &&
	       (p = txp_aws_xml_find(p, r->body_len - (size_t)(p - r->body), "entry", &inner, &n)) != NULL) {
		txp_aws_xml_text(inner, n, "key", key, sizeof(key));
		txp_aws_xml_text(inner, n, "value", value, sizeof(value));
		if (strcmp(key, "KmsMasterKeyId") == 0 && value[0] != '\0')
			kms = true;
	}
	if (kms)
		say(d, OK, "topic", NULL, "%s exists, KMS-encrypted", d->cfg.sns.topic_arn);
	else
		say(d, FAIL, "topic",
		    "aws sns set-topic-attributes --topic-arn ARN --attribute-name KmsMasterKeyId --attribute-value alias/aws/sns",
		    "%s has no KmsMasterKeyId: alerts are not encrypted at rest", d->cfg.sns.topic_arn);
}

/* The queue's settings; returns its depth (-1 when unknown) for the DLQ check. */
static long check_queue(struct doctor *d, const struct txp_aws_reply *r)
{
	json_t *j, *a;
	const char *ret, *sse, *kms, *depth;
	long n = -1;
	char fix[1200];

	if (r == NULL) {
		say(d, WARN, "queue", "set [sqs] queue_url (txpipectl provision creates the queue)",
		    "[sqs] queue_url is empty: failures are held in memory only");
		return -1;
	}
	if (r->kind != TXP_AWS_OK) {
		if (strcmp(r->code, "QueueDoesNotExist") == 0 || strstr(r->code, "NonExistentQueue") != NULL)
			say(d, FAIL, "queue", "create it: txpipectl provision", "%s does not exist",
			    d->cfg.sqs.queue_url);
		else
			say_call_failed(d, "queue", "GetQueueAttributes", "sqs", r);
		return -1;
	}
	j = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
	a = json_object_get(j, "Attributes");
	ret = json_string_value(json_object_get(a, "MessageRetentionPeriod"));
	sse = json_string_value(json_object_get(a, "SqsManagedSseEnabled"));
	kms = json_string_value(json_object_get(a, "KmsMasterKeyId"));
	depth = json_string_value(json_object_get(a, "ApproximateNumberOfMessages"));
	if (depth != NULL)
		n = strtol(depth, NULL, 10);
	if (ret == NULL || strcmp(ret, DLQ_RETENTION_S) != 0) {
		snprintf(
		        fix, sizeof(fix),
		        "aws sqs set-queue-attributes --queue-url %s --attributes MessageRetentionPeriod=" DLQ_RETENTION_S,
		        d->cfg.sqs.queue_url);
		say(d, FAIL, "queue", fix,
		    "retention is %s s, not " DLQ_RETENTION_S " (14 days): dead letters expire sooner",
		    ret != NULL ? ret : "unknown");
	} else if ((sse == NULL || strcmp(sse, "true") != 0) && (kms == NULL || kms[0] == '\0')) {
		snprintf(fix, sizeof(fix),
		         "aws sqs set-queue-attributes --queue-url %s --attributes SqsManagedSseEnabled=true",
		         d->cfg.sqs.queue_url);
		say(d, FAIL, "queue", fix, "server-side encryption is off");
	} else {
		say(d, OK, "queue", NULL, "%s: retention 14 days, encrypted", d->cfg.sqs.queue_url);
	}
	json_decref(j);
	return n;
}

static void check_iam(struct doctor *d)
{
	if (d->denied[0] != '\0')
		say(d, FAIL, "iam", "allow them to these credentials (conf/iam-policy-operator.json)", "denied: %s",
		    d->denied);
	else if (d->proven[0] != '\0')
		say(d, OK, "iam", NULL, "allowed (proved by reading): %s", d->proven);
	/* DynamoDB, SNS and SQS have no dry run for writes: only a write would
	 * prove them, and doctor writes nothing. */
	fprintf(d->out,
	        "      %-17s not checked (no dry run without writing): dynamodb:BatchWriteItem, sns:Publish, "
	        "sqs:SendMessage of the daemon's role (conf/iam-policy.json); a denial shows in its log as "
	        "dead_letter ... error=AccessDeniedException (dlq_unavailable when SQS denies) and in `txpipectl stats` "
	        "as aws fatal\n",
	        "");
}

/* ---- the journal and the DLQ ---------------------------------------------------------------------------- */

static void journal_dir_size(const char *dir, uint64_t *bytes, unsigned *files)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;

	*bytes = 0;
	*files = 0;
	if (dp == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			*bytes += (uint64_t)st.st_size;
			(*files)++;
		}
	}
	closedir(dp);
}

static void check_journal(struct doctor *d)
{
	json_t *jn = json_object_get(d->daemon_stats, "journal");
	json_t *dl = json_object_get(d->daemon_stats, "delivery");
	static const char fix_backlog[] =
	        "deliveries are not keeping up: read the log for aws_call_failed, throttled and retry_budget_exhausted, "
	        "and see TROUBLESHOOTING in txpiped(8)";

	if (d->daemon_stats == NULL) {
		uint64_t bytes;
		unsigned files;
		if (d->cfg.journal.dir == NULL || d->cfg.journal.dir[0] == '\0') {
			say(d, OK, "journal", NULL, "no journal configured");
			return;
		}
		journal_dir_size(d->cfg.journal.dir, &bytes, &files);
		say(d, WARN, "journal", "start the daemon: it delivers what it left undelivered",
		    "daemon not running: %s holds %" PRIu64 " bytes in %u file(s)", d->cfg.journal.dir, bytes, files);
		return;
	}
	if (jn == NULL) {
		say(d, OK, "journal", NULL, "the daemon runs without a journal");
		return;
	}
	if (json_is_true(json_object_get(jn, "full")))
		say(d, FAIL, "journal", "free space on the journal's file system, or fix delivery (below)",
		    "full: new transactions are refused (journal_full)");
	else if (json_is_true(json_object_get(dl, "congested")))
		say(d, FAIL, "journal", fix_backlog, "delivery congested: %" JSON_INTEGER_FORMAT " undelivered records",
		    json_integer_value(json_object_get(jn, "undelivered")));
	else if (json_is_true(json_object_get(jn, "low_space")))
		say(d, WARN, "journal", "free space on the journal's file system",
		    "less than reserve_bytes free (journal_space_low)");
	else
		say(d, OK, "journal", NULL,
		    "%" JSON_INTEGER_FORMAT " undelivered record(s), %" JSON_INTEGER_FORMAT " bytes",
		    json_integer_value(json_object_get(jn, "undelivered")),
		    json_integer_value(json_object_get(jn, "disk_bytes")));
}

static void check_dlq(struct doctor *d, long depth)
{
	if (depth < 0)
		return;
	if (depth > 0)
		say(d, FAIL, "dlq", "see why with `txpipectl dlq list`, fix the cause, then `txpipectl dlq redrive`",
		    "about %ld dead-lettered message(s): decisions not stored or alerts not sent", depth);
	else
		say(d, OK, "dlq", NULL, "empty");
}

/* ---- entry ------------------------------------------------------------------------------------------------ */

/* Returns the DLQ's depth, -1 when unknown. */
static long check_aws(struct doctor *d)
{
	struct txp_aws_reply table, topic, queue;
	bool has_topic = d->cfg.sns.topic_arn[0] != '\0', has_queue = d->cfg.sqs.queue_url[0] != '\0';
	const struct txp_aws_reply *dated = NULL;
	char err[1024];
	long depth = -1;

	memset(&topic, 0, sizeof(topic));
	memset(&queue, 0, sizeof(queue));
	txp_aws_settings_from_config(&d->cfg, &d->settings);
	if (txp_aws_session_open(&d->s, &d->settings, err, sizeof(err)) < 0) {
		/* The chain fails at creation when no source can ever give
		 * credentials (none set, IMDS off): that is the credentials check. */
		if (strstr(err, "credentials") != NULL)
			say(d, FAIL, "credentials", NO_CREDENTIALS_FIX, "%s", err);
		else
			say(d, FAIL, "aws", "correct [aws] in the configuration", "%s", err);
		fprintf(d->out, "      %-17s the AWS checks need an AWS client: skipped\n", "");
		return -1;
	}
	/* The first call resolves the credential chain; its answer proves the endpoint, carries the server's Date. */
	read_call(d, TXP_AWS_DYNAMODB, "DescribeTable",
	          json_req(json_pack("{s:s}", "TableName", d->cfg.dynamodb.table)), &table);
	check_credentials(d, &table);
	if (strcmp(table.code, "no_credentials") == 0) {
		fprintf(d->out, "      %-17s the AWS checks need credentials: skipped\n", "");
		free(table.body);
		return -1;
	}
	if (has_topic)
		read_call(d, TXP_AWS_SNS, "GetTopicAttributes", form_topic(d->cfg.sns.topic_arn), &topic);
	if (has_queue)
		read_call(d, TXP_AWS_SQS, "GetQueueAttributes",
		          json_req(json_pack("{s:s,s:[s]}", "QueueUrl", d->cfg.sqs.queue_url, "AttributeNames", "All")),
		          &queue);
	dated = table.date[0] != '\0' ? &table : topic.date[0] != '\0' ? &topic : queue.date[0] != '\0' ? &queue : NULL;
	check_clock(d, dated);
	check_endpoint(d, TXP_AWS_DYNAMODB, &table);
	check_endpoint(d, TXP_AWS_SNS, has_topic ? &topic : NULL);
	check_endpoint(d, TXP_AWS_SQS, has_queue ? &queue : NULL);
	if (!credentials_error(&table)) {
		check_table(d, &table);
		check_topic(d, has_topic ? &topic : NULL);
		depth = check_queue(d, has_queue ? &queue : NULL);
		check_iam(d);
	}
	free(table.body);
	free(topic.body);
	free(queue.body);
	return depth;
}

int txp_doctor_run(const char *config_path, const char *socket_path, FILE *out)
{
	struct doctor d = { .out = out, .config_path = config_path };
	long depth;

	if (!check_config(&d))
		goto out;
	/* The AWS client's own warnings would interleave with the report. */
	txp_log_setup(TXP_LOG_ERR, (enum txp_log_format)d.cfg.log.format);
	check_key(&d, "card key", d.cfg.compliance.card_token_key_file);
	check_key(&d, "pseudonym key", d.cfg.compliance.pseudonym_key_file);
	check_socket(&d, socket_path);
	depth = check_aws(&d);
	check_journal(&d);
	check_dlq(&d, depth);
out:
	fprintf(out, "%d check(s) failed, %d warning(s)\n", d.failures, d.warnings);
	json_decref(d.daemon_stats);
	txp_aws_session_close(d.s);
	if (d.cfg_loaded)
		txp_config_free(&d.cfg);
	return d.failures > 0 ? 1 : 0;
}
