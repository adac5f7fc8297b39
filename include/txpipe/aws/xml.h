/* xml.h: the one XML reader of the AWS layer, for the flat answers of query-protocol services (SNS). */
#ifndef TXPIPE_AWS_XML_H
#define TXPIPE_AWS_XML_H

#include <stddef.h>

/*
 * Finds the first element <tag>...</tag> (or <tag attr="...">, or <tag/>) in
 * xml[0..len) and points *inner at its content (*inner_len bytes, not
 * unescaped).  Returns a pointer just past the closing tag, to continue the
 * search from, or NULL when there is none.  Enough for the flat responses of
 * SNS; not a general XML parser (no CDATA, no nesting of the same tag).
 */
const char *txp_aws_xml_find(const char *xml, size_t len, const char *tag, const char **inner, size_t *inner_len);

/* Copies `len` bytes of XML text into out, replacing the five predefined
 * entities and numeric character references; truncates to fit, always
 * NUL-terminates.  Returns the length written. */
size_t txp_aws_xml_unescape(const char *in, size_t len, char *out, size_t outlen);

/*
 * The unescaped text of the first <tag> in xml[0..len) into out (truncated
 * to fit, NUL-terminated).  Returns its length, or -ENOENT when there is no
 * such element (or xml is NULL); out is then "".
 */
int txp_aws_xml_text(const char *xml, size_t len, const char *tag, char *out, size_t outlen);

#endif
