/* ascii.h: character classes in the C locale, whatever the process's locale says. */
#ifndef TXPIPE_ASCII_H
#define TXPIPE_ASCII_H

#include <stdbool.h>

/* '0' to '9' only, for a char or an unsigned char alike (isdigit()
 * depends on the locale, and a negative char is undefined for it). */
static inline bool txp_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

#endif
