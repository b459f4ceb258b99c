#!/usr/bin/env bash
# The cluster engine's cost, measured with the project's load tool (protocol-tests `sioload`):
# redis-server and 3 bench_server nodes (`--redis URL --cluster-engine`) pinned to CPU 0, the
# load generator on CPU 1. Polling echo round trips with every request of a session on its owner
# (local), then every request on the next node (foreign: each GET and POST crosses Redis to the
# owner and back). Prints round trips per second, p50 / p99 latency and the CPU per round trip
# summed over the nodes and Redis, then the ratios foreign/local. Then the same over WebSockets
# (`sioload cluster-ws`): opened directly on a node, then proxied (a polling session upgraded,
# past the 300 ms connect delay, on the next node, which relays the WebSocket's bytes to the
# owner through Redis); the ratios proxied/direct.
#
#   scripts/cluster-bench.sh        # CONNS=48 SECS=5 BYTES=32 REDIS_PORT=6393 by default
#   MEASURES=poll scripts/cluster-bench.sh   # poll, ws or poll,ws (the default)
#   SERVER=path/to/bench_server scripts/cluster-bench.sh   # another build of the nodes
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in redis-server redis-cli taskset; do
  command -v "$tool" >/dev/null || { echo "cluster-bench: $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
REDIS_PORT=${REDIS_PORT:-6393}
target="${CARGO_TARGET_DIR:-$root/target}/release"
server=${SERVER:-$target/examples/bench_server}
[ -n "${SERVER:-}" ] || cargo build --release -q -p socketio-server --example bench_server
cargo build --release -q -p protocol-tests --bin sioload

tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
pids+=($redis_pid)
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null || { echo "cluster-bench: redis did not start" >&2; exit 1; }

ports=()
node_pids=("$redis_pid")
for i in 0 1 2; do
  # `listening <port>` on stdout once ready; stdin stays open so the node lives until we exit.
  taskset -c 0 "$server" --port 0 --redis "redis://127.0.0.1:$REDIS_PORT" \
    --cluster-engine >"$tmp/node$i.out" 2>"$tmp/node$i.err" </dev/null &
  pid=$!
  pids+=($pid)
  node_pids+=($pid)
  for _ in $(seq 100); do grep -q '^listening ' "$tmp/node$i.out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/^listening //p' "$tmp/node$i.out")
  [ -n "$port" ] || { echo "cluster-bench: node $i did not start: $(cat "$tmp/node$i.err")" >&2; exit 1; }
  ports+=("$port")
done
for measure in $(echo "${MEASURES:-poll,ws}" | tr , ' '); do
  taskset -c 1 "$target/sioload" "cluster-$measure" --ports "$(IFS=,; echo "${ports[*]}")" \
    --pids "$(IFS=,; echo "${node_pids[*]}")" --conns "${CONNS:-48}" --secs "${SECS:-5}" --bytes "${BYTES:-32}"
done
