#!/usr/bin/env bash
# The chat demo as a cluster, in one command: Redis, two chat nodes joined through the Redis
# adapter, and HAProxy in front with cookie-sticky sessions (long-polling needs every request
# of a session on one node). Open http://127.0.0.1:3000 in two browsers: each tab may land on
# either node, and they chat, see the same rooms and user lists. Ctrl-C stops everything.
#
#   scripts/cluster-demo.sh     # LB_PORT=3000 NODE_PORTS="3001 3002" REDIS_PORT=6390 by default
#   scripts/cluster-demo.sh --no-sticky
#
# --no-sticky: HAProxy plain `balance roundrobin`, no cookie, no stickiness of any kind, and the
# nodes run with `--cluster-engine` (crate engine-io-cluster): any node serves any polling
# request of any session over the same Redis, so clients that keep no cookies work too.
#
# Needs redis-server and haproxy (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
sticky=1
for arg in "$@"; do
  case "$arg" in
    --no-sticky) sticky=0 ;;
    *) echo "cluster-demo: unknown argument $arg (only --no-sticky)" >&2; exit 2 ;;
  esac
done
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
node_args=()
cookie_line="  cookie SERVERID insert indirect nocache"
if [ "$sticky" = 0 ]; then
  node_args=(--cluster-engine)
  cookie_line="  # no cookie: any node serves any session (--cluster-engine)"
fi
n=0
for port in $NODE_PORTS; do
  n=$((n + 1))
  "${CARGO_TARGET_DIR:-target}/release/examples/chat" --port "$port" --redis "redis://127.0.0.1:$REDIS_PORT" "${node_args[@]}" </dev/null &
  pids+=($!)
  if [ "$sticky" = 1 ]; then
    servers+="  server node$n 127.0.0.1:$port check cookie node$n"$'\n'
  else
    servers+="  server node$n 127.0.0.1:$port check"$'\n'
  fi
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
$cookie_line
$servers
CFG
haproxy -db -f "$tmp/haproxy.cfg" &
pids+=($!)
mode=$([ "$sticky" = 1 ] && echo "cookie-sticky" || echo "no stickiness, cluster engine")
echo "cluster-demo: http://127.0.0.1:$LB_PORT  (chat nodes on $NODE_PORTS, redis on $REDIS_PORT, $mode)"
wait -n "${pids[@]}"
