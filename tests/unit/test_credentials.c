/* test_credentials.c: environment, file and IMDSv2 credential providers, the chain, and refresh timing. */
#include "txp_build_config.h"

#include "txpipe/aws/credentials.h"

#include "loopback_http.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- a fake environment (getenv has no context argument) ------------------ */

static const char *fake_env[16][2];

static char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < 16 && fake_env[i][0] != NULL; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return (char *)fake_env[i][1];
	return NULL;
}

static void env_set(const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < 15 && fake_env[i][0] != NULL; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			break;
	fake_env[i][0] = name;
	fake_env[i][1] = value;
}

static void env_clear(void)
{
	memset(fake_env, 0, sizeof(fake_env));
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes `text` to a fresh temporary file; returns its path (static). */
static const char *temp_file(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/txp-creds-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* --- pure helpers --------------------------------------------------------- */

START_TEST(refresh_is_scheduled_within_the_window_before_expiry)
{
	const struct txp_creds_refresh_policy p = { 0 }; /* defaults: 5..15 min before, retry from 1 s */
	const int64_t now = 1700000000000LL, hour = 3600 * 1000;

	ck_assert_uint_eq(txp_creds_refresh_delay_ms(&p, now, now + 6 * hour, 0), 6 * hour - 5 * 60 * 1000);
	ck_assert_uint_eq(txp_creds_refresh_delay_ms(&p, now, now + 6 * hour, 10 * 60 * 1000),
	                  6 * hour - 15 * 60 * 1000);
	for (uint32_t r = 0; r < 100000; r += 9973) {
		uint64_t d = txp_creds_refresh_delay_ms(&p, now, now + 6 * hour, r * 7919u);
		ck_assert_uint_ge(d, 6 * hour - 15 * 60 * 1000);
		ck_assert_uint_le(d, 6 * hour - 5 * 60 * 1000);
	}
	/* Inside the window: half the remaining life. */
	ck_assert_uint_eq(txp_creds_refresh_delay_ms(&p, now, now + 4 * 60 * 1000, 0), 2 * 60 * 1000);
	/* Expired or nearly: no sooner than the retry floor. */
	ck_assert_uint_eq(txp_creds_refresh_delay_ms(&p, now, now - 1000, 0), 1000);
	ck_assert_uint_eq(txp_creds_refresh_delay_ms(&p, now, now + 500, 0), 1000);
}
END_TEST

START_TEST(retry_backoff_doubles_up_to_the_cap_with_jitter)
{
	const struct txp_creds_refresh_policy p = { .retry_min_ms = 100, .retry_max_ms = 1000 };

	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 1, 0), 50);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 1, 50), 100);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 2, 0), 100);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 3, 0), 200);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 5, 0), 500);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 5, 500), 1000);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 40, 0), 500);
	ck_assert_uint_eq(txp_creds_retry_delay_ms(&p, 4000000000u, 0), 500);
	for (uint32_t r = 0; r < 5000; r += 7)
		ck_assert_uint_le(txp_creds_retry_delay_ms(&p, 9, r * 104729u), 1000);
}
END_TEST

START_TEST(creds_need_id_and_secret_and_free_is_null_safe)
{
	struct txp_aws_creds *c = txp_aws_creds_create("AKIDEXAMPLE", "secret", "", 5);

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->session_token);
	ck_assert_int_eq(c->expiration_ms, 5);
	txp_aws_creds_free(c);
	ck_assert_ptr_null(txp_aws_creds_create("", "secret", NULL, 0));
	ck_assert_ptr_null(txp_aws_creds_create("AKID", NULL, NULL, 0));
	txp_aws_creds_free(NULL);
}
END_TEST
/* The role name becomes a URL path segment: only IAM's characters pass.
 * A NUL byte once passed (strchr finds the terminator), giving an empty or
 * cut role name (found by tests/fuzz/fuzz_imds). */
START_TEST(imds_role_list_accepts_only_iam_role_characters)
{
	char role[65];

	ck_assert_int_eq(txp_creds_imds_parse_role("txpipe-role_1+=,.@x\nother\n", 26, role, sizeof(role)), 0);
	ck_assert_str_eq(role, "txpipe-role_1+=,.@x");
	ck_assert_int_eq(txp_creds_imds_parse_role("\0\0a\n", 4, role, sizeof(role)), -EPROTO);
	ck_assert_int_eq(txp_creds_imds_parse_role("ab\0c", 4, role, sizeof(role)), -EPROTO);
	ck_assert_int_eq(txp_creds_imds_parse_role("a/b", 3, role, sizeof(role)), -EPROTO);
	ck_assert_int_eq(txp_creds_imds_parse_role("\n", 1, role, sizeof(role)), -ENOENT);
	ck_assert_int_eq(txp_creds_imds_parse_role("abcd", 4, role, 4), -EPROTO);
}
END_TEST

/* --- environment and file ------------------------------------------------- */

static int closed_count;

static void count_close(struct txp_creds_provider *p, void *data)
{
	closed_count++;
}

START_TEST(environment_provider_reads_the_variables_once)
{
	struct txp_creds_provider *p;
	const struct txp_aws_creds *c;
	char err[256];

	env_clear();
	env_set("AWS_ACCESS_KEY_ID", "AKIAENV00000001");
	env_set("AWS_SECRET_ACCESS_KEY", "envsecret");
	env_set("AWS_SESSION_TOKEN", "envtoken");
	ck_assert_int_eq(txp_creds_env_create(fake_getenv, &p, err, sizeof(err)), 0);
	env_set("AWS_ACCESS_KEY_ID", "AKIACHANGED");
	c = txp_creds_current(p);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->access_key_id, "AKIAENV00000001");
	ck_assert_str_eq(c->secret_access_key, "envsecret");
	ck_assert_str_eq(c->session_token, "envtoken");
	ck_assert_int_eq(c->expiration_ms, 0);
	ck_assert_str_eq(txp_creds_source(p), "environment");
	txp_creds_invalidate(p);
	ck_assert_str_eq(txp_creds_current(p)->access_key_id, "AKIAENV00000001");
	closed_count = 0;
	txp_creds_close(p, count_close, NULL);
	ck_assert_int_eq(closed_count, 1);
	txp_creds_close(NULL, NULL, NULL);
}
END_TEST

START_TEST(environment_provider_without_a_secret_has_no_credentials)
{
	struct txp_creds_provider *p;
	char err[256];

	env_clear();
	env_set("AWS_ACCESS_KEY_ID", "AKIAENV00000001");
	ck_assert_int_eq(txp_creds_env_create(fake_getenv, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(txp_creds_current(p));
	ck_assert_str_eq(txp_creds_source(p), "none");
	txp_creds_close(p, NULL, NULL);
}
END_TEST

static const char two_profiles[] = "# shared credentials\n"
                                   "[default]\n"
                                   "aws_access_key_id = AKIADEFAULT0001\n"
                                   "aws_secret_access_key = defaultsecret\n"
                                   "\n"
                                   "[work]\n"
                                   "aws_access_key_id=AKIAWORK00000002\n"
                                   "aws_secret_access_key=worksecret\n"
                                   "aws_session_token=worktoken\n"
                                   "region=eu-west-1\n";

static const char *file_key(const char *path, const char *profile, const char *aws_profile)
{
	static char id[64];
	struct txp_creds_options o = { .getenv_fn = fake_getenv, .credentials_file = path, .profile = profile };
	struct txp_creds_provider *p;
	const struct txp_aws_creds *c;
	char err[256];

	env_clear();
	if (aws_profile != NULL)
		env_set("AWS_PROFILE", aws_profile);
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), 0);
	c = txp_creds_current(p);
	snprintf(id, sizeof(id), "%s", c != NULL ? c->access_key_id : "(none)");
	txp_creds_close(p, NULL, NULL);
	return id;
}

START_TEST(file_provider_picks_the_profile_configured_then_aws_profile_then_default)
{
	const char *path = temp_file(two_profiles);

	ck_assert_str_eq(file_key(path, NULL, NULL), "AKIADEFAULT0001");
	ck_assert_str_eq(file_key(path, NULL, "work"), "AKIAWORK00000002");
	ck_assert_str_eq(file_key(path, "work", "default"), "AKIAWORK00000002");
	ck_assert_str_eq(file_key(path, "default", "work"), "AKIADEFAULT0001");
	ck_assert_str_eq(file_key(path, "absent", NULL), "(none)");
	unlink(path);
}
END_TEST

START_TEST(file_provider_reads_token_and_finds_the_file_from_env_or_home)
{
	char dir[] = "/tmp/txp-home-XXXXXX", awsdir[128], path[160], err[256];
	struct txp_creds_options o = { .getenv_fn = fake_getenv };
	struct txp_creds_provider *p;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(awsdir, sizeof(awsdir), "%s/.aws", dir);
	ck_assert_int_eq(mkdir(awsdir, 0700), 0);
	snprintf(path, sizeof(path), "%s/credentials", awsdir);
	f = fopen(path, "w");
	fputs(two_profiles, f);
	fclose(f);

	env_clear();
	env_set("HOME", dir);
	env_set("AWS_PROFILE", "work");
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(txp_creds_current(p)->session_token, "worktoken");
	ck_assert_str_eq(txp_creds_source(p), "shared-credentials-file");
	txp_creds_close(p, NULL, NULL);

	env_clear();
	env_set("HOME", "/nonexistent-home");
	env_set("AWS_SHARED_CREDENTIALS_FILE", path);
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(txp_creds_current(p)->access_key_id, "AKIADEFAULT0001");
	ck_assert_ptr_null(txp_creds_current(p)->session_token);
	txp_creds_close(p, NULL, NULL);

	unlink(path);
	rmdir(awsdir);
	rmdir(dir);
}
END_TEST

START_TEST(missing_file_means_no_credentials_and_no_error)
{
	struct txp_creds_options o = { .getenv_fn = fake_getenv, .credentials_file = "/nonexistent/credentials" };
	struct txp_creds_provider *p;
	char err[256];

	env_clear();
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(txp_creds_current(p));
	txp_creds_close(p, NULL, NULL);
	/* No HOME either: nothing to read. */
	o.credentials_file = NULL;
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(txp_creds_current(p));
	txp_creds_close(p, NULL, NULL);
}
END_TEST

START_TEST(malformed_file_or_half_a_key_pair_is_an_error_naming_the_file)
{
	struct txp_creds_options o = { .getenv_fn = fake_getenv };
	struct txp_creds_provider *p = NULL;
	char err[256], want[128];
	const char *path;

	env_clear();
	path = temp_file("[default]\naws_access_key_id = AKIA1\nthis line is not ini\n");
	o.credentials_file = path;
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3:", path);
	ck_assert_ptr_nonnull(strstr(err, want));
	unlink(path);

	path = temp_file("[default]\naws_access_key_id = AKIA1\n");
	o.credentials_file = path;
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "aws_secret_access_key"));
	ck_assert_ptr_null(strstr(err, "AKIA1"));
	unlink(path);
}
END_TEST

START_TEST(a_fifo_or_directory_as_credentials_file_is_an_error_at_once)
{
	struct txp_creds_options o = { .getenv_fn = fake_getenv };
	struct txp_creds_provider *p = NULL;
	char err[256], dir[] = "/tmp/txp-creds-XXXXXX", fifo[64], want[128];

	env_clear();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/credentials", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	/* Without O_NONBLOCK the open would wait for a writer: the test would time out. */
	o.credentials_file = fifo;
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: is a FIFO, not a regular file", fifo);
	ck_assert_str_eq(err, want);
	o.credentials_file = dir;
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: is a directory, not a regular file", dir);
	ck_assert_str_eq(err, want);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

static int file_changes;

static void on_file_change(struct txp_creds_provider *p, int status, void *data)
{
	ck_assert_int_eq(status, 0);
	file_changes++;
}

START_TEST(invalidate_rereads_the_file)
{
	struct txp_creds_options o = { .getenv_fn = fake_getenv };
	struct txp_creds_provider *p;
	char err[256];
	const char *path = temp_file(two_profiles);
	FILE *f;

	env_clear();
	o.credentials_file = path;
	ck_assert_int_eq(txp_creds_file_create(&o, &p, err, sizeof(err)), 0);
	txp_creds_on_change(p, on_file_change, NULL);
	f = fopen(path, "w");
	fputs("[default]\naws_access_key_id=AKIAROTATED0003\naws_secret_access_key=new\n", f);
	fclose(f);
	ck_assert_str_eq(txp_creds_current(p)->access_key_id, "AKIADEFAULT0001");
	txp_creds_invalidate(p);
	ck_assert_str_eq(txp_creds_current(p)->access_key_id, "AKIAROTATED0003");
	ck_assert_int_eq(file_changes, 1);
	txp_creds_close(p, NULL, NULL);
	unlink(path);
}
END_TEST

/* --- a scripted instance metadata service --------------------------------- */

struct imds_sim {
	char role[64];
	char token[64]; /* the token IMDS currently accepts ("" after a restart) */
	unsigned token_gen;
	char key_id[32], secret[32];
	int64_t exp_ms;
	uint64_t creds_delay_ms;
	bool swap_role_after_list; /* list the old role, then move to next_role */
	char next_role[64];
	bool reject_all; /* 401 to every GET, even with a fresh token */
	unsigned puts, role_gets, creds_gets, unauthorized, not_found;
	bool ttl_ok, token_sent_on_put;
	char last_creds_path[1024];
	char served_while_fetching[32]; /* what the provider served when a later credentials GET arrived */
};

struct fixture {
	uv_loop_t loop;
	struct lb_server *srv;
	struct txp_http *http;
	struct txp_creds_provider *p;
	struct imds_sim sim;
	struct txp_creds_options opts;
	char endpoint[64];
	int ok, failed, last_err;
	char keys[8][32]; /* key served after each successful change */
	void (*script)(struct fixture *f, int status);
	int step;
	bool stopped;
	int p_closed;
};

static void format_time(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

static void imds_handler(struct lb_conn *c, const struct lb_request *req, void *data)
{
	struct fixture *f = data;
	struct imds_sim *s = &f->sim;
	const char *prefix = "/latest/meta-data/iam/security-credentials/";
	char tok[128], body[512], exp[40];

	if (strcmp(req->method, "PUT") == 0 && strcmp(req->path, "/latest/api/token") == 0) {
		s->puts++;
		s->ttl_ok = lb_header(req, "X-aws-ec2-metadata-token-ttl-seconds", tok, sizeof(tok)) != NULL &&
		            strcmp(tok, "21600") == 0;
		s->token_sent_on_put = lb_header(req, "X-aws-ec2-metadata-token", tok, sizeof(tok)) != NULL;
		snprintf(s->token, sizeof(s->token), "token-%u", ++s->token_gen);
		lb_respond(c, 200, "Content-Type: text/plain\r\n", s->token);
		return;
	}
	if (strcmp(req->method, "GET") != 0 || strncmp(req->path, prefix, strlen(prefix)) != 0) {
		lb_respond(c, 404, NULL, NULL);
		return;
	}
	if (s->reject_all || lb_header(req, "X-aws-ec2-metadata-token", tok, sizeof(tok)) == NULL ||
	    s->token[0] == '\0' || strcmp(tok, s->token) != 0) {
		s->unauthorized++;
		lb_respond(c, 401, NULL, NULL);
		return;
	}
	if (strcmp(req->path, prefix) == 0) {
		s->role_gets++;
		snprintf(body, sizeof(body), "%s\n", s->role);
		if (s->swap_role_after_list) {
			s->swap_role_after_list = false;
			snprintf(s->role, sizeof(s->role), "%s", s->next_role);
		}
		lb_respond(c, 200, NULL, body);
		return;
	}
	snprintf(s->last_creds_path, sizeof(s->last_creds_path), "%s", req->path);
	if (strcmp(req->path + strlen(prefix), s->role) != 0) {
		s->not_found++;
		lb_respond(c, 404, NULL, NULL);
		return;
	}
	if (++s->creds_gets > 1) {
		const struct txp_aws_creds *cur = txp_creds_current(f->p);
		snprintf(s->served_while_fetching, sizeof(s->served_while_fetching), "%s",
		         cur != NULL ? cur->access_key_id : "(none)");
	}
	format_time(s->exp_ms, exp, sizeof(exp));
	snprintf(body, sizeof(body),
	         "{\"Code\":\"Success\",\"LastUpdated\":\"2024-01-01T00:00:00Z\",\"Type\":\"AWS-HMAC\","
	         "\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Token\":\"session-%s\",\"Expiration\":"
	         "\"%s\"}",
	         s->key_id, s->secret, s->key_id, exp);
	if (s->creds_delay_ms > 0)
		lb_respond_later(c, s->creds_delay_ms, 200, "Content-Type: text/plain\r\n", body);
	else
		lb_respond(c, 200, "Content-Type: text/plain\r\n", body);
}

static void on_provider_closed(struct txp_creds_provider *p, void *data)
{
	struct fixture *f = data;

	f->p_closed++;
}

static void stop(struct fixture *f)
{
	if (f->stopped)
		return;
	f->stopped = true;
	/* Dependents first: the provider, then the HTTP client it uses. */
	txp_creds_close(f->p, on_provider_closed, f);
	txp_http_close(f->http, NULL, NULL);
	if (f->srv != NULL)
		lb_server_close(f->srv);
	f->srv = NULL;
}

static void on_change(struct txp_creds_provider *p, int status, void *data)
{
	struct fixture *f = data;
	const struct txp_aws_creds *c = txp_creds_current(p);

	if (status == 0) {
		ck_assert_ptr_nonnull(c);
		ck_assert_int_lt(f->ok, 8);
		snprintf(f->keys[f->ok], sizeof(f->keys[f->ok]), "%s", c->access_key_id);
		f->ok++;
	} else {
		f->failed++;
		f->last_err = status;
	}
	f->script(f, status);
}

static void sim_keys(struct imds_sim *s, const char *id, const char *secret, int64_t exp_ms)
{
	snprintf(s->key_id, sizeof(s->key_id), "%s", id);
	snprintf(s->secret, sizeof(s->secret), "%s", secret);
	s->exp_ms = exp_ms;
}

/* Sets up the loop, the server (unless no_server) and the HTTP client;
 * credentials come from IMDS only (empty environment, no file). */
static void setup_imds(struct fixture *f, void (*script)(struct fixture *, int), bool no_server)
{
	char err[256];

	memset(f, 0, sizeof(*f));
	env_clear();
	f->script = script;
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	if (no_server) {
		snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%d/", lb_free_port());
	} else {
		ck_assert_int_eq(lb_server_start(&f->loop, imds_handler, f, &f->srv), 0);
		snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%d", lb_server_port(f->srv));
	}
	ck_assert_int_eq(txp_http_create(&f->loop, NULL, &f->http, err, sizeof(err)), 0);
	snprintf(f->sim.role, sizeof(f->sim.role), "txpipe-role");
	sim_keys(&f->sim, "ASIAFIRST0000001", "firstsecret", wall_ms() + 3600 * 1000);
	f->opts = (struct txp_creds_options){
		.getenv_fn = fake_getenv,
		.credentials_file = "/nonexistent/credentials",
		.imds_endpoint = f->endpoint,
		.imds_timeout_ms = 1000,
		.refresh = { .retry_min_ms = 50, .retry_max_ms = 200 },
	};
}

static void start_chain(struct fixture *f)
{
	char err[256];

	ck_assert_int_eq(txp_creds_chain_create(&f->loop, f->http, &f->opts, &f->p, err, sizeof(err)), 0);
	txp_creds_on_change(f->p, on_change, f);
	/* Nothing can have arrived yet: the fetch is asynchronous. */
	ck_assert_ptr_null(txp_creds_current(f->p));
}

static void run_to_end(struct fixture *f)
{
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(f->p_closed, 1);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void script_stop_at_first(struct fixture *f, int status)
{
	stop(f);
}

START_TEST(imds_happy_path_uses_a_session_token_and_the_role)
{
	struct fixture f;

	setup_imds(&f, script_stop_at_first, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 1);
	ck_assert_int_eq(f.failed, 0);
	ck_assert_str_eq(f.keys[0], "ASIAFIRST0000001");
	ck_assert_uint_eq(f.sim.puts, 1);
	ck_assert(f.sim.ttl_ok);
	ck_assert(!f.sim.token_sent_on_put);
	ck_assert_uint_eq(f.sim.role_gets, 1);
	ck_assert_uint_eq(f.sim.creds_gets, 1);
	ck_assert_uint_eq(f.sim.unauthorized, 0);
	ck_assert_str_eq(f.sim.last_creds_path, "/latest/meta-data/iam/security-credentials/txpipe-role");
}
END_TEST

/* Checks the full credentials inside the listener, where they are valid. */
static void script_check_fields(struct fixture *f, int status)
{
	const struct txp_aws_creds *c = txp_creds_current(f->p);

	ck_assert_int_eq(status, 0);
	ck_assert_str_eq(c->access_key_id, "ASIAFIRST0000001");
	ck_assert_str_eq(c->secret_access_key, "firstsecret");
	ck_assert_str_eq(c->session_token, "session-ASIAFIRST0000001");
	ck_assert_int_eq(c->expiration_ms, f->sim.exp_ms);
	ck_assert_str_eq(txp_creds_source(f->p), "imds");
	stop(f);
}

START_TEST(imds_credentials_carry_secret_token_and_expiration)
{
	struct fixture f;

	setup_imds(&f, script_check_fields, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 1);
}
END_TEST

static void script_token_expiry(struct fixture *f, int status)
{
	ck_assert_int_eq(status, 0);
	if (f->ok == 1) {
		/* IMDS forgets the session token; keys rotate meanwhile. */
		f->sim.token[0] = '\0';
		sim_keys(&f->sim, "ASIASECOND000002", "secondsecret", wall_ms() + 3600 * 1000);
		txp_creds_invalidate(f->p);
		/* Invalidating again while the refresh is running changes nothing. */
		txp_creds_invalidate(f->p);
		ck_assert_str_eq(txp_creds_current(f->p)->access_key_id, "ASIAFIRST0000001");
		return;
	}
	stop(f);
}

START_TEST(imds_401_on_get_fetches_a_new_token_and_retries_once)
{
	struct fixture f;

	setup_imds(&f, script_token_expiry, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 2);
	ck_assert_int_eq(f.failed, 0);
	ck_assert_str_eq(f.keys[1], "ASIASECOND000002");
	ck_assert_uint_eq(f.sim.puts, 2);
	ck_assert_uint_eq(f.sim.unauthorized, 1);
	ck_assert_uint_eq(f.sim.role_gets, 2);
}
END_TEST

static void script_reject_all(struct fixture *f, int status)
{
	if (f->ok == 1 && f->failed == 0) {
		f->sim.reject_all = true;
		txp_creds_invalidate(f->p);
		return;
	}
	stop(f);
}

START_TEST(imds_token_rejected_twice_fails_the_refresh_and_keeps_old_credentials)
{
	struct fixture f;

	setup_imds(&f, script_reject_all, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 1);
	ck_assert_int_eq(f.failed, 1);
	ck_assert_int_eq(f.last_err, -EPROTO);
	ck_assert_uint_eq(f.sim.puts, 2);
	ck_assert_uint_eq(f.sim.unauthorized, 2);
}
END_TEST

static void script_role_change(struct fixture *f, int status)
{
	ck_assert_int_eq(status, 0);
	if (f->ok == 1) {
		snprintf(f->sim.role, sizeof(f->sim.role), "txpipe-role-v2");
		sim_keys(&f->sim, "ASIAROLEB0000003", "rolebsecret", wall_ms() + 3600 * 1000);
		txp_creds_invalidate(f->p);
		return;
	}
	stop(f);
}

START_TEST(imds_role_change_is_followed)
{
	struct fixture f;

	setup_imds(&f, script_role_change, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 2);
	ck_assert_str_eq(f.keys[1], "ASIAROLEB0000003");
	ck_assert_str_eq(f.sim.last_creds_path, "/latest/meta-data/iam/security-credentials/txpipe-role-v2");
	ck_assert_uint_eq(f.sim.not_found, 0);
}
END_TEST

static void script_role_swapped_midway(struct fixture *f, int status)
{
	ck_assert_int_eq(status, 0);
	if (f->ok == 1) {
		f->sim.swap_role_after_list = true;
		snprintf(f->sim.next_role, sizeof(f->sim.next_role), "txpipe-role-v3");
		sim_keys(&f->sim, "ASIAROLEC0000004", "rolecsecret", wall_ms() + 3600 * 1000);
		txp_creds_invalidate(f->p);
		return;
	}
	stop(f);
}

START_TEST(imds_role_swapped_between_requests_is_read_again)
{
	struct fixture f;

	setup_imds(&f, script_role_swapped_midway, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 2);
	ck_assert_int_eq(f.failed, 0);
	ck_assert_str_eq(f.keys[1], "ASIAROLEC0000004");
	ck_assert_uint_eq(f.sim.not_found, 1);
	ck_assert_uint_eq(f.sim.role_gets, 3);
}
END_TEST

static void script_rotation(struct fixture *f, int status)
{
	ck_assert_int_eq(status, 0);
	if (f->ok == 1) {
		/* The next fetch is slow and returns new keys. */
		f->sim.creds_delay_ms = 200;
		sim_keys(&f->sim, "ASIAROTATED00005", "rotatedsecret", wall_ms() + 3600 * 1000);
		return;
	}
	stop(f);
}

START_TEST(imds_refreshes_before_expiry_serving_old_keys_meanwhile)
{
	struct fixture f;
	uint64_t t0 = uv_hrtime();

	setup_imds(&f, script_rotation, false);
	/* First keys expire in 1.5 s; refresh 1 s before expiry, so ~0.5 s in. */
	f.sim.exp_ms = wall_ms() + 1500;
	f.opts.refresh.before_min_ms = f.opts.refresh.before_max_ms = 1000;
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 2);
	ck_assert_int_eq(f.failed, 0);
	ck_assert_str_eq(f.keys[0], "ASIAFIRST0000001");
	ck_assert_str_eq(f.keys[1], "ASIAROTATED00005");
	ck_assert_str_eq(f.sim.served_while_fetching, "ASIAFIRST0000001");
	ck_assert_uint_eq(f.sim.puts, 1); /* the session token was reused */
	ck_assert_uint_lt(uv_hrtime() - t0, UINT64_C(5000) * 1000000);
	ck_assert_uint_ge(uv_hrtime() - t0, UINT64_C(600) * 1000000);
}
END_TEST

START_TEST(imds_unreachable_reports_no_credentials)
{
	struct fixture f;

	setup_imds(&f, script_stop_at_first, true);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 0);
	ck_assert_int_eq(f.failed, 1);
	ck_assert_int_eq(f.last_err, -ECONNREFUSED);
}
END_TEST

static void script_unreachable_later(struct fixture *f, int status)
{
	if (f->ok == 1 && f->failed == 0) {
		ck_assert_int_eq(status, 0);
		/* The metadata service goes away. */
		lb_server_close(f->srv);
		f->srv = NULL;
		txp_creds_invalidate(f->p);
		return;
	}
	ck_assert_int_lt(status, 0);
	ck_assert_ptr_nonnull(txp_creds_current(f->p));
	ck_assert_str_eq(txp_creds_current(f->p)->access_key_id, "ASIAFIRST0000001");
	if (f->failed == 3)
		stop(f); /* two retries came by themselves, with backoff */
}

START_TEST(imds_unreachable_keeps_valid_credentials_and_retries)
{
	struct fixture f;

	setup_imds(&f, script_unreachable_later, false);
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 1);
	ck_assert_int_eq(f.failed, 3);
	ck_assert_int_eq(f.last_err, -ECONNREFUSED);
}
END_TEST

static void script_expire_while_unreachable(struct fixture *f, int status)
{
	if (f->ok == 1 && f->failed == 0 && status == 0) {
		lb_server_close(f->srv);
		f->srv = NULL;
		return; /* the scheduled refresh will fail */
	}
	if (txp_creds_current(f->p) == NULL)
		stop(f);
}

START_TEST(imds_expired_credentials_are_dropped_when_refresh_keeps_failing)
{
	struct fixture f;

	setup_imds(&f, script_expire_while_unreachable, false);
	f.sim.exp_ms = wall_ms() + 600;
	f.opts.refresh.before_min_ms = f.opts.refresh.before_max_ms = 300;
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 1);
	ck_assert_int_ge(f.failed, 2);
}
END_TEST

static void never_answer(struct lb_conn *c, const struct lb_request *req, void *data)
{
	struct fixture *f = data;

	/* The token request is in flight: close everything now. */
	stop(f);
}

START_TEST(closing_the_provider_cancels_its_metadata_request)
{
	struct fixture f;

	setup_imds(&f, script_stop_at_first, false);
	lb_server_close(f.srv);
	ck_assert_int_eq(lb_server_start(&f.loop, never_answer, &f, &f.srv), 0);
	snprintf(f.endpoint, sizeof(f.endpoint), "http://127.0.0.1:%d", lb_server_port(f.srv));
	start_chain(&f);
	run_to_end(&f);
	ck_assert_int_eq(f.ok, 0);
	ck_assert_int_eq(f.failed, 0);
}
END_TEST

/* --- the chain's order ---------------------------------------------------- */

START_TEST(chain_prefers_environment_then_file_and_skips_imds)
{
	struct fixture f;
	char err[256];
	const char *path = temp_file(two_profiles);

	setup_imds(&f, script_stop_at_first, false);
	f.opts.credentials_file = path;
	env_set("AWS_ACCESS_KEY_ID", "AKIAENV00000001");
	env_set("AWS_SECRET_ACCESS_KEY", "envsecret");
	ck_assert_int_eq(txp_creds_chain_create(&f.loop, f.http, &f.opts, &f.p, err, sizeof(err)), 0);
	ck_assert_str_eq(txp_creds_current(f.p)->access_key_id, "AKIAENV00000001");
	ck_assert_str_eq(txp_creds_source(f.p), "environment");
	txp_creds_close(f.p, on_provider_closed, &f);
	ck_assert_int_eq(f.p_closed, 1);

	env_clear();
	ck_assert_int_eq(txp_creds_chain_create(&f.loop, f.http, &f.opts, &f.p, err, sizeof(err)), 0);
	ck_assert_str_eq(txp_creds_current(f.p)->access_key_id, "AKIADEFAULT0001");
	ck_assert_str_eq(txp_creds_source(f.p), "shared-credentials-file");
	f.p_closed = 0;
	stop(&f);
	run_to_end(&f);
	ck_assert_uint_eq(f.sim.puts + f.sim.role_gets + f.sim.creds_gets, 0);
	unlink(path);
}
END_TEST

START_TEST(chain_without_any_source_fails_with_enoent)
{
	struct fixture f;
	char err[256];

	setup_imds(&f, script_stop_at_first, false);
	env_set("AWS_EC2_METADATA_DISABLED", "true");
	f.p = NULL;
	ck_assert_int_eq(txp_creds_chain_create(&f.loop, f.http, &f.opts, &f.p, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no AWS credentials"));
	f.opts.disable_imds = true;
	env_clear();
	ck_assert_int_eq(txp_creds_chain_create(&f.loop, f.http, &f.opts, &f.p, err, sizeof(err)), -ENOENT);
	/* A refused endpoint is reported at creation. */
	f.opts.disable_imds = false;
	f.opts.imds_endpoint = "http://metadata.example.com";
	ck_assert_int_eq(txp_creds_chain_create(&f.loop, f.http, &f.opts, &f.p, err, sizeof(err)), -EPERM);
	txp_http_close(f.http, NULL, NULL);
	lb_server_close(f.srv);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f.loop), 0);
	ck_assert_uint_eq(f.sim.puts, 0);
}
END_TEST

static Suite *creds_suite(void)
{
	Suite *s = suite_create("credentials");
	TCase *pure = tcase_create("pure");
	TCase *local = tcase_create("env_file");
	TCase *imds = tcase_create("imds");

	tcase_add_test(pure, refresh_is_scheduled_within_the_window_before_expiry);
	tcase_add_test(pure, retry_backoff_doubles_up_to_the_cap_with_jitter);
	tcase_add_test(pure, creds_need_id_and_secret_and_free_is_null_safe);
	tcase_add_test(pure, imds_role_list_accepts_only_iam_role_characters);
	suite_add_tcase(s, pure);

	tcase_add_test(local, environment_provider_reads_the_variables_once);
	tcase_add_test(local, environment_provider_without_a_secret_has_no_credentials);
	tcase_add_test(local, file_provider_picks_the_profile_configured_then_aws_profile_then_default);
	tcase_add_test(local, file_provider_reads_token_and_finds_the_file_from_env_or_home);
	tcase_add_test(local, missing_file_means_no_credentials_and_no_error);
	tcase_add_test(local, malformed_file_or_half_a_key_pair_is_an_error_naming_the_file);
	tcase_add_test(local, a_fifo_or_directory_as_credentials_file_is_an_error_at_once);
	tcase_add_test(local, invalidate_rereads_the_file);
	suite_add_tcase(s, local);

	tcase_set_timeout(imds, 10);
	tcase_add_test(imds, imds_happy_path_uses_a_session_token_and_the_role);
	tcase_add_test(imds, imds_credentials_carry_secret_token_and_expiration);
	tcase_add_test(imds, imds_401_on_get_fetches_a_new_token_and_retries_once);
	tcase_add_test(imds, imds_token_rejected_twice_fails_the_refresh_and_keeps_old_credentials);
	tcase_add_test(imds, imds_role_change_is_followed);
	tcase_add_test(imds, imds_role_swapped_between_requests_is_read_again);
	tcase_add_test(imds, imds_refreshes_before_expiry_serving_old_keys_meanwhile);
	tcase_add_test(imds, imds_unreachable_reports_no_credentials);
	tcase_add_test(imds, imds_unreachable_keeps_valid_credentials_and_retries);
	tcase_add_test(imds, imds_expired_credentials_are_dropped_when_refresh_keeps_failing);
	tcase_add_test(imds, closing_the_provider_cancels_its_metadata_request);
	tcase_add_test(imds, chain_prefers_environment_then_file_and_skips_imds);
	tcase_add_test(imds, chain_without_any_source_fails_with_enoent);
	suite_add_tcase(s, imds);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(creds_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
