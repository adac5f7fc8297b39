/* keys.h: secret key files for card tokens and pseudonyms: strict loading, safe generation. */
#ifndef TXPIPE_KEYS_H
#define TXPIPE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define TXP_KEY_BYTES 32

/*
 * Reads a 32-byte key from `path`: either exactly 32 raw bytes, or 64 hex
 * digits optionally followed by one newline.  Refuses a symbolic link
 * (-ELOOP: whoever can change a link would choose the secret; name the file
 * itself), anything that is not a regular file (-EINVAL, -EISDIR; a FIFO is
 * refused without waiting for a writer), a file of any other size (-EINVAL,
 * decided before reading) and a file whose mode gives any access to group or
 * others (-EPERM; PCI DSS: keys readable only by the daemon's user).
 * Returns 0, or a negative errno with the reason in err (never any key
 * material).  `key` is wiped on error.
 */
int txp_key_load(const char *path, uint8_t key[TXP_KEY_BYTES], char *err, size_t errlen);

/*
 * Creates `path` with mode 0600 holding a new random key as 64 hex digits
 * and a newline.  Refuses to overwrite an existing file (-EEXIST).
 * Returns 0 or a negative errno with the reason in err.
 */
int txp_key_generate(const char *path, char *err, size_t errlen);

#endif
