#!/usr/bin/env bash
# setup-node.sh: provides a Node.js new enough for the integration harness and installs tests/node_modules.
#
# Prints the absolute path of the node binary to use on stdout (and writes it to tests/.node-bin);
# everything else goes to stderr.  Idempotent: a second run does no network work.
#
# Why Node 22.13+: fauxqs 2.4.1 (the SNS/SQS emulator) imports node:sqlite at load time, which
# exists from Node 22.5 and needs no --experimental-sqlite flag from 22.13.  Debian 12 ships
# Node 18, and some machines carry Node 20, so where the system node is older (or missing) we take
# an official Node build from the npm registry itself: the package node-linux-<arch> ships the
# node binary as bin/node.  It is installed under tests/.node (gitignored).
#
# Environment:
#   TXP_FORCE_NODE_DOWNLOAD=1  ignore the system node and use (or fetch) the pinned registry build
#   TXP_NODE_PIN=22.22.2       the node-linux-<arch> version to fetch (default below)
set -euo pipefail

NODE_MIN=22.13.0
NODE_PIN=${TXP_NODE_PIN:-22.22.2}

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE_DIR="$TESTS_DIR/.node"
NODE_BIN_FILE="$TESTS_DIR/.node-bin"
STAMP="$TESTS_DIR/node_modules/.txp-lock-sha256"

say() { printf 'setup-node: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# version_ge A B: true when dotted version A >= B.
version_ge() {
	local -a a b
	local i
	IFS=. read -r -a a <<<"$1"
	IFS=. read -r -a b <<<"$2"
	for i in 0 1 2; do
		local x=${a[i]:-0} y=${b[i]:-0}
		if ((10#$x > 10#$y)); then return 0; fi
		if ((10#$x < 10#$y)); then return 1; fi
	done
	return 0
}

# node_ok PATH: the binary runs and is at least NODE_MIN.
node_ok() {
	local v
	[[ -x $1 ]] || return 1
	v=$("$1" -p 'process.versions.node' 2>/dev/null) || return 1
	version_ge "$v" "$NODE_MIN"
}

node_arch() {
	case $(uname -m) in
	x86_64 | amd64) echo x64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) die "no node-linux build known for $(uname -m)" ;;
	esac
}

ensure_npm() {
	command -v npm >/dev/null 2>&1 && return 0
	# Debian 12: the npm package brings Node 18 with it, enough to run npm itself.
	say "npm not found; installing Debian's npm"
	command -v apt-get >/dev/null 2>&1 || die "npm is missing and apt-get is not available"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >&2
	command -v npm >/dev/null 2>&1 || die "npm still missing after apt-get install npm"
}

fetch_node() {
	local pkg
	pkg="node-linux-$(node_arch)"
	ensure_npm
	say "fetching $pkg@$NODE_PIN from the npm registry into tests/.node"
	rm -rf "$NODE_DIR"
	mkdir -p "$NODE_DIR"
	# A package.json of its own keeps npm from walking up into tests/package.json.
	printf '{ "name": "txp-node-runtime", "private": true }\n' >"$NODE_DIR/package.json"
	npm install --prefix "$NODE_DIR" --no-save --no-package-lock --no-audit --no-fund \
		--loglevel=error "$pkg@$NODE_PIN" >/dev/null
	[[ -x $NODE_DIR/node_modules/$pkg/bin/node ]] || die "$pkg did not provide bin/node"
}

pick_node() {
	local sys pinned
	pinned="$NODE_DIR/node_modules/node-linux-$(node_arch)/bin/node"
	if [[ ${TXP_FORCE_NODE_DOWNLOAD:-0} != 1 ]]; then
		sys=$(command -v node 2>/dev/null || true)
		if [[ -n $sys ]] && node_ok "$sys"; then
			readlink -f "$sys"
			return
		fi
	fi
	if ! node_ok "$pinned" || [[ $("$pinned" -p 'process.versions.node') != "$NODE_PIN" ]]; then
		if [[ ${TXP_FORCE_NODE_DOWNLOAD:-0} == 1 ]]; then
			say "TXP_FORCE_NODE_DOWNLOAD=1: not using the system node"
		else
			sys=$(command -v node 2>/dev/null || true)
			say "system node ${sys:+$("$sys" --version 2>/dev/null) }not usable (need >= $NODE_MIN)"
		fi
		fetch_node
		node_ok "$pinned" || die "fetched node does not run or is too old"
	fi
	echo "$pinned"
}

install_modules() {
	local node=$1 want
	want=$(sha256sum "$TESTS_DIR/package-lock.json" | cut -d' ' -f1)
	if [[ -f $STAMP && $(cat "$STAMP") == "$want" && -d $TESTS_DIR/node_modules/fauxqs ]]; then
		return
	fi
	ensure_npm
	say "npm ci in tests/"
	# npm runs under the chosen node (its launcher is '#!/usr/bin/env node'), so engine checks pass.
	# An official Node build trusts only its own CA list; add the system's, so that a CA the
	# administrator installed (a TLS-inspecting proxy's) is trusted as Debian's node and curl do.
	local ca=${NODE_EXTRA_CA_CERTS:-}
	[[ -z $ca && -r /etc/ssl/certs/ca-certificates.crt ]] && ca=/etc/ssl/certs/ca-certificates.crt
	(cd "$TESTS_DIR" && PATH="$(dirname "$node"):$PATH" NODE_EXTRA_CA_CERTS=$ca \
		npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$want" >"$STAMP"
}

main() {
	local node
	# Parallel test scripts may call this at once; one does the work, the others wait.
	exec 9>"$TESTS_DIR/.setup-node.lock"
	flock 9
	node=$(pick_node)
	install_modules "$node"
	echo "$node" >"$NODE_BIN_FILE.tmp"
	mv -f "$NODE_BIN_FILE.tmp" "$NODE_BIN_FILE"
	echo "$node"
}

main "$@"
