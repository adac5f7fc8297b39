/* test_names.c: party names on a sanctions name list decline; the names appear in no reply, journal or log; reload swaps lists. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Words of the names this test sends; none may come back anywhere. */
static const char *const secret_words[] = { "petrovsky",  "petrowsky", "zebulon",  "quixote",
	                                    "marchbanks", "northwind", "ostrogoth" };

/* Whether text[0, len) holds a secret word in any case; says which. */
static bool leaks_name(const char *what, const char *text, size_t len)
{
	for (size_t w = 0; w < sizeof(secret_words) / sizeof(secret_words[0]); w++) {
		size_t n = strlen(secret_words[w]);
		for (size_t i = 0; i + n <= len; i++) {
			size_t k = 0;
			while (k < n && tolower((unsigned char)text[i + k]) == secret_words[w][k])
				k++;
			if (k == n) {
				fprintf(stderr, "LEAK: %s holds the name word \"%s\" at offset %zu\n", what,
				        secret_words[w], i);
				return true;
			}
		}
	}
	return false;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	ck_assert_msg(f != NULL, "cannot read %s", path);
	do {
		if (n + 65536 > cap) {
			cap = (n + 65536) * 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

static json_t *pay(int fd, const char *names_json)
{
	static int serial;
	char line[1024];
	json_t *r;

	serial++;
	snprintf(line, sizeof(line),
	         "{\"transaction_id\":\"nm-%d\",\"amount\":\"12.50\",\"currency\":\"USD\",\"merchant_id\":\"m-1\","
	         "\"customer_id\":\"c-%d\",\"merchant_country\":\"US\",\"customer_country\":\"US\"%s}\n",
	         serial, serial, names_json);
	tsend_str(fd, line);
	r = trecv_reply(fd, 10000);
	ck_assert_msg(r != NULL, "no reply to %s", names_json);
	return r;
}

/* Pays and checks the reply: hit or not, the entry, and no name in it. */
static void expect(int fd, const char *names_json, const char *entry, int *leaks)
{
	json_t *r = pay(fd, names_json);
	char *text = json_dumps(r, JSON_COMPACT);
	json_t *m = json_object_get(r, "sanctions_match");

	ck_assert_ptr_nonnull(text);
	*leaks += leaks_name("a reply", text, strlen(text));
	if (entry != NULL) {
		ck_assert_msg(thas_reason(r, "sanctions_name_match") && strcmp(tstatus(r), "declined") == 0,
		              "expected a name match for %s: %s", names_json, text);
		ck_assert_msg(m != NULL && strcmp(json_string_value(json_object_get(m, "entry")), entry) == 0 &&
		                      strcmp(json_string_value(json_object_get(m, "list")), "watch") == 0 &&
		                      json_is_real(json_object_get(m, "score")),
		              "sanctions_match for %s: %s", names_json, text);
	} else {
		ck_assert_msg(!thas_reason(r, "sanctions_name_match") && m == NULL, "unexpected match for %s: %s",
		              names_json, text);
	}
	free(text);
	json_decref(r);
}

START_TEST(listed_names_decline_and_no_name_is_kept_anywhere)
{
	struct tdaemon d;
	char list[600], extra[1200], path[700], *out = NULL, *buf;
	int fd, leaks = 0;
	size_t len;
	DIR *dir;
	struct dirent *de;

	tdaemon_prepare(&d);
	tdaemon_write_file(&d, "watch.csv",
	                   "id,name,alias\n# synthetic parties\nIH-7,\"PETROVSKY, Ivan Sergeyevich\",\n"
	                   "IH-8,Northwind Trading Co. Ltd,Northwind Maritime\n",
	                   list, sizeof(list));
	snprintf(
	        extra, sizeof(extra),
	        "[log]\nlevel = debug\n[pipeline]\nworkers = 2\n[compliance]\nsanctions_name_lists = watch=inhouse:%s\n",
	        list);
	tdaemon_launch(&d, extra);
	fd = tconnect(d.socket);

	/* Word order, case, an initial, a suffix changed: all hit. */
	expect(fd, ",\"beneficiary_name\":\"Ivan S. Petrovsky\",\"customer_name\":\"Zebulon Quixote-Marchbanks\"",
	       "IH-7", &leaks);
	expect(fd, ",\"counterparty_name\":\"NORTHWIND TRADING LIMITED\"", "IH-8", &leaks);
	expect(fd, ",\"customer_name\":\"petrovsky ivan sergeyevich\"", "IH-7", &leaks);
	/* Ordinary names pass. */
	expect(fd, ",\"customer_name\":\"Zebulon Quixote-Marchbanks\",\"beneficiary_name\":\"Ostrogoth Smith\"", NULL,
	       &leaks);
	/* A bad name is refused naming the field, not quoting the value. */
	{
		json_t *r = pay(fd, ",\"beneficiary_name\":\"Petrovsky\\u0001Ivan\"");
		char *text = json_dumps(r, JSON_COMPACT);
		ck_assert_msg(strcmp(tstatus(r), "rejected") == 0 && strstr(text, "beneficiary_name") != NULL, "%s",
		              text);
		leaks += leaks_name("a rejection", text, strlen(text));
		free(text);
		json_decref(r);
	}

	/* A list that fails to parse: the reload is refused naming file and
	 * line, and the old list stays in force. */
	tdaemon_write_file(&d, "watch.csv", "id,name\nIH-9,Ostrogoth Ventures\nbad line without name\n", list,
	                   sizeof(list));
	ck_assert_int_ne(tdaemon_ctl(&d, &out, "reload", NULL), 0);
	ck_assert_msg(strstr(out, "watch.csv:3") != NULL, "txpipectl reload said: %s", out);
	free(out);
	expect(fd, ",\"beneficiary_name\":\"Ivan Petrovsky\"", "IH-7", &leaks);
	/* A good list swaps in without a restart. */
	tdaemon_write_file(&d, "watch.csv", "id,name\nIH-9,Ostrogoth Ventures\n", list, sizeof(list));
	ck_assert_int_eq(tdaemon_ctl(&d, &out, "reload", NULL), 0);
	free(out);
	expect(fd, ",\"beneficiary_name\":\"Ivan Petrovsky\"", NULL, &leaks);
	expect(fd, ",\"beneficiary_name\":\"OSTROGOTH VENTURES LLC\"", "IH-9", &leaks);
	tclose(fd);

	/* Neither the log nor the journal holds a name. */
	ck_assert_int_eq(tdaemon_terminate(&d, 15000), 0);
	buf = tdaemon_read_log(&d, &len);
	ck_assert_msg(strstr(buf, "event=listening") != NULL, "the log is not the daemon's");
	leaks += leaks_name("the daemon's log", buf, len);
	free(buf);
	snprintf(path, sizeof(path), "%s/journal", d.dir);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	{
		int files = 0;
		while ((de = readdir(dir)) != NULL) {
			char file[1100];
			if (de->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			buf = read_all(file, &len);
			files += len > 0;
			leaks += leaks_name(file, buf, len);
			free(buf);
		}
		ck_assert_int_gt(files, 0);
	}
	closedir(dir);
	tdaemon_remove(&d);
	ck_assert_msg(leaks == 0, "%d outputs held a party name (LEAK lines above)", leaks);
}
END_TEST

static Suite *names_suite(void)
{
	Suite *s = suite_create("names_blackbox");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, listed_names_decline_and_no_name_is_kept_anywhere);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(names_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
