/* journal_id.c: the journal directory's own random id, kept in the directory so it travels with the disk. */
#include "txpipe/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define ID_NAME "journal.id"

/* Reads the id file: 0 with out set, -ENOENT when absent, -EINVAL when it holds no id. */
static int read_id(int dirfd, char out[TXP_JOURNAL_ID_HEX + 1])
{
	char buf[TXP_JOURNAL_ID_HEX + 2];
	ssize_t n;
	int fd = openat(dirfd, ID_NAME, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return rc;
	if (n != TXP_JOURNAL_ID_HEX + 1 || buf[TXP_JOURNAL_ID_HEX] != '\n')
		return -EINVAL;
	for (int i = 0; i < TXP_JOURNAL_ID_HEX; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
			return -EINVAL;
	memcpy(out, buf, TXP_JOURNAL_ID_HEX);
	out[TXP_JOURNAL_ID_HEX] = '\0';
	return 0;
}

/* Writes a new id to a temporary file, then links it in: link(2) fails
 * with EEXIST when another process got there first, whose id then wins. */
static int create_id(int dirfd)
{
	char tmp[64], line[TXP_JOURNAL_ID_HEX + 2];
	unsigned char raw[TXP_JOURNAL_ID_HEX / 2];
	int fd, rc = 0;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(line, sizeof(line), raw, sizeof(raw));
	line[TXP_JOURNAL_ID_HEX] = '\n';
	snprintf(tmp, sizeof(tmp), ID_NAME ".%ld.tmp", (long)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, line, TXP_JOURNAL_ID_HEX + 1) != TXP_JOURNAL_ID_HEX + 1 || fsync(fd) != 0)
		rc = errno != 0 ? -errno : -EIO;
	close(fd);
	if (rc == 0 && linkat(dirfd, tmp, dirfd, ID_NAME, 0) != 0 && errno != EEXIST)
		rc = -errno;
	(void)unlinkat(dirfd, tmp, 0);
	/* The new name is durable only once the directory is. */
	if (rc == 0 && fsync(dirfd) != 0)
		rc = -errno;
	return rc;
}

int txp_journal_id(const char *dir, char out[TXP_JOURNAL_ID_HEX + 1], char *err, size_t errlen)
{
	int dirfd, rc;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "journal %s: cannot create the directory: %s", dir, strerror(errno));
		return rc;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "journal %s: cannot open the directory: %s", dir, strerror(errno));
		return rc;
	}
	rc = read_id(dirfd, out);
	if (rc == -ENOENT) {
		rc = create_id(dirfd);
		if (rc == 0)
			rc = read_id(dirfd, out);
	}
	if (rc == -EINVAL)
		snprintf(err, errlen, "journal %s/%s: not a journal id (32 hex digits and a newline)", dir, ID_NAME);
	else if (rc < 0)
		snprintf(err, errlen, "journal %s/%s: %s", dir, ID_NAME, strerror(-rc));
	close(dirfd);
	return rc;
}
