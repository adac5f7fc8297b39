/* test_config.c: the config table, each value type's parser at its bounds, and every load error message. */
#include "txp_build_config.h"

#include "txpipe/config.h"
#include "txpipe/keys.h"
#include "txpipe/log.h"
#include "txpipe/rulelists.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Helpers ---- */

static const struct txp_config_key *row(const char *section, const char *key)
{
	const struct txp_config_key *k = txp_config_find(section, key);

	ck_assert_msg(k != NULL, "no row [%s] %s", section, key);
	return k;
}

/* Sets [section] key = text on a defaults config; returns the result and leaves the message in err. */
static int set(struct txp_config *cfg, const char *section, const char *key, const char *text, char *err, size_t errlen)
{
	return txp_config_set(cfg, row(section, key), text, err, errlen);
}

#define ACCEPTS(cfg, section, key, text)                                                             \
	do {                                                                                         \
		char err_[256];                                                                      \
		int rc_ = set((cfg), (section), (key), (text), err_, sizeof(err_));                  \
		ck_assert_msg(rc_ == 0, "[%s] %s = %s refused: %s", (section), (key), (text), err_); \
	} while (0)

#define REFUSES(cfg, section, key, text, why)                                       \
	do {                                                                        \
		char err_[256];                                                     \
		int rc_ = set((cfg), (section), (key), (text), err_, sizeof(err_)); \
		ck_assert_int_eq(rc_, -EINVAL);                                     \
		ck_assert_str_eq(err_, (why));                                      \
	} while (0)

/* Writes `text` to a new temporary file and returns its name, which the caller unlinks and frees. */
static char *temp_file(const char *text, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	ck_assert_int_gt(asprintf(&path, "%s/test_config.XXXXXX", dir != NULL ? dir : "/tmp"), 0);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	return path;
}

/* Loads `text` as a file; returns the result, the message with the temp file's name replaced by "F". */
static int load_text(struct txp_config *cfg, const char *text, char *msg, size_t msglen)
{
	char *path = temp_file(text, strlen(text));
	char err[512];
	size_t plen = strlen(path);
	int rc = txp_config_load(cfg, path, err, sizeof(err));

	if (strncmp(err, path, plen) == 0)
		snprintf(msg, msglen, "F%s", err + plen);
	else
		snprintf(msg, msglen, "%s", err);
	unlink(path);
	free(path);
	return rc;
}

/* Loads `text`, expects it refused with exactly `want`, and frees. */
static void load_fails(const char *text, const char *want)
{
	struct txp_config cfg;
	char msg[512];

	ck_assert_int_eq(load_text(&cfg, text, msg, sizeof(msg)), -EINVAL);
	ck_assert_str_eq(msg, want);
	txp_config_free(&cfg);
}

/* As load_fails, for a message whose end changes as the table grows. */
static void load_fails_prefix(const char *text, const char *want)
{
	struct txp_config cfg;
	char msg[512];

	ck_assert_int_eq(load_text(&cfg, text, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "\"%s\" does not start with \"%s\"", msg, want);
	txp_config_free(&cfg);
}

static const char *value_of(const struct txp_config *cfg, const char *section, const char *key, char *buf, size_t len)
{
	ck_assert_int_lt(txp_config_format_value(cfg, row(section, key), buf, len), (int)len);
	return buf;
}

/* ---- The table ---- */

START_TEST(table_rows_are_unique_grouped_and_documented)
{
	size_t n = 0;

	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++, n++) {
		ck_assert_ptr_eq(txp_config_find(k->section, k->key), k);
		ck_assert_msg(k->help != NULL && strlen(k->help) > 10 && k->help[strlen(k->help) - 1] == '.',
		              "[%s] %s: help must be a sentence", k->section, k->key);
		ck_assert_ptr_nonnull(k->default_value);
		ck_assert_uint_lt(k->offset, sizeof(struct txp_config));
		ck_assert_uint_le(k->min, k->type == TXP_CFG_STRING || k->type == TXP_CFG_PATH ||
		                                          k->type == TXP_CFG_LIST || k->max == 0
		                                  ? UINT64_MAX
		                                  : k->max);
		if (k->type == TXP_CFG_ENUM)
			ck_assert_ptr_nonnull(k->enum_names);
		/* txp_config_write and the docs show a section once: its rows must be together. */
		if (n > 0 && strcmp(k[-1].section, k->section) != 0)
			for (const struct txp_config_key *j = txp_config_keys; j < k; j++)
				ck_assert_msg(strcmp(j->section, k->section) != 0, "[%s] rows are split", k->section);
	}
	ck_assert_uint_ge(n, 13);
	ck_assert_ptr_null(txp_config_find("daemon", "nope"));
	ck_assert_ptr_null(txp_config_find("nope", "socket"));
	ck_assert_ptr_null(txp_config_find(NULL, "socket"));
	ck_assert(txp_config_section_known("log"));
	ck_assert(!txp_config_section_known("Log"));
	ck_assert(!txp_config_section_known(NULL));
}
END_TEST

START_TEST(defaults_fill_every_field_as_documented)
{
	struct txp_config cfg;

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ck_assert_str_eq(cfg.daemon.socket, "/run/txpiped/txpiped.sock");
	ck_assert_uint_eq(cfg.daemon.socket_mode, 0660);
	ck_assert_str_eq(cfg.daemon.socket_group, "");
	ck_assert_uint_eq(cfg.daemon.max_line_bytes, 65536);
	ck_assert_uint_eq(cfg.daemon.max_clients, 1024);
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 30000);
	ck_assert_uint_eq(cfg.pipeline.workers, TXP_CFG_AUTO);
	ck_assert_uint_eq(cfg.pipeline.ring_capacity, 4096);
	ck_assert_uint_eq(cfg.pipeline.max_inflight_per_client, 1024);
	ck_assert_uint_eq(cfg.validation.max_amount, 1000000);
	ck_assert_int_eq(cfg.validation.unknown_fields, TXP_UNKNOWN_IGNORE);
	ck_assert_int_eq(cfg.log.level, TXP_LOG_INFO);
	ck_assert_int_eq(cfg.log.format, TXP_LOG_FORMAT_KV);
	ck_assert_ptr_null(cfg.path);
	txp_config_free(&cfg);
	ck_assert_ptr_null(cfg.daemon.socket);
	/* Freeing twice, or a zeroed struct, is harmless. */
	txp_config_free(&cfg);
	txp_config_free(NULL);
}
END_TEST

START_TEST(every_default_formats_back_to_its_table_text)
{
	struct txp_config cfg;
	char buf[256];

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		ck_assert_int_lt(txp_config_format_value(&cfg, k, buf, sizeof(buf)), (int)sizeof(buf));
		ck_assert_msg(strcmp(buf, k->default_value) == 0, "[%s] %s: default %s formats as %s", k->section,
		              k->key, k->default_value, buf);
	}
	txp_config_free(&cfg);
}
END_TEST

START_TEST(summary_and_range_text_describe_a_row)
{
	char buf[256];

	txp_config_key_summary(row("daemon", "max_line_bytes"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "size; default 64k; range 256 to 16M; reloadable: yes");
	txp_config_key_summary(row("log", "level"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "enum; default info; one of err, warning, notice, info, debug; reloadable: yes");
	txp_config_key_summary(row("daemon", "socket_group"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "string; default empty; at most 32 bytes; reloadable: no");
	txp_config_range_text(row("daemon", "socket"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "length 1 to 107 bytes");
	txp_config_range_text(row("daemon", "shutdown_timeout_ms"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "0 to 1h");
	txp_config_range_text(row("daemon", "socket_mode"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "0 to 0777");
	/* A short buffer is truncated and terminated, and the needed length is returned. */
	ck_assert_int_eq(txp_config_key_summary(row("daemon", "max_line_bytes"), buf, 5), 52);
	ck_assert_str_eq(buf, "size");
	ck_assert_str_eq(txp_config_type_name(TXP_CFG_POW2), "power of two");
}
END_TEST

/* ---- Value parsers at their bounds ---- */

START_TEST(uint_accepts_its_bounds_and_refuses_junk_signs_and_overflow)
{
	struct txp_config cfg;

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "daemon", "max_clients", "1");
	ck_assert_uint_eq(cfg.daemon.max_clients, 1);
	ACCEPTS(&cfg, "daemon", "max_clients", "65536");
	ck_assert_uint_eq(cfg.daemon.max_clients, 65536);
	ACCEPTS(&cfg, "daemon", "max_clients", "0007");
	ck_assert_uint_eq(cfg.daemon.max_clients, 7);
	REFUSES(&cfg, "daemon", "max_clients", "0", "out of range (expected 1 to 65536)");
	REFUSES(&cfg, "daemon", "max_clients", "65537", "out of range (expected 1 to 65536)");
	REFUSES(&cfg, "daemon", "max_clients", "18446744073709551615", "out of range (expected 1 to 65536)");
	REFUSES(&cfg, "daemon", "max_clients", "18446744073709551616", "too large (expected 1 to 65536)");
	REFUSES(&cfg, "daemon", "max_clients", "99999999999999999999999", "too large (expected 1 to 65536)");
	ck_assert_uint_eq(cfg.daemon.max_clients, 7); /* refused values leave the field alone */
	static const char *const junk[] = { "", "-1", "+1", " 1", "1 ", "1x", "0x10", "1e3", "1k", "1.0", NULL };
	for (int i = 0; junk[i] != NULL; i++)
		REFUSES(&cfg, "daemon", "max_clients", junk[i], "not a number (expected decimal digits)");
	ACCEPTS(&cfg, "pipeline", "workers", "0");
	ACCEPTS(&cfg, "pipeline", "workers", "16");
	REFUSES(&cfg, "pipeline", "workers", "17", "out of range (expected auto, or 0 to 16)");
	REFUSES(&cfg, "pipeline", "workers", "Auto", "not a number (expected decimal digits or auto)");
	ACCEPTS(&cfg, "pipeline", "workers", "auto");
	ck_assert_uint_eq(cfg.pipeline.workers, TXP_CFG_AUTO);
	ACCEPTS(&cfg, "validation", "max_amount", "1000000000000");
	ck_assert_uint_eq(cfg.validation.max_amount, UINT64_C(1000000000000));
	REFUSES(&cfg, "validation", "max_amount", "1000000000001", "out of range (expected 1 to 1000000000000)");
	REFUSES(&cfg, "validation", "max_amount", "0", "out of range (expected 1 to 1000000000000)");
	txp_config_free(&cfg);
}
END_TEST

START_TEST(size_accepts_suffixes_of_1024_within_bounds)
{
	struct txp_config cfg;
	const char *not_size = "not a size (expected a number with optional k/M/G suffix)";

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "daemon", "max_line_bytes", "256");
	ck_assert_uint_eq(cfg.daemon.max_line_bytes, 256);
	ACCEPTS(&cfg, "daemon", "max_line_bytes", "1k");
	ck_assert_uint_eq(cfg.daemon.max_line_bytes, 1024);
	ACCEPTS(&cfg, "daemon", "max_line_bytes", "64K");
	ck_assert_uint_eq(cfg.daemon.max_line_bytes, 65536);
	ACCEPTS(&cfg, "daemon", "max_line_bytes", "16M");
	ck_assert_uint_eq(cfg.daemon.max_line_bytes, 16777216);
	ACCEPTS(&cfg, "daemon", "max_line_bytes", "16777216");
	REFUSES(&cfg, "daemon", "max_line_bytes", "255", "out of range (expected 256 to 16M)");
	REFUSES(&cfg, "daemon", "max_line_bytes", "16777217", "out of range (expected 256 to 16M)");
	REFUSES(&cfg, "daemon", "max_line_bytes", "16385k", "out of range (expected 256 to 16M)");
	REFUSES(&cfg, "daemon", "max_line_bytes", "1G", "out of range (expected 256 to 16M)");
	/* 2^34 G is 2^64 bytes: one past what fits. */
	REFUSES(&cfg, "daemon", "max_line_bytes", "17179869184G", "too large (expected 256 to 16M)");
	static const char *const junk[] = { "12x", "", "k", "1kk", "1 k", "0.5M", "1m", "1g", "1KB", "-1k", NULL };
	for (int i = 0; junk[i] != NULL; i++)
		REFUSES(&cfg, "daemon", "max_line_bytes", junk[i], not_size);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(duration_reads_ms_s_m_h_and_bare_milliseconds)
{
	struct txp_config cfg;
	const char *not_duration = "not a duration (expected a number with optional ms/s/m/h suffix)";

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "daemon", "shutdown_timeout_ms", "0");
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 0);
	ACCEPTS(&cfg, "daemon", "shutdown_timeout_ms", "1500");
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 1500);
	ACCEPTS(&cfg, "daemon", "shutdown_timeout_ms", "1500ms");
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 1500);
	ACCEPTS(&cfg, "daemon", "shutdown_timeout_ms", "30s");
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 30000);
	ACCEPTS(&cfg, "daemon", "shutdown_timeout_ms", "2m");
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 120000);
	ACCEPTS(&cfg, "daemon", "shutdown_timeout_ms", "1h");
	ck_assert_uint_eq(cfg.daemon.shutdown_timeout_ms, 3600000);
	REFUSES(&cfg, "daemon", "shutdown_timeout_ms", "3600001", "out of range (expected 0 to 1h)");
	REFUSES(&cfg, "daemon", "shutdown_timeout_ms", "61m", "out of range (expected 0 to 1h)");
	REFUSES(&cfg, "daemon", "shutdown_timeout_ms", "18446744073709551615h", "too large (expected 0 to 1h)");
	static const char *const junk[] = { "", "s", "2d", "1s5", "1 s", "1S", "1.5s", "-1s", "1sec", NULL };
	for (int i = 0; junk[i] != NULL; i++)
		REFUSES(&cfg, "daemon", "shutdown_timeout_ms", junk[i], not_duration);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(mode_reads_octal_up_to_0777)
{
	struct txp_config cfg;
	const char *not_mode = "not an octal mode (expected octal digits, e.g. 0660)";
	const char *too_big = "mode above 0777 (only permission bits are allowed)";

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "daemon", "socket_mode", "0");
	ck_assert_uint_eq(cfg.daemon.socket_mode, 0);
	ACCEPTS(&cfg, "daemon", "socket_mode", "0777");
	ck_assert_uint_eq(cfg.daemon.socket_mode, 0777);
	ACCEPTS(&cfg, "daemon", "socket_mode", "640");
	ck_assert_uint_eq(cfg.daemon.socket_mode, 0640);
	ACCEPTS(&cfg, "daemon", "socket_mode", "0000660");
	ck_assert_uint_eq(cfg.daemon.socket_mode, 0660);
	REFUSES(&cfg, "daemon", "socket_mode", "1000", too_big);
	REFUSES(&cfg, "daemon", "socket_mode", "04755", too_big);
	/* Long enough to wrap 64 bits if it were accumulated blindly. */
	REFUSES(&cfg, "daemon", "socket_mode", "7777777777777777777777777777", too_big);
	static const char *const junk[] = { "", "0778", "0x1ff", "rw-rw----", "-0660", "0660 ", "u+rw", NULL };
	for (int i = 0; junk[i] != NULL; i++)
		REFUSES(&cfg, "daemon", "socket_mode", junk[i], not_mode);
	ck_assert_uint_eq(cfg.daemon.socket_mode, 0660);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(pow2_requires_a_power_of_two_within_bounds)
{
	struct txp_config cfg;

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "pipeline", "ring_capacity", "64");
	ACCEPTS(&cfg, "pipeline", "ring_capacity", "1048576");
	ck_assert_uint_eq(cfg.pipeline.ring_capacity, 1048576);
	REFUSES(&cfg, "pipeline", "ring_capacity", "32", "out of range (expected 64 to 1048576)");
	REFUSES(&cfg, "pipeline", "ring_capacity", "2097152", "out of range (expected 64 to 1048576)");
	REFUSES(&cfg, "pipeline", "ring_capacity", "100",
	        "not a power of two (expected 1, 2, 4, 8, ... within 64 to 1048576)");
	REFUSES(&cfg, "pipeline", "ring_capacity", "1048575",
	        "not a power of two (expected 1, 2, 4, 8, ... within 64 to 1048576)");
	REFUSES(&cfg, "pipeline", "ring_capacity", "0",
	        "not a power of two (expected 1, 2, 4, 8, ... within 64 to 1048576)");
	REFUSES(&cfg, "pipeline", "ring_capacity", "4k", "not a number (expected decimal digits)");
	ACCEPTS(&cfg, "pipeline", "max_inflight_per_client", "1");
	ck_assert_uint_eq(cfg.pipeline.max_inflight_per_client, 1);
	ACCEPTS(&cfg, "pipeline", "max_inflight_per_client", "65536");
	REFUSES(&cfg, "pipeline", "max_inflight_per_client", "131072", "out of range (expected 1 to 65536)");
	txp_config_free(&cfg);
}
END_TEST

START_TEST(enum_maps_names_to_their_values_exactly)
{
	struct txp_config cfg;
	const char *levels = "not one of err, warning, notice, info, debug";

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "log", "level", "err");
	ck_assert_int_eq(cfg.log.level, TXP_LOG_ERR);
	ACCEPTS(&cfg, "log", "level", "warning");
	ck_assert_int_eq(cfg.log.level, TXP_LOG_WARNING);
	ACCEPTS(&cfg, "log", "level", "notice");
	ck_assert_int_eq(cfg.log.level, TXP_LOG_NOTICE);
	ACCEPTS(&cfg, "log", "level", "debug");
	ck_assert_int_eq(cfg.log.level, TXP_LOG_DEBUG);
	REFUSES(&cfg, "log", "level", "Info", levels);
	REFUSES(&cfg, "log", "level", "", levels);
	REFUSES(&cfg, "log", "level", "6", levels);
	REFUSES(&cfg, "log", "level", "debugx", levels);
	ck_assert_int_eq(cfg.log.level, TXP_LOG_DEBUG);
	ACCEPTS(&cfg, "log", "format", "json");
	ck_assert_int_eq(cfg.log.format, TXP_LOG_FORMAT_JSON);
	REFUSES(&cfg, "log", "format", "text", "not one of kv, json");
	ACCEPTS(&cfg, "validation", "unknown_fields", "reject");
	ck_assert_int_eq(cfg.validation.unknown_fields, TXP_UNKNOWN_REJECT);
	REFUSES(&cfg, "validation", "unknown_fields", "drop", "not one of ignore, reject");
	txp_config_free(&cfg);
}
END_TEST

START_TEST(path_must_be_absolute_and_fit_its_length)
{
	struct txp_config cfg;
	char long_path[110];

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "daemon", "socket", "/s");
	ck_assert_str_eq(cfg.daemon.socket, "/s");
	memset(long_path, 'a', sizeof(long_path));
	long_path[0] = '/';
	long_path[107] = '\0';
	ACCEPTS(&cfg, "daemon", "socket", long_path);
	long_path[107] = 'a';
	long_path[108] = '\0';
	REFUSES(&cfg, "daemon", "socket", long_path, "longer than 107 bytes");
	REFUSES(&cfg, "daemon", "socket", "run/txpiped.sock", "not an absolute path (expected one starting with /)");
	REFUSES(&cfg, "daemon", "socket", "~/txpiped.sock", "not an absolute path (expected one starting with /)");
	REFUSES(&cfg, "daemon", "socket", "", "empty (a value is required)");
	ck_assert_uint_eq(strlen(cfg.daemon.socket), 107);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(string_may_be_empty_and_is_bounded)
{
	struct txp_config cfg;
	char name[40];

	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	ACCEPTS(&cfg, "daemon", "socket_group", "txpipe");
	ck_assert_str_eq(cfg.daemon.socket_group, "txpipe");
	ACCEPTS(&cfg, "daemon", "socket_group", "");
	ck_assert_str_eq(cfg.daemon.socket_group, "");
	memset(name, 'g', sizeof(name));
	name[32] = '\0';
	ACCEPTS(&cfg, "daemon", "socket_group", name);
	name[32] = 'g';
	name[33] = '\0';
	REFUSES(&cfg, "daemon", "socket_group", name, "longer than 32 bytes");
	txp_config_free(&cfg);
}
END_TEST

/*
 * The table has no boolean, list or minimum-length string row yet, so these
 * use rows of their own over a store that starts like struct txp_config.
 */
struct extra_fields {
	bool flag;
	struct txp_strlist list;
	char *name;
};

union test_store {
	struct txp_config cfg;
	struct extra_fields x;
};

static const char *const no_names[] = { NULL };

static const struct txp_config_key bool_row = {
	.section = "t",
	.key = "flag",
	.type = TXP_CFG_BOOL,
	.offset = offsetof(struct extra_fields, flag),
	.default_value = "false",
	.help = "A flag.",
	.enum_names = no_names,
};
static const struct txp_config_key list_row = {
	.section = "t",
	.key = "list",
	.type = TXP_CFG_LIST,
	.offset = offsetof(struct extra_fields, list),
	.min = 0,
	.max = 3,
	.default_value = "",
	.help = "A list.",
};
static const struct txp_config_key name_row = {
	.section = "t",
	.key = "name",
	.type = TXP_CFG_STRING,
	.offset = offsetof(struct extra_fields, name),
	.min = 2,
	.max = 0,
	.default_value = "ab",
	.help = "A name.",
};

START_TEST(bool_accepts_the_usual_spellings_in_any_case)
{
	union test_store u;
	char err[256], buf[16];
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE", "Yes", "oN", NULL };
	static const char *const no[] = { "false", "no", "off", "0", "FALSE", "No", "OFF", NULL };
	static const char *const junk[] = { "", "2", "y", "n", "enabled", "true ", "01", NULL };

	memset(&u, 0, sizeof(u));
	for (int i = 0; yes[i] != NULL; i++) {
		u.x.flag = false;
		ck_assert_int_eq(txp_config_set(&u.cfg, &bool_row, yes[i], err, sizeof(err)), 0);
		ck_assert(u.x.flag);
		txp_config_format_value(&u.cfg, &bool_row, buf, sizeof(buf));
		ck_assert_str_eq(buf, "true");
	}
	for (int i = 0; no[i] != NULL; i++) {
		u.x.flag = true;
		ck_assert_int_eq(txp_config_set(&u.cfg, &bool_row, no[i], err, sizeof(err)), 0);
		ck_assert(!u.x.flag);
	}
	for (int i = 0; junk[i] != NULL; i++) {
		ck_assert_int_eq(txp_config_set(&u.cfg, &bool_row, junk[i], err, sizeof(err)), -EINVAL);
		ck_assert_str_eq(err, "not a boolean (expected true/false, yes/no, on/off or 1/0)");
	}
}
END_TEST

START_TEST(list_splits_trims_and_refuses_empty_items)
{
	union test_store u;
	char err[256], buf[64];
	const char *empty_item = "empty item in list (expected items separated by commas)";

	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(txp_config_set(&u.cfg, &list_row, "a, b ,c", err, sizeof(err)), 0);
	ck_assert_uint_eq(u.x.list.n, 3);
	ck_assert_str_eq(u.x.list.items[0], "a");
	ck_assert_str_eq(u.x.list.items[1], "b");
	ck_assert_str_eq(u.x.list.items[2], "c");
	txp_config_format_value(&u.cfg, &list_row, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a, b, c");
	ck_assert_int_eq(txp_config_set(&u.cfg, &list_row, "a,b,c,d", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "4 items (expected at most 3 items)");
	static const char *const junk[] = { "a,,b", "a,", ",a", " , ", "a, ,b", NULL };
	for (int i = 0; junk[i] != NULL; i++) {
		ck_assert_int_eq(txp_config_set(&u.cfg, &list_row, junk[i], err, sizeof(err)), -EINVAL);
		ck_assert_str_eq(err, empty_item);
	}
	ck_assert_uint_eq(u.x.list.n, 3); /* kept through the refusals */
	ck_assert_int_eq(txp_config_set(&u.cfg, &list_row, "one item with spaces", err, sizeof(err)), 0);
	ck_assert_uint_eq(u.x.list.n, 1);
	ck_assert_str_eq(u.x.list.items[0], "one item with spaces");
	ck_assert_int_eq(txp_config_set(&u.cfg, &list_row, "", err, sizeof(err)), 0);
	ck_assert_uint_eq(u.x.list.n, 0);
	ck_assert_ptr_null(u.x.list.items);
	txp_config_format_value(&u.cfg, &list_row, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(string_minimum_length_is_enforced)
{
	union test_store u;
	char err[256];

	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(txp_config_set(&u.cfg, &name_row, "ab", err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_set(&u.cfg, &name_row, "a", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "shorter than 2 bytes");
	ck_assert_int_eq(txp_config_set(&u.cfg, &name_row, "", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "empty (a value is required)");
	ck_assert_str_eq(u.x.name, "ab");
	free(u.x.name);
}
END_TEST

/* ---- Loading files ---- */

START_TEST(load_reads_values_over_the_defaults)
{
	struct txp_config cfg;
	char msg[512], buf[64];
	const char *text = "\xEF\xBB\xBF; a comment\r\n"
	                   "# another\r\n"
	                   "\r\n"
	                   "[daemon]\r\n"
	                   "socket=/tmp/t.sock\r\n"
	                   "max_line_bytes = 1M ; inline comment\r\n"
	                   "   ; an indented comment is still a comment\r\n"
	                   "[log]   ; comment after a header\n"
	                   "level = debug\n"
	                   "[daemon]\n"
	                   "socket_group = txpipe\n"
	                   "[pipeline]\n";

	ck_assert_int_eq(load_text(&cfg, text, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "");
	ck_assert_ptr_nonnull(cfg.path);
	ck_assert_str_eq(cfg.daemon.socket, "/tmp/t.sock");
	ck_assert_uint_eq(cfg.daemon.max_line_bytes, 1048576);
	ck_assert_str_eq(cfg.daemon.socket_group, "txpipe");
	ck_assert_int_eq(cfg.log.level, TXP_LOG_DEBUG);
	ck_assert_uint_eq(cfg.pipeline.ring_capacity, 4096); /* untouched: the default */
	ck_assert_str_eq(value_of(&cfg, "daemon", "shutdown_timeout_ms", buf, sizeof(buf)), "30s");
	txp_config_free(&cfg);

	ck_assert_int_eq(load_text(&cfg, "", msg, sizeof(msg)), 0);
	ck_assert_uint_eq(cfg.daemon.max_clients, 1024);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(load_reports_a_missing_or_unreadable_file_with_strerror)
{
	struct txp_config cfg;
	char err[512];
	const char *dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	char want[512];

	ck_assert_int_eq(txp_config_load(&cfg, "/nonexistent/txpiped.ini", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/txpiped.ini: cannot open: No such file or directory");
	ck_assert_uint_eq(cfg.daemon.max_clients, 1024); /* defaults are still there */
	txp_config_free(&cfg);

	ck_assert_int_eq(txp_config_load(&cfg, dir, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot open: is a directory, not a regular file", dir);
	ck_assert_str_eq(err, want);
	txp_config_free(&cfg);
}
END_TEST

START_TEST(load_names_file_line_key_and_what_is_wrong_in_a_value)
{
	load_fails("[daemon]\n\n; comment\n\n\n\n\n\n\n\n\nmax_line_bytes = 12x\n",
	           "F:12: [daemon] max_line_bytes = 12x: not a size (expected a number with optional k/M/G "
	           "suffix)");
	load_fails("[pipeline]\nworkers = 99\n", "F:2: [pipeline] workers = 99: out of range (expected auto, or 0 to 16)");
	load_fails("[daemon]\nsocket = relative.sock\n",
	           "F:2: [daemon] socket = relative.sock: not an absolute path (expected one starting with /)");
	load_fails("[daemon]\nsocket =\n", "F:2: [daemon] socket = : empty (a value is required)");
	load_fails("[log]\nlevel = verbose\n",
	           "F:2: [log] level = verbose: not one of err, warning, notice, info, debug");
	/* A control character in the value is not copied into the message. */
	load_fails("[log]\nlevel = de\x01g\n", "F:2: [log] level = de?g: not one of err, warning, notice, info, debug");
}
END_TEST

START_TEST(load_refuses_unknown_sections_and_keys)
{
	/* The list of known sections grows with the table; these four come first. */
	load_fails_prefix("[daemon]\nsocket = /s\n[frauds]\nthreshold = 3\n",
	                  "F:3: [frauds]: unknown section "
	                  "(expected one of daemon, pipeline, validation, log");
	/* Even a section that holds no key. */
	load_fails_prefix("[Daemon]\n", "F:1: [Daemon]: unknown section "
	                                "(expected one of daemon, pipeline, validation, log");
	load_fails("[daemon]\nsockets = /s\n", "F:2: [daemon] sockets = /s: unknown key in [daemon]");
	load_fails("[log]\nworkers = 2\n", "F:2: [log] workers = 2: unknown key in [log]");
	load_fails("; top\nworkers = 2\n", "F:2: workers = 2: key outside any section (put it under its [section])");
	/* A byte order mark is no part of the first line: its header is checked like any other. */
	load_fails_prefix("\xEF\xBB\xBF[nope]\nx = 1\n",
	                  "F:1: [nope]: unknown section (expected one of daemon, pipeline, validation, log");
}
END_TEST

START_TEST(load_refuses_a_key_given_twice)
{
	load_fails("[daemon]\nsocket = /a\n[log]\nlevel = info\n[daemon]\nsocket = /b\n",
	           "F:6: [daemon] socket = /b: set twice (first on line 2)");
}
END_TEST

START_TEST(load_refuses_what_inih_would_silently_mangle)
{
	char text[512];

	/* With inih's default INI_ALLOW_MULTILINE an indented line continues the previous value. */
	load_fails("[daemon]\nsocket = /a\n  max_clients = 3\n",
	           "F:3: max_clients = 3: indented line (start keys and sections in the first column; leading "
	           "whitespace would continue the previous value)");
	load_fails("[daemon]\n\t[log]\n", "F:2: [log]: indented line (start keys and sections in the first "
	                                  "column; leading whitespace would continue the previous value)");
	load_fails("[daemon] socket = /a\n", "F:1: [daemon] socket = /a: text after the section header");
	/* inih reads "key =;x" as the value ";x" but "key = ;x" as an empty
	 * value and a comment: a file written back would mean something else
	 * (found by tests/fuzz/fuzz_config). */
	load_fails("[aws]\nregion =; us-east-1\n",
	           "F:2: [aws] region = ; us-east-1: value starts with ';' (with a space before it, it is a "
	           "comment; remove it, or leave the value empty)");
	load_fails("[daemon]\nsocket: /a\n",
	           "F:2: socket: /a: expected key = value (\":\" does not separate a key from its value)");
	/* A key name too long for inih's fixed buffer is refused, not split. */
	snprintf(text, sizeof(text), "[daemon]\n%0200d = 1\n", 0);
	load_fails(text, "F:2: 00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	                 "...: key longer than 197 characters");
}
END_TEST

START_TEST(load_quotes_a_syntax_error_line)
{
	load_fails("[daemon]\nmax_clients 12\n",
	           "F:2: max_clients 12: syntax error (expected [section], key = value or a comment)");
	load_fails("[daemon\nsocket = /a\n", "F:1: [daemon: syntax error (expected [section], key = value or a "
	                                     "comment)");
	/* The first fault is the one reported, whichever part of the loader found it. */
	load_fails("[daemon]\nmax_clients\nmax_clients = 0\n",
	           "F:2: max_clients: syntax error (expected [section], key = value or a comment)");
	load_fails("[daemon]\nmax_clients = 0\nmax_clients\n",
	           "F:2: [daemon] max_clients = 0: out of range (expected 1 to 65536)");
}
END_TEST

START_TEST(a_line_with_a_nul_byte_is_refused)
{
	static const char text[] = "[daemon]\nsocket_group = a\0b\n";
	struct txp_config cfg;
	char *path = temp_file(text, sizeof(text) - 1);
	char err[512], want[512];

	ck_assert_int_eq(txp_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: line contains a NUL byte", path);
	ck_assert_str_eq(err, want);
	txp_config_free(&cfg);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(a_short_error_buffer_is_truncated_not_overrun)
{
	struct txp_config cfg;
	char err[8];

	ck_assert_int_eq(txp_config_load(&cfg, "/nonexistent/x.ini", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexi");
	txp_config_free(&cfg);
}
END_TEST

/* ---- Writing, reloading ---- */

START_TEST(written_config_loads_back_to_the_same_values)
{
	struct txp_config cfg, back;
	char msg[512], a[256], b[256];
	char *dump = NULL, *path;
	size_t dump_len = 0;
	FILE *out;

	ck_assert_int_eq(load_text(&cfg,
	                           "[daemon]\nsocket_group = wheel\nshutdown_timeout_ms = 1500\nsocket_mode = 0600\n"
	                           "[log]\nformat = json\n[pipeline]\nworkers = 0\n",
	                           msg, sizeof(msg)),
	                 0);
	out = open_memstream(&dump, &dump_len);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(txp_config_write(&cfg, out), 0);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(dump, "[daemon]\nsocket = /run/txpiped/txpiped.sock\nsocket_mode = 0600\n"));
	ck_assert_ptr_nonnull(strstr(dump, "shutdown_timeout_ms = 1500ms\n"));
	ck_assert_ptr_nonnull(strstr(dump, "\n\n[log]\nlevel = info\nformat = json\n"));

	path = temp_file(dump, dump_len);
	ck_assert_int_eq(txp_config_load(&back, path, msg, sizeof(msg)), 0);
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		txp_config_format_value(&cfg, k, a, sizeof(a));
		txp_config_format_value(&back, k, b, sizeof(b));
		ck_assert_str_eq(a, b);
	}
	txp_config_free(&back);
	txp_config_free(&cfg);
	unlink(path);
	free(path);
	free(dump);
}
END_TEST

START_TEST(diff_lists_changed_keys_that_need_a_restart)
{
	struct txp_config old, next;
	char err[256], buf[256];

	ck_assert_int_eq(txp_config_defaults(&old), 0);
	ck_assert_int_eq(txp_config_defaults(&next), 0);
	ck_assert_int_eq(txp_config_diff_nonreloadable(&old, &next, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");

	ck_assert_int_eq(set(&next, "log", "level", "debug", err, sizeof(err)), 0);
	ck_assert_int_eq(set(&next, "validation", "max_amount", "5", err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_diff_nonreloadable(&old, &next, buf, sizeof(buf)), 0);

	ck_assert_int_eq(set(&next, "daemon", "socket", "/other.sock", err, sizeof(err)), 0);
	ck_assert_int_eq(set(&next, "pipeline", "workers", "4", err, sizeof(err)), 0);
	ck_assert_int_eq(txp_config_diff_nonreloadable(&old, &next, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "[daemon] socket, [pipeline] workers");
	ck_assert_int_eq(txp_config_diff_nonreloadable(&old, &next, buf, 12), 2);
	ck_assert_str_eq(buf, "[daemon] so");

	/* SIGHUP: the reloadable keys move over, the others stay as they were. */
	ck_assert_int_eq(txp_config_apply_reloadable(&old, &next), 0);
	ck_assert_int_eq(old.log.level, TXP_LOG_DEBUG);
	ck_assert_uint_eq(old.validation.max_amount, 5);
	ck_assert_str_eq(old.daemon.socket, "/run/txpiped/txpiped.sock");
	ck_assert_uint_eq(old.pipeline.workers, TXP_CFG_AUTO);
	ck_assert_int_eq(txp_config_diff_nonreloadable(&old, &next, buf, sizeof(buf)), 2);
	txp_config_free(&next);
	txp_config_free(&old);
}
END_TEST

/* ---- Long lines: values past libinih's 200-byte buffer ---- */

/* A file of `text`, loaded; the caller frees cfg.  Fails the test with the message if refused. */
static void load_ok(struct txp_config *cfg, const char *text)
{
	char msg[512];

	ck_assert_msg(load_text(cfg, text, msg, sizeof(msg)) == 0, "%s", msg);
}

START_TEST(usd_rates_with_40_currencies_on_one_line_loads)
{
	static const char *const codes[40] = { "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK",
		                               "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "ISK", "TRY", "ILS", "ZAR",
		                               "MXN", "BRL", "ARS", "CLP", "COP", "PEN", "INR", "CNY", "HKD", "SGD",
		                               "KRW", "TWD", "THB", "MYR", "IDR", "PHP", "AED", "SAR", "QAR", "KWD" };
	struct txp_config cfg;
	struct txp_rates rates;
	char text[2048], err[256];
	size_t used;

	used = (size_t)snprintf(text, sizeof(text), "[compliance]\nusd_rates = ");
	for (int i = 0; i < 40; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s:%d", i > 0 ? ", " : "", codes[i],
		                         1000000 + i);
	snprintf(text + used, sizeof(text) - used, " ; forty of them\n[log]\nlevel = debug\n");
	ck_assert_uint_gt(strlen(strchr(text, '\n') + 1), 500); /* well past inih's 197 */
	load_ok(&cfg, text);
	ck_assert_int_eq(txp_rates_parse(cfg.compliance.usd_rates, &rates, err, sizeof(err)), 0);
	ck_assert_uint_eq(rates.n, 40);
	ck_assert_uint_eq(txp_rates_find(&rates, "KWD"), 1000039);
	ck_assert_uint_eq(txp_rates_find(&rates, "USD"), 1000000);
	/* The comment was cut and the next line still read. */
	ck_assert_ptr_null(strstr(cfg.compliance.usd_rates, "forty"));
	ck_assert_int_eq(cfg.log.level, TXP_LOG_DEBUG);
	txp_rates_free(&rates);
	txp_config_free(&cfg);
}
END_TEST

/* "[compliance]\nusd_rates = USD:1000000,<spaces>EUR:1080000\n" with a value of exactly `len` bytes. */
static char *rates_of_length(size_t len)
{
	static const char head[] = "[compliance]\nusd_rates = USD:1000000,", tail[] = "EUR:1080000\n";
	size_t pad = len - (sizeof("USD:1000000,") - 1) - (sizeof("EUR:1080000") - 1);
	char *text = malloc(sizeof(head) + pad + sizeof(tail));

	ck_assert_ptr_nonnull(text);
	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, ' ', pad);
	memcpy(text + sizeof(head) - 1 + pad, tail, sizeof(tail));
	return text;
}

START_TEST(a_value_of_its_documented_maximum_loads_and_one_byte_more_is_refused)
{
	struct txp_config cfg;
	char *text, want[512];

	ck_assert_uint_eq(row("compliance", "usd_rates")->max, 8192);
	text = rates_of_length(8192);
	load_ok(&cfg, text);
	ck_assert_uint_eq(strlen(cfg.compliance.usd_rates), 8192);
	txp_config_free(&cfg);
	free(text);

	text = rates_of_length(8193);
	snprintf(want, sizeof(want), "F:2: [compliance] usd_rates = USD:1000000,%68s...: longer than 8192 bytes", "");
	load_fails(text, want);
	free(text);
}
END_TEST

START_TEST(a_line_of_the_documented_maximum_loads_and_a_longer_one_is_refused)
{
	size_t n = TXP_CONFIG_LINE_MAX;
	char *text = malloc(n + 32), want[256];
	struct txp_config cfg;

	ck_assert_int_eq(TXP_CONFIG_LINE_MAX, 16384);
	ck_assert_ptr_nonnull(text);
	/* Every text value fits on a line at its longest, with its key. */
	for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++) {
		if (k->type != TXP_CFG_STRING && k->type != TXP_CFG_PATH)
			continue;
		ck_assert_msg(k->max != 0 && strlen(k->key) + 3 + k->max <= TXP_CONFIG_LINE_MAX,
		              "[%s] %s = <%" PRIu64 " bytes> does not fit on a line", k->section, k->key, k->max);
	}
	/* A comment line of exactly TXP_CONFIG_LINE_MAX bytes, newline excluded. */
	strcpy(text, "[log]\n#");
	memset(text + 7, 'x', n - 1);
	strcpy(text + 6 + n, "\nlevel = err\n");
	load_ok(&cfg, text);
	ck_assert_int_eq(cfg.log.level, TXP_LOG_ERR);
	txp_config_free(&cfg);

	memset(text + 7, 'x', n);
	strcpy(text + 7 + n, "\n");
	snprintf(want, sizeof(want), "F:2: #%.79s...: line longer than 16384 bytes", text + 7);
	load_fails(text, want);
	free(text);
}
END_TEST

struct inih_value {
	char value[256];
};

static int take_value(void *user, const char *section, const char *name, const char *value)
{
	struct inih_value *v = user;

	(void)section;
	(void)name;
	snprintf(v->value, sizeof(v->value), "%s", value);
	return 1;
}

START_TEST(values_are_cut_as_inih_cuts_them)
{
	/* inih sees only the part of a line up to '='; the value is cut by
	 * our own code, which must read every short line as inih does.  (A
	 * value starting with ';', "key =;c", is refused: see
	 * load_refuses_what_inih_would_silently_mangle.) */
	static const char *const values[] = { "a",    "  a  ", "a ;c",      "a;c", " ;c", "a\t;c",
		                              "'q' ", "a = b", "a ; b ; c", "\t",  "",    "x ;" };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct inih_value v = { "" };
		struct txp_config cfg;
		char text[128];

		snprintf(text, sizeof(text), "[daemon]\nsocket_group =%s\n", values[i]);
		ck_assert_int_eq(ini_parse_string(text, take_value, &v), 0);
		load_ok(&cfg, text);
		ck_assert_msg(strcmp(cfg.daemon.socket_group, v.value) == 0, "\"%s\": inih \"%s\", ours \"%s\"",
		              values[i], v.value, cfg.daemon.socket_group);
		txp_config_free(&cfg);
	}
}
END_TEST

/* ---- Checks across keys and the daemon's own, at load ---- */

START_TEST(settings_that_must_agree_name_the_key_the_file_set_last)
{
	struct txp_config cfg;

	load_fails("[fraud]\ndecline_threshold = 40\n",
	           "F:2: [fraud] decline_threshold = 40: below review_threshold (50)");
	load_fails("[fraud]\nreview_threshold = 90\n",
	           "F:2: [fraud] review_threshold = 90: above decline_threshold (80)");
	load_fails("[fraud]\ndecline_threshold = 60\nreview_threshold = 70\n",
	           "F:3: [fraud] review_threshold = 70: above decline_threshold (60)");
	load_fails("[fraud]\nwindow_short_ms = 2h\n",
	           "F:2: [fraud] window_short_ms = 2h: longer than window_medium_ms (1h)");
	load_fails("[fraud]\nwindow_long_ms = 30m\n",
	           "F:2: [fraud] window_long_ms = 30m: shorter than window_medium_ms (1h)");
	/* Equal is in order. */
	load_ok(&cfg, "[fraud]\nreview_threshold = 80\nwindow_short_ms = 1h\nwindow_long_ms = 1h\n");
	txp_config_free(&cfg);
	/* Without a file, the message names the key alone. */
	ck_assert_int_eq(txp_config_defaults(&cfg), 0);
	cfg.fraud.review_threshold = 81;
	{
		char err[256];
		ck_assert_int_eq(txp_config_validate(&cfg, err, sizeof(err)), -EINVAL);
		ck_assert_str_eq(err, "[fraud] decline_threshold = 80: below review_threshold (81)");
	}
	txp_config_free(&cfg);
}
END_TEST

START_TEST(stage_values_are_checked_at_load_naming_file_line_and_key)
{
	load_fails_prefix("[compliance]\nusd_rates = USD:1000000, 1K\n",
	                  "F:2: [compliance] usd_rates = USD:1000000, 1K: \"1K\"");
	load_fails("[fraud]\nhigh_risk_countries = KP,IRN\n",
	           "F:2: [fraud] high_risk_countries = KP,IRN: \"IRN\": not an ISO 3166-1 alpha-2 code");
	load_fails("[compliance]\nsanctioned_countries = CU,Iran\n",
	           "F:2: [compliance] sanctioned_countries = CU,Iran: \"Iran\": not an ISO 3166-1 alpha-2 code");
	load_fails("[compliance]\npseudonymise = customer_id,email\n",
	           "F:2: [compliance] pseudonymise = customer_id,email: \"email\": expected customer_id, "
	           "ip_address or device_id");
}
END_TEST

START_TEST(what_the_daemon_refuses_at_start_is_refused_at_load)
{
	struct txp_config cfg;

	load_fails_prefix("[dynamodb]\nendpoint = http://example.com\n",
	                  "F:2: [dynamodb] endpoint = http://example.com: ");
	load_fails_prefix("[sqs]\nendpoint = ftp://127.0.0.1/\n", "F:2: [sqs] endpoint = ftp://127.0.0.1/: ");
	load_fails_prefix("[aws]\nregion = US-EAST-1\n", "F:2: [aws] region = US-EAST-1: ");
	load_fails_prefix("[aws]\nimds_endpoint = http://192.0.2.1/\n",
	                  "F:2: [aws] imds_endpoint = http://192.0.2.1/: ");
	load_fails("[metrics]\nlisten = 0.0.0.0:9464\n",
	           "F:2: [metrics] listen = 0.0.0.0:9464: metrics listen 0.0.0.0: only loopback addresses are "
	           "allowed");
	load_fails_prefix("[metrics]\nlisten = 9464\n", "F:2: [metrics] listen = 9464: ");
	/* What the daemon takes, load takes. */
	load_ok(&cfg, "[dynamodb]\nendpoint = http://127.0.0.1:8000\n[sns]\nendpoint = https://sns.example.com/x\n"
	              "[metrics]\nlisten = 127.0.0.1:9464\n");
	txp_config_free(&cfg);
	/* Without delivery the endpoints are never used, as in the daemon. */
	load_ok(&cfg, "[aws]\nenabled = false\n[dynamodb]\nendpoint = http://example.com\n");
	txp_config_free(&cfg);
}
END_TEST

START_TEST(a_stage_message_naming_a_key_gets_the_file_and_line)
{
	struct txp_config cfg;
	char msg[512] = "[fraud] deny_cards: /x/deny.txt: is a directory, not a regular file", want[512];
	char *path = temp_file("[fraud]\n\ndeny_cards = /x/deny.txt\n", 34);

	ck_assert_int_eq(txp_config_load(&cfg, path, want, sizeof(want)), 0);
	ck_assert_int_eq(txp_config_locate(&cfg, msg, sizeof(msg)), 1);
	snprintf(want, sizeof(want),
	         "%s:3: [fraud] deny_cards = /x/deny.txt: /x/deny.txt: is a directory, not a regular file", path);
	ck_assert_str_eq(msg, want);
	/* A default is shown as one; a message naming no key is left alone. */
	snprintf(msg, sizeof(msg), "[compliance] pseudonym_key_file: key file /k: is a FIFO, not a regular file");
	ck_assert_int_eq(txp_config_locate(&cfg, msg, sizeof(msg)), 1);
	snprintf(want, sizeof(want),
	         "%s: [compliance] pseudonym_key_file = /etc/txpipe/keys/pseudonym.key (default): key file /k: is a "
	         "FIFO, not a regular file",
	         path);
	ck_assert_str_eq(msg, want);
	snprintf(msg, sizeof(msg), "out of memory");
	ck_assert_int_eq(txp_config_locate(&cfg, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "out of memory");
	txp_config_free(&cfg);
	unlink(path);
	free(path);
}
END_TEST

/* ---- Files the configuration names ---- */

/* A new empty directory for the files of one test; the caller removes it. */
static char *temp_dir(void)
{
	const char *dir = getenv("TMPDIR");
	char *path;

	ck_assert_int_gt(asprintf(&path, "%s/test_config.XXXXXX", dir != NULL ? dir : "/tmp"), 0);
	ck_assert_ptr_nonnull(mkdtemp(path));
	return path;
}

static char *join(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_gt(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(the_config_file_must_be_regular_and_a_link_to_one_is_followed)
{
	char *dir = temp_dir(), *fifo = join(dir, "fifo.ini"), *real = join(dir, "real.ini"),
	     *link = join(dir, "link.ini");
	struct txp_config cfg;
	char err[512], want[512];

	/* Without O_NONBLOCK the open would wait for a writer: the test would time out. */
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(txp_config_load(&cfg, fifo, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: cannot open: is a FIFO, not a regular file", fifo);
	ck_assert_str_eq(err, want);
	txp_config_free(&cfg);

	ck_assert_int_eq(txp_config_load(&cfg, "/dev/null", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "/dev/null: cannot open: is a character device, not a regular file");
	txp_config_free(&cfg);

	write_file(real, "[daemon]\nmax_clients = 7\n", 0644);
	ck_assert_int_eq(symlink(real, link), 0);
	ck_assert_msg(txp_config_load(&cfg, link, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.daemon.max_clients, 7);
	txp_config_free(&cfg);

	unlink(fifo);
	unlink(real);
	unlink(link);
	rmdir(dir);
	free(fifo);
	free(real);
	free(link);
	free(dir);
}
END_TEST

START_TEST(key_files_refuse_links_fifos_directories_and_special_files)
{
	static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	char *dir = temp_dir(), *real = join(dir, "real.key"), *link = join(dir, "link.key"),
	     *fifo = join(dir, "fifo.key");
	uint8_t key[TXP_KEY_BYTES];
	char err[512], want[512];

	write_file(real, hex, 0600);
	ck_assert_msg(txp_key_load(real, key, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(key[31], 0x1f);

	ck_assert_int_eq(symlink(real, link), 0);
	ck_assert_int_eq(txp_key_load(link, key, err, sizeof(err)), -ELOOP);
	snprintf(want, sizeof(want), "key file %s: is a symbolic link (name the file itself)", link);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(txp_key_load(fifo, key, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "key file %s: is a FIFO, not a regular file", fifo);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(txp_key_load(dir, key, err, sizeof(err)), -EISDIR);
	/* Mode 0600 and "regular", but no key: refused on its size, before any read. */
	ck_assert_int_eq(txp_key_load("/proc/self/mem", key, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "key file /proc/self/mem is 0 bytes: it must hold 32 raw bytes or 64 hex digits");

	unlink(real);
	unlink(link);
	unlink(fifo);
	rmdir(dir);
	free(real);
	free(link);
	free(fifo);
	free(dir);
}
END_TEST

START_TEST(list_files_refuse_fifos_and_directories_and_follow_links)
{
	char *dir = temp_dir(), *real = join(dir, "deny.txt"), *link = join(dir, "link.txt"),
	     *fifo = join(dir, "fifo.txt");
	struct txp_idset *set;
	char err[512], want[512];

	write_file(real, "c1\nc2\n", 0644);
	ck_assert_int_eq(symlink(real, link), 0);
	ck_assert_msg(txp_idset_load(link, &set, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(txp_idset_count(set), 2);
	txp_idset_free(set);

	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(txp_idset_load(fifo, &set, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: is a FIFO, not a regular file", fifo);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(txp_idset_load(dir, &set, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: is a directory, not a regular file", dir);
	ck_assert_str_eq(err, want);

	unlink(real);
	unlink(link);
	unlink(fifo);
	rmdir(dir);
	free(real);
	free(link);
	free(fifo);
	free(dir);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, table_rows_are_unique_grouped_and_documented);
	tcase_add_test(tc, defaults_fill_every_field_as_documented);
	tcase_add_test(tc, every_default_formats_back_to_its_table_text);
	tcase_add_test(tc, summary_and_range_text_describe_a_row);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, uint_accepts_its_bounds_and_refuses_junk_signs_and_overflow);
	tcase_add_test(tc, size_accepts_suffixes_of_1024_within_bounds);
	tcase_add_test(tc, duration_reads_ms_s_m_h_and_bare_milliseconds);
	tcase_add_test(tc, mode_reads_octal_up_to_0777);
	tcase_add_test(tc, pow2_requires_a_power_of_two_within_bounds);
	tcase_add_test(tc, enum_maps_names_to_their_values_exactly);
	tcase_add_test(tc, path_must_be_absolute_and_fit_its_length);
	tcase_add_test(tc, string_may_be_empty_and_is_bounded);
	tcase_add_test(tc, bool_accepts_the_usual_spellings_in_any_case);
	tcase_add_test(tc, list_splits_trims_and_refuses_empty_items);
	tcase_add_test(tc, string_minimum_length_is_enforced);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_test(tc, load_reads_values_over_the_defaults);
	tcase_add_test(tc, load_reports_a_missing_or_unreadable_file_with_strerror);
	tcase_add_test(tc, load_names_file_line_key_and_what_is_wrong_in_a_value);
	tcase_add_test(tc, load_refuses_unknown_sections_and_keys);
	tcase_add_test(tc, load_refuses_a_key_given_twice);
	tcase_add_test(tc, load_refuses_what_inih_would_silently_mangle);
	tcase_add_test(tc, load_quotes_a_syntax_error_line);
	tcase_add_test(tc, a_line_with_a_nul_byte_is_refused);
	tcase_add_test(tc, a_short_error_buffer_is_truncated_not_overrun);
	suite_add_tcase(s, tc);

	tc = tcase_create("long lines");
	tcase_add_test(tc, usd_rates_with_40_currencies_on_one_line_loads);
	tcase_add_test(tc, a_value_of_its_documented_maximum_loads_and_one_byte_more_is_refused);
	tcase_add_test(tc, a_line_of_the_documented_maximum_loads_and_a_longer_one_is_refused);
	tcase_add_test(tc, values_are_cut_as_inih_cuts_them);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_test(tc, settings_that_must_agree_name_the_key_the_file_set_last);
	tcase_add_test(tc, stage_values_are_checked_at_load_naming_file_line_and_key);
	tcase_add_test(tc, what_the_daemon_refuses_at_start_is_refused_at_load);
	tcase_add_test(tc, a_stage_message_naming_a_key_gets_the_file_and_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, the_config_file_must_be_regular_and_a_link_to_one_is_followed);
	tcase_add_test(tc, key_files_refuse_links_fifos_directories_and_special_files);
	tcase_add_test(tc, list_files_refuse_fifos_and_directories_and_follow_links);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_test(tc, written_config_loads_back_to_the_same_values);
	tcase_add_test(tc, diff_lists_changed_keys_that_need_a_restart);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
