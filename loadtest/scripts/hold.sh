#!/usr/bin/env bash
# Idle connections held against a fresh node (or the reference sink) on
# embedded defaults, and its RSS per held session.
#
#   loadtest/scripts/hold.sh NAME PORT [reel-loadtest hold options...]
#   SINK=1 loadtest/scripts/hold.sh NAME PORT [...]   # the sink instead of reel
#
# e.g. `hold.sh h-19900 18500 --clients 19900 --hold 30`: the connections
# spread over 127.0.0.x at 200 each (under the node's default
# connections_per_ip of 256), so no limit needs raising; the load
# generator raises its own open-files limit to the hard limit (20,000
# here), and the node needs one above --clients too (`ulimit -n`).
# Environment: REEL, LT, OUT, NICE as for bench.sh.
set -euo pipefail
name=$1 port=$2
shift 2
target=${CARGO_TARGET_DIR:-target}
REEL=${REEL:-$target/release/reel}
LT=${LT:-$target/release/reel-loadtest}
OUT=${OUT:-/tmp/reel-bench}
out=$OUT/$name
rm -rf "$out"
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)"
export REEL_DATA_DIR=$out/data REEL_LISTEN=127.0.0.1:$port REEL_LOG=warn
if [ "${SINK:-0}" = 1 ]; then
    site_key=sink
    nice -n "${NICE:-0}" "$LT" sink --listen "127.0.0.1:$port" >"$out/server.log" 2>&1 &
else
    site_key=$("$REEL" site create --name hold | sed -n 's/.*"site_key":"\([^"]*\)".*/\1/p')
    nice -n "${NICE:-0}" "$REEL" serve >"$out/server.log" 2>&1 &
fi
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
sleep 0.5
rc=0
nice -n "${NICE:-0}" "$LT" hold --server "ws://127.0.0.1:$port" --site "$site_key" --server-pid "$pid" \
    --label "$name" --report "$out/report.json" --charts "$out/charts" --no-progress "$@" \
    >"$out/hold.txt" 2>"$out/hold.err" || rc=$?
tail -n 1 "$out/hold.txt" >"$out/summary.json"
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT
grep -v '^{' "$out/hold.txt"
cat "$out/hold.err"
exit "$rc"
