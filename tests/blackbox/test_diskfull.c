/* test_diskfull.c: the real txpiped with its journal on a small tmpfs: a full disk refuses new transactions, loses none and recovers by itself (root only: exit 77 otherwise). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/* ---- a full disk ---------------------------------------------------------- */

/* stats.journal.full */
static bool journal_full(struct tdaemon *d)
{
	json_t *v = tdaemon_stat(d, "journal", "full");
	bool full = json_is_true(v);

	json_decref(v);
	return full;
}

#define LINES 800

START_TEST(a_full_disk_refuses_new_transactions_and_loses_none)
{
	struct tdaemon d;
	char dir[300], filler[320], line[512], id[64], failed_id[64] = "";
	int fd, conn, acked = 0, overloaded = 0, other = 0, i;
	static char block[64 * 1024];
	json_t *r;

	tdaemon_prepare(&d);
	snprintf(dir, sizeof(dir), "%s/journal", d.dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(mount("txpipe-test", dir, "tmpfs", 0, "size=2m") == 0, "mount tmpfs: %s", strerror(errno));
	/* Leave about 100 KiB: room for a hundred records or so. */
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 30; i++)
		ck_assert_int_eq(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	close(fd);
	/* No headroom check: this is about writes that fail. */
	tdaemon_launch(&d, "[journal]\nreserve_bytes = 0\n");
	/* One line at a time until the disk is full: a line whose record
	 * fails to write is answered overloaded (never acknowledged) instead
	 * of waiting for a durability that cannot come. */
	conn = tconnect(d.socket);
	for (i = 0; i < LINES / 2; i++) {
		snprintf(id, sizeof(id), "full-%d", i);
		ttxn_line(line, sizeof(line), id, "c-full", "12.50");
		tsend_str(conn, line);
		r = trecv_reply(conn, 30000);
		ck_assert_msg(r != NULL, "no reply to line %d", i);
		if (strcmp(tstatus(r), "error") == 0) {
			json_decref(r);
			overloaded++;
			snprintf(failed_id, sizeof(failed_id), "%s", id);
			break;
		}
		json_decref(r);
		acked++;
	}
	ck_assert_int_eq(overloaded, 1);
	ck_assert_int_gt(acked, 0);
	/* More than fits, pipelined on one connection: refused while the
	 * journal fails. */
	for (i = 0; i < LINES; i++) {
		snprintf(id, sizeof(id), "full-more-%d", i);
		ttxn_line(line, sizeof(line), id, "c-full", "12.50");
		tsend_str(conn, line);
	}
	for (i = 0; i < 200 && tdaemon_istat(&d, "", "refused") == 0; i++)
		usleep(50000);
	ck_assert_int_gt(tdaemon_istat(&d, "", "refused"), 0);
	ck_assert(journal_full(&d));
	ck_assert(tdaemon_log_contains(&d, "level=err event=journal_refusing"));
	/* The replies held for records that failed to write come back
	 * overloaded (never acknowledged) rather than waiting; then space
	 * comes back and the journal recovers. */
	ck_assert_int_eq(unlink(filler), 0);
	for (i = 0; i < LINES; i++) {
		r = trecv_reply(conn, 30000);
		ck_assert_ptr_nonnull(r);
		if (strcmp(tstatus(r), "approved") == 0 || strcmp(tstatus(r), "review") == 0 ||
		    strcmp(tstatus(r), "declined") == 0)
			acked++;
		else if (strcmp(tstatus(r), "error") == 0 &&
		         strcmp(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
		                "overloaded") == 0)
			overloaded++;
		else
			other++;
		json_decref(r);
	}
	tclose(conn);
	fprintf(stderr, "disk full: %d acknowledged, %d overloaded\n", acked, overloaded);
	ck_assert_int_eq(other, 0);
	ck_assert_int_gt(overloaded, 1);
	for (i = 0; i < 100 && journal_full(&d); i++)
		usleep(100000);
	r = tdaemon_send_txn(&d, "after-full", "c-after", "12.50");
	ck_assert_str_eq(tstatus(r), "approved");
	json_decref(r);
	acked++;
	/* The line answered overloaded in the first phase was not kept: its
	 * resubmission is screened and journaled, not answered duplicate. */
	r = tdaemon_send_txn(&d, failed_id, "c-full", "12.50");
	ck_assert_msg(strcmp(tstatus(r), "approved") == 0 || strcmp(tstatus(r), "review") == 0 ||
	                      strcmp(tstatus(r), "declined") == 0,
	              "resubmission of %s: %s", failed_id, tstatus(r));
	ck_assert(!json_is_true(json_object_get(r, "duplicate")));
	json_decref(r);
	acked++;
	/* Every acknowledged transaction is in the journal, even after a crash. */
	tdaemon_kill(&d);
	tdaemon_launch(&d, "[journal]\nreserve_bytes = 0\n");
	ck_assert_int_eq(tdaemon_istat(&d, "ack", "replayed_recent"), acked);
	ck_assert_int_eq(tdaemon_terminate(&d, 15000), 0);
	ck_assert_int_eq(umount(dir), 0);
	tdaemon_remove(&d);
}
END_TEST

/* The red-team case without AWS: delivered segments are retained for the
 * velocity rebuild until the journal alone fills a 2 MiB disk. */
#define BIG 16000
#define CHUNK 500
#define JOURNAL_INI "[journal]\nsegment_bytes = 1M\nreserve_bytes = 256k\n"

START_TEST(a_disk_the_journal_filled_frees_itself_and_accepts_again)
{
	struct tdaemon d;
	char dir[300], line[512], id[64];
	int conn, decided = 0, overloaded = 0, other = 0, i;
	json_t *r;

	tdaemon_prepare(&d);
	snprintf(dir, sizeof(dir), "%s/journal", d.dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(mount("txpipe-test", dir, "tmpfs", 0, "size=2m") == 0, "mount tmpfs: %s", strerror(errno));
	tdaemon_launch(&d, JOURNAL_INI);
	/* One connection, far more lines than fit; every one is answered. */
	conn = tconnect(d.socket);
	for (int sent = 0; sent < BIG; sent += CHUNK) {
		for (i = sent; i < sent + CHUNK; i++) {
			snprintf(id, sizeof(id), "big-%d", i);
			ttxn_line(line, sizeof(line), id, "c-big", "12.50");
			tsend_str(conn, line);
		}
		for (i = 0; i < CHUNK; i++) {
			r = trecv_reply(conn, 30000);
			ck_assert_msg(r != NULL, "no reply to line %d", sent + i);
			if (strcmp(tstatus(r), "approved") == 0 || strcmp(tstatus(r), "review") == 0 ||
			    strcmp(tstatus(r), "declined") == 0)
				decided++;
			else if (strcmp(tstatus(r), "error") == 0 &&
			         strcmp(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			                "overloaded") == 0)
				overloaded++;
			else
				other++;
			json_decref(r);
		}
	}
	tclose(conn);
	fprintf(stderr, "journal-filled disk: %d decided, %d overloaded of %d\n", decided, overloaded, BIG);
	ck_assert_int_eq(other, 0);
	/* The disk did run low: retained segments had filled it.  (Whether
	 * lines were refused meanwhile depends on timing: deleting them can
	 * take no longer than a commit.) */
	ck_assert(tdaemon_log_contains(&d, "event=journal_space_low"));
	ck_assert_int_eq(tdaemon_istat(&d, "ack", "held_replies"), 0);
	/* It accepts again by itself, within a bound. */
	for (i = 0; i < 100 && journal_full(&d); i++)
		usleep(100000);
	ck_assert_msg(!journal_full(&d), "the journal did not recover within 10 s");
	r = tdaemon_send_txn(&d, "after-big", "c-after", "12.50");
	ck_assert_str_eq(tstatus(r), "approved");
	json_decref(r);
	ck_assert_int_eq(tdaemon_terminate(&d, 15000), 0);
	/* A restart on the same disk has nothing to redeliver. */
	tdaemon_launch(&d, JOURNAL_INI);
	ck_assert_int_eq(tdaemon_istat(&d, "ack", "replayed_undelivered"), 0);
	ck_assert(!journal_full(&d));
	ck_assert_int_eq(tdaemon_terminate(&d, 15000), 0);
	ck_assert_int_eq(umount(dir), 0);
	tdaemon_remove(&d);
}
END_TEST

static Suite *diskfull_suite(void)
{
	Suite *s = suite_create("diskfull");
	TCase *tc = tcase_create("blackbox");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_full_disk_refuses_new_transactions_and_loses_none);
	tcase_add_test(tc, a_disk_the_journal_filled_frees_itself_and_accepts_again);
	suite_add_tcase(s, tc);
	return s;
}

/* A tmpfs can be mounted (root, and a kernel that lets us). */
static bool can_mount(void)
{
	char tmpl[] = "/tmp/txpipe-mnt-XXXXXX";
	bool ok;

	if (geteuid() != 0 || mkdtemp(tmpl) == NULL)
		return false;
	ok = mount("txpipe-test", tmpl, "tmpfs", 0, "size=64k") == 0;
	if (ok)
		umount(tmpl);
	rmdir(tmpl);
	return ok;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!can_mount()) {
		fprintf(stderr, "SKIP: mounting a tmpfs needs root (and CAP_SYS_ADMIN)\n");
		return 77;
	}
	sr = srunner_create(diskfull_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
