/* file.h: opening the files an operator names in the configuration without blocking on what is not a file. */
#ifndef TXPIPE_FILE_H
#define TXPIPE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/*
 * Opens `path` read-only for a file the configuration names (the
 * configuration itself, a key file, a list file).  The open never blocks:
 * O_NONBLOCK keeps a FIFO or a device from waiting for a writer, and
 * anything fstat() does not call a regular file (directory, FIFO, socket,
 * device) is refused before a byte is read.  With `follow_links` false a
 * symbolic link as the last component is refused too (O_NOFOLLOW; links in
 * the directories above are still followed).  A file larger than
 * `max_bytes` (0: no limit) is refused.
 *
 * Returns the descriptor (the caller closes it) and fills *st, or a
 * negative errno with "<path>: <what is wrong>" in err: -ELOOP for a
 * symbolic link, -EINVAL for a file that is not regular, -EFBIG for one
 * too large, or what open() or fstat() said.  Every one of them is a
 * configuration problem for the caller.
 */
int txp_file_open_regular(const char *path, bool follow_links, size_t max_bytes, struct stat *st, char *err,
                          size_t errlen);

/*
 * The path of `name` (a control file such as "memory.max" or "cpu.max") in
 * this process's own cgroup v2 directory, from the "0::" line of
 * /proc/self/cgroup, written to `out`.  Returns 0, or -ENOENT when the
 * process is not in a cgroup v2 hierarchy (or the path does not fit).
 * The limits systemd (MemoryMax=, CPUQuota=) and containers set are there.
 */
int txp_cgroup_v2_path(const char *name, char *out, size_t outlen);

#endif
