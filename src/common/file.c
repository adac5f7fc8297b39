/* file.c: opening the files an operator names in the configuration without blocking on what is not a file. */
#include "txpipe/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What a file is, for a message saying why it is refused. */
static const char *kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

int txp_file_open_regular(const char *path, bool follow_links, size_t max_bytes, struct stat *st, char *err,
                          size_t errlen)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow_links ? 0 : O_NOFOLLOW);
	int fd, rc;

	fd = open(path, flags);
	if (fd < 0) {
		rc = -errno;
		/* O_NOFOLLOW says ELOOP for a link; "Too many levels of symbolic links" misleads. */
		if (rc == -ELOOP && !follow_links)
			snprintf(err, errlen, "%s: is a symbolic link (name the file itself)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err_after_open;
	}
	if (!S_ISREG(st->st_mode)) {
		const char *kind = kind_of(st->st_mode);
		snprintf(err, errlen, "%s: is %s%s", path, kind,
		         strcmp(kind, "not a regular file") == 0 ? "" : ", not a regular file");
		rc = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		goto err_after_open;
	}
	if (max_bytes != 0 && (unsigned long long)st->st_size > (unsigned long long)max_bytes) {
		snprintf(err, errlen, "%s: %lld bytes, more than the %zu allowed", path, (long long)st->st_size,
		         max_bytes);
		rc = -EFBIG;
		goto err_after_open;
	}
	return fd;

err_after_open:
	close(fd);
	return rc;
}

int txp_cgroup_v2_path(const char *name, char *out, size_t outlen)
{
	char line[512];
	int rc = -ENOENT;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (f == NULL)
		return -ENOENT;
	while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n');
		int n;

		if (nl != NULL)
			*nl = '\0';
		if (strncmp(line, "0::", 3) != 0)
			continue;
		n = snprintf(out, outlen, "/sys/fs/cgroup%s/%s", line + 3, name);
		if (n > 0 && (size_t)n < outlen)
			rc = 0;
		else
			break;
	}
	fclose(f);
	return rc;
}
