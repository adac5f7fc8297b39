/* instance.c: this host's name in the fleet: configured, the EC2 instance id, or the hostname. */
#include "txp_build_config.h"

#include "txpipe/fleet.h"

#include "txpipe/config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* IMDSv2 (docs.aws.amazon.com, "Use IMDSv2"): PUT a token, then GET with it. */
#define IMDS_TOKEN_PATH "/latest/api/token"
#define IMDS_ID_PATH "/latest/meta-data/instance-id"
#define IMDS_TIMEOUT_MS 1000L
#define IMDS_TOKEN_MAX 256

int txp_fleet_instance_id_valid(const char *id)
{
	size_t n = 0;

	for (const char *p = id; *p != '\0'; p++, n++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		         c == '_' || c == '.';
		if (!ok)
			return 0;
	}
	return n >= 1 && n <= TXP_FLEET_INSTANCE_ID_MAX;
}

struct body {
	char *buf;
	size_t len, cap; /* cap excludes the NUL */
};

static size_t body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > b->cap - b->len)
		return 0; /* too long for an id or a token: abort the transfer */
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/* One IMDS request; 0 when it answered 200 with a body that fits. */
static int imds_request(const char *endpoint, const char *path, const char *header, int put, struct body *out)
{
	char url[512];
	struct curl_slist *headers = NULL;
	CURL *h;
	long status = 0;
	int rc = -EIO;

	if (snprintf(url, sizeof(url), "%s%s", endpoint, path) >= (int)sizeof(url))
		return -EINVAL;
	h = curl_easy_init();
	if (h == NULL)
		return -ENOMEM;
	headers = curl_slist_append(NULL, header);
	if (headers == NULL)
		goto out;
	out->len = 0;
	out->buf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, IMDS_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, IMDS_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (put)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	if (curl_easy_perform(h) == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status == 200)
		rc = 0;
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	return rc;
}

/* The EC2 instance id through IMDSv2; 0 when found and valid. */
static int imds_instance_id(const char *endpoint, char *out, size_t outlen)
{
	char token[IMDS_TOKEN_MAX + 1];
	char header[IMDS_TOKEN_MAX + 64];
	struct body b = { token, 0, IMDS_TOKEN_MAX };
	struct body id = { out, 0, outlen - 1 };

	if (imds_request(endpoint, IMDS_TOKEN_PATH, "X-aws-ec2-metadata-token-ttl-seconds: 60", 1, &b) != 0 ||
	    b.len == 0)
		return -EIO;
	snprintf(header, sizeof(header), "X-aws-ec2-metadata-token: %s", token);
	if (imds_request(endpoint, IMDS_ID_PATH, header, 0, &id) != 0)
		return -EIO;
	return txp_fleet_instance_id_valid(out) ? 0 : -EINVAL;
}

int txp_fleet_instance_id(const struct txp_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *conf = cfg->fleet.instance_id;

	if (outlen < TXP_FLEET_INSTANCE_ID_MAX + 1) {
		snprintf(err, errlen, "instance id buffer too small");
		return -EINVAL;
	}
	if (conf != NULL && conf[0] != '\0') {
		if (!txp_fleet_instance_id_valid(conf)) {
			snprintf(err, errlen, "[fleet] instance_id = %s: not 1 to %d letters, digits, '-', '_', '.'", conf,
			         TXP_FLEET_INSTANCE_ID_MAX);
			return -EINVAL;
		}
		snprintf(out, outlen, "%s", conf);
		return 0;
	}
	if (cfg->aws.imds && cfg->aws.imds_endpoint != NULL && cfg->aws.imds_endpoint[0] != '\0' &&
	    imds_instance_id(cfg->aws.imds_endpoint, out, outlen) == 0)
		return 0;
	if (gethostname(out, outlen) != 0) {
		snprintf(err, errlen, "[fleet] instance_id is empty, IMDS did not answer and gethostname failed: %s",
		         strerror(errno));
		return -EINVAL;
	}
	out[outlen - 1] = '\0';
	if (!txp_fleet_instance_id_valid(out)) {
		snprintf(err, errlen,
		         "[fleet] instance_id is empty, IMDS did not answer and the hostname is not a valid id; set "
		         "[fleet] instance_id");
		return -EINVAL;
	}
	return 0;
}
