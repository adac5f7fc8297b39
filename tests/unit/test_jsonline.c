/* test_jsonline.c: the JSON line reader: directed cases, then a differential test against jansson on generated lines. */
#include "txpipe/jsonline.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reader is 4 KiB; one static instance keeps test frames small. */
static struct txp_jsonline rd;
static struct txp_jsonline_member members[TXP_JSONLINE_MAX_MEMBERS + 1];
static size_t n_members;
static char work[1 << 16];

/* Reads `len` bytes of `line` (copied, since the reader rewrites it) to the
 * end; returns 0 or the error, with the members in `members`. */
static int read_line(const char *line, size_t len)
{
	int rc;

	ck_assert_uint_lt(len, sizeof(work));
	memcpy(work, line, len);
	work[len] = 'X'; /* the reader must not look past `len` */
	txp_jsonline_init(&rd, work, len);
	n_members = 0;
	while ((rc = txp_jsonline_next(&rd, &members[n_members])) > 0)
		n_members++;
	ck_assert_int_eq(txp_jsonline_next(&rd, &members[n_members]), rc); /* sticky */
	return rc;
}

static int read_str(const char *line)
{
	return read_line(line, strlen(line));
}

/* ---- Directed cases --------------------------------------------------------- */

START_TEST(strings_are_decoded_in_place_with_every_escape)
{
	ck_assert_int_eq(
	        read_str("{\"k\\u0041\\n\":\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\xc3\xa9\"}"), 0);
	ck_assert_uint_eq(n_members, 1);
	ck_assert_uint_eq(members[0].key_len, 3);
	ck_assert_mem_eq(members[0].key, "kA\n\0", 4);
	ck_assert_int_eq(members[0].value.type, TXP_JSONLINE_STRING);
	ck_assert_uint_eq(members[0].value.len, 20);
	ck_assert_mem_eq(members[0].value.text, "a\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9\0", 21);
	/* Unescaped strings are not copied: they point at the line itself. */
	ck_assert_int_eq(read_str("{\"amount\" : \"12.34\"}"), 0);
	ck_assert_ptr_eq(members[0].key, work + 2);
	ck_assert_ptr_eq(members[0].value.text, work + 13);
	ck_assert_str_eq(members[0].value.text, "12.34");
}
END_TEST

START_TEST(every_value_type_is_reported_and_nested_values_are_skipped)
{
	ck_assert_int_eq(read_str(" \t{\"s\":\"x\", \"n\":-1.5e+3,\"i\":42,\"t\":true,\"f\":false,\"z\":null,"
	                          "\"o\":{\"a\":[1,{\"b\":null}],\"c\":{}},\"a\":[[],[[\"\\u0041\"]]]}\r\n"),
	                 0);
	ck_assert_uint_eq(n_members, 8);
	ck_assert_int_eq(members[0].value.type, TXP_JSONLINE_STRING);
	ck_assert_int_eq(members[1].value.type, TXP_JSONLINE_NUMBER);
	ck_assert_uint_eq(members[1].value.len, 7);
	ck_assert_mem_eq(members[1].value.text, "-1.5e+3", 7);
	ck_assert(!members[1].value.is_integer);
	ck_assert(members[2].value.is_integer);
	ck_assert_int_eq(members[3].value.type, TXP_JSONLINE_TRUE);
	ck_assert_int_eq(members[4].value.type, TXP_JSONLINE_FALSE);
	ck_assert_int_eq(members[5].value.type, TXP_JSONLINE_NULL);
	ck_assert_int_eq(members[6].value.type, TXP_JSONLINE_OBJECT);
	ck_assert_int_eq(members[7].value.type, TXP_JSONLINE_ARRAY);
	ck_assert_str_eq(members[7].key, "a");
	ck_assert_int_eq(read_str("{}"), 0);
	ck_assert_uint_eq(n_members, 0);
}
END_TEST

START_TEST(malformed_utf8_is_refused_per_rfc_3629)
{
	static const char *const bad[] = { "\x80",
		                           "\xbf",
		                           "\xc0\x80",
		                           "\xc1\xbf",
		                           "\xc2",
		                           "\xc2\x7f",
		                           "\xe0\x80\x80",
		                           "\xe0\x9f\xbf",
		                           "\xed\xa0\x80",
		                           "\xed\xbf\xbf",
		                           "\xef\xbf",
		                           "\xf0\x80\x80\x80",
		                           "\xf0\x8f\xbf\xbf",
		                           "\xf4\x90\x80\x80",
		                           "\xf5\x80\x80\x80",
		                           "\xf8\x88\x80\x80\x80",
		                           "\xff",
		                           "\xfe" };
	static const char *const good[] = { "\xc2\x80",         "\xdf\xbf",         "\xe0\xa0\x80",
		                            "\xed\x9f\xbf",     "\xee\x80\x80",     "\xef\xbf\xbf",
		                            "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\x7f" };
	char line[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "{\"a\":\"x%sy\"}", bad[i]);
		ck_assert_msg(read_str(line) == TXP_JSONLINE_ESYNTAX, "bad %zu accepted", i);
		ck_assert_uint_eq(rd.column, 8);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof(line), "{\"a\":\"x%sy\"}", good[i]);
		ck_assert_msg(read_str(line) == 0, "good %zu refused", i);
	}
}
END_TEST

START_TEST(escapes_must_be_complete_and_surrogates_paired)
{
	static const char *const bad[] = { "\\x",
		                           "\\u12",
		                           "\\u12g4",
		                           "\\ud800",
		                           "\\ud800x",
		                           "\\udc00",
		                           "\\ud800\\u0041",
		                           "\\ud800\\udbff",
		                           "\\ud800\\u",
		                           "\\U0041",
		                           "\\",
		                           "\t",
		                           "\n",
		                           "\x01",
		                           "\x1f" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "{\"a\":\"%s\"}", bad[i]);
		ck_assert_msg(read_str(line) == TXP_JSONLINE_ESYNTAX, "%s accepted", bad[i]);
	}
	/* A raw NUL byte is a control character too. */
	ck_assert_int_eq(read_line("{\"a\":\"\0\"}", 9), TXP_JSONLINE_ESYNTAX);
}
END_TEST

START_TEST(nul_escapes_are_refused_after_the_rest_of_the_string)
{
	ck_assert_int_eq(read_str("{\"a\":\"x\\u0000y\"}"), TXP_JSONLINE_ENUL);
	ck_assert_uint_eq(rd.column, 8);
	ck_assert_int_eq(read_str("{\"a\\u0000\":1}"), TXP_JSONLINE_ENUL);
	ck_assert_int_eq(read_str("{\"o\":{\"\\u0000\":1}}"), TXP_JSONLINE_ENUL);
	ck_assert_int_eq(read_str("{\"o\":[\"\\u0000\"]}"), TXP_JSONLINE_ENUL);
	/* A syntax error later in the same string wins, as in jansson. */
	ck_assert_int_eq(read_str("{\"a\":\"\\u0000\\x\"}"), TXP_JSONLINE_ESYNTAX);
}
END_TEST

START_TEST(numbers_follow_rfc_8259_and_jansson_representability)
{
	static const char *const bad[] = { "01",  "-01", "00",  "-",   "+1",    ".5",       "1.",  "1.e2", "1e",
		                           "1e+", "-a",  "0x1", "1 2", "1.5.2", "Infinity", "NaN", "--1" };
	static const char *const big[] = { "9223372036854775808",
		                           "-9223372036854775809",
		                           "99999999999999999999",
		                           "1e309",
		                           "-1e309",
		                           "1.7976931348623159e308",
		                           "179769313486231590e291",
		                           "0.00000000001797693134862315808e319",
		                           "10e308" };
	static const char *const ok[] = { "9223372036854775807",
		                          "-9223372036854775808",
		                          "0",
		                          "-0",
		                          "-0.0e-0",
		                          "1.7976931348623157e308",
		                          "1.7976931348623158e308",
		                          "1e308",
		                          "1e-400",
		                          "0e99999999999999999999",
		                          "0.0000e400",
		                          "12.5E+2" };
	char line[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "{\"a\":%s}", bad[i]);
		ck_assert_msg(read_str(line) == TXP_JSONLINE_ESYNTAX, "%s accepted", bad[i]);
	}
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		snprintf(line, sizeof(line), "{\"a\":%s}", big[i]);
		ck_assert_msg(read_str(line) == TXP_JSONLINE_ERANGE, "%s: %d", big[i], rd.error);
	}
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(line, sizeof(line), "{\"a\":%s}", ok[i]);
		ck_assert_msg(read_str(line) == 0, "%s refused: %s", ok[i], rd.what);
		ck_assert_uint_eq(members[0].value.len, strlen(ok[i]));
	}
}
END_TEST

/* A member "n" holding `levels` nested arrays around `inner`. */
static int read_nested(int levels, const char *inner)
{
	static char line[3 * 2100 + 64];
	size_t n = 0;

	n += (size_t)sprintf(line, "{\"n\":");
	for (int i = 0; i < levels; i++)
		line[n++] = '[';
	n += (size_t)sprintf(line + n, "%s", inner);
	for (int i = 0; i < levels; i++)
		line[n++] = ']';
	line[n++] = '}';
	return read_line(line, n);
}

START_TEST(nesting_stops_at_jansson_depth_counting_scalars)
{
	/* The object is level 1, "n"'s array level 2: 2047 arrays reach 2048. */
	ck_assert_int_eq(read_nested(2047, ""), 0);
	ck_assert_int_eq(read_nested(2048, ""), TXP_JSONLINE_EDEPTH);
	ck_assert_int_eq(read_nested(2046, "1"), 0);
	ck_assert_int_eq(read_nested(2047, "1"), TXP_JSONLINE_EDEPTH);
	/* A too-big number is reported before the depth, like jansson. */
	ck_assert_int_eq(read_nested(2047, "1e999"), TXP_JSONLINE_ERANGE);
	ck_assert_int_eq(read_nested(2047, "\"\\u0000\""), TXP_JSONLINE_EDEPTH);
	ck_assert_int_eq(read_str("{\"o\":{\"a\":{\"b\":[{},{\"c\":[]}]}}}"), 0);
	ck_assert_int_eq(read_str("{\"o\":{\"a\":[}}"), TXP_JSONLINE_ESYNTAX);
	ck_assert_int_eq(read_str("{\"o\":[1,]}"), TXP_JSONLINE_ESYNTAX);
	ck_assert_int_eq(read_str("{\"o\":{\"a\":1,}}"), TXP_JSONLINE_ESYNTAX);
	ck_assert_int_eq(read_str("{\"o\":{\"a\" 1}}"), TXP_JSONLINE_ESYNTAX);
	ck_assert_int_eq(read_str("{\"o\":[1 2]}"), TXP_JSONLINE_ESYNTAX);
	ck_assert_int_eq(read_str("{\"o\":[1]]}"), TXP_JSONLINE_ESYNTAX);
	/* jansson lexes the token where the syntax breaks: an overflowing
	 * number there is reported as such. */
	ck_assert_int_eq(read_str("{\"o\":[1 1e999]}"), TXP_JSONLINE_ERANGE);
	ck_assert_int_eq(read_str("{\"o\":{\"a\" 99999999999999999999}}"), TXP_JSONLINE_ERANGE);
	ck_assert_int_eq(read_str("{\"a\":1} -1e999"), TXP_JSONLINE_ERANGE);
	ck_assert_int_eq(read_str("{\"a\":1 2}"), TXP_JSONLINE_ESYNTAX);
}
END_TEST

START_TEST(duplicate_top_level_keys_are_named_and_nested_ones_ignored)
{
	ck_assert_int_eq(read_str("{\"amount\":1,\"x\":2,\"amount\":3}"), TXP_JSONLINE_EDUPLICATE);
	ck_assert_uint_eq(rd.dup_key_len, 6);
	ck_assert_str_eq(rd.dup_key, "amount");
	/* Equal after decoding. */
	ck_assert_int_eq(read_str("{\"ab\":1,\"a\\u0062\":2}"), TXP_JSONLINE_EDUPLICATE);
	/* Found before the value is read, as jansson does. */
	ck_assert_int_eq(read_str("{\"a\":1,\"a\""), TXP_JSONLINE_EDUPLICATE);
	ck_assert_int_eq(read_str("{\"a\":1,\"A\":2,\"a \":3,\"\":4}"), 0);
	/* Documented difference: nested values are skipped, not compared. */
	ck_assert_int_eq(read_str("{\"o\":{\"x\":1,\"x\":2}}"), 0);
}
END_TEST

START_TEST(the_line_must_be_one_object_and_nothing_else)
{
	static const char *const syntax[] = { "",
		                              "  ",
		                              "{",
		                              "{\"a\"",
		                              "{\"a\":",
		                              "{\"a\":1",
		                              "{\"a\":1,",
		                              "{\"a\":1} x",
		                              "{}{}",
		                              "{,}",
		                              "{\"a\"1}",
		                              "{'a':1}",
		                              "{a:1}",
		                              "not json",
		                              "tru",
		                              "\xef\xbb\xbf{}",
		                              "{\"a\":1}\x0b",
		                              "{\"a\":1}\0" };
	static const struct {
		const char *line;
		const char *what;
	} notobj[] = { { "[1,2]", "an array" }, { "\"s\"", "a string" }, { "-3", "a number" },
		       { "true", "a boolean" }, { "null", "null" },      { " [", "an array" } };

	for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
		/* The last one carries a NUL byte after the object. */
		size_t len = i == sizeof(syntax) / sizeof(syntax[0]) - 1 ? 8 : strlen(syntax[i]);
		ck_assert_msg(read_line(syntax[i], len) == TXP_JSONLINE_ESYNTAX, "%zu: %d", i, rd.error);
		ck_assert_ptr_nonnull(rd.what);
	}
	for (size_t i = 0; i < sizeof(notobj) / sizeof(notobj[0]); i++) {
		ck_assert_int_eq(read_str(notobj[i].line), TXP_JSONLINE_ENOTOBJECT);
		ck_assert_str_eq(rd.what, notobj[i].what);
	}
	ck_assert_int_eq(read_str("\r\n\t {\"a\":1}\n\r\t "), 0);
	/* Like jansson, a bad literal is reported at its last letter. */
	ck_assert_int_eq(read_str("{\"a\":tru}"), TXP_JSONLINE_ESYNTAX);
	ck_assert_uint_eq(rd.column, 8);
}
END_TEST

START_TEST(more_than_256_members_are_refused_and_wipe_clears_the_keys)
{
	static char line[256 * 12 + 16];
	size_t n = 0;

	line[n++] = '{';
	for (int i = 0; i < 257; i++)
		n += (size_t)sprintf(line + n, "%s\"k%d\":%d", i ? "," : "", i, i);
	line[n++] = '}';
	ck_assert_int_eq(read_line(line, n), TXP_JSONLINE_ELIMIT);
	ck_assert_uint_eq(n_members, 256);
	n = (size_t)(strrchr(line, ',') - line);
	line[n++] = '}';
	ck_assert_int_eq(read_line(line, n), 0);
	ck_assert_uint_eq(n_members, 256);
	txp_jsonline_wipe(&rd);
	for (size_t i = 0; i < TXP_JSONLINE_MAX_MEMBERS; i++)
		ck_assert(rd.keys[i].key == NULL && rd.keys[i].fp == 0 && rd.keys[i].len == 0);
}
END_TEST

/* ---- Differential test against jansson ---------------------------------------- */

/* What a line amounts to, in the classes validation distinguishes. */
enum verdict { V_ACCEPT, V_MALFORMED, V_NUL, V_RANGE, V_DUP, V_LIMIT, V_COUNT };
static const char *const verdict_name[V_COUNT] = { "accept", "malformed", "nul", "range", "duplicate", "limit" };

static enum verdict mine_verdict(int rc)
{
	switch (rc) {
	case 0:
		return V_ACCEPT;
	case TXP_JSONLINE_ENUL:
		return V_NUL;
	case TXP_JSONLINE_ERANGE:
		return V_RANGE;
	case TXP_JSONLINE_EDUPLICATE:
		return V_DUP;
	case TXP_JSONLINE_ELIMIT:
		return V_LIMIT;
	default:
		return V_MALFORMED;
	}
}

static enum verdict jansson_verdict(const json_t *root, const json_error_t *e)
{
	if (root != NULL)
		return json_is_object(root) ? V_ACCEPT : V_MALFORMED;
	switch (json_error_code(e)) {
	case json_error_null_character:
	case json_error_null_byte_in_key: /* the reader says ENUL for keys too */
		return V_NUL;
	case json_error_numeric_overflow:
		return V_RANGE;
	case json_error_duplicate_key:
		return V_DUP;
	default:
		return V_MALFORMED;
	}
}

/* Nesting depth (1 inside the top-level object) at byte `pos`, counting
 * brackets outside strings: where jansson found its duplicate. */
static int depth_at(const char *s, size_t pos)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < pos; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
		} else if (s[i] == '"') {
			in_str = true;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
		}
	}
	return depth;
}

/* Where jansson would silently drop a raw NUL byte: right after a number
 * or a literal (its one-byte lookahead is pushed back, and a pushed-back
 * NUL reads as an empty buffer).  Returns the position, or `len`. */
static size_t dropped_nul(const char *s, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i - 1];
		if (s[i] == '\0' && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return i;
	}
	return len;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static uint64_t rng(void)
{
	/* xorshift64: a fixed seed, so every run checks the same lines. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rng() % n);
}

struct gen {
	char buf[1 << 15];
	size_t n;
};

static void put(struct gen *g, const char *s)
{
	size_t k = strlen(s);
	if (g->n + k < sizeof(g->buf))
		memcpy(g->buf + g->n, s, k), g->n += k;
}

static void put_ws(struct gen *g)
{
	static const char *const ws[] = { "", "", "", " ", "  ", "\t", "\n", "\r\n", " \t " };
	put(g, ws[pick(sizeof(ws) / sizeof(ws[0]))]);
}

static const char *const field_names[] = { "transaction_id",
	                                   "amount",
	                                   "currency",
	                                   "merchant_id",
	                                   "customer_id",
	                                   "merchant_country",
	                                   "customer_country",
	                                   "timestamp",
	                                   "card_number",
	                                   "merchant_category",
	                                   "channel",
	                                   "ip_address",
	                                   "device_id",
	                                   "customer_kyc_status",
	                                   "note",
	                                   "cvv",
	                                   "x",
	                                   "",
	                                   "caf\xc3\xa9",
	                                   "\\u0041mount" };

static void put_string(struct gen *g)
{
	static const char *const pieces[] = { "a",
		                              "tx-1",
		                              "4111111111111111",
		                              "USD",
		                              "2024-05-01T12:30:00Z",
		                              " ",
		                              "\\n",
		                              "\\\"",
		                              "\\\\",
		                              "\\/",
		                              "\\b",
		                              "\\f",
		                              "\\r",
		                              "\\t",
		                              "\\u0041",
		                              "\\u00e9",
		                              "\\u20ac",
		                              "\\uFFFF",
		                              "\\ud83d\\ude00",
		                              "\\uD800\\uDC00",
		                              "\\udbff\\udfff",
		                              "\xc3\xa9",
		                              "\xe2\x82\xac",
		                              "\xf0\x9f\x98\x80",
		                              "\xef\xbf\xbf",
		                              "\x7f",
		                              "0",
		                              "Z" };
	unsigned k = pick(6);

	put(g, "\"");
	for (unsigned i = 0; i < k; i++)
		put(g, pieces[pick(sizeof(pieces) / sizeof(pieces[0]))]);
	put(g, "\"");
}

static void put_number(struct gen *g)
{
	static const char *const fixed[] = { "0",
		                             "-0",
		                             "12.34",
		                             "1e2",
		                             "1.2E+2",
		                             "1e-2",
		                             "-5.5",
		                             "9223372036854775807",
		                             "-9223372036854775808",
		                             "9223372036854775808",
		                             "-9223372036854775809",
		                             "1.7976931348623157e308",
		                             "1.7976931348623159e308",
		                             "1e308",
		                             "1e309",
		                             "1e-400",
		                             "0e400",
		                             "123456789012345678901234567890",
		                             "0.1e310",
		                             "10e307" };
	char t[64];
	/* One draw per statement: the order of evaluation of function
	 * arguments is unspecified, and the lines must not depend on it. */
	bool neg = pick(4) == 0;
	unsigned shift = pick(64);
	uint64_t mant = rng() >> shift;

	if (pick(3) == 0) {
		put(g, fixed[pick(sizeof(fixed) / sizeof(fixed[0]))]);
		return;
	}
	snprintf(t, sizeof(t), "%s%llu", neg ? "-" : "", (unsigned long long)mant);
	put(g, t);
	if (pick(2)) {
		int width = 1 + (int)pick(8);
		snprintf(t, sizeof(t), ".%0*llu", width, (unsigned long long)(rng() % 100000000u));
		put(g, t);
	}
	if (pick(3) == 0) {
		char e = pick(2) ? 'e' : 'E';
		const char *sign = pick(3) ? (pick(2) ? "+" : "-") : "";
		unsigned x = pick(2) ? pick(30) : pick(700);
		snprintf(t, sizeof(t), "%c%s%u", e, sign, x);
		put(g, t);
	}
}

static void put_value(struct gen *g, int depth);

static void put_container(struct gen *g, int depth)
{
	bool obj = pick(2);
	unsigned k = pick(4);

	put(g, obj ? "{" : "[");
	for (unsigned i = 0; i < k; i++) {
		if (i)
			put(g, ",");
		put_ws(g);
		if (obj) {
			char key[16];
			snprintf(key, sizeof(key), "\"k%u\"", i);
			put(g, key);
			put_ws(g);
			put(g, ":");
			put_ws(g);
		}
		put_value(g, depth + 1);
		put_ws(g);
	}
	put(g, obj ? "}" : "]");
}

static void put_value(struct gen *g, int depth)
{
	unsigned c = pick(depth < 4 ? 10 : 8);

	if (c < 4)
		put_string(g);
	else if (c < 6)
		put_number(g);
	else if (c == 6)
		put(g, pick(3) == 0 ? "true" : pick(2) ? "false" : "null");
	else if (c == 7)
		put(g, "null");
	else
		put_container(g, depth);
}

/* A transaction-like object: known and other fields in random order. */
static void gen_object(struct gen *g)
{
	unsigned k = pick(18), written = 0;
	bool used[sizeof(field_names) / sizeof(field_names[0])] = { 0 };

	g->n = 0;
	put_ws(g);
	put(g, "{");
	for (unsigned i = 0; i < k; i++) {
		unsigned f = pick(sizeof(field_names) / sizeof(field_names[0]));
		if (used[f] && pick(20) != 0)
			continue; /* mostly distinct, sometimes a duplicate */
		used[f] = true;
		if (written++ > 0)
			put(g, ",");
		put_ws(g);
		put(g, "\"");
		put(g, field_names[f]);
		put(g, "\"");
		put_ws(g);
		put(g, ":");
		put_ws(g);
		put_value(g, 2);
		put_ws(g);
	}
	put(g, "}");
	put_ws(g);
}

/* Damages a valid line the ways producers and networks do. */
static void mutate(struct gen *g)
{
	static const char specials[] = { '\0',       '"',        '\\',       '{',        '}',        '[',
		                         ']',        ',',        ':',        ' ',        'e',        '-',
		                         '0',        'u',        (char)0x80, (char)0xc0, (char)0xc3, (char)0xe0,
		                         (char)0xed, (char)0xf0, (char)0xf4, (char)0xf5, (char)0xff, '\n',
		                         '\x01',     'x' };
	unsigned times = 1 + pick(3);

	for (unsigned t = 0; t < times && g->n > 0; t++) {
		size_t at = pick((unsigned)g->n);
		switch (pick(7)) {
		case 0: /* truncate */
			g->n = at;
			break;
		case 1: /* flip bits */
			g->buf[at] = (char)(g->buf[at] ^ (1 << pick(8)));
			break;
		case 2: /* a special byte */
			g->buf[at] = specials[pick(sizeof(specials))];
			break;
		case 3: /* delete */
			memmove(g->buf + at, g->buf + at + 1, g->n - at - 1);
			g->n--;
			break;
		case 4: /* insert */
			if (g->n + 1 < sizeof(g->buf)) {
				memmove(g->buf + at + 1, g->buf + at, g->n - at);
				g->buf[at] = specials[pick(sizeof(specials))];
				g->n++;
			}
			break;
		case 5: /* insert an escape (NUL, surrogates, bad hex) */
			if (g->n + 12 < sizeof(g->buf)) {
				static const char *const esc[] = { "\\u0000",        "\\ud800", "\\udc00",
					                           "\\ud800\\u0041", "\\u12",   "\\x",
					                           "\\uD834\\uDD1E" };
				const char *e = esc[pick(sizeof(esc) / sizeof(esc[0]))];
				size_t k = strlen(e);
				memmove(g->buf + at + k, g->buf + at, g->n - at);
				memcpy(g->buf + at, e, k);
				g->n += k;
			}
			break;
		default: /* random byte */
			g->buf[at] = (char)pick(256);
			break;
		}
	}
}

/* Nested arrays and objects around jansson's depth limit. */
static void gen_deep(struct gen *g)
{
	unsigned levels = 2040 + pick(16);
	char close[2100];

	g->n = 0;
	put(g, "{\"deep\":");
	for (unsigned i = 0; i < levels; i++) {
		bool obj = pick(4) == 0;
		put(g, obj ? "{\"k\":" : "[");
		close[i] = obj ? '}' : ']';
	}
	put_value(g, 99);
	for (unsigned i = levels; i-- > 0;) {
		char c[2] = { close[i], '\0' };
		put(g, c);
	}
	put(g, "}");
}

static void gen_random(struct gen *g)
{
	static const char *const tokens[] = { "{",    "}",   "[", "]",  ",",  ":",  "\"a\"", "\"b\"",       "1",    "-",
		                              "true", "nul", " ", "\"", "\\", "e5", ".5",    "\"\\u0000\"", "1e999" };
	unsigned k = 1 + pick(24);

	g->n = 0;
	if (pick(2)) {
		for (unsigned i = 0; i < k; i++)
			g->buf[g->n++] = (char)pick(256);
		return;
	}
	if (pick(2))
		put(g, "{");
	for (unsigned i = 0; i < k; i++)
		put(g, tokens[pick(sizeof(tokens) / sizeof(tokens[0]))]);
}

static void check_values(const json_t *root, const char *line, size_t len)
{
	ck_assert_uint_eq(n_members, json_object_size(root));
	for (size_t i = 0; i < n_members; i++) {
		const struct txp_jsonline_member *m = &members[i];
		const struct txp_jsonline_value *v = &m->value;
		json_t *j = json_object_getn(root, m->key, m->key_len);
		char num[1 << 12];

		ck_assert_msg(j != NULL, "key %zu of %.*s missing in jansson", i, (int)len, line);
		ck_assert_uint_eq(strlen(m->key), m->key_len);
		switch (v->type) {
		case TXP_JSONLINE_STRING:
			ck_assert(json_is_string(j));
			ck_assert_uint_eq(json_string_length(j), v->len);
			ck_assert_mem_eq(json_string_value(j), v->text, v->len);
			ck_assert_int_eq(v->text[v->len], '\0');
			break;
		case TXP_JSONLINE_NUMBER:
			ck_assert_uint_lt(v->len, sizeof(num));
			memcpy(num, v->text, v->len);
			num[v->len] = '\0';
			if (v->is_integer) {
				ck_assert(json_is_integer(j));
				ck_assert_int_eq(json_integer_value(j), strtoll(num, NULL, 10));
			} else {
				double d = strtod(num, NULL);
				ck_assert(json_is_real(j));
				ck_assert(memcmp(&d, &(double){ json_real_value(j) }, sizeof(d)) == 0);
			}
			break;
		case TXP_JSONLINE_TRUE:
			ck_assert(json_is_true(j));
			break;
		case TXP_JSONLINE_FALSE:
			ck_assert(json_is_false(j));
			break;
		case TXP_JSONLINE_NULL:
			ck_assert(json_is_null(j));
			break;
		case TXP_JSONLINE_OBJECT:
			ck_assert(json_is_object(j));
			break;
		case TXP_JSONLINE_ARRAY:
			ck_assert(json_is_array(j));
			break;
		}
	}
}

/*
 * 200,000 lines with a fixed seed: the reader and jansson must agree on
 * accept or reject, on the class of rejection, and on every decoded value.
 * Known, documented differences are counted and skipped, never hidden:
 *  - a top-level value that is not an object: the reader stops at its
 *    first byte (malformed); jansson parses on and may find a NUL, an
 *    overflow or a duplicate inside;
 *  - duplicate keys in nested objects: jansson refuses them, the reader
 *    skips nested values without comparing keys;
 *  - more than 256 top-level members: the reader's limit, not jansson's;
 *  - a raw NUL byte right after a number or literal: jansson 2.14 skips
 *    it ({"a":1<NUL>} is accepted), the reader refuses it there.
 * Column numbers differ (jansson counts characters) and are not compared.
 */
START_TEST(reader_agrees_with_jansson_on_generated_lines)
{
	static struct gen g;
	unsigned long seen[V_COUNT][V_COUNT] = { { 0 } };
	unsigned long not_object = 0, nested_dup = 0, nul_byte = 0, compared = 0;

	for (int i = 0; i < 200000; i++) {
		json_error_t e;
		json_t *root;
		enum verdict want, got;
		size_t first, z;
		unsigned kind = pick(1000);

		/* 35% valid-looking objects, 55% damaged ones, 0.2% (400 lines,
		 * each ~4 KiB) around the depth limit, the rest token soup. */
		if (kind < 350)
			gen_object(&g);
		else if (kind < 900)
			gen_object(&g), mutate(&g);
		else if (kind < 902)
			gen_deep(&g);
		else
			gen_random(&g);

		root = json_loadb(g.buf, g.n, JSON_REJECT_DUPLICATES, &e);
		want = jansson_verdict(root, &e);
		got = mine_verdict(read_line(g.buf, g.n));
		seen[want][got]++;

		for (first = 0; first < g.n && strchr(" \t\r\n", g.buf[first]) != NULL && g.buf[first] != '\0'; first++)
			;
		if (first >= g.n || g.buf[first] != '{') {
			/* Not an object: both refuse, the reader as malformed. */
			not_object++;
			ck_assert_msg(want != V_ACCEPT && got == V_MALFORMED, "line %d: %s vs %s: %.*s", i,
			              verdict_name[want], verdict_name[got], (int)g.n, g.buf);
		} else if (want == V_DUP && depth_at(g.buf, (size_t)e.position) > 1) {
			nested_dup++;
		} else if ((z = dropped_nul(g.buf, g.n)) < g.n && (got == V_ACCEPT || rd.column - 1 >= z)) {
			/* The reader must stop at that byte. */
			nul_byte++;
			ck_assert_msg(got == V_MALFORMED && rd.column - 1 == z, "line %d: NUL at %zu, reader %s at %zu",
			              i, z, verdict_name[got], rd.column);
		} else {
			compared++;
			ck_assert_msg(want == got, "line %d: jansson %s (%s), reader %s (%s at column %zu): %.*s", i,
			              verdict_name[want], e.text, verdict_name[got], rd.what ? rd.what : "", rd.column,
			              (int)g.n, g.buf);
			if (want == V_ACCEPT)
				check_values(root, g.buf, g.n);
		}
		json_decref(root);
	}
	for (int w = 0; w < V_COUNT; w++)
		for (int m = 0; m < V_COUNT; m++)
			if (seen[w][m] != 0)
				printf("jansson %-9s reader %-9s %7lu\n", verdict_name[w], verdict_name[m], seen[w][m]);
	printf("compared %lu; not compared: not an object %lu, nested duplicate %lu, NUL byte %lu\n", compared,
	       not_object, nested_dup, nul_byte);
	/* The generator must keep reaching every class, or the test proves little. */
	ck_assert_uint_gt(seen[V_ACCEPT][V_ACCEPT], 50000);
	ck_assert_uint_gt(seen[V_MALFORMED][V_MALFORMED], 50000);
	ck_assert_uint_gt(seen[V_NUL][V_NUL], 1000);
	ck_assert_uint_gt(seen[V_RANGE][V_RANGE], 1000);
	ck_assert_uint_gt(seen[V_DUP][V_DUP], 1000);
}
END_TEST

static Suite *jsonline_suite(void)
{
	Suite *s = suite_create("jsonline");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, strings_are_decoded_in_place_with_every_escape);
	tcase_add_test(tc, every_value_type_is_reported_and_nested_values_are_skipped);
	tcase_add_test(tc, malformed_utf8_is_refused_per_rfc_3629);
	tcase_add_test(tc, escapes_must_be_complete_and_surrogates_paired);
	tcase_add_test(tc, nul_escapes_are_refused_after_the_rest_of_the_string);
	tcase_add_test(tc, numbers_follow_rfc_8259_and_jansson_representability);
	tcase_add_test(tc, nesting_stops_at_jansson_depth_counting_scalars);
	tcase_add_test(tc, duplicate_top_level_keys_are_named_and_nested_ones_ignored);
	tcase_add_test(tc, the_line_must_be_one_object_and_nothing_else);
	tcase_add_test(tc, more_than_256_members_are_refused_and_wipe_clears_the_keys);
	tcase_add_test(tc, reader_agrees_with_jansson_on_generated_lines);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jsonline_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
