#!/usr/bin/env bash
# The pipeline's must-show table (docs/PERFORMANCE.md "The pipeline against
# the WebSocket layer alone"), in one session of runs: each ingest run goes
# against a fresh reel node and then, in the same run, against the
# reference sink (`--compare-sink`), and is read back (`--verify`); the
# idle hold goes against reel and then the sink as its own process.
#
#   loadtest/scripts/pipeline.sh [PORT_BASE]
#
# Environment: REEL, LT, OUT, NICE as for bench.sh; SECONDS_PER_RUN (20).
# Prints one line per run; everything each run wrote is under $OUT/NAME.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${1:-18600}
dur=${SECONDS_PER_RUN:-20}
OUT=${OUT:-/tmp/reel-bench}
export OUT
S=loadtest/scripts
# 3.6 KB batches: 3 to 4 KB of events plus the envelope; a 4 KB first
# snapshot so that every batch is of that size.
small=(--snapshot-kb 4 --batch-kb-min 3 --batch-kb-max 4)

summary() { # NAME: the run's reel-vs-sink table and its read-back
    echo "== $1"
    sed -n '/reel vs the sink/,/connections ok/p' "$OUT/$1/loadtest.txt"
    grep -i '^ *verify' "$OUT/$1/loadtest.txt" || true
    cat "$OUT/$1/machine.txt" 2>/dev/null || true
}

$S/bench.sh p-1000-open "$port" --clients 1000 --rate 1 --duration "$dur" "${small[@]}" \
    --compare-sink --verify
summary p-1000-open
# A client refused with 503 (the node's overload rule) comes back after
# `Retry-After`, as a tracker does, so that reel and the sink serve the
# same 2,000 clients (the recorded run of 2026-11-30 had no retries: 1,264
# of reel's clients never got `welcome`, while the sink served all).
$S/bench.sh p-saturation "$((port + 1))" --clients 2000 --rate 0 --window 4 --duration "$dur" \
    "${small[@]}" --retry-refused --compare-sink --verify
summary p-saturation
$S/bench.sh p-corpus "$((port + 2))" --clients 200 --corpus "${CORPUS:-loadtest/fixtures}" \
    --speed 4 --duration "$dur" --compare-sink --verify
summary p-corpus
echo "== p-hold-reel"
$S/hold.sh p-hold-reel "$((port + 3))" --clients 19900 --hold 20
echo "== p-hold-sink"
SINK=1 $S/hold.sh p-hold-sink "$((port + 4))" --clients 19900 --hold 20
