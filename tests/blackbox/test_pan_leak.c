/* test_pan_leak.c: card numbers sent in every field and shape never come back in replies, logs or stats. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

/* ---- An independent card-number scanner (not src/screening/pan.c) ---------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Luhn (ISO/IEC 7812-1 annex B) over n ASCII digits. */
static bool luhn(const char *d, size_t n)
{
	unsigned sum = 0;
	bool dbl = false;

	for (size_t i = n; i-- > 0; dbl = !dbl) {
		unsigned x = (unsigned)(d[i] - '0');
		if (dbl)
			x = x * 2 > 9 ? x * 2 - 9 : x * 2;
		sum += x;
	}
	return sum % 10 == 0;
}

/* A character that may join digit groups: printable ASCII, not a letter or
 * digit ("4111.1111.1111.1111", "4111_1111_1111_1111"), nor a comma: the
 * stats reply is full of JSON arrays of counts, and this test writes no
 * number with commas. */
static bool is_sep(char c)
{
	return c >= ' ' && c <= '~' && c != ',' && !is_digit(c) && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/*
 * Whether 13 bare digits are a reading of the wall clock in milliseconds
 * since 1970, within a day of now: the stats' rules_loaded_ms is one, and
 * about one reading in ten passes Luhn.  No card scheme issues 13-digit
 * numbers starting with 1, and the numbers this test sent are still
 * looked for literally wherever they appear.
 */
static bool is_clock_ms(const char *digits, size_t n)
{
	struct timespec ts;
	long long v = 0, now;

	if (n != 13 || clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (digits[i] - '0');
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return v > now - 86400000LL && v < now + 86400000LL;
}

/*
 * Finds a run of 13 to 19 digits that passes Luhn, leading zeros aside: a
 * maximal run of digits, or consecutive digit groups joined by single
 * separators, the same one throughout or spaces and dashes (how card
 * numbers are written: "4111 1111 1111 1111").  Runs of more than 19
 * digits are other numbers and are not searched inside; the literal check
 * below covers the numbers this test sent, wherever they appear.  Returns
 * the offset of the first finding, or -1.
 */
static long find_luhn_run(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t gstart[64], glen[64], ng = 0, j;
		char sep = 0;

		if (!is_digit(s[i])) {
			i++;
			continue;
		}
		/* Collect the groups of this run. */
		j = i;
		for (;;) {
			size_t k = j;
			while (k < len && is_digit(s[k]))
				k++;
			if (ng < 64) {
				gstart[ng] = j;
				glen[ng] = k - j;
				ng++;
			}
			if (k + 1 < len && is_sep(s[k]) && is_digit(s[k + 1]) &&
			    (sep == 0 || s[k] == sep || ((s[k] == ' ' || s[k] == '-') && (sep == ' ' || sep == '-')))) {
				sep = s[k];
				j = k + 1;
			} else {
				j = k;
				break;
			}
		}
		/* Every sequence of whole groups holding 13-19 digits. */
		for (size_t a = 0; a < ng; a++) {
			char digits[20];
			size_t n = 0;
			for (size_t b = a; b < ng && n + glen[b] <= 19; b++) {
				size_t z = 0;
				memcpy(digits + n, s + gstart[b], glen[b]);
				n += glen[b];
				while (z < n && digits[z] == '0')
					z++;
				if (n - z >= 13 && luhn(digits, n) && !(ng == 1 && is_clock_ms(digits, n)))
					return (long)gstart[a];
			}
		}
		/* Another separator may start a run at the last group. */
		i = ng > 1 && j + 1 < len && is_sep(s[j]) && is_digit(s[j + 1]) ? gstart[ng - 1] : j;
	}
	return -1;
}

/* The card numbers this test sent, digits only. */
static char *sent[4096];
static size_t nsent;

static void remember(const char *formatted)
{
	char digits[32];
	size_t n = 0;

	for (const char *p = formatted; *p != '\0' && n < sizeof(digits) - 1; p++)
		if (is_digit(*p))
			digits[n++] = *p;
	digits[n] = '\0';
	for (size_t i = 0; i < nsent; i++)
		if (strcmp(sent[i], digits) == 0)
			return;
	ck_assert_uint_lt(nsent, sizeof(sent) / sizeof(sent[0]));
	sent[nsent++] = strdup(digits);
}

/* Up to 40 bytes of `s` from `at`, digits shown as '#': a failure message
 * must not print the card number either. */
static void masked_excerpt(const char *s, size_t len, size_t at, char out[41])
{
	size_t n = 0;

	for (size_t i = at; i < len && n < 40; i++)
		out[n++] = is_digit(s[i]) ? '#' : (s[i] == '\n' ? ' ' : s[i]);
	out[n] = '\0';
}

/*
 * Whether `text` is free of card numbers: no Luhn-valid run, and none of
 * the sent numbers' digits, also with single spaces or dashes between
 * them.  Prints where (not the number) when it is not.
 */
static bool no_pan(const char *what, const char *text, size_t len)
{
	char *squeezed = malloc(len + 1), excerpt[41];
	size_t n = 0;
	long at = find_luhn_run(text, len);
	bool clean = true;

	ck_assert_ptr_nonnull(squeezed);
	if (at >= 0) {
		masked_excerpt(text, len, (size_t)at, excerpt);
		fprintf(stderr, "LEAK: %s holds a Luhn-valid 13-19 digit run at offset %ld: %s\n", what, at, excerpt);
		clean = false;
	}
	for (size_t i = 0; i < len; i++) {
		if (is_sep(text[i]) && i > 0 && i + 1 < len && is_digit(text[i - 1]) && is_digit(text[i + 1]))
			continue;
		squeezed[n++] = text[i];
	}
	squeezed[n] = '\0';
	for (size_t i = 0; i < nsent && clean; i++) {
		char *hit = strstr(squeezed, sent[i]);
		if (hit != NULL) {
			masked_excerpt(squeezed, n, (size_t)(hit - squeezed), excerpt);
			fprintf(stderr, "LEAK: %s holds a card number this test sent: %s\n", what, excerpt);
			clean = false;
		}
	}
	free(squeezed);
	return clean;
}

/*
 * Whether the journal's files are free of the numbers this test sent, in
 * any of the forms it wrote them (separators between digits dropped).  A
 * Luhn scan would not do: the journal holds hex tokens and pseudonyms,
 * whose digit runs pass Luhn now and then.
 */
static bool journal_clean(struct tdaemon *d)
{
	char path[600];
	struct dirent *e;
	DIR *dir;
	bool clean = true;

	snprintf(path, sizeof(path), "%s/journal", d->dir);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL) {
		char file[900];
		FILE *f;
		char *buf;
		long size;
		size_t n = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		f = fopen(file, "rb");
		if (f == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc((size_t)size + 1);
		ck_assert_ptr_nonnull(buf);
		for (int c; (c = fgetc(f)) != EOF;) {
			/* Drop a separator between two digits, as no_pan() does. */
			if (is_sep((char)c) && n > 0 && is_digit(buf[n - 1])) {
				int next = fgetc(f);
				if (next != EOF && is_digit((char)next)) {
					buf[n++] = (char)next;
					continue;
				}
				buf[n++] = (char)c;
				if (next == EOF)
					break;
				c = next;
			}
			buf[n++] = (char)c;
		}
		fclose(f);
		for (size_t i = 0; i < nsent; i++) {
			if (memmem(buf, n, sent[i], strlen(sent[i])) != NULL) {
				fprintf(stderr, "LEAK: journal file %s holds a card number this test sent\n",
				        e->d_name);
				clean = false;
				break;
			}
		}
		free(buf);
	}
	closedir(dir);
	return clean;
}

START_TEST(the_scanner_finds_card_numbers_in_every_written_form)
{
	static const char *const found[] = { "x4111111111111111y",  "pan 4111 1111 1111 1111.", "5555-5555-5555-4444",
		                             "378282246310005",     "3782 822463 10005",        "id=4222222222222&",
		                             "4111.1111.1111.1111", "4111_1111_1111_1111",      "4111:1111:1111:1111",
		                             "41111111.11111111",   "04111111111111111" };
	static const char *const clean[] = { "4111111111111112",     "123456789012",         "41111111111111110000",
		                             "4111  1111 1111 1111", "2024-05-01T12:00:00Z", "count=12 13 14" };

	for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++)
		ck_assert_msg(find_luhn_run(found[i], strlen(found[i])) >= 0, "missed %s", found[i]);
	for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++)
		ck_assert_msg(find_luhn_run(clean[i], strlen(clean[i])) < 0, "false alarm on %s", clean[i]);
}
END_TEST

/* ---- Feeding card numbers everywhere ------------------------------------ */

/* Published test numbers of several brands and lengths; the 19-digit ones
 * get their check digit computed. */
static const char *const base_pans[] = {
	"4111111111111111",    /* Visa */
	"4012888888881881",    /* Visa */
	"4222222222222",       /* Visa, 13 digits */
	"5555555555554444",    /* Mastercard */
	"2223003122003222",    /* Mastercard 2-series */
	"378282246310005",     /* American Express, 15 */
	"6011111111111117",    /* Discover */
	"3530111333300000",    /* JCB */
	"30569309025904",      /* Diners Club, 14 */
	"6759649826438453",    /* Maestro */
	"501800000000000000?", /* Maestro, 19 */
	"622126000000000000?", /* UnionPay, 19 */
};

/* Fills the '?' check digit so the number passes Luhn. */
static void complete(const char *in, char *out)
{
	size_t n = strlen(in);

	strcpy(out, in);
	if (out[n - 1] != '?')
		return;
	for (char c = '0'; c <= '9'; c++) {
		out[n - 1] = c;
		if (luhn(out, n))
			return;
	}
}

static const char *const styles[] = { "plain",       "spaces", "dashes", "dots",
	                              "underscores", "colons", "halves", "leading zero" };

/* Writes the number plain (style 0), in groups of four joined by spaces
 * (1), dashes (2), dots (3), underscores (4) or colons (5), in two halves
 * of eight joined by a dot (6, 16 digits; slashes in fours otherwise), or
 * with a leading zero (7, numbers under 19 digits). */
static void format_pan(const char *digits, int style, char *out)
{
	static const char sep[] = "\0 -._:";
	size_t n = 0, len = strlen(digits);

	if (style == 7 && len < 19) /* padded within 19 digits, as fixed-width fields pad */
		out[n++] = '0';
	for (size_t i = 0; i < len; i++) {
		if (style == 6 && len == 16 && i == 8)
			out[n++] = '.';
		else if (style == 6 && len != 16 && i > 0 && i % 4 == 0)
			out[n++] = '/';
		else if (style >= 1 && style <= 5 && i > 0 && i % 4 == 0)
			out[n++] = sep[style];
		out[n++] = digits[i];
	}
	out[n] = '\0';
}

/* "%s" is the card number as written; "%d" a serial.  Each line gets
 * exactly one reply. */
static const char *const templates[] = {
	/* Screened: the number sits in a field the daemon keeps. */
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-1\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"card_number\":\"%s\"}",
	"{\"transaction_id\":\"%s\",\"amount\":\"10.01\",\"currency\":\"USD\",\"merchant_id\":\"m-%d\","
	"\"customer_id\":\"c-1\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.02\",\"currency\":\"USD\",\"merchant_id\":\"shop-%s\","
	"\"customer_id\":\"c-1\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.03\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"%s\",\"merchant_country\":\"US\",\"customer_country\":\"DE\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.04\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-2\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"device_id\":"
	"\"dev %s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.05\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-3\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"note\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.06\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-3\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"%s\":\"x\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"10.07\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-3\",\"merchant_country\":\"US\",\"customer_country\":\"US\","
	"\"extra\":{\"card\":\"%s\",\"list\":[\"%s\"]}}",
	/* Rejected: the number sits in a field that is echoed or in a bad value. */
	"{\"transaction_id\":\"%s\",\"amount\":\"-1\",\"currency\":\"USD\",\"merchant_id\":\"m-%d\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}",
	"{\"transaction_id\":\"%s\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-%d\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"cvv\":\"123\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\","
	"\"card_number\":\"%sx\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\","
	"\"card_number\":\"%s0\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"%s\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"%s\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"%s\",\"customer_country\":\"US\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"timestamp\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"ip_address\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\","
	"\"merchant_category\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\",\"channel\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"c-4\",\"merchant_country\":\"US\",\"customer_country\":\"US\","
	"\"customer_kyc_status\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"amount\":\"1.00\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	"\"customer_id\":\"%s-and-some-more-text-to-make-this-id-longer-than-sixty-four\","
	"\"merchant_country\":\"US\",\"customer_country\":\"US\"}",
	/* Forbidden fields. */
	"{\"transaction_id\":\"pl-%d\",\"cvv\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"track2\":\";%s=25121010000000000000?\"}",
	"{\"transaction_id\":\"pl-%d\",\"Track1\":\"%%B%s^DOE/JANE^25121010000000000000?\"}",
	"{\"transaction_id\":\"pl-%d\",\"Track-Data\":\"%s\",\"card_number\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"pin_block\":\"%s\"}",
	/* Duplicates and malformed JSON. */
	"{\"transaction_id\":\"pl-%d\",\"card_number\":\"%s\",\"card_number\":\"%s\"}",
	"{\"transaction_id\":\"pl-%d\",\"%s\":1,\"%s\":2}",
	"{\"transaction_id\":\"%s\",\"amount\": pl-%d",
	"{\"card_number\":\"%s\" garbage %d}",
	"{\"card_number\":%s, \"n\":%d}",
	"[\"%s\", %d]",
	"\"%s\" %d",
	"{\"transaction_id\":\"pl-%d\",\"card_number\":\"%s\xff\"}",
	/* Control requests. */
	"{\"command\":\"%s\",\"n\":%d}",
	"{\"command\":\"stats\",\"card_number\":\"%s\",\"n\":%d}",
};

/* Expands a template: every "%s" becomes the number, "%d" the serial, "%%" a '%'. */
static size_t expand(char *out, size_t cap, const char *tmpl, const char *pan, int serial)
{
	size_t n = 0;

	for (const char *p = tmpl; *p != '\0'; p++) {
		char piece[64];
		const char *add = piece;

		if (p[0] == '%' && p[1] == 's') {
			add = pan;
			p++;
		} else if (p[0] == '%' && p[1] == 'd') {
			snprintf(piece, sizeof(piece), "%d", serial);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			strcpy(piece, "%");
			p++;
		} else {
			piece[0] = *p;
			piece[1] = '\0';
		}
		ck_assert_uint_lt(n + strlen(add), cap);
		memcpy(out + n, add, strlen(add));
		n += strlen(add);
	}
	out[n] = '\0';
	return n;
}

/* Sends one line and checks its one reply; returns whether it is clean. */
static bool send_and_check(int fd, const char *line, size_t len, const char *what)
{
	json_t *r;
	char *text;
	bool clean;

	tsend(fd, line, len);
	tsend_str(fd, "\n");
	r = trecv_reply(fd, 10000);
	ck_assert_msg(r != NULL, "no reply to %s", what);
	text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_ptr_nonnull(text);
	clean = no_pan(what, text, strlen(text));
	free(text);
	json_decref(r);
	return clean;
}

/* Feeds every template with every number in every style, then checks the
 * replies, txpipectl's output and the log; stops the daemon. */
static void feed_everything(struct tdaemon *d, size_t max_line)
{
	char pan[32], written[40], line[8192], what[128];
	char *big, *out = NULL, *log;
	size_t biglen = max_line + 100, loglen;
	int fd = tconnect(d->socket), serial = 0, leaks = 0;

	nsent = 0;
	for (size_t p = 0; p < sizeof(base_pans) / sizeof(base_pans[0]); p++) {
		complete(base_pans[p], pan);
		ck_assert_msg(luhn(pan, strlen(pan)), "test number %zu is not Luhn-valid", p);
		for (int style = 0; style < (int)(sizeof(styles) / sizeof(styles[0])); style++) {
			format_pan(pan, style, written);
			remember(written);
			for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
				size_t n = expand(line, sizeof(line), templates[t], written, ++serial);
				snprintf(what, sizeof(what), "the reply to template %zu (number %zu, %s)", t, p,
				         styles[style]);
				leaks += !send_and_check(fd, line, n, what);
			}
		}
		/* A line over the limit with the number at both ends. */
		big = malloc(biglen);
		ck_assert_ptr_nonnull(big);
		memset(big, 'a', biglen);
		memcpy(big, "{\"card_number\":\"", 16);
		memcpy(big + 16, pan, strlen(pan));
		memcpy(big + biglen - strlen(pan) - 2, pan, strlen(pan));
		memcpy(big + biglen - 2, "\"}", 2);
		snprintf(what, sizeof(what), "the reply to an over-long line (number %zu)", p);
		leaks += !send_and_check(fd, big, biglen, what);
		free(big);
	}
	tclose(fd);

	/* The producer's tool prints replies too: a rejected line whose
	 * transaction_id is a card number. */
	complete(base_pans[0], pan);
	expand(line, sizeof(line), templates[8], pan, ++serial);
	ck_assert_int_ne(tdaemon_ctl(d, &out, "submit", line, NULL), 127);
	leaks += !no_pan("txpipectl submit's output", out, strlen(out));
	free(out);
	ck_assert_int_eq(tdaemon_ctl(d, &out, "stats", NULL), 0);
	leaks += !no_pan("txpipectl stats", out, strlen(out));
	free(out);
	ck_assert_int_eq(tdaemon_ctl(d, &out, "stats", "--format", "json", NULL), 0);
	leaks += !no_pan("txpipectl stats --format json", out, strlen(out));
	free(out);

	/* The log, once the daemon has stopped and written all it will. */
	ck_assert_int_eq(tdaemon_terminate(d, 15000), 0);
	log = tdaemon_read_log(d, &loglen);
	ck_assert_msg(strstr(log, "event=listening") != NULL, "the log is not the daemon's");
	leaks += !no_pan("the daemon's log", log, loglen);
	free(log);
	leaks += !journal_clean(d);
	tdaemon_remove(d);
	for (size_t i = 0; i < nsent; i++)
		free(sent[i]);
	ck_assert_msg(leaks == 0, "%d outputs held a card number (LEAK lines above)", leaks);
}

START_TEST(no_card_number_comes_back_with_unknown_fields_ignored)
{
	struct tdaemon d;

	tdaemon_start(&d, "[log]\nlevel = debug\n[daemon]\nmax_line_bytes = 4096\n"
	                  "[validation]\nunknown_fields = ignore\n[pipeline]\nworkers = 2\n");
	feed_everything(&d, 4096);
}
END_TEST

START_TEST(no_card_number_comes_back_with_unknown_fields_rejected)
{
	struct tdaemon d;

	/* Inline mode: the stages run on the loop thread. */
	tdaemon_start(&d, "[log]\nlevel = debug\n[daemon]\nmax_line_bytes = 4096\n"
	                  "[validation]\nunknown_fields = reject\n[pipeline]\nworkers = 0\n");
	feed_everything(&d, 4096);
}
END_TEST

static Suite *pan_leak_suite(void)
{
	Suite *s = suite_create("pan_leak");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, the_scanner_finds_card_numbers_in_every_written_form);
	tcase_add_test(tc, no_card_number_comes_back_with_unknown_fields_ignored);
	tcase_add_test(tc, no_card_number_comes_back_with_unknown_fields_rejected);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pan_leak_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
