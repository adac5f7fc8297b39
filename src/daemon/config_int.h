/* config_int.h: what config.c (values) and config_load.c (files, checks across keys) share; not for other modules. */
#ifndef TXPIPE_CONFIG_INT_H
#define TXPIPE_CONFIG_INT_H

#include <stddef.h>

/* Longest value quoted in a message; the rest is elided so one bad line cannot flood the log. */
#define QUOTE_MAX 80

/* Rows of txp_config_keys before its terminating row. */
size_t config__row_count(void);

/* Appends to buf at *used, keeping it terminated and counting what it would have needed. */
void config__append(char *buf, size_t len, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
