#!/usr/bin/env bash
# What one more process on a request's path costs at least, on this machine: the bound under
# the cluster engine's foreign requests (scripts/cluster-bench.sh). A foreign polling request
# crosses a second process (the node it reached forwards it to the session's owner), so it costs
# at least what relaying its bytes through any process costs. The relay measured here is
# HAProxy, the reference for relaying, in front of one release bench_server:
#   direct   sioload polling echo round trips straight to the node;
#   tcp      the same through HAProxy `mode tcp` (bytes relayed, nothing parsed);
#   http     the same through HAProxy `mode http` (keep-alive to the node, `http-reuse always`).
# The node, HAProxy (one thread) sit on CPU 0, the load generator on CPU 1, as in cluster-bench.
# CPU per round trip (a POST of one echo and the GET that brings it back) is read from
# /proc/PID/task/*/schedstat around each run: the node's (sioload --pid), HAProxy's (here).
# Prints, per mode, one line:
#   relay-bound MODE conns=N rtts=R node_cpu_us_per_rtt=A relay_cpu_us_per_rtt=B ratio=C
#     p50_us=P added_p50_per_request_us=Q
# where C = (A + B) / the direct run's A: the CPU of a round trip with the relay against one
# without; Q = (P - the direct run's P) / 2, the latency the relay adds to one request (at
# CONNS=1; saturated, latency measures CPU). ROUNDS runs alternate the modes so a noisy spell hits each; the last line gives the
# median ratio per mode.
#
#   scripts/relay-bound.sh             # CONNS=48 SECS=5 ROUNDS=3 PORT=3195 (the relay: PORT+1)
#   CONNS=1 scripts/relay-bound.sh     # one connection (unsaturated)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in haproxy taskset; do
  command -v "$tool" >/dev/null || { echo "relay-bound: $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
target="${CARGO_TARGET_DIR:-$root/target}/release"
server=${SERVER:-$target/examples/bench_server}
[ -n "${SERVER:-}" ] || cargo build --release -q -p socketio-server --example bench_server
cargo build --release -q -p protocol-tests --bin sioload
port=${PORT:-3195}
relay_port=$((port + 1))
conns=${CONNS:-48}
secs=${SECS:-5}
rounds=${ROUNDS:-3}

tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nanoseconds on CPU of all threads of process $1.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

taskset -c 0 "$server" --port "$port" >"$tmp/node.log" 2>&1 </dev/null &
node=$!
pids+=($node)
for _ in $(seq 100); do grep -q listening "$tmp/node.log" && break; sleep 0.05; done
grep -q listening "$tmp/node.log" || { echo "relay-bound: the node did not start" >&2; exit 1; }

relay() { # MODE: starts HAProxy in that mode, prints its pid
  local mode=$1 extra=""
  [ "$mode" = http ] && extra=$'  option http-keep-alive\n  http-reuse always'
  cat >"$tmp/$mode.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
defaults
  mode $mode
  timeout connect 5s
  timeout client 60s
  timeout server 60s
$extra
frontend front
  bind 127.0.0.1:$relay_port
  default_backend node
backend node
  server node 127.0.0.1:$port
EOF
  taskset -c 0 haproxy -f "$tmp/$mode.cfg" >"$tmp/$mode.log" 2>&1 </dev/null &
  echo $!
}

measure() { # MODE PORT [RELAY_PID]: prints "rtts node_cpu_us relay_cpu_us p50_us"
  local before=0 after=0 line rtts node_us p50
  [ -n "${3:-}" ] && before=$(cpu_ns "$3")
  line=$(taskset -c 1 "$target/sioload" echo --port "$2" --pid "$node" --transport polling \
    --conns "$conns" --secs "$secs" --bytes 32 | tail -1)
  [ -n "${3:-}" ] && after=$(cpu_ns "$3")
  rtts=$(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$line")
  node_us=$(sed -n 's/.* server_cpu_us_per_rtt=\([0-9.]*\).*/\1/p' <<<"$line")
  p50=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
  [ -n "$rtts" ] && [ "$rtts" -gt 0 ] || { echo "relay-bound: no round trips ($1): $line" >&2; exit 1; }
  awk -v r="$rtts" -v n="$node_us" -v d=$((after - before)) -v p="$p50" 'BEGIN { printf "%d %s %.2f %d\n", r, n, d / 1000 / r, p }'
}

declare -A ratios
for round in $(seq "$rounds"); do
  # Not `read < <(measure)`: a failing measure must end the script, not feed empty fields.
  out=$(measure direct "$port")
  read -r rtts direct_us _ direct_p50 <<<"$out"
  echo "relay-bound direct conns=$conns rtts=$rtts node_cpu_us_per_rtt=$direct_us relay_cpu_us_per_rtt=0 ratio=1.00 p50_us=$direct_p50 added_p50_per_request_us=0"
  for mode in tcp http; do
    hp=$(relay "$mode")
    pids+=($hp)
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$relay_port) 2>/dev/null && break; sleep 0.05; done
    out=$(measure "$mode" "$relay_port" "$hp")
    read -r rtts node_us relay_us p50 <<<"$out"
    kill "$hp"; wait "$hp" 2>/dev/null || true
    ratio=$(awk -v a="$node_us" -v b="$relay_us" -v d="$direct_us" 'BEGIN { printf "%.2f", (a + b) / d }')
    ratios[$mode]+="$ratio "
    echo "relay-bound $mode conns=$conns rtts=$rtts node_cpu_us_per_rtt=$node_us relay_cpu_us_per_rtt=$relay_us ratio=$ratio p50_us=$p50 added_p50_per_request_us=$(( (p50 - direct_p50) / 2 ))"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "relay-bound median ratio conns=$conns tcp=$(median <<<"${ratios[tcp]}") http=$(median <<<"${ratios[http]}")"
