/* config.h: txpiped's configuration, one table of keys read from an INI file. */
#ifndef TXPIPE_CONFIG_H
#define TXPIPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "txpipe/compliance.h"
#include "txpipe/fraud.h"

/* A comma-separated list value, split and trimmed. */
struct txp_strlist {
	char **items;
	size_t n;
};

enum txp_unknown_fields {
	TXP_UNKNOWN_IGNORE = 0, /* accepted, dropped: never stored or sent */
	TXP_UNKNOWN_REJECT      /* the line is rejected, naming the field */
};

/*
 * The longest line the file may hold, newline excluded: room for the longest
 * value a key takes ([compliance] usd_rates, 8192 bytes) with its key.
 */
#define TXP_CONFIG_LINE_MAX 16384
/* The largest file read; a bound on what a wrong path can make us read. */
#define TXP_CONFIG_FILE_MAX (1024 * 1024)

struct txp_config {
	char *path; /* the file read, for messages */
	/* Per row of txp_config_keys, the line of `path` that set it; 0 for
	 * a default.  NULL when the config was not read from a file.  Owned. */
	int *lines;

	struct {
		char *socket;
		uint64_t socket_mode; /* octal in the file */
		char *socket_group;   /* empty: the daemon's group */
		uint64_t max_line_bytes;
		uint64_t max_clients;
		uint64_t shutdown_timeout_ms;
	} daemon;

	struct {
		uint64_t workers;       /* 0: stages inline on the loop thread; TXP_CFG_AUTO: from the CPUs */
		uint64_t ring_capacity; /* slots per ring, a power of two */
		uint64_t max_inflight_per_client;
		uint64_t inline_below; /* with workers: smaller bursts that find them idle run on the loop */
	} pipeline;

	struct {
		uint64_t max_amount; /* major units of the transaction's currency */
		int unknown_fields;  /* enum txp_unknown_fields */
	} validation;

	struct {
		int level;  /* enum txp_log_level */
		int format; /* enum txp_log_format */
		bool audit; /* one line per decided transaction */
	} log;

	/* Sections added by later work go below, one struct per section
	 * after its marker, and their rows into the table in
	 * src/daemon/config_table.c between the section's markers there. */

	/* ---- [fraud] ---- */
	struct txp_fraud_config fraud; /* include/txpipe/fraud.h */

	/* ---- [compliance] ---- */
	struct txp_compliance_config compliance; /* include/txpipe/compliance.h */

	/* ---- [aws] ---- */
	struct {
		char *region;
		char *profile;          /* empty: $AWS_PROFILE, else "default" */
		char *credentials_file; /* empty: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials */
		char *imds_endpoint;
		bool imds;
		char *ca_file; /* empty: the system's */
		uint64_t connect_timeout_ms;
		uint64_t request_timeout_ms;
		uint64_t max_connections;
		bool enabled; /* false: no delivery at all */
	} aws;

	/* ---- [dynamodb] ---- */
	struct {
		char *endpoint; /* empty: https://dynamodb.<region>.amazonaws.com */
		char *table;
		uint64_t batch_size; /* 1..25 */
		uint64_t flush_delay_ms;
		uint64_t max_pending;
		bool investigation_indexes; /* txpipectl provision adds the card and customer GSIs */
	} dynamodb;

	/* ---- [sns] ---- */
	struct {
		char *endpoint;      /* empty: https://sns.<region>.amazonaws.com */
		char *topic_arn;     /* empty: alerts off */
		char *alert_email;   /* empty: no subscription by txpipectl provision */
		uint64_t batch_size; /* 1..10 */
	} sns;

	/* ---- [sqs] ---- */
	struct {
		char *endpoint;  /* empty: https://sqs.<region>.amazonaws.com */
		char *queue_url; /* empty: no DLQ, failures are held and logged */
		uint64_t max_held;
	} sqs;

	/* ---- [retry] ---- */
	struct {
		uint64_t max_attempts; /* first attempt included */
		uint64_t base_delay_ms;
		uint64_t max_delay_ms;
		uint64_t budget_percent; /* retries / first attempts over a sliding minute; 0: no budget */
		bool jitter;             /* full jitter instead of the exact exponential waits */
	} retry;

	/* ---- [journal] ---- */
	struct {
		char *dir;
		int ack; /* enum txp_journal_ack (txpipe/journal.h) */
		uint64_t segment_bytes;
		uint64_t max_bytes;
		uint64_t commit_bytes;
		uint64_t commit_interval_ms;
		uint64_t reserve_bytes;
		bool velocity_rebuild;
		bool preallocate;
	} journal;

	/* ---- [metrics] ---- */
	struct {
		char *listen; /* "127.0.0.1:9464"; empty: no listener */
	} metrics;

	/* ---- [fleet] ---- */
	struct {
		bool enabled;               /* false: one host, exactly as without the section */
		char *instance_id;          /* empty: IMDSv2 instance id, else the hostname (txp_fleet_instance_id) */
		char *table;                /* the shared-state table */
		uint64_t sync_interval_ms;  /* how often shared state is published and refreshed */
		int mode;                   /* enum txp_fleet_mode */
		int record_writes;          /* enum txp_fleet_record_writes */
		int stale_action;           /* enum txp_fleet_stale_action */
		uint64_t stale_after_ms;    /* no complete read for this long: decisions are stale */
		uint64_t max_queued_events; /* unpublished events kept, then dropped (counted) */
		uint64_t lease_ms;          /* the journal lease's length without renewal */
	} fleet;
};

enum txp_fleet_mode {
	TXP_FLEET_FAST,  /* decide at once on local counts plus the fleet's as of the last refresh */
	TXP_FLEET_FRESH, /* wait for one batched read of keys not refreshed within the sync interval */
};

enum txp_fleet_record_writes {
	TXP_FLEET_WRITES_TRANSACTION, /* TransactWriteItems: up to batch_size conditional puts a request */
	TXP_FLEET_WRITES_PUT,         /* one conditional PutItem a record (servers without transactions) */
};

enum txp_fleet_stale_action {
	TXP_FLEET_STALE_NONE,   /* reason fleet_state_stale recorded, no points, status unchanged */
	TXP_FLEET_STALE_REVIEW, /* an approved decision becomes review */
};

enum txp_cfg_type {
	TXP_CFG_STRING,   /* char *, owned */
	TXP_CFG_PATH,     /* char *, owned; must be absolute when not empty */
	TXP_CFG_UINT,     /* uint64_t, decimal, within [min, max] */
	TXP_CFG_SIZE,     /* uint64_t bytes; accepts k, M, G suffixes (1024) */
	TXP_CFG_DURATION, /* uint64_t milliseconds; accepts ms, s, m, h suffixes */
	TXP_CFG_MODE,     /* uint64_t, octal file mode, at most 0777 */
	TXP_CFG_POW2,     /* uint64_t, a power of two within [min, max] */
	TXP_CFG_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
	TXP_CFG_ENUM,     /* int: index into enum_names */
	TXP_CFG_LIST      /* struct txp_strlist, comma-separated */
};

/* One row of the configuration table. */
struct txp_config_key {
	const char *section;
	const char *key;
	enum txp_cfg_type type;
	size_t offset; /* offsetof(struct txp_config, ...) */
	/* Numeric bounds, inclusive.  For STRING and PATH they bound the
	 * length in bytes, for LIST the number of items; max 0 is no limit. */
	uint64_t min, max;
	const char *const *enum_names; /* TXP_CFG_ENUM: NULL-terminated */
	const char *default_value;     /* as it would be written in the file */
	bool reloadable;               /* applied by SIGHUP without restart */
	const char *help;              /* one sentence for the docs */
	/* TXP_CFG_ENUM: the value stored for each name, parallel to
	 * enum_names; NULL stores the index. */
	const int *enum_values;
	/* The value never appears in messages or in txp_config_write(). */
	bool secret;
	/* TXP_CFG_UINT: the word "auto" is accepted too, stored as
	 * TXP_CFG_AUTO; the code using the key works out the value. */
	bool auto_ok;
};

/* What an "auto" TXP_CFG_UINT holds. */
#define TXP_CFG_AUTO UINT64_MAX

/* The table, terminated by a row whose section is NULL. */
extern const struct txp_config_key txp_config_keys[];

/*
 * Fills `cfg` with every key's default.  `cfg` need not be initialised and
 * whatever it held is overwritten, not freed.  Returns 0, -ENOMEM, or -EINVAL
 * if a row's default does not parse (a bug in the table; the tests catch it).
 * On error `cfg` is still valid to free.
 */
int txp_config_defaults(struct txp_config *cfg);

/*
 * Fills `cfg` with the defaults (as txp_config_defaults(), so `cfg` need not
 * be initialised), reads `path` over them and checks the result with
 * txp_config_validate(); cfg->path is a copy of `path`.  The file is opened
 * with txp_file_open_regular(): a symbolic link is followed, anything but a
 * regular file of at most TXP_CONFIG_FILE_MAX bytes is refused, and a line
 * longer than TXP_CONFIG_LINE_MAX bytes is an error.
 * On error returns a negative errno (-EINVAL for any fault in the file's
 * content, -ENOMEM, or the errno of opening or reading it) and writes into
 * `err` (size `errlen`) a message naming the file, the line, the offending
 * text, the key and what is wrong, for example
 * "/etc/txpipe/txpiped.ini:12: [daemon] max_line_bytes = 12x: not a size
 * (expected a number with optional k/M/G suffix)".
 * `cfg` is left valid (defaults or partly read) and must still be freed.
 */
int txp_config_load(struct txp_config *cfg, const char *path, char *err, size_t errlen);

/*
 * Checks what the table's per-key bounds cannot: settings that must agree
 * ([fraud] review_threshold <= decline_threshold, window_short_ms <=
 * window_medium_ms <= window_long_ms), values whose syntax the stages
 * define (usd_rates, the country lists, pseudonymise), and everything the
 * daemon refuses at start that does not need I/O: the AWS region and
 * endpoint URLs (when [aws] enabled) and a [metrics] listen address that is
 * not loopback.  Key and list files are read by the stages, not here.
 * txp_config_load() calls it, so `txpiped --check-config`, the daemon and
 * a reload refuse the same files.  Returns 0 or -EINVAL with, in `err`,
 * "file:line: [section] key = value: what is wrong" (the line of the key
 * named; "file: [section] key = value (default): ..." when the file did not
 * set it).  Secret values are shown as "(hidden)".
 */
int txp_config_validate(const struct txp_config *cfg, char *err, size_t errlen);

/*
 * Writes where row (section, key) of `cfg` was set, as messages show it:
 * "file:line: [section] key = value", "file: [section] key = value
 * (default)" when the file did not set it, or "[section] key = value" when
 * `cfg` was not read from a file.  Long values are cut, secret ones shown as
 * "(hidden)".  Returns the length it needed, as snprintf does.
 */
int txp_config_where(const struct txp_config *cfg, const char *section, const char *key, char *buf, size_t len);

/*
 * Rewrites a stage's message that starts "[section] key: " (the stages'
 * convention for naming the key at fault, e.g. "[fraud] deny_cards: ...:
 * is a directory") to start with txp_config_where() instead, so it names
 * the file and line too.  Returns 1 when it did, 0 when `msg` names no key
 * (left as is), -ENOMEM.
 */
int txp_config_locate(const struct txp_config *cfg, char *msg, size_t msglen);

/* Frees what `cfg` owns.  Safe on a zeroed or partly filled struct. */
void txp_config_free(struct txp_config *cfg);

/* Looks up a row; NULL when the section or key is unknown. */
const struct txp_config_key *txp_config_find(const char *section, const char *key);

/* True when some row belongs to `section`. */
bool txp_config_section_known(const char *section);

/*
 * Parses `text` as the value of row `k` and stores it in `cfg`, freeing what
 * the field held before.  Returns 0, -EINVAL with what is wrong in `err` (for
 * example "not a size (expected a number with optional k/M/G suffix)"; no
 * file, line or key: the caller adds them), or -ENOMEM.  On error the field
 * keeps its old value.
 */
int txp_config_set(struct txp_config *cfg, const struct txp_config_key *k, const char *text, char *err, size_t errlen);

/*
 * Writes the value of row `k` in `cfg` as it would be written in the file
 * ("64k", "30s", "0660", "info"), secret or not.  Returns the length it
 * needed, as snprintf does, or -EINVAL for a type it does not know.
 */
int txp_config_format_value(const struct txp_config *cfg, const struct txp_config_key *k, char *buf, size_t len);

/* The type's name in the docs: "string", "path", "size", ... */
const char *txp_config_type_name(enum txp_cfg_type type);

/*
 * Writes row `k`'s bounds in words, as messages and docs show them:
 * "256 to 16M" (numbers, in the type's own units), "one of kv, json",
 * "length 1 to 107 bytes", "at most 32 bytes", or "" when the type has none.
 * Returns the length written (truncated to fit `len`).
 */
int txp_config_range_text(const struct txp_config_key *k, char *buf, size_t len);

/*
 * Writes the one-line facts about row `k` that the man page repeats for each
 * key, for example "size; default 64k; range 256 to 16M; reloadable: no".
 * Returns the length it needed, as snprintf does.
 */
int txp_config_key_summary(const struct txp_config_key *k, char *buf, size_t len);

/*
 * Compares the rows that SIGHUP cannot apply.  Returns how many differ
 * between `old` and `next`, and lists them in `buf` as
 * "[daemon] socket, [pipeline] workers" (empty when none, truncated to fit).
 */
int txp_config_diff_nonreloadable(const struct txp_config *old, const struct txp_config *next, char *buf,
                                  size_t buflen);

/*
 * Copies every reloadable row's value from `src` into `dst` (what SIGHUP
 * applies); non-reloadable rows of `dst` are kept.  Returns 0 or -ENOMEM, in
 * which case some rows may already have been copied.
 */
int txp_config_apply_reloadable(struct txp_config *dst, const struct txp_config *src);

/*
 * The reverse: copies every non-reloadable row's value from `src` (the
 * running configuration) into `dst` (a newly loaded one), so `dst` becomes
 * what SIGHUP can apply.  Returns 0 or -ENOMEM.
 */
int txp_config_keep_nonreloadable(struct txp_config *dst, const struct txp_config *src);

/*
 * Writes the whole effective configuration to `out` in the file's syntax,
 * one section after another; secret values are written as "(hidden)".
 * Returns 0 or a negative errno from the stream.
 */
int txp_config_write(const struct txp_config *cfg, FILE *out);

#endif
