/* ascii.h: character classes in the C locale, whatever the process's locale says. */
#ifndef TXPIPE_ASCII_H
#define TXPIPE_ASCII_H

#include <stdbool.h>

/* '0' to '9' only (isdigit() depends on the locale and takes an int that
 * must be an unsigned char or EOF). */
static inline bool txp_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

#endif
