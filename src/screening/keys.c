/* keys.c: secret key files for card tokens and pseudonyms: strict loading, safe generation. */
#include "txpipe/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "txpipe/file.h"

int txp_key_load(const char *path, uint8_t key[TXP_KEY_BYTES], char *err, size_t errlen)
{
	/* Room for 64 hex digits, a newline and one byte more to detect a
	 * longer file. */
	unsigned char buf[TXP_KEY_BYTES * 2 + 2];
	char sub[256];
	struct stat st;
	ssize_t n;
	size_t bin_len = 0;
	int fd, rc = 0;

	/* A symbolic link is refused: whoever can change the link would choose
	 * the daemon's secret.  O_NONBLOCK keeps a FIFO from hanging the start. */
	fd = txp_file_open_regular(path, false, 0, &st, sub, sizeof(sub));
	if (fd < 0) {
		snprintf(err, errlen, "key file %s", sub);
		return fd;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "key file %s has mode %04o: group and others must have no access (chmod 0600)",
		         path, (unsigned)(st.st_mode & 07777));
		rc = -EPERM;
		goto out;
	}
	/* Decided before reading, so a special file posing as a regular one
	 * (/proc/self/mem: size 0) is refused without a read. */
	if (st.st_size != TXP_KEY_BYTES && st.st_size != TXP_KEY_BYTES * 2 && st.st_size != TXP_KEY_BYTES * 2 + 1) {
		snprintf(err, errlen, "key file %s is %lld bytes: it must hold 32 raw bytes or 64 hex digits", path,
		         (long long)st.st_size);
		rc = -EINVAL;
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		goto out;
	}
	if (n == TXP_KEY_BYTES) {
		memcpy(key, buf, TXP_KEY_BYTES);
	} else if ((n == TXP_KEY_BYTES * 2 || (n == TXP_KEY_BYTES * 2 + 1 && buf[n - 1] == '\n')) &&
	           sodium_hex2bin(key, TXP_KEY_BYTES, (const char *)buf, TXP_KEY_BYTES * 2, NULL, &bin_len, NULL) ==
	                   0 &&
	           bin_len == TXP_KEY_BYTES) {
		/* Hex form. */
	} else {
		snprintf(err, errlen, "key file %s must hold 32 raw bytes or 64 hex digits", path);
		sodium_memzero(key, TXP_KEY_BYTES);
		rc = -EINVAL;
	}
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

int txp_key_generate(const char *path, char *err, size_t errlen)
{
	uint8_t key[TXP_KEY_BYTES];
	char hex[TXP_KEY_BYTES * 2 + 2];
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	hex[TXP_KEY_BYTES * 2] = '\n';
	/* The mode is what open() set, whatever the umask left. */
	if (fchmod(fd, 0600) != 0 || write(fd, hex, TXP_KEY_BYTES * 2 + 1) != TXP_KEY_BYTES * 2 + 1 || fsync(fd) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	close(fd);
	return rc;
}
