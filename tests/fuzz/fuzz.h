/* fuzz.h: what the libFuzzer harnesses share: the entry point, and handing an input to a path-taking parser. */
#ifndef TXP_FUZZ_H
#define TXP_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Each harness defines this; libFuzzer calls it once per input, and so
 * does tests/fuzz/replay.c in the ordinary (non-clang) build. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness whose invariant fails stops here, so libFuzzer saves the
 * input as a crash and `make check` (regress.sh) fails on it. */
#define FUZZ_ASSERT(cond)                                                                            \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/*
 * Puts data[0, size) in an in-memory file and returns a path that opens
 * it ("/proc/self/fd/N"), for parsers that take a path (the config and
 * credentials files).  The file is created once and rewritten on every
 * call: no disk I/O and nothing left behind.
 */
static inline const char *fuzz_memfd_path(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];

	if (fd < 0) {
		fd = memfd_create("txp-fuzz", MFD_CLOEXEC);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("memfd write");
		abort();
	}
	return path;
}

/* A NUL-terminated malloc'd copy of the input (caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

#endif
