#!/usr/bin/env bash
# Measures Socket.IO servers side by side, in one run, with the project's load tool
# (protocol-tests/src/bin/sioload.rs):
#   ours          socketio-server/examples/bench_server.rs
#   floor         protocol-tests/peers/floor-peer: the least a tokio-tungstenite server does to answer
#                 the same frames (not Socket.IO), the floor for this machine
#   socketioxide  protocol-tests/peers/socketioxide-peer (the socketioxide crate)
#   node          protocol-tests/js/bench-server.js (npm socket.io 4.8, the reference)
# Each server runs pinned to CPU 0, the load generator on CPU 1. The figures are the SERVER's CPU
# time per operation (from /proc, around the measured phase only) and its memory per idle
# WebSocket; lower is better. Then, for each peer, the ratio peer/ours (above 1: ours costs less).
#
# Usage (from anywhere in the repository):
#   scripts/bench.sh [servers...]          the comparison (default: ours floor socketioxide node)
#   scripts/bench.sh scale [servers...]    the scale figure (19 900 WebSocket clients per server)
# Environment: ROUNDS=N (medians of N rounds, servers take turns within a round), MEASURES=mem,connect,
#   bcast,echo,poll,wt (wt: echo over WebTransport, ours only, on a second server with --webtransport), IDLE_CONNS=5000, CONNS=2000, BCAST_CONNS=1000, BCAST_MSGS=300, ECHO_CONNS=50,
#   ECHO_SECS=5, POLL_CONNS=50, POLL_SECS=5; for scale: SCALE_CONNS=19900, SCALE_MSGS=10,
#   PING_INTERVAL=5000 (ms), IDLE_SECS=10.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v taskset >/dev/null || { echo "bench.sh: taskset (util-linux) is needed" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench.sh: needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2; exit 1; }
bash scripts/install-deps.sh >/dev/null
cargo build --release -q -p protocol-tests --bin sioload
load="${CARGO_TARGET_DIR:-$root/target}/release/sioload"
# 19 900 clients and the server's 19 900 sockets need that many descriptors per process.
ulimit -n 20000 2>/dev/null || true
if [ "${1:-}" = scale ]; then
  shift
  exec taskset -c 1 "$load" scale --conns "${SCALE_CONNS:-19900}" --msgs "${SCALE_MSGS:-10}" \
    --ping-interval "${PING_INTERVAL:-5000}" --idle-secs "${IDLE_SECS:-10}" "$@"
fi
exec taskset -c 1 "$load" bench --rounds "${ROUNDS:-1}" \
  --measures "${MEASURES:-mem,connect,bcast,echo,poll,wt}" \
  --idle-conns "${IDLE_CONNS:-5000}" --conns "${CONNS:-2000}" \
  --bcast-conns "${BCAST_CONNS:-1000}" --bcast-msgs "${BCAST_MSGS:-300}" \
  --echo-conns "${ECHO_CONNS:-50}" --echo-secs "${ECHO_SECS:-5}" \
  --poll-conns "${POLL_CONNS:-50}" --poll-secs "${POLL_SECS:-5}" "$@"
