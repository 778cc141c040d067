#!/usr/bin/env bash
# The router's own time between shard calls (issue 19: the shard idles meanwhile), measured on
# this machine: the real launcher (router + one CPU shard) on stories260K, text-gen-bench sending
# N streaming requests at once, /metrics read before and after each run.
#
# Reported per run (bench/router_overhead.py): the engine thread's time between two shard calls
# while requests waited (tgi_batch_host_duration: total, per step, per generated token), and
# wall - sum(tgi_batch_inference_duration), the figure RESULTS.md reports for the GPU.
#
# On a small machine the load generator and the shard compete with the router for cores, so
# the router is pinned alone to ROUTER_CPU and everything else (shard, load generator) to
# OTHER_CPUS; the router's HTTP threads share its core, as its own work.
#
# Usage: bench/router-overhead.sh [OUT_DIR]
#   env: BUILD_DIR (default build), PORT (default 3400), RUNS (default 3), N (256), IN (128;
#        IN + OUT_LEN + BOS must fit stories260K's 512 positions), OUT_LEN (128), BUDGET (step
#        token budget, default 3 * IN: three prompts a step, a few hundred steps in all, as in
#        the GPU's serving-256), ROUTER_CPU (default the last core), OTHER_CPUS (the others),
#        LOAD_CPUS (the load generator's, default OTHER_CPUS), LAUNCHER_ARGS (more launcher
#        flags, e.g. "--async-scheduling false" for an A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-/tmp/tg-router-overhead}")
BUILD_DIR=$(realpath "${BUILD_DIR:-build}")
PORT=${PORT:-3400}
RUNS=${RUNS:-3}
N=${N:-256} IN=${IN:-128} OUT_LEN=${OUT_LEN:-128}
BUDGET=${BUDGET:-$((3 * IN))}
CORES=$(nproc)
ROUTER_CPU=${ROUTER_CPU:-$((CORES - 1))}
OTHER_CPUS=${OTHER_CPUS:-$( ((CORES > 1)) && echo "0-$((CORES - 2))" || echo 0)}
LOAD_CPUS=${LOAD_CPUS:-$OTHER_CPUS}
MODEL=$(realpath ../shared/assets/models/stories260K)
BIN=$OUT/bin
mkdir -p "$OUT/logs" "$OUT/.sock" "$BIN"
for b in launcher/text-gen-launcher router/text-gen-router shard/text-gen-shard bench/text-gen-bench; do
  ln -sf "$BUILD_DIR/$b" "$BIN/$(basename "$b")"
done
export PATH="$BIN:$PATH"

http_get() {
  python3 -c 'import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r: sys.stdout.write(r.read().decode())' "$1"
}

uptime | tee "$OUT/uptime-before.txt"
# stories260K has 512 positions.
taskset -c "$OTHER_CPUS" text-gen-launcher --model-id "$MODEL" --device cpu --dtype float32 \
  --threads 1 --port "$PORT" --hostname 127.0.0.1 --shard-uds-path "$OUT/.sock/server" \
  --master-port $((PORT + 1)) --max-input-tokens 448 --max-total-tokens 512 \
  --max-batch-prefill-tokens "$BUDGET" --max-concurrent-requests $((N * 2)) ${LAUNCHER_ARGS:-} \
  >"$OUT/logs/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  http_get "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" || { tail -n 30 "$OUT/logs/server.log"; exit 1; }
  sleep 1
done
ROUTER_PID=$(pgrep -P "$SERVER_PID" -x text-gen-router)
taskset -a -p -c "$ROUTER_CPU" "$ROUTER_PID" >/dev/null
echo "router pid $ROUTER_PID on CPU $ROUTER_CPU; shard on CPUs $OTHER_CPUS; load generator on CPUs $LOAD_CPUS"

for run in $(seq "$RUNS"); do
  http_get "http://127.0.0.1:$PORT/metrics" >"$OUT/run$run.metrics-before.txt"
  taskset -c "$LOAD_CPUS" text-gen-bench --base-url "http://127.0.0.1:$PORT" --tokenizer "$MODEL" \
    --label "run$run" --seed "$run" --workload random --num-prompts "$N" --input-len "$IN" \
    --output-len "$OUT_LEN" --request-rate inf --max-concurrency "$N" --check \
    --result-json "$OUT/run$run.json" >"$OUT/logs/run$run.txt"
  http_get "http://127.0.0.1:$PORT/metrics" >"$OUT/run$run.metrics-after.txt"
done
uptime | tee "$OUT/uptime-after.txt"
python3 bench/router_overhead.py --dir "$OUT" --runs "$RUNS" | tee "$OUT/summary.md"
