/* credentials_profile.c: the credentials provider that reads a profile of the shared credentials file. */
#include "txp_build_config.h"

#include "credentials_provider.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "txpipe/file.h"
#include "txpipe/log.h"

/* A shared credentials file holds a few profiles; a bound on what a wrong path makes us read. */
#define CREDENTIALS_FILE_MAX (1024 * 1024)

struct ini_state {
	const char *profile;
	bool found;
	char *id, *secret, *token;
	bool oom;
};

static int set_value(char **dst, const char *value, struct ini_state *st)
{
	txp_creds__str_free_wiped(*dst);
	*dst = strdup(value);
	if (*dst == NULL)
		st->oom = true;
	return *dst != NULL;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;

	if (strcmp(section, st->profile) != 0)
		return 1;
	st->found = true;
	/* Key names are case-insensitive in the AWS CLI's reader. */
	if (strcasecmp(name, "aws_access_key_id") == 0)
		return set_value(&st->id, value, st);
	if (strcasecmp(name, "aws_secret_access_key") == 0)
		return set_value(&st->secret, value, st);
	if (strcasecmp(name, "aws_session_token") == 0)
		return set_value(&st->token, value, st);
	return 1;
}

/* Reads `profile` from `path` into *out (NULL when the file or profile is
 * absent).  Returns 0 or a negative errno with errbuf filled. */
static int read_profile(const char *path, const char *profile, struct txp_aws_creds **out, char *errbuf, size_t errlen)
{
	struct ini_state st = { .profile = profile };
	struct stat sb;
	FILE *f;
	int fd, line, rc = 0;

	*out = NULL;
	/* Never a FIFO or a device: it is read on the loop thread, which must not wait for a writer. */
	fd = txp_file_open_regular(path, true, CREDENTIALS_FILE_MAX, &sb, errbuf, errlen);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	/* A file that is there but cannot be read is the configuration's to fix. */
	if (fd < 0)
		return fd == -ENOMEM ? fd : -EINVAL;
	f = fdopen(fd, "r");
	if (f == NULL) {
		rc = -errno;
		txp_aws_set_err(errbuf, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	line = ini_parse_file(f, on_ini, &st);
	fclose(f);
	if (st.oom) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
	} else if (line != 0) {
		txp_aws_set_err(errbuf, errlen, "%s:%d: malformed line", path, line);
		rc = -EINVAL;
	} else if (st.found && (st.id != NULL || st.secret != NULL) && (st.id == NULL || st.secret == NULL)) {
		txp_aws_set_err(errbuf, errlen, "%s: profile [%s] has %s but not %s", path, profile,
		                st.id != NULL ? "aws_access_key_id" : "aws_secret_access_key",
		                st.id != NULL ? "aws_secret_access_key" : "aws_access_key_id");
		rc = -EINVAL;
	} else if (st.id != NULL && st.secret != NULL) {
		*out = txp_aws_creds_create(st.id, st.secret, st.token, 0);
		if (*out == NULL) {
			txp_aws_set_err(errbuf, errlen, "%s: profile [%s] has empty keys", path, profile);
			rc = -EINVAL;
		}
	}
	txp_creds__str_free_wiped(st.id);
	txp_creds__str_free_wiped(st.secret);
	txp_creds__str_free_wiped(st.token);
	return rc;
}

static void file_invalidate(struct txp_creds_provider *p)
{
	struct txp_creds__static *s = (struct txp_creds__static *)p;
	struct txp_aws_creds *c;
	char err[512];

	/* The file may have been rewritten (aws sso login, a rotation job). */
	if (read_profile(s->path, s->profile, &c, err, sizeof(err)) != 0) {
		txp_log_warn("aws_credentials_file_error", "reason=\"%s\"", err);
		return;
	}
	if (c == NULL)
		return;
	txp_aws_creds_free(s->creds);
	s->creds = c;
	txp_creds__notify(p, 0);
}

static const struct creds_vtable file_vtable = {
	.name = "shared-credentials-file",
	.current = txp_creds__static_current,
	.source = txp_creds__static_source,
	.invalidate = file_invalidate,
	.close = txp_creds__static_close,
	.destroy = txp_creds__static_destroy,
};

int txp_creds_file_create(const struct txp_creds_options *opts, struct txp_creds_provider **out, char *errbuf,
                          size_t errlen)
{
	txp_getenv_fn env = opts->getenv_fn != NULL ? opts->getenv_fn : getenv;
	struct txp_creds__static *s;
	const char *v, *home;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	s->base.vt = &file_vtable;
	s->source = "shared-credentials-file";
	if (opts->credentials_file != NULL && opts->credentials_file[0] != '\0') {
		s->path = strdup(opts->credentials_file);
	} else if ((v = env("AWS_SHARED_CREDENTIALS_FILE")) != NULL && v[0] != '\0') {
		s->path = strdup(v);
	} else if ((home = env("HOME")) != NULL && home[0] != '\0') {
		if (asprintf(&s->path, "%s/.aws/credentials", home) < 0)
			s->path = NULL;
	} else {
		/* No home directory: no default file to read. */
		s->path = strdup("");
	}
	if (opts->profile != NULL && opts->profile[0] != '\0')
		s->profile = strdup(opts->profile);
	else if ((v = env("AWS_PROFILE")) != NULL && v[0] != '\0')
		s->profile = strdup(v);
	else
		s->profile = strdup("default");
	if (s->path == NULL || s->profile == NULL) {
		txp_aws_set_err(errbuf, errlen, "out of memory");
		rc = -ENOMEM;
		goto err_after_alloc;
	}
	if (s->path[0] != '\0') {
		rc = read_profile(s->path, s->profile, &s->creds, errbuf, errlen);
		if (rc != 0)
			goto err_after_alloc;
	}
	*out = &s->base;
	return 0;

err_after_alloc:
	txp_creds__static_destroy(&s->base);
	return rc;
}
