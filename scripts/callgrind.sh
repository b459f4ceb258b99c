#!/usr/bin/env bash
# Instructions per operation of a server, counted by callgrind: the figure to decide CPU changes
# with on a noisy or shared machine (wall-clock CPU moves by 20-50% between runs there, instruction
# counts by well under 1%; `perf stat` cannot count instructions in most containers).
#
# The server (release build) runs under `valgrind --tool=callgrind`, driven by the project's load
# tool (protocol-tests/src/bin/sioload.rs) twice, at a small and a large run size; the difference of
# the two totals divided by the difference of the operation counts cancels the setup (start-up,
# connects of the measured clients) out. User-space instructions only: a change in system calls
# per operation does not show here (count those with `strace -c -f`).
#
# Usage (from anywhere in the repository):
#   scripts/callgrind.sh MODE [SERVER_BINARY]
#     MODE    echo   instructions per echo round trip (10 WebSocket clients, 2 s against 6 s)
#             churn  instructions per connect, its close included (200 against 600 connects)
#             bcast  instructions per broadcast delivery (100 receivers, 100 against 500 broadcasts)
#     SERVER_BINARY  default: the release bench_server (built first); any server that takes
#             `--port P` and prints `listening P`, e.g. target/release/floor-peer.
# Environment: PORT (default 3190), KEEP=1 keeps the callgrind.out files for callgrind_annotate;
# with VALGRIND_OPTS=--dump-instr=yes too, scripts/callgrind-hot.py reads them (code footprint and
# atomic instructions per operation).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:?usage: scripts/callgrind.sh echo|churn|bcast [SERVER_BINARY]}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is needed" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -q -p protocol-tests --bin sioload
if [ -n "${2:-}" ]; then
  server=$2
else
  cargo build --release -q -p socketio-server --example bench_server
  server="$target/release/examples/bench_server"
fi
load="$target/release/sioload"
port=${PORT:-3190}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$mode" in
  echo) sizes=(2 6) ;;
  churn) sizes=(200 600) ;;
  bcast) sizes=(100 500) ;;
  *) echo "callgrind.sh: unknown mode $mode" >&2; exit 2 ;;
esac

# One run: prints "operations instructions".
run() {
  local size=$1 out="$work/callgrind.out.$1" log="$work/server.$1.log" vg ops=""
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" "$server" --port "$port" \
    >"$log" 2>&1 &
  vg=$!
  for _ in $(seq 300); do grep -q listening "$log" && break; sleep 0.1; done
  grep -q listening "$log" || { echo "callgrind.sh: the server did not start" >&2; cat "$log" >&2; kill "$vg"; exit 1; }
  case "$mode" in
    echo) ops=$(taskset -c 1 "$load" echo --port "$port" --conns 10 --secs "$size" --bytes 32 |
                sed -n 's/.* total=\([0-9]*\).*/\1/p') ;;
    churn) ops=$(taskset -c 1 "$load" churn --port "$port" --conns "$size" --parallel 4 |
                 sed -n 's/.* total=\([0-9]*\).*/\1/p') ;;
    bcast) ops=$(taskset -c 1 "$load" bcast --port "$port" --conns 100 --msgs "$size" --bytes 32 |
                 sed -n 's/.* delivered=\([0-9]*\).*/\1/p') ;;
  esac
  sleep 0.5
  kill -TERM "$vg"
  wait "$vg" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && cp "$out" "./callgrind.out.$mode.$size"
  echo "$ops $(awk '/^(summary|totals):/ {print $2; exit}' "$out")"
}

read -r n1 i1 < <(run "${sizes[0]}")
read -r n2 i2 < <(run "${sizes[1]}")
[ "$n2" -gt "$n1" ] || { echo "callgrind.sh: no more operations in the larger run ($n1, $n2)" >&2; exit 1; }
echo "$mode operations=$n1/$n2 instructions=$i1/$i2 per_operation=$(( (i2 - i1) / (n2 - n1) ))"
