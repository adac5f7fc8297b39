#!/bin/sh
# deb.sh: the Debian package builds from the source tree, passes lintian, installs into a fresh root and its configuration checks there.
#
# 1. A copy of the source tree (the tree itself stays untouched, and is
#    read-only under distcheck) is built with dpkg-buildpackage: the
#    source package (3.0 native) and the binary package.
# 2. lintian runs on both (the .changes): any error fails the test; warnings and
#    informational tags are printed (overrides need a written reason, in
#    debian/txpipe.lintian-overrides).
# 3. The package's control data: the sample configuration is a conffile,
#    the files the issue lists are there with their modes.
# 4. dpkg installs it for real into an empty root (dpkg --root with
#    --force-script-chrootless, so the maintainer scripts run with DPKG_ROOT
#    set; --force-depends, as the empty root has no libraries): the scripts
#    create the txpipe user in that root with systemd-sysusers --root,
#    generate the two keys (0600, owned by txpipe), and enable or start
#    nothing.  The host's own files are checked to be unchanged.
# 5. The libraries txpiped links with are copied into that root, and the
#    installed txpiped, chrooted and running as the txpipe user, accepts the
#    installed configuration and its keys (--check-config); another user
#    cannot read the keys.
# 6. A reinstall keeps the keys; a key present before the first install is
#    kept; purge removes the keys.
# Steps 4 to 6 need root (chown, chroot); without it they are skipped and
# the test ends with 77 after the others passed.
set -u

: "${top_srcdir:=.}"
skip() {
	echo "SKIP: $*" >&2
	echo "**** the Debian package is NOT checked: $* ****" >&2
	exit 77
}
fail=0
bad() {
	echo "FAIL: $*"
	fail=1
}

for tool in dpkg-buildpackage dpkg-deb dpkg-checkbuilddeps dh lintian; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is missing (Debian: apt-get install dpkg-dev debhelper lintian; ./quickstart installs them)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txp-deb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# ---- 1. build -------------------------------------------------------------
# The tree as a release would have it: no VCS data, build trees (build*/,
# distcheck's _build and _inst), node modules or unpacked dist trees.
src="$tmp/txpipe"
mkdir "$src" || exit 1
tar -C "$top_srcdir" --exclude-vcs --exclude='./build*' --exclude=./_build --exclude=./_inst \
	--exclude='./txpipe-[0-9]*' --exclude=node_modules --exclude=.node --exclude=.node-bin -cf - . |
	tar -C "$src" -xf - || exit 1
chmod -R u+w "$src"
(cd "$src" && dpkg-checkbuilddeps) >"$tmp/builddeps.log" 2>&1 ||
	skip "build dependencies missing: $(cat "$tmp/builddeps.log")"
# The make running this test must not hand its job server or flags to the
# package's own make.
if ! (cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES DEB_BUILD_OPTIONS=parallel=2 \
	dpkg-buildpackage -us -uc) >"$tmp/build.log" 2>&1; then
	tail -40 "$tmp/build.log"
	echo "FAIL: dpkg-buildpackage"
	exit 1
fi
deb=$(ls "$tmp"/txpipe_*.deb 2>/dev/null | head -1)
changes=$(ls "$tmp"/txpipe_*_"$(dpkg --print-architecture)".changes 2>/dev/null | head -1)
[ -n "$deb" ] && [ -n "$changes" ] || { echo "FAIL: no .deb or .changes in $tmp"; exit 1; }
echo "built $(basename "$deb")"

# ---- 2. lintian -----------------------------------------------------------
echo "lintian $(lintian --version | sed 's/^Lintian v//'):"
lintian --display-info --pedantic --fail-on error "$changes" >"$tmp/lintian.log" 2>&1
lintian_rc=$?
grep -v 'running with root privileges' "$tmp/lintian.log" | sed 's/^/  /'
[ "$lintian_rc" -eq 0 ] || bad "lintian reports errors (exit $lintian_rc)"

# ---- 3. control data and contents ------------------------------------------
dpkg-deb --ctrl-tarfile "$deb" | tar -C "$tmp" -xf - ./conffiles ./postinst ./postrm ./control 2>/dev/null
grep -qx /etc/txpipe/txpiped.ini "$tmp/conffiles" 2>/dev/null || bad "/etc/txpipe/txpiped.ini is not a conffile"
grep -q '^Depends:.*libuv1' "$tmp/control" || bad "Depends lacks the shared libraries: $(grep '^Depends' "$tmp/control")"
dpkg-deb -c "$deb" >"$tmp/contents"
# want MODE PATH: the package holds PATH with permissions MODE, owned by root.
want() {
	grep -q "^$1 root/root .* \\./$2\$" "$tmp/contents" || bad "not in the package as $1 root/root: /$2"
}
want -rwxr-xr-x usr/sbin/txpiped
want -rwxr-xr-x usr/bin/txpipectl
want -rw-r--r-- etc/txpipe/txpiped.ini
want -rw-r--r-- usr/share/man/man8/txpiped.8.gz
want -rw-r--r-- usr/share/man/man1/txpipectl.1.gz
want -rw-r--r-- usr/share/man/man5/txpiped.ini.5.gz
want -rw-r--r-- usr/share/bash-completion/completions/txpipectl
want -rw-r--r-- usr/lib/sysusers.d/txpipe.conf
grep -q '/systemd/system/txpiped\.service$' "$tmp/contents" || bad "no txpiped.service"
grep -q '/systemd/system/txpiped\.socket$' "$tmp/contents" || bad "no txpiped.socket"
# Keys are made on the target, never shipped.
grep -q '\.key$' "$tmp/contents" && bad "the package ships a key file"

if [ "$(id -u)" != 0 ]; then
	[ "$fail" -eq 0 ] || exit 1
	skip "installing into a fresh root needs root (chown, chroot); build, lintian and contents passed"
fi

# ---- 4. a real installation into an empty root ------------------------------
# newroot DIR: an empty dpkg database, nothing else.
newroot() {
	mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates" "$1/etc" &&
		: >"$1/var/lib/dpkg/status" && : >"$1/var/lib/dpkg/available"
}
# dpkg_root DIR ARGS...: dpkg on the root DIR, maintainer scripts run with DPKG_ROOT=DIR.
dpkg_root() {
	r=$1
	shift
	dpkg --root="$r" --force-script-chrootless --force-depends "$@" >>"$tmp/dpkg.log" 2>&1 ||
		{ cat "$tmp/dpkg.log"; bad "dpkg --root=$r $*"; }
}
host_state() {
	cat /etc/passwd /etc/group
	ls -la /var/lib/systemd/deb-systemd-helper-enabled /etc/systemd/system 2>/dev/null
	ls -la /etc/txpipe 2>/dev/null
}
host_state >"$tmp/host.before"

root="$tmp/root"
newroot "$root" || exit 1
dpkg_root "$root" -i "$deb"
grep -q '^txpipe:x:' "$root/etc/passwd" || bad "no txpipe user in the new root's /etc/passwd"
uid=$(awk -F: '$1 == "txpipe" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "txpipe" { print $4 }' "$root/etc/passwd")
[ -n "$uid" ] && [ "$uid" != 0 ] || bad "txpipe user has uid '$uid'"
# keyok PATH: mode 0600, owned by txpipe.
keyok() {
	[ "$(stat -c '%a %u %g' "$1" 2>/dev/null)" = "600 $uid $gid" ] ||
		bad "$1: $(stat -c 'mode %a owner %u:%g' "$1" 2>&1), want mode 600 owner $uid:$gid"
}
keyok "$root/etc/txpipe/keys/card-token.key"
keyok "$root/etc/txpipe/keys/pseudonym.key"
[ "$(stat -c '%a %u' "$root/etc/txpipe/keys" 2>/dev/null)" = "700 $uid" ] || bad "/etc/txpipe/keys is not 0700 txpipe"
cmp -s "$root/etc/txpipe/keys/card-token.key" "$root/etc/txpipe/keys/pseudonym.key" && bad "the two keys are equal"
# Nothing enabled: no unit linked anywhere under /etc/systemd.  (Nothing
# started either: the maintainer scripts only call systemctl when systemd
# runs the target, which DPKG_ROOT rules out; the package's postinst has no
# start action, checked on the script itself.)
find "$root/etc/systemd" -name 'txpiped*' 2>/dev/null | grep -q . &&
	bad "units enabled on installation: $(find "$root/etc/systemd" -name 'txpiped*')"
grep -E '_dh_action=start|deb-systemd-invoke +(start|restart)|systemctl.* (start|enable)' "$tmp/postinst" &&
	bad "postinst starts or enables a unit"
host_state >"$tmp/host.after"
cmp -s "$tmp/host.before" "$tmp/host.after" || bad "installing into $root changed the host: $(diff "$tmp/host.before" "$tmp/host.after")"

# ---- 5. the installed daemon accepts the installed configuration -----------
# The root gets the shared libraries txpiped links with, nothing else.
for lib in $(ldd "$root/usr/sbin/txpiped" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
	mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || bad "copying $lib"
done
if chroot --userspec="$uid:$gid" "$root" /usr/sbin/txpiped --check-config --config /etc/txpipe/txpiped.ini \
	>"$tmp/check.out" 2>&1; then
	echo "txpiped --check-config in the new root, as txpipe: $(cat "$tmp/check.out")"
else
	bad "txpiped --check-config in the new root, as txpipe: $(cat "$tmp/check.out")"
fi
# The keys are the txpipe user's alone: as nobody the same check fails on them.
chroot --userspec=65534:65534 "$root" /usr/sbin/txpiped --check-config --config /etc/txpipe/txpiped.ini \
	>"$tmp/nobody.out" 2>&1 && bad "another user can read the keys"
grep -q 'card-token.key' "$tmp/nobody.out" || bad "as nobody: $(cat "$tmp/nobody.out")"

# ---- 6. reinstall, an existing key, purge --------------------------------------
sum=$(cat "$root"/etc/txpipe/keys/*.key | md5sum)
dpkg_root "$root" -i "$deb"
[ "$(cat "$root"/etc/txpipe/keys/*.key | md5sum)" = "$sum" ] || bad "a reinstall replaced the keys"
dpkg_root "$root" --purge txpipe
[ -e "$root/etc/txpipe/keys" ] && bad "purge left /etc/txpipe/keys"
[ -e "$root/usr/sbin/txpiped" ] && bad "purge left txpiped"

root2="$tmp/root2"
newroot "$root2" || exit 1
mkdir -p "$root2/etc/txpipe/keys" && printf '%064x\n' 7 >"$root2/etc/txpipe/keys/card-token.key" &&
	chmod 600 "$root2/etc/txpipe/keys/card-token.key" || exit 1
dpkg_root "$root2" -i "$deb"
[ "$(cat "$root2/etc/txpipe/keys/card-token.key")" = "$(printf '%064x' 7)" ] || bad "an existing key was replaced"
[ -s "$root2/etc/txpipe/keys/pseudonym.key" ] || bad "the missing key was not created next to an existing one"

[ "$fail" -eq 0 ] && echo "PASS: package built, lintian clean of errors, installed and checked in a fresh root"
exit "$fail"
