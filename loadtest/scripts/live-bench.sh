#!/usr/bin/env bash
# Live latency across nodes: a redis-server of its own, three `reel serve`
# nodes (A: ingest, B: presence, C: watchers) on Postgres + S3, and
# reel-livebench. Needs the machine's Postgres and an S3 server
# (scripts/services).
#
#   loadtest/scripts/live-bench.sh [reel-livebench options...]
set -euo pipefail
target=${CARGO_TARGET_DIR:-target}
REEL=${REEL:-$target/release/reel}
LB=${LB:-$target/release/reel-livebench}
OUT=${OUT:-/tmp/reel-live-bench}
rm -rf "$OUT" && mkdir -p "$OUT"
db="reel_live_bench_$(date +%s)"
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" postgres
export REEL_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export REEL_S3_BUCKET="live-bench-$(date +%s)" REEL_S3_ENDPOINT=${REEL_TEST_S3_ENDPOINT:-http://127.0.0.1:4566} REEL_S3_CREATE_BUCKET=1
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export REEL_LOG=warn
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$OUT/redis.log" 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
export REEL_REDIS_URL="redis://127.0.0.1:$rport/"
printf '[limits]\nconnections_per_ip = 100000\nconnections_per_site = 100000\n' >"$OUT/reel.toml"
export REEL_CONFIG="$OUT/reel.toml"
mkdir -p "$OUT/a" "$OUT/b" "$OUT/c"
site=$(REEL_DATA_DIR=$OUT/a "$REEL" site create --name live)
site_key=$(echo "$site" | sed -n 's/.*"site_key":"\([^"]*\)".*/\1/p')
site_id=$(echo "$site" | sed -n 's/.*"site_id":\([0-9]*\).*/\1/p')
token=$(REEL_DATA_DIR=$OUT/a "$REEL" token create --name bench --role admin | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
port=18400
for n in a b c; do
    REEL_NODE_ID=node-$n REEL_DATA_DIR=$OUT/$n REEL_LISTEN=127.0.0.1:$port "$REEL" serve >"$OUT/$n.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    port=$((port + 1))
done
"$LB" --ingest 127.0.0.1:18400 --presence 127.0.0.1:18401 --watch 127.0.0.1:18402 \
    --site "$site_key" --site-id "$site_id" --token "$token" "$@" | tee "$OUT/summary.json"
