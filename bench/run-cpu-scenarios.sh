#!/usr/bin/env bash
# The standard scenario set (bench/scenarios.sh), scaled down, against the CPU server on this
# machine: stories260K (HF directory, float32), binaries from a build tree.
# Usage: bench/run-cpu-scenarios.sh [OUT_DIR]
#   env: BUILD_DIR (default build-bench; needs text-gen-{launcher,router,shard,bench}) or BIN_DIR
#        (one folder holding the four binaries),
#        PORT (default 3300), THREADS (CPU backend threads, default 2), BUDGET_S (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/tg-bench-cpu}}
BUILD_DIR=${BUILD_DIR:-build-bench}
if [[ -n "${BIN_DIR:-}" ]]; then
  BIN=$(realpath "$BIN_DIR")
else
  BIN=$(realpath "$BUILD_DIR")/bin-links
  mkdir -p "$BIN"
  for b in launcher/text-gen-launcher router/text-gen-router shard/text-gen-shard \
    bench/text-gen-bench; do
    ln -sf "$(realpath "$BUILD_DIR/$b")" "$BIN/$(basename "$b")"
  done
fi
# The launcher looks for its siblings next to its (resolved) executable, then on PATH.
export PATH="$BIN:$PATH"
MODEL=$(realpath ../shared/assets/models/stories260K)
MODEL_HF=$MODEL
TOKENIZER=$MODEL
DEVICE=cpu
PORT=${PORT:-3300}
THREADS=${THREADS:-2}
BUDGET_S=${BUDGET_S:-900}
mkdir -p "$OUT"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
TITLE="text-gen CPU scenarios (stories260K, $(nproc) cores), $COMMIT"
lscpu | sed -n 's/^Model name: *//p' | head -n1 >"$OUT/device.txt"
# stories260K has 512 positions: every scenario is scaled to fit.
SERVER_ARGS=(--threads "$THREADS" --max-input-tokens 384 --max-total-tokens 512
  --max-batch-prefill-tokens 4096)
SHARD_ARGS=(--threads "$THREADS")
SWEEP_ARGS=(--batch-sizes 1,4,16 --sequence-lengths 32,128 --decode-length 16 --runs 3)
PEER_ARGS=(--device cpu)
PEER_BATCH=16
SLO="ttft:2000,tpot:100"
RANDOM_N=64 RANDOM_IN=128 RANDOM_OUT=64 RANDOM_CONCURRENCY=16
SHAREGPT_N=64 SHAREGPT_SCALE=0.125 SHAREGPT_RATES="4,16,64,inf" BURSTY_RATE=16
PREFIX_N=64 PREFIX_LEN=192 PREFIX_SUFFIX=16 PREFIX_OUT=32
source bench/scenarios.sh
run_all
