#!/bin/sh
# sink.sh: a do-nothing AWS for the benchmark: nginx (Debian's) answering DynamoDB BatchWriteItem,
# SNS PublishBatch and SQS SendMessageBatch over HTTPS on loopback, with a test CA made here.
#
# Usage: sink.sh start DIR    writes DIR/ca.pem, DIR/endpoints (shell: DYNAMODB_URL SNS_URL SQS_URL)
#                             and starts nginx; prints nothing on success
#        sink.sh stop DIR     stops it
#
# Every request on a port gets the same success answer, the one the real
# service gives when every entry of the batch succeeded (DynamoDB API
# Reference, BatchWriteItem: UnprocessedItems empty; SNS API Reference,
# PublishBatch: an empty Failed list; SQS API Reference, SendMessageBatch,
# JSON protocol: an empty Failed list).  txpiped reads only the failures of
# a batch, so the answer fits a batch of any size.  nginx reads and discards
# each request body and keeps connections alive, so the figures measure the
# client: its item encoding, signing, TLS and HTTP, not an emulator.
set -eu

cmd=${1:?usage: sink.sh start|stop DIR}
dir=${2:?usage: sink.sh start|stop DIR}

# free_port: a loopback TCP port nobody listens on now (the kernel's choice).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case $cmd in
stop)
	if [ -s "$dir/nginx.pid" ]; then
		kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -e "$dir/nginx.pid" ] || break
			sleep 0.1
		done
	fi
	exit 0
	;;
start) ;;
*)
	echo "usage: sink.sh start|stop DIR" >&2
	exit 64
	;;
esac

nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx" ] || ! command -v openssl >/dev/null; then
	echo "sink.sh: needs nginx and openssl (apt-get install nginx-light openssl)" >&2
	exit 69
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd) # nginx takes paths relative to its prefix
# A test CA and a server certificate for 127.0.0.1 (P-256, one day).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=txpipe bench CA" \
	-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
	-extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null

ddb=$(free_port)
sns=$(free_port)
sqs=$(free_port)
user=
[ "$(id -u)" -eq 0 ] && user="user root;"
cat >"$dir/nginx.conf" <<EOC
# Written by bench/sink.sh.
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	client_max_body_size 16m;
	client_body_buffer_size 1m;
	keepalive_requests 10000000;
	keepalive_timeout 600s;
	ssl_certificate $dir/server.pem;
	ssl_certificate_key $dir/server.key;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_session_cache shared:bench:1m;
	server {
		listen 127.0.0.1:$ddb ssl;
		default_type application/x-amz-json-1.0;
		location / { return 200 '{"UnprocessedItems":{}}'; }
	}
	server {
		listen 127.0.0.1:$sns ssl;
		default_type text/xml;
		location / { return 200 '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful/><Failed/></PublishBatchResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></PublishBatchResponse>'; }
	}
	server {
		listen 127.0.0.1:$sqs ssl;
		default_type application/x-amz-json-1.0;
		location / { return 200 '{"Successful":[],"Failed":[]}'; }
	}
}
EOC
"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/error.log" || {
	echo "sink.sh: nginx did not start:" >&2
	cat "$dir/error.log" >&2
	exit 1
}
cat >"$dir/endpoints" <<EOC
DYNAMODB_URL=https://127.0.0.1:$ddb
SNS_URL=https://127.0.0.1:$sns
SQS_URL=https://127.0.0.1:$sqs
EOC
