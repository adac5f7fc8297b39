/* daemon.h: black-box test helpers: start the real txpiped, talk to it over its socket. */
#ifndef TXPIPE_TESTS_DAEMON_H
#define TXPIPE_TESTS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct tdaemon {
	char dir[256]; /* temporary directory for socket, config, log */
	char socket[300];
	char config[300];
	char log[300];
	pid_t pid;
	/* > 0: the daemon starts with RLIMIT_NOFILE at this (soft and hard,
	 * so it cannot raise it); set it between prepare and launch. */
	long nofile;
};

/* Writes a config with `extra` appended (INI text, may be NULL) and
 * starts $top_builddir/txpiped on it; waits until the socket answers.
 * Fails the test on error. */
void tdaemon_start(struct tdaemon *d, const char *extra);

/* tdaemon_start in two steps, for tests that need the keys (to compute a
 * card token) or files in d->dir before the daemon starts: prepare makes
 * the directory and the key files, launch writes the config and starts the
 * daemon. */
void tdaemon_prepare(struct tdaemon *d);
void tdaemon_launch(struct tdaemon *d, const char *extra);

/* Starts another txpiped on d's config; returns its pid (not waited). */
pid_t tdaemon_spawn(struct tdaemon *d, const char *config);

/* Creates the two key files in d->dir (the config names them). */
void tdaemon_make_keys(struct tdaemon *d);

/* Rewrites d's config with `extra`: the base config ends inside
 * [compliance], so `extra` starts with a section header. */
void tdaemon_write_config(struct tdaemon *d, const char *extra);

/* SIGTERM, wait, and return the exit status (or -1 when it had to be
 * killed after `timeout_ms`, or was not running). Removes the directory. */
int tdaemon_stop(struct tdaemon *d, int timeout_ms);

/* tdaemon_stop in two steps, to read the log of a stopped daemon:
 * terminate stops it (the same result) and keeps d->dir; remove deletes
 * d->dir. */
int tdaemon_terminate(struct tdaemon *d, int timeout_ms);
void tdaemon_remove(struct tdaemon *d);

/* SIGKILL (a crash: no drain, no flush), wait; keeps d->dir so the daemon
 * can be started again on it with tdaemon_launch(). */
void tdaemon_kill(struct tdaemon *d);

/* True when the daemon process is still running. */
bool tdaemon_alive(struct tdaemon *d);

/* True when the log contains `needle`. */
bool tdaemon_log_contains(struct tdaemon *d, const char *needle);

/* How many log lines contain `needle`. */
int tdaemon_log_count(struct tdaemon *d, const char *needle);

/* Waits up to timeout_ms until `count` log lines contain `needle`;
 * returns whether they do. */
bool tdaemon_wait_log(struct tdaemon *d, const char *needle, int count, int timeout_ms);

/* The whole log as a NUL-terminated string (caller frees); *len gets its
 * length. */
char *tdaemon_read_log(struct tdaemon *d, size_t *len);

/* Writes `text` to d->dir/name (e.g. a list file); returns the path in
 * `path`. */
void tdaemon_write_file(struct tdaemon *d, const char *name, const char *text, char *path, size_t pathlen);

/* Runs $top_builddir/txpipectl --socket d->socket with the NULL-terminated
 * arguments, collecting its stdout and stderr (caller frees *out, may be
 * NULL).  Returns its exit status, or -1 when it did not exit normally. */
int tdaemon_ctl(struct tdaemon *d, char **out, const char *arg, ...);

/* The card token the daemon computes for the card number `digits` (keyed
 * BLAKE2b-128 under d's card key, as hex): what the deny_cards and
 * allow_cards lists hold. */
void tdaemon_card_token(struct tdaemon *d, const char *digits, char token[33]);

int tconnect(const char *socket_path);
void tsend(int fd, const void *buf, size_t len);
void tsend_str(int fd, const char *s);

/* Reads exactly one reply line (waits up to timeout_ms); returns the
 * parsed object (caller json_decref) or NULL on timeout/EOF. */
json_t *trecv_reply(int fd, int timeout_ms);

/* Closes a connection and forgets what was buffered for it. */
void tclose(int fd);

/* One request line, one reply, on a fresh connection. */
json_t *troundtrip(const char *socket_path, const char *line);

/* A reply's "status" (NULL when absent). */
const char *tstatus(json_t *reply);

/* Whether the reply's "reasons" name `code`. */
bool thas_reason(json_t *reply, const char *code);

/* A valid USD transaction line (with its '\n') of merchant m-1 between
 * two DE parties. */
void ttxn_line(char *buf, size_t len, const char *id, const char *customer, const char *amount);

/* One ttxn_line() transaction on a fresh connection; the reply (caller
 * json_decref). */
json_t *tdaemon_send_txn(struct tdaemon *d, const char *id, const char *customer, const char *amount);

/* stats.<section>.<key> of a stats request (caller json_decref; NULL when
 * absent; the reply is checked to arrive). */
json_t *tdaemon_stat(struct tdaemon *d, const char *section, const char *key);

/* stats.<section>.<key> as an integer ("" for the top level). */
long long tdaemon_istat(struct tdaemon *d, const char *section, const char *key);

#endif
