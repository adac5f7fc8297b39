/* config.h: txpiped's configuration, one table of keys read from an INI file. */
#ifndef TXPIPE_CONFIG_H
#define TXPIPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A comma-separated list value, split and trimmed. */
struct txp_strlist {
	char **items;
	size_t n;
};

enum txp_unknown_fields {
	TXP_UNKNOWN_IGNORE = 0, /* accepted, dropped: never stored or sent */
	TXP_UNKNOWN_REJECT      /* the line is rejected, naming the field */
};

struct txp_config {
	char *path; /* the file read, for messages */

	struct {
		char *socket;
		uint64_t socket_mode;  /* octal in the file */
		char *socket_group;    /* empty: the daemon's group */
		uint64_t max_line_bytes;
		uint64_t max_clients;
		uint64_t shutdown_timeout_ms;
	} daemon;

	struct {
		uint64_t workers;          /* 0: stages inline on the loop thread */
		uint64_t ring_capacity;    /* slots per ring, a power of two */
		uint64_t max_inflight_per_client;
	} pipeline;

	struct {
		uint64_t max_amount;       /* major units of the transaction's currency */
		int unknown_fields;        /* enum txp_unknown_fields */
	} validation;

	struct {
		int level;                 /* enum txp_log_level */
		int format;                /* enum txp_log_format */
	} log;

	/* Sections added by later work go below, one struct per section,
	 * and their rows into the table in src/config_table.c. */
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
	size_t offset;                  /* offsetof(struct txp_config, ...) */
	uint64_t min, max;              /* numeric bounds, inclusive */
	const char *const *enum_names;  /* TXP_CFG_ENUM: NULL-terminated */
	const char *default_value;      /* as it would be written in the file */
	bool reloadable;                /* applied by SIGHUP without restart */
	const char *help;               /* one sentence for the docs */
};

/* The table, terminated by a row whose section is NULL. */
extern const struct txp_config_key txp_config_keys[];

/*
 * Fills `cfg` with every key's default.  Returns 0 or -ENOMEM.
 */
int txp_config_defaults(struct txp_config *cfg);

/*
 * Reads `path` over the defaults into `cfg`.  On error returns a negative
 * errno and writes into `err` (size `errlen`) a message naming the file, the
 * line, the offending text, the key and what is wrong, for example
 * "/etc/txpipe/txpiped.ini:12: [daemon] max_line_bytes = 12x: not a size".
 * `cfg` is left valid (defaults or partly read) and must still be freed.
 */
int txp_config_load(struct txp_config *cfg, const char *path, char *err, size_t errlen);

/* Frees what `cfg` owns.  Safe on a zeroed or partly filled struct. */
void txp_config_free(struct txp_config *cfg);

/* Looks up a row; NULL when the section or key is unknown. */
const struct txp_config_key *txp_config_find(const char *section, const char *key);

#endif
