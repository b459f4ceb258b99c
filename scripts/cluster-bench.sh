#!/usr/bin/env bash
# The cluster engine's cost, measured with the project's load tool (protocol-tests `sioload`):
# redis-server and 3 bench_server nodes (`--redis URL --cluster-engine`) pinned to CPU 0, the
# load generator on CPU 1. Polling echo round trips with every request of a session on its owner
# (local), then every request on the next node (foreign: each GET and POST goes to the owner and
# back over the nodes' direct link, or with DIRECT=0 over Redis pub/sub). Prints round trips
# per second, p50 / p99 latency and the CPU per round trip summed over the nodes and Redis,
# then the ratios foreign/local. Then the same over WebSockets (`sioload cluster-ws`): opened
# directly on a node, then proxied (a polling session upgraded, past the 300 ms connect delay,
# on the next node, which relays the WebSocket's bytes to the owner through the direct link or
# Redis); the ratios proxied/direct.
#
# Everything sits on one CPU and the load is a closed loop, so at CONNS=3 or 48 the latency is
# about CONNS × the CPU per round trip: its "added" latency measures CPU, not the path. The
# path's cost is measured unsaturated: after the poll measure (when CONNS > 1), the same with one
# connection, printed as the same lines with conns=1 and its ratio line as `cluster-poll
# unsaturated foreign/local: ...`; then a plain Redis round trip (`redis-benchmark -c 1 -t
# ping_mbulk`, pinned like the nodes) beside the added latency of one foreign request (a round
# trip is a POST and a GET):
#   cluster-poll unsaturated conns=1 added_p50_us=A added_p99_us=B added_p50_per_request_us=C
#     redis_rtt_p50_us=D redis_rtt_p99_us=E per_request_in_redis_rtts=C/D
# (one line). The goal is per_request_in_redis_rtts <= 1. UNSATURATED=0 leaves it out.
#
#   scripts/cluster-bench.sh        # CONNS=48 SECS=5 BYTES=32 REDIS_PORT=6393 by default
#   MEASURES=poll scripts/cluster-bench.sh   # poll, ws or poll,ws (the default)
#   SERVER=path/to/bench_server scripts/cluster-bench.sh   # another build of the nodes
#   CONNS=1 scripts/cluster-bench.sh   # the unsaturated run only (it is the main run then)
#   DIRECT=0 scripts/cluster-bench.sh   # nodes without direct links: every message over Redis
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in redis-server redis-cli taskset; do
  command -v "$tool" >/dev/null || { echo "cluster-bench: $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
REDIS_PORT=${REDIS_PORT:-6393}
direct_flag=""
[ "${DIRECT:-1}" = 0 ] && direct_flag=--no-direct-links
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
    --cluster-engine $direct_flag >"$tmp/node$i.out" 2>"$tmp/node$i.err" </dev/null &
  pid=$!
  pids+=($pid)
  node_pids+=($pid)
  for _ in $(seq 100); do grep -q '^listening ' "$tmp/node$i.out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/^listening //p' "$tmp/node$i.out")
  [ -n "$port" ] || { echo "cluster-bench: node $i did not start: $(cat "$tmp/node$i.err")" >&2; exit 1; }
  ports+=("$port")
done
load() {
  taskset -c 1 "$target/sioload" "cluster-$1" --ports "$(IFS=,; echo "${ports[*]}")" \
    --pids "$(IFS=,; echo "${node_pids[*]}")" --conns "$2" --secs "${SECS:-5}" --bytes "${BYTES:-32}"
}
conns=${CONNS:-48}
for measure in $(echo "${MEASURES:-poll,ws}" | tr , ' '); do
  load "$measure" "$conns" | tee "$tmp/$measure.$conns"
  if [ "$measure" = poll ] && [ "${UNSATURATED:-1}" = 1 ]; then
    if [ "$conns" != 1 ]; then
      load poll 1 | sed 's|^cluster-poll foreign/local:|cluster-poll unsaturated foreign/local:|' |
        tee "$tmp/poll.1"
    fi
    # A plain Redis round trip from a client placed like the nodes.
    rb=$(taskset -c 0 redis-benchmark -p "$REDIS_PORT" -c 1 -n 20000 -t ping_mbulk --csv --precision 3 |
      awk -F'"' '/PING_MBULK/ {print $10 * 1000, $14 * 1000}')
    read -r redis_p50 redis_p99 <<<"$rb"
    added=$(sed -n 's|^cluster-poll.*foreign/local:.* added_p50_us=\(-\{0,1\}[0-9]*\) added_p99_us=\(-\{0,1\}[0-9]*\).*|\1 \2|p' "$tmp/poll.1")
    read -r added_p50 added_p99 <<<"$added"
    awk -v a="$added_p50" -v b="$added_p99" -v r="$redis_p50" -v r99="$redis_p99" 'BEGIN {
      printf "cluster-poll unsaturated conns=1 added_p50_us=%d added_p99_us=%d added_p50_per_request_us=%.0f redis_rtt_p50_us=%.0f redis_rtt_p99_us=%.0f per_request_in_redis_rtts=%.2f\n",
        a, b, a / 2, r, r99, (r > 0 ? a / 2 / r : 0) }'
  fi
done
