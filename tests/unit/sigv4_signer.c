/* sigv4_signer.c: signs requests read on stdin with txp_sigv4_sign and prints every intermediate, for sigv4_diff.py. */
#include "txpipe/aws/sigv4.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The protocol is line based so that any byte can travel: every field is
 * "x" followed by the bytes in hex ("x" alone is the empty string), or "-"
 * for NULL.
 *
 *   R method path query region service time flags akid secret token payload payload_hash
 *   H name value            (zero or more, in request order)
 *   E                       (sign what was read)
 *
 * For each E the answer is
 *
 *   OK canonical_request string_to_sign authorization signed_headers payload_hash
 *   A name value            (each header the signer adds, in its order)
 *   E
 *
 * or "ERR message" when txp_sigv4_sign refuses the request.  The exit
 * status is 0 unless the input is malformed.
 */

#define MAX_FIELDS 16
#define MAX_HEADERS 64

struct field {
	char *s; /* NULL for "-" */
	size_t len;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one field into a malloc'd NUL-terminated string; -1 when malformed. */
static int field_decode(const char *tok, struct field *out)
{
	size_t n;

	out->s = NULL;
	out->len = 0;
	if (strcmp(tok, "-") == 0)
		return 0;
	if (tok[0] != 'x' || (strlen(tok) - 1) % 2 != 0)
		return -1;
	n = (strlen(tok) - 1) / 2;
	out->s = malloc(n + 1);
	if (out->s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(tok[1 + 2 * i]), lo = hexval(tok[2 + 2 * i]);
		if (hi < 0 || lo < 0) {
			free(out->s);
			out->s = NULL;
			return -1;
		}
		out->s[i] = (char)(hi << 4 | lo);
	}
	out->s[n] = '\0';
	out->len = n;
	return 0;
}

/* Splits line on spaces and decodes every field; returns the count or -1. */
static int split(char *line, struct field *f, int max)
{
	int n = 0;

	for (char *save = NULL, *tok = strtok_r(line, " \n", &save); tok != NULL; tok = strtok_r(NULL, " \n", &save)) {
		if (n == max || field_decode(tok, &f[n]) < 0)
			return -1;
		n++;
	}
	return n;
}

static void put_hex(const char *s, size_t len)
{
	putchar(' ');
	if (s == NULL) {
		putchar('-');
		return;
	}
	putchar('x');
	for (size_t i = 0; i < len; i++)
		printf("%02x", (unsigned char)s[i]);
}

static void put_str(const char *s)
{
	put_hex(s, s != NULL ? strlen(s) : 0);
}

static void fields_free(struct field *f, int n)
{
	for (int i = 0; i < n; i++)
		free(f[i].s);
}

int main(void)
{
	struct field r[MAX_FIELDS], h[MAX_HEADERS][2];
	struct txp_sigv4_header headers[MAX_HEADERS];
	char *line = NULL;
	size_t cap = 0;
	int nr = 0, nh = 0, status = 0;
	char op;

	if (sodium_init() < 0)
		return 1;
	while (getline(&line, &cap, stdin) > 0) {
		op = line[0];
		if (op == 'R' && line[1] == ' ') {
			fields_free(r, nr);
			nr = split(line + 2, r, MAX_FIELDS);
			if (nr != 12) {
				fprintf(stderr, "sigv4_signer: bad R line\n");
				status = 2;
				break;
			}
		} else if (op == 'H' && line[1] == ' ') {
			if (nh == MAX_HEADERS || split(line + 2, h[nh], 2) != 2) {
				fprintf(stderr, "sigv4_signer: bad H line\n");
				status = 2;
				break;
			}
			headers[nh].name = h[nh][0].s;
			headers[nh].value = h[nh][1].s;
			nh++;
		} else if (op == 'E' && nr == 12) {
			struct txp_sigv4_credentials creds = { r[7].s, r[8].s, r[9].s };
			struct txp_sigv4_request req = {
				.method = r[0].s,
				.path = r[1].s,
				.query = r[2].s,
				.headers = headers,
				.n_headers = (size_t)nh,
				.payload = r[10].s,
				.payload_len = r[10].len,
				.payload_hash = r[11].s,
			};
			struct txp_sigv4_params params = {
				.creds = &creds,
				.region = r[3].s,
				.service = r[4].s,
				.now = (time_t)strtoll(r[5].s != NULL ? r[5].s : "0", NULL, 10),
				.flags = (unsigned)strtoul(r[6].s != NULL ? r[6].s : "0", NULL, 10),
			};
			struct txp_sigv4_signed *out = NULL;
			char err[256];

			if (txp_sigv4_sign(&req, &params, &out, err, sizeof(err)) < 0) {
				printf("ERR");
				put_str(err);
				putchar('\n');
			} else {
				printf("OK");
				put_str(out->canonical_request);
				put_str(out->string_to_sign);
				put_str(out->authorization);
				put_str(out->signed_headers);
				put_str(out->payload_hash);
				putchar('\n');
				for (size_t i = 0; i < out->n_add_headers; i++) {
					printf("A");
					put_str(out->add_headers[i].name);
					put_str(out->add_headers[i].value);
					putchar('\n');
				}
				printf("E\n");
			}
			txp_sigv4_signed_free(out);
			for (int i = 0; i < nh; i++)
				fields_free(h[i], 2);
			nh = 0;
			fflush(stdout);
		} else {
			fprintf(stderr, "sigv4_signer: unexpected line\n");
			status = 2;
			break;
		}
	}
	for (int i = 0; i < nh; i++)
		fields_free(h[i], 2);
	fields_free(r, nr);
	free(line);
	return status;
}
