#!/usr/bin/env bash
# Instructions per polling round trip (a POST of one echo, then the GET that brings the echo back)
# of one cluster node, counted by callgrind: the figure to decide the cluster engine's CPU changes
# with on a noisy machine (see scripts/callgrind.sh for why instruction counts).
#
# redis-server and two bench_server nodes (`--redis URL --cluster-engine`), node A under
# `valgrind --tool=callgrind`, all pinned to CPU 0; one polling client (`sioload cluster-poll
# --conns 1`) on CPU 1. Three roles of node A:
#   local     the session is on A and every request reaches A;
#   owner     the session is on A and every request reaches B (A serves what B forwards);
#   borrower  the session is on B and every request reaches A (A forwards to B).
# Each role runs twice (SECS and 3×SECS); the difference of the totals divided by the difference
# of the round trips cancels start-up and the client's connect out. A foreign round trip costs
# the cluster owner + borrower (each node does both roles for the sessions of the other).
# User-space instructions only (count system calls with `strace -c -f`).
#
#   scripts/cluster-callgrind.sh [ROLE...]     # default: local owner borrower
#   SERVER=path/to/bench_server scripts/cluster-callgrind.sh   # another build of the nodes
# Environment: PORT (node A's port, B's is PORT+1; default 3190), REDIS_PORT (default 6393),
# SECS (default 2), KEEP=DIR keeps the callgrind.out files there (callgrind_annotate them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in valgrind redis-server redis-cli taskset; do
  command -v "$tool" >/dev/null || { echo "cluster-callgrind: $tool is missing" >&2; exit 1; }
done
target="${CARGO_TARGET_DIR:-$root/target}/release"
server=${SERVER:-$target/examples/bench_server}
[ -n "${SERVER:-}" ] || cargo build --release -q -p socketio-server --example bench_server
cargo build --release -q -p protocol-tests --bin sioload
port=${PORT:-3190}
REDIS_PORT=${REDIS_PORT:-6393}
secs=${SECS:-2}
roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(local owner borrower)
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for `listening P` in $1.
ready() {
  for _ in $(seq 300); do grep -q '^listening ' "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "cluster-callgrind: a node did not start: $(cat "$1")" >&2
  exit 1
}

# One run: prints "round_trips instructions".
run() {
  local role=$1 secs=$2 out="$work/callgrind.out.$1.$2" redis a b ops ports requests
  taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$work/redis.log" 2>&1 &
  redis=$!
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" "$server" --port "$port" \
    --redis "redis://127.0.0.1:$REDIS_PORT" --cluster-engine >"$work/a.out" 2>"$work/a.err" </dev/null &
  a=$!
  taskset -c 0 "$server" --port $((port + 1)) --redis "redis://127.0.0.1:$REDIS_PORT" \
    --cluster-engine >"$work/b.out" 2>"$work/b.err" </dev/null &
  b=$!
  pids=("$redis" "$a" "$b")
  ready "$work/a.out"
  ready "$work/b.out"
  # The client's session is made on the first port; foreign requests go to the second.
  case "$role" in
    local) ports="$port,$((port + 1))" requests=local ;;
    owner) ports="$port,$((port + 1))" requests=foreign ;;
    borrower) ports="$((port + 1)),$port" requests=foreign ;;
    *) echo "cluster-callgrind: unknown role $role" >&2; exit 2 ;;
  esac
  ops=$(taskset -c 1 "$target/sioload" cluster-poll --ports "$ports" --conns 1 --secs "$secs" \
    --requests "$requests" | sed -n 's/.* total=\([0-9]*\).*/\1/p')
  sleep 0.5
  kill -TERM "$a" "$b"
  wait "$a" "$b" 2>/dev/null || true
  kill -TERM "$redis"
  wait "$redis" 2>/dev/null || true
  pids=()
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$out" "$KEEP/callgrind.out.$role.$secs"
  echo "$ops $(awk '/^(summary|totals):/ {print $2; exit}' "$out")"
}

for role in "${roles[@]}"; do
  read -r n1 i1 < <(run "$role" "$secs")
  read -r n2 i2 < <(run "$role" $((secs * 3)))
  [ "$n2" -gt "$n1" ] || { echo "cluster-callgrind: no more round trips in the larger run ($n1, $n2)" >&2; exit 1; }
  echo "cluster-callgrind role=$role round_trips=$n1/$n2 instructions=$i1/$i2 per_round_trip=$(( (i2 - i1) / (n2 - n1) ))"
done
