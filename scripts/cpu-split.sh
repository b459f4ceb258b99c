#!/usr/bin/env bash
# User and system CPU time of a server per WebSocket echo round trip, read from /proc/PID/stat
# (utime, stime) around a 5 s `sioload echo` of 50 clients: where the wall-clock CPU of
# scripts/bench.sh's echo row goes (instruction counts, scripts/callgrind.sh, see user space only).
# The server runs pinned to CPU 0, the load generator on CPU 1, after a 1 s warm-up echo.
#
#   scripts/cpu-split.sh [SERVER_BINARY]   # default: the release bench_server (built first);
#                                          # e.g. target/release/floor-peer
# Environment: PORT (default 3190), CONNS (50), SECS (5). Prints one line:
#   SERVER user_us_per_rtt=U sys_us_per_rtt=S rtts=N server_cpu_us_per_rtt=C
# (U and S have the resolution of the kernel's clock ticks: 10 ms over N round trips).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}/release"
cargo build --release -q -p protocol-tests --bin sioload
if [ -n "${1:-}" ]; then
  server=$1
else
  cargo build --release -q -p socketio-server --example bench_server
  server="$target/examples/bench_server"
fi
port=${PORT:-3190}
conns=${CONNS:-50}
secs=${SECS:-5}
taskset -c 0 "$server" --port "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
sleep 1
taskset -c 1 "$target/sioload" echo --port "$port" --conns "$conns" --secs 1 >/dev/null
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
out=$(taskset -c 1 "$target/sioload" echo --port "$port" --conns "$conns" --secs "$secs" --pid "$pid")
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
rtts=$(grep -o 'total=[0-9]*' <<<"$out" | cut -d= -f2)
tick_us=$((1000000 / $(getconf CLK_TCK)))
awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$rtts" -v t="$tick_us" -v name="$(basename "$server")" \
  -v cpu="$(grep -o 'server_cpu_us_per_rtt=[0-9.]*' <<<"$out")" \
  'BEGIN { printf "%s user_us_per_rtt=%.3f sys_us_per_rtt=%.3f rtts=%d %s\n", name, u*t/n, s*t/n, n, cpu }'
