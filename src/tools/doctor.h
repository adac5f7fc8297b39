/* doctor.h: `txpipectl doctor`: checks a txpipe installation in the order an operator would, naming each fix. */
#ifndef TXPIPE_TOOLS_DOCTOR_H
#define TXPIPE_TOOLS_DOCTOR_H

#include <stdio.h>

/*
 * Runs every check against the configuration at config_path (and the socket
 * it names, or socket_path when not NULL), one line each on `out`:
 * "ok", "warn" or "FAIL", the check's name, what it found; a failure or a
 * warning is followed by a "fix:" line.  Returns 0 when no check failed
 * (warnings allowed), 1 otherwise.  libsodium must be initialised.
 */
int txp_doctor_run(const char *config_path, const char *socket_path, FILE *out);

#endif
