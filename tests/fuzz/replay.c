/* replay.c: a main() for the fuzz harnesses when libFuzzer is not linked: runs each input file once (make check). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Runs the harness over one file.  Returns 0, or -errno when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc = 0;

	if (f == NULL)
		return -errno;
	do {
		if (len == cap) {
			uint8_t *grown = realloc(buf, cap = cap * 2 + 4096);
			if (grown == NULL) {
				rc = -ENOMEM;
				goto done;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		rc = -EIO;
		goto done;
	}
	/* An exact-size copy, so ASan sees a read one past the input. */
	uint8_t *exact = malloc(len > 0 ? len : 1);
	if (exact == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	memcpy(exact, buf, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
done:
	free(buf);
	fclose(f);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of a directory, in name order. */
static int replay_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char **grown;
		if (e->d_name[0] == '.')
			continue;
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (grown == NULL || (grown[n] = malloc(strlen(dir) + strlen(e->d_name) + 2)) == NULL) {
			names = grown != NULL ? grown : names;
			rc = -ENOMEM;
			break;
		}
		names = grown;
		sprintf(names[n++], "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			rc = replay_file(names[i]);
			if (rc < 0)
				fprintf(stderr, "%s: %s\n", names[i], strerror(-rc));
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (argv[i][0] == '-')
			continue; /* libFuzzer options, as regress.sh may pass them to either build */
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &count);
		} else {
			rc = replay_file(argv[i]);
			count += rc == 0;
		}
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(-rc));
			return 1;
		}
	}
	printf("%s: %u inputs replayed\n", argv[0], count);
	return 0;
}
