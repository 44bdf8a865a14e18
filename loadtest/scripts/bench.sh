#!/usr/bin/env bash
# One benchmark run against a fresh node on embedded defaults.
#
#   loadtest/scripts/bench.sh NAME PORT [reel-loadtest options...]
#
# Creates a fresh data directory under $OUT/NAME, creates a site and a
# viewer token (REEL_LOADTEST_TOKEN, so `--verify` works), starts
# `reel serve` (REEL_LOG=warn), runs reel-loadtest against it with
# --server-pid (CPU and RSS from /proc), --report $OUT/NAME/report.json and
# --charts $OUT/NAME/charts, saves the last /metrics scrape, stops the node
# with SIGTERM and reports how long it took to exit. Add `--verify` to read
# every session back, `--compare-sink` to run the same workload against the
# reference sink after the node, `--corpus DIR` to replay real recordings.
# Environment: REEL (server binary), LT (reel-loadtest binary), OUT, and
# NICE (niceness of both, default 0; as root, e.g. -10 on a shared machine).
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
export REEL_DATA_DIR=$out/data REEL_LISTEN=127.0.0.1:$port REEL_LOG=warn
site_key=$("$REEL" site create --name bench | sed -n 's/.*"site_key":"\([^"]*\)".*/\1/p')
REEL_LOADTEST_TOKEN=$("$REEL" token create --name bench --role viewer | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
export REEL_LOADTEST_TOKEN
nice -n "${NICE:-0}" "$REEL" serve >"$out/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
grep VmRSS "/proc/$pid/status" >"$out/idle_rss.txt"
# Busy CPU seconds of the whole machine (user+nice+system+irq+softirq+steal),
# to tell how much of it neither the node nor the load generator used.
busy() { awk '/^cpu /{printf "%.2f", ($2+$3+$4+$7+$8+$9)/100}' /proc/stat; }
steal() { awk '/^cpu /{printf "%.2f", $9/100}' /proc/stat; }
busy0=$(busy) steal0=$(steal)
rc=0
nice -n "${NICE:-0}" "$LT" --server "ws://127.0.0.1:$port" --site "$site_key" --server-pid "$pid" --label "$name" \
    --report "$out/report.json" --charts "$out/charts" --no-progress "$@" \
    >"$out/loadtest.txt" 2>"$out/loadtest.err" || rc=$?
busy1=$(busy) steal1=$(steal)
tail -n 1 "$out/loadtest.txt" >"$out/summary.json"
python3 - "$out/summary.json" "$busy0" "$busy1" "$steal0" "$steal1" >"$out/machine.txt" <<'PY' || true
import json, sys
s = json.load(open(sys.argv[1]))
busy = float(sys.argv[3]) - float(sys.argv[2])
steal = float(sys.argv[5]) - float(sys.argv[4])
server = (s.get("server") or {}).get("cpu_s") or 0.0
other = busy - server - s["loadtest_cpu_s"]
print(f"machine busy {busy:.1f} CPU s over {s['wall_s']} s wall (of {2 * s['wall_s']:.0f} on 2 cores): "
      f"node {server} s, load generator {s['loadtest_cpu_s']} s, everything else {other:.1f} s, steal {steal:.1f} s")
PY
curl -s "http://127.0.0.1:$port/metrics" >"$out/metrics.txt" || true
kill -TERM "$pid"
start=$(date +%s%N)
src=0
wait "$pid" || src=$?
trap - EXIT
echo "server exit $src after $(( ($(date +%s%N) - start) / 1000000 )) ms" >"$out/shutdown.txt"
du -sh "$out/data/spool" "$out/data/blobs" >>"$out/shutdown.txt" 2>/dev/null || true
# The text summary without its per-second rows (they are in report.json).
grep -v '^{' "$out/loadtest.txt" | grep -vE '^ {4,}[0-9]+s '
cat "$out/machine.txt" "$out/idle_rss.txt" "$out/shutdown.txt" "$out/loadtest.err"
exit "$rc"
