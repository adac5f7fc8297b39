/* xml.c: the one XML reader of the AWS layer, for the flat answers of query-protocol services (SNS). */
#include "txpipe/aws/xml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *txp_aws_xml_find(const char *xml, size_t len, const char *tag, const char **inner, size_t *inner_len)
{
	size_t tl = strlen(tag);
	const char *p = xml, *end = xml + len, *open, *close;
	char closing[80];

	if (xml == NULL || tl == 0 || tl + 4 > sizeof(closing))
		return NULL;
	snprintf(closing, sizeof(closing), "</%s>", tag);
	while ((open = memmem(p, (size_t)(end - p), "<", 1)) != NULL) {
		const char *name = open + 1, *gt;
		p = name;
		if ((size_t)(end - name) < tl + 1 || memcmp(name, tag, tl) != 0)
			continue;
		/* "<Code>", "<Code xmlns=...>" or "<Code/>", not "<CodeX>". */
		if (name[tl] != '>' && name[tl] != ' ' && name[tl] != '/' && name[tl] != '\t' && name[tl] != '\n')
			continue;
		gt = memchr(name + tl, '>', (size_t)(end - (name + tl)));
		if (gt == NULL)
			return NULL;
		if (gt[-1] == '/') {
			*inner = gt + 1;
			*inner_len = 0;
			return gt + 1;
		}
		close = memmem(gt + 1, (size_t)(end - (gt + 1)), closing, tl + 3);
		if (close == NULL)
			return NULL;
		*inner = gt + 1;
		*inner_len = (size_t)(close - (gt + 1));
		return close + tl + 3;
	}
	return NULL;
}

/* Appends code point cp as UTF-8; returns the bytes written, 0 when it does not fit or is invalid. */
static size_t put_utf8(unsigned long cp, char *out, size_t room)
{
	if (cp < 0x80 && room >= 1) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800 && room >= 2) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp >= 0x800 && cp < 0x10000 && (cp < 0xD800 || cp > 0xDFFF) && room >= 3) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp >= 0x10000 && cp < 0x110000 && room >= 4) {
		out[0] = (char)(0xF0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		return 4;
	}
	return 0;
}

size_t txp_aws_xml_unescape(const char *in, size_t len, char *out, size_t outlen)
{
	static const struct {
		const char *name;
		char c;
	} entities[] = { { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "quot;", '"' }, { "apos;", '\'' } };
	size_t o = 0, i = 0;

	if (out == NULL || outlen == 0)
		return 0;
	while (i < len && o + 1 < outlen) {
		const char *s = in + i;
		size_t rest = len - i, k, w;
		bool done = false;

		if (*s != '&') {
			out[o++] = in[i++];
			continue;
		}
		for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
			size_t el = strlen(entities[k].name);
			if (rest > el && memcmp(s + 1, entities[k].name, el) == 0) {
				out[o++] = entities[k].c;
				i += 1 + el;
				done = true;
				break;
			}
		}
		if (!done && rest > 3 && s[1] == '#') {
			const char *semi = memchr(s, ';', rest < 12 ? rest : 12);
			char num[12], *end;
			unsigned long cp;
			bool hex = s[2] == 'x' || s[2] == 'X';
			if (semi != NULL && (size_t)(semi - s) - (hex ? 3 : 2) < sizeof(num)) {
				size_t nl = (size_t)(semi - s) - (hex ? 3 : 2);
				memcpy(num, s + (hex ? 3 : 2), nl);
				num[nl] = '\0';
				cp = strtoul(num, &end, hex ? 16 : 10);
				if (nl > 0 && *end == '\0' && cp != 0 &&
				    (w = put_utf8(cp, out + o, outlen - 1 - o)) > 0) {
					o += w;
					i += (size_t)(semi - s) + 1;
					done = true;
				}
			}
		}
		if (!done)
			out[o++] = in[i++];
	}
	out[o] = '\0';
	return o;
}

int txp_aws_xml_text(const char *xml, size_t len, const char *tag, char *out, size_t outlen)
{
	const char *inner;
	size_t n;

	if (outlen > 0)
		out[0] = '\0';
	if (xml == NULL || txp_aws_xml_find(xml, len, tag, &inner, &n) == NULL)
		return -ENOENT;
	return (int)txp_aws_xml_unescape(inner, n, out, outlen);
}
