#!/bin/sh
# sigv4_diff.sh: our SigV4 signer against botocore's, an independent implementation Debian ships, on generated requests.
#
# Runs in every `make check`, beside the published suite (test_sigv4_suite,
# which needs the suite's files) and the documentation's vectors
# (test_sigv4).  botocore comes from python3-botocore, which ./quickstart
# installs; without it the test is an error, not a skip, so that the
# signer is never left unchecked by accident.  PYTHON3 picks the
# interpreter; otherwise the first of python3 and /usr/bin/python3 that can
# import botocore.
set -u

: "${top_builddir:=.}"
: "${top_srcdir:=.}"

py=
for cand in ${PYTHON3:-} python3 /usr/bin/python3; do
	if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import botocore.auth' 2>/dev/null; then
		py=$cand
		break
	fi
done
if [ -z "$py" ]; then
	echo "ERROR: no python3 with botocore; install python3-botocore (./quickstart does) or set PYTHON3"
	exit 99
fi
exec "$py" "$top_srcdir/tests/unit/sigv4_diff.py" "$top_builddir/tests/unit/sigv4_signer" ${SIGV4_DIFF_COUNT:-400}
