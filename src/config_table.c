/* config_table.c: every configuration key txpiped reads, its type, bounds, default and help. */
#include "txpipe/config.h"
#include "txpipe/log.h"

#include <stddef.h>

/*
 * One row per key.  The sample file conf/txpiped.ini and the man page
 * man/txpiped.ini.5 repeat each row's default and summary; the test
 * tests/unit/test_config_docs.c fails when they drift apart.
 *
 * Adding a row: write default_value as txp_config_format_value() would
 * ("64k", not "65536"; "30s", not "30000"); give the key's struct field the
 * type's C type (see enum txp_cfg_type); add the key to the sample (help
 * sentence wrapped in "; " lines, then the facts line, then "key = default")
 * and a ".TP" entry to the man page (see the comment at its top).  The
 * tests print the exact line they expect when something is missing.
 *
 * Each section has its own block between marker comments, so work on
 * different sections merges without conflicts: add a new section's block
 * just above the end marker, in the order the sections appear in
 * struct txp_config.
 */

#define OFF(section, field) offsetof(struct txp_config, section.field)

/* sizeof(((struct sockaddr_un *)0)->sun_path) - 1 on Linux: the path must fit with its NUL. */
#define SOCKET_PATH_MAX 107
/* Linux's useradd limit on group names. */
#define GROUP_NAME_MAX 32

static const char *const unknown_fields_names[] = {"ignore", "reject", NULL};
static const int unknown_fields_values[] = {TXP_UNKNOWN_IGNORE, TXP_UNKNOWN_REJECT};

static const char *const log_level_names[] = {"err", "warning", "notice", "info", "debug", NULL};
static const int log_level_values[] = {TXP_LOG_ERR, TXP_LOG_WARNING, TXP_LOG_NOTICE, TXP_LOG_INFO,
				       TXP_LOG_DEBUG};

static const char *const log_format_names[] = {"kv", "json", NULL};
static const int log_format_values[] = {TXP_LOG_FORMAT_KV, TXP_LOG_FORMAT_JSON};

const struct txp_config_key txp_config_keys[] = {
	/* ---- [daemon] begin ---- */
	{.section = "daemon",
	 .key = "socket",
	 .type = TXP_CFG_PATH,
	 .offset = OFF(daemon, socket),
	 .min = 1,
	 .max = SOCKET_PATH_MAX,
	 .default_value = "/run/txpiped/txpiped.sock",
	 .reloadable = false,
	 .help = "Path of the Unix stream socket producers connect to; its directory must exist and be "
		 "writable by the daemon."},
	{.section = "daemon",
	 .key = "socket_mode",
	 .type = TXP_CFG_MODE,
	 .offset = OFF(daemon, socket_mode),
	 .min = 0,
	 .max = 0777,
	 .default_value = "0660",
	 .reloadable = false,
	 .help = "Permission bits given to the socket after it is created, in octal."},
	{.section = "daemon",
	 .key = "socket_group",
	 .type = TXP_CFG_STRING,
	 .offset = OFF(daemon, socket_group),
	 .min = 0,
	 .max = GROUP_NAME_MAX,
	 .default_value = "",
	 .reloadable = false,
	 .help = "Group that owns the socket, so its members may connect; empty keeps the daemon's own "
		 "group."},
	{.section = "daemon",
	 .key = "max_line_bytes",
	 .type = TXP_CFG_SIZE,
	 .offset = OFF(daemon, max_line_bytes),
	 .min = 256,
	 .max = UINT64_C(16) << 20,
	 .default_value = "64k",
	 .reloadable = false,
	 .help = "Longest transaction line a client may send, newline included; a longer line is rejected "
		 "and the connection closed."},
	{.section = "daemon",
	 .key = "max_clients",
	 .type = TXP_CFG_UINT,
	 .offset = OFF(daemon, max_clients),
	 .min = 1,
	 .max = 65536,
	 .default_value = "1024",
	 .reloadable = true,
	 .help = "Most client connections open at once; further connections are accepted and closed at "
		 "once."},
	{.section = "daemon",
	 .key = "shutdown_timeout_ms",
	 .type = TXP_CFG_DURATION,
	 .offset = OFF(daemon, shutdown_timeout_ms),
	 .min = 0,
	 .max = UINT64_C(3600000),
	 .default_value = "30s",
	 .reloadable = true,
	 .help = "How long a stopping daemon waits for transactions in flight to finish before it exits "
		 "anyway."},
	/* ---- [daemon] end ---- */

	/* ---- [pipeline] begin ---- */
	{.section = "pipeline",
	 .key = "workers",
	 .type = TXP_CFG_UINT,
	 .offset = OFF(pipeline, workers),
	 .min = 0,
	 .max = 16,
	 .default_value = "1",
	 .reloadable = false,
	 .help = "Worker threads that run the screening stages; 0 runs them inline on the I/O loop thread."},
	{.section = "pipeline",
	 .key = "ring_capacity",
	 .type = TXP_CFG_POW2,
	 .offset = OFF(pipeline, ring_capacity),
	 .min = 64,
	 .max = UINT64_C(1048576),
	 .default_value = "4096",
	 .reloadable = false,
	 .help = "Slots in each ring between the loop and the workers, a power of two; when a ring is full "
		 "the daemon stops reading from clients until it drains."},
	{.section = "pipeline",
	 .key = "max_inflight_per_client",
	 .type = TXP_CFG_POW2,
	 .offset = OFF(pipeline, max_inflight_per_client),
	 .min = 1,
	 .max = 65536,
	 .default_value = "1024",
	 .reloadable = false,
	 .help = "Transactions from one client that may await their reply at once, a power of two; past it "
		 "the daemon stops reading that client."},
	/* ---- [pipeline] end ---- */

	/* ---- [validation] begin ---- */
	{.section = "validation",
	 .key = "max_amount",
	 .type = TXP_CFG_UINT,
	 .offset = OFF(validation, max_amount),
	 .min = 1,
	 .max = UINT64_C(1000000000000),
	 .default_value = "1000000",
	 .reloadable = true,
	 .help = "Largest amount accepted, in major units of the transaction's currency; larger amounts "
		 "are rejected."},
	{.section = "validation",
	 .key = "unknown_fields",
	 .type = TXP_CFG_ENUM,
	 .offset = OFF(validation, unknown_fields),
	 .enum_names = unknown_fields_names,
	 .enum_values = unknown_fields_values,
	 .default_value = "ignore",
	 .reloadable = true,
	 .help = "What to do with a transaction field the daemon does not know: ignore drops it, reject "
		 "refuses the transaction and names the field."},
	/* ---- [validation] end ---- */

	/* ---- [log] begin ---- */
	{.section = "log",
	 .key = "level",
	 .type = TXP_CFG_ENUM,
	 .offset = OFF(log, level),
	 .enum_names = log_level_names,
	 .enum_values = log_level_values,
	 .default_value = "info",
	 .reloadable = true,
	 .help = "Most verbose syslog priority written to standard error; events of lower priority are "
		 "dropped."},
	{.section = "log",
	 .key = "format",
	 .type = TXP_CFG_ENUM,
	 .offset = OFF(log, format),
	 .enum_names = log_format_names,
	 .enum_values = log_format_values,
	 .default_value = "kv",
	 .reloadable = true,
	 .help = "Shape of each log line: kv writes key=value pairs, json writes one JSON object."},
	/* ---- [log] end ---- */

	/* ---- [fraud] begin ---- */
	/* ---- [fraud] end ---- */

	/* ---- [compliance] begin ---- */
	/* ---- [compliance] end ---- */

	/* ---- [aws] begin ---- */
	/* ---- [aws] end ---- */

	/* ---- [dynamodb] begin ---- */
	/* ---- [dynamodb] end ---- */

	/* ---- [sns] begin ---- */
	/* ---- [sns] end ---- */

	/* ---- [sqs] begin ---- */
	/* ---- [sqs] end ---- */

	/* ---- [retry] begin ---- */
	/* ---- [retry] end ---- */

	/* ---- [journal] begin ---- */
	/* ---- [journal] end ---- */

	/* ---- [metrics] begin ---- */
	/* ---- [metrics] end ---- */

	/* ---- end of table ---- */
	{.section = NULL},
};
