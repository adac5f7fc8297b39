/* daemon.h: black-box test helpers: start the real txpiped, talk to it over its socket. */
#ifndef TXPIPE_TESTS_DAEMON_H
#define TXPIPE_TESTS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct tdaemon {
	char dir[256];       /* temporary directory for socket, config, log */
	char socket[300];
	char config[300];
	char log[300];
	pid_t pid;
};

/* Writes a config with `extra` appended (INI text, may be NULL) and
 * starts $top_builddir/txpiped on it; waits until the socket answers.
 * Fails the test on error. */
void tdaemon_start(struct tdaemon *d, const char *extra);

/* Starts another txpiped on d's config; returns its pid (not waited). */
pid_t tdaemon_spawn(struct tdaemon *d, const char *config);

/* Creates the two key files in d->dir (the config names them). */
void tdaemon_make_keys(struct tdaemon *d);

/* Rewrites d's config with `extra`: the base config ends inside
 * [compliance], so `extra` starts with a section header. */
void tdaemon_write_config(struct tdaemon *d, const char *extra);

/* SIGTERM, wait, and return the exit status (or -1 when it had to be
 * killed after `timeout_ms`). Removes the directory. */
int tdaemon_stop(struct tdaemon *d, int timeout_ms);

/* True when the daemon process is still running. */
bool tdaemon_alive(struct tdaemon *d);

/* True when the log contains `needle`. */
bool tdaemon_log_contains(struct tdaemon *d, const char *needle);

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

#endif
