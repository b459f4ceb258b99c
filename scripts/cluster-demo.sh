#!/usr/bin/env bash
# The chat demo as a cluster, in one command: Redis, two chat nodes joined through the Redis
# adapter, and HAProxy in front with cookie-sticky sessions (long-polling needs every request
# of a session on one node). Open http://127.0.0.1:3000 in two browsers: each tab may land on
# either node, and they chat, see the same rooms and user lists. Ctrl-C stops everything.
#
#   scripts/cluster-demo.sh     # LB_PORT=3000 NODE_PORTS="3001 3002" REDIS_PORT=6390 by default
#
# Needs redis-server and haproxy (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
REDIS_PORT=${REDIS_PORT:-6390}
LB_PORT=${LB_PORT:-3000}
NODE_PORTS=${NODE_PORTS:-"3001 3002"}
for tool in redis-server redis-cli haproxy; do
  command -v "$tool" >/dev/null || { echo "cluster-demo: $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --release -q -p socketio-server --example chat
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null || { echo "cluster-demo: redis did not start" >&2; exit 1; }

servers=""
n=0
for port in $NODE_PORTS; do
  n=$((n + 1))
  target/release/examples/chat --port "$port" --redis "redis://127.0.0.1:$REDIS_PORT" </dev/null &
  pids+=($!)
  servers+="  server node$n 127.0.0.1:$port check cookie node$n"$'\n'
done

cat >"$tmp/haproxy.cfg" <<CFG
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
frontend chat
  bind 127.0.0.1:$LB_PORT
  default_backend nodes
backend nodes
  balance roundrobin
  cookie SERVERID insert indirect nocache
$servers
CFG
haproxy -db -f "$tmp/haproxy.cfg" &
pids+=($!)
echo "cluster-demo: http://127.0.0.1:$LB_PORT  (chat nodes on $NODE_PORTS, redis on $REDIS_PORT)"
wait -n "${pids[@]}"
