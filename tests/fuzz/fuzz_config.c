/* fuzz_config.c: libFuzzer harness for the INI configuration loader (txp_config_load) and its writer. */
#include <stdbool.h>
#include <string.h>

#include "txpipe/config.h"

#include "fuzz.h"

/* txp_config_write() of `cfg` into a new malloc'd string. */
static char *write_config(const struct txp_config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (f == NULL)
		abort();
	FUZZ_ASSERT(txp_config_write(cfg, f) == 0);
	if (fclose(f) != 0)
		abort();
	return text;
}

/*
 * Properties: a file either loads or is refused with a message naming it;
 * a file that loads, written back by txp_config_write() and loaded again,
 * gives the same configuration (unless a row is secret: those are written
 * as "(hidden)"); diffing and copying against the defaults never fails.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool has_secret, checked;
	struct txp_config cfg, again, defaults;
	char err[1024], err2[1024], why[1024];
	char *text, *text2;
	size_t len, len2;
	const char *path;
	int rc;

	if (!checked) {
		for (const struct txp_config_key *k = txp_config_keys; k->section != NULL; k++)
			has_secret |= k->secret;
		checked = true;
	}
	path = fuzz_memfd_path(data, size);
	err[0] = '\0';
	rc = txp_config_load(&cfg, path, err, sizeof(err));
	if (rc < 0) {
		FUZZ_ASSERT(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_ASSERT(strstr(err, path) != NULL);
		txp_config_free(&cfg);
		return 0;
	}
	text = write_config(&cfg, &len);
	if (!has_secret) {
		path = fuzz_memfd_path((const uint8_t *)text, len);
		rc = txp_config_load(&again, path, err2, sizeof(err2));
		if (rc < 0)
			fprintf(stderr, "reloading the written configuration: %s\n%s", err2, text);
		FUZZ_ASSERT(rc == 0);
		text2 = write_config(&again, &len2);
		FUZZ_ASSERT(len == len2 && memcmp(text, text2, len) == 0);
		free(text2);
		txp_config_free(&again);
	}
	free(text);
	FUZZ_ASSERT(txp_config_defaults(&defaults) == 0);
	FUZZ_ASSERT(txp_config_diff_nonreloadable(&defaults, &cfg, why, sizeof(why)) >= 0);
	FUZZ_ASSERT(txp_config_keep_nonreloadable(&cfg, &defaults) == 0);
	FUZZ_ASSERT(txp_config_apply_reloadable(&defaults, &cfg) == 0);
	txp_config_free(&defaults);
	txp_config_free(&cfg);
	return 0;
}
