#!/bin/sh
# verify-units.sh: systemd-analyze verify on the generated units, and their hardening score.
#
# The units name the installed txpiped, which `make check` has not
# installed, so verify reads a copy whose ExecStart points at the built
# binary; everything else is the generated unit as installed.  The service's
# exposure from `systemd-analyze security` must stay at or below 2.0.
# Skips (77) without systemd-analyze, after checking that every hardening
# setting is commented.
set -u

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
MAX_EXPOSURE=2.0

# Every hardening setting says why: each line of the [Service] section from
# the Hardening marker on is a comment or follows one (or a setting that
# shares its comment, for the SystemCallFilter pair).
uncommented=$(awk '/^# ---- Hardening/ { on = 1 } /^\[/ && !/^\[Service\]/ { on = 0 }
	on && /^[A-Za-z]/ && prev !~ /^#/ { print FILENAME ":" FNR ": " $0 } { prev = $0 }' \
	"$top_srcdir/systemd/txpiped.service.in")
if [ -n "$uncommented" ]; then
	echo "FAIL: hardening settings without a comment:"
	echo "$uncommented"
	exit 1
fi
echo "ok: every hardening setting is commented"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
for f in systemd/txpiped.service systemd/txpiped.socket; do
	if [ ! -f "$top_builddir/$f" ]; then
		echo "FAIL: $top_builddir/$f was not generated (make)"
		exit 1
	fi
done
for p in txpiped txpipectl; do
	if [ ! -x "$top_builddir/$p" ]; then
		echo "FAIL: $top_builddir/$p is not built"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txp-units.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

# The copies keep the unit names, since the service refers to the socket
# and the socket to the service by name.
sed -e "s|^ExecStart=[^ ]*/txpiped |ExecStart=$top_builddir/txpiped |" \
	-e "s|^ExecReload=[^ ]*/txpipectl |ExecReload=$top_builddir/txpipectl |" \
	"$top_builddir/systemd/txpiped.service" >"$tmp/txpiped.service"
cp "$top_builddir/systemd/txpiped.socket" "$tmp/txpiped.socket"
if ! grep -q "^ExecStart=$top_builddir/txpiped " "$tmp/txpiped.service"; then
	echo "FAIL: no ExecStart=.../txpiped line to point at the build"
	status=1
fi
# Every command the units run is the build's or part of a minimal Debian:
# /bin/kill (procps) is not, and verify fails on a missing executable only
# on the machine that lacks it.
for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$tmp/txpiped.service"); do
	case $exe in
	"$top_builddir"/*) ;;
	*)
		echo "FAIL: the unit runs $exe; only txpipe's own programs are sure to exist (/bin/kill, for one, is procps, which a minimal Debian lacks)"
		status=1
		;;
	esac
done
# The reload command talks to the socket the socket unit listens on.
sock=$(sed -n 's/^ListenStream=//p' "$tmp/txpiped.socket")
if ! grep -q "^ExecReload=.*/txpipectl --socket $sock reload\$" "$tmp/txpiped.service"; then
	echo "FAIL: ExecReload does not run txpipectl --socket $sock reload"
	status=1
fi

# Documentation= is checked against these man pages, in a man tree of
# their own so the system's pages cannot stand in for them.
mkdir -p "$tmp/man/man1" "$tmp/man/man5" "$tmp/man/man8"
cp "$top_srcdir/man/txpipectl.1" "$tmp/man/man1/"
cp "$top_srcdir/man/txpiped.ini.5" "$tmp/man/man5/"
cp "$top_srcdir/man/txpiped.8" "$tmp/man/man8/"
if command -v man >/dev/null 2>&1; then
	man_opt=--man=yes
else
	man_opt=--man=no
fi

# verify prints problems on stderr and may still exit 0 for some of them,
# so any output counts as a failure.
out=$(MANPATH="$tmp/man" systemd-analyze verify "$man_opt" "$tmp/txpiped.service" "$tmp/txpiped.socket" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify (exit $rc):"
	echo "$out"
	status=1
else
	echo "ok: systemd-analyze verify $man_opt txpiped.service txpiped.socket"
fi

out=$(systemd-analyze security --offline=yes "$tmp/txpiped.service" 2>&1)
rc=$?
line=$(echo "$out" | grep 'Overall exposure level')
exposure=$(echo "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]\).*/\1/p')
if [ -z "$exposure" ]; then
	echo "FAIL: no exposure figure from systemd-analyze security --offline=yes (exit $rc):"
	echo "$out"
	status=1
elif awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e + 0 > m + 0) }'; then
	echo "FAIL: exposure $exposure is above $MAX_EXPOSURE; the settings that cost most:"
	echo "$out" | grep '✗'
	status=1
else
	echo "ok: exposure $exposure (at most $MAX_EXPOSURE)"
fi
exit $status
