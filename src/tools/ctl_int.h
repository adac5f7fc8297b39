/* ctl_int.h: what txpipectl.c, ctl_daemon.c, ctl_aws.c, ctl_replay.c and ctl_adopt.c share; not for other modules. */
#ifndef TXPIPE_CTL_INT_H
#define TXPIPE_CTL_INT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* The global options, read once by main() and passed to every command. */
struct ctl {
	const char *config_path;
	const char *socket_path;
	bool config_given;
	const char *format;
	bool quiet;
};

/* Prints the usage of every command to f (txpipectl.c). */
void ctl__usage(FILE *f);

/* The daemon's socket path (--socket, else the config file's): malloc'd, or NULL with the reason printed
 * and *exit_code set. */
char *ctl__resolve_socket(struct ctl *ctl, int *exit_code);
/* Connects to the daemon's socket at path; the descriptor, or -1 with the reason printed. */
int ctl__connect_socket(const char *path);
/* Sends one control request line on an open connection; its parsed reply (caller decrefs) or NULL. */
json_t *ctl__control_on(int fd, const char *line);
/* s, or fallback when s is NULL. */
const char *ctl__str_or(const char *s, const char *fallback);

/* txpipectl submit: sends transactions and counts the decisions; a sysexits code (ctl_daemon.c). */
int ctl__submit(struct ctl *ctl, int argc, char **argv);
/* txpipectl stats: prints the daemon's counters in the asked format (ctl_daemon.c). */
int ctl__stats(struct ctl *ctl, int argc, char **argv);
/* txpipectl reload and version: one control request without arguments (ctl_daemon.c). */
int ctl__simple(struct ctl *ctl, const char *command);
/* txpipectl tail: streams decisions live, optionally filtered (ctl_daemon.c). */
int ctl__tail(struct ctl *ctl, int argc, char **argv);
/* txpipectl get: prints a transaction's stored record from DynamoDB (ctl_aws.c). */
int ctl__get(struct ctl *ctl, int argc, char **argv);
/* txpipectl dlq list|redrive: shows or hands back dead-lettered transactions (ctl_aws.c). */
int ctl__dlq(struct ctl *ctl, int argc, char **argv);
/* txpipectl deprovision: parses its options and runs txp_deprovision_run() (ctl_aws.c). */
int ctl__deprovision(struct ctl *ctl, int argc, char **argv);
/* txpipectl journal adopt: delivers a lost host's journal under its lease (ctl_adopt.c). */
int ctl__journal(struct ctl *ctl, int argc, char **argv);
/* txpipectl replay: decides a file offline under a candidate and a baseline configuration (ctl_replay.c). */
int ctl__replay(struct ctl *ctl, int argc, char **argv);

#endif
