#!/usr/bin/env bash
# The standard scenario set (bench/scenarios.sh) on the GPU machine, within one `device` call:
# builds a random-weight Llama-3-8B-shaped bf16 model with transformers, measures the roofline,
# sweeps a standalone shard over gRPC, serves the scenarios through the launcher, runs the HF
# transformers peer on the same workloads, and leaves results.md, chart.png and results.tar.gz
# (every JSON, command and log) in $OUT (the device tool returns at most 8 files).
#
# Needs the one packed bundle (scripts/gpu/bundle.sh, carried as .bundle: binaries, libraries,
# the Qwen3 tokenizer; ../shared does not travel). Device call used for RESULTS.md:
#   scripts/gpu/bundle.sh
#   run command="bench/run-gpu-scenarios.sh" carry=[".bundle"] kind=nvidia-h200
# env: LAYERS (default 32: the full 8B shape), MODEL_ARGS (more make_random_model.py flags),
#      DEVICE (cuda), BUDGET_S (default 560: under the 600 s limit),
#      MODEL_DIR (/tmp/tg-bench-llama3-8b-random).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
OUT=${OUT:-/tmp/tg-bench-gpu}
source scripts/gpu/bundle-env.sh || exit 1
BIN=$TG_BIN
for b in text-gen-launcher text-gen-router text-gen-shard text-gen-bench; do
  [[ -x "$BIN/$b" ]] || { echo "run-gpu-scenarios: $BIN/$b missing (scripts/gpu/bundle.sh)" >&2; exit 1; }
done
mkdir -p "$OUT/logs"
MODEL=${MODEL_DIR:-/tmp/tg-bench-llama3-8b-random}
MODEL_HF=$MODEL
TOKENIZER=$TG_ASSETS/tokenizer/tokenizer.json
DEVICE=${DEVICE:-cuda}
PORT=${PORT:-8080}
BUDGET_S=${BUDGET_S:-560}
COMMIT=$TG_COMMIT
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n1 >"$OUT/device.txt"
TITLE="text-gen GPU scenarios ($(cat "$OUT/device.txt" | cut -d, -f1), random Llama-3-8B shape, bf16), $COMMIT"

if [[ ! -f "$MODEL/config.json" ]]; then
  python3 bench/make_random_model.py --out "$MODEL" --tokenizer-dir "$TG_ASSETS/tokenizer" \
    --layers "${LAYERS:-32}" ${MODEL_ARGS:-} 2>&1 | tee "$OUT/logs/make-model.txt"
fi
python3 bench/roofline.py --config "$MODEL/config.json" --batch-size 1 8 32 64 128 \
  --prompt-len 512 --output-len 128 --json "$OUT/roofline.json" 2>&1 | tee "$OUT/logs/roofline.txt" ||
  echo "roofline failed" >&2

# Every knob below can be overridden from the environment (e.g. a smaller plumbing run).
# --max-concurrent-requests above the largest concurrency: TGI's default (128) would answer 429.
read -r -a SERVER_ARGS <<<"${SERVER_ARGS:---max-input-tokens 2048 --max-total-tokens 4096 --max-batch-prefill-tokens 8192 --max-concurrent-requests 1024}"
read -r -a SHARD_ARGS <<<"${SHARD_ARGS:-}"
read -r -a SWEEP_ARGS <<<"${SWEEP_ARGS:---batch-sizes 1,8,32,64 --sequence-lengths 128,512 --decode-length 16 --runs 3}"
read -r -a PEER_ARGS <<<"${PEER_ARGS:---dtype bfloat16}"
PEER_BATCH=${PEER_BATCH:-32}
PEER_MIN_S=${PEER_MIN_S:-45}
SLO=${SLO:-ttft:500,tpot:50}
RANDOM_N=${RANDOM_N:-256} RANDOM_IN=${RANDOM_IN:-512} RANDOM_OUT=${RANDOM_OUT:-128}
RANDOM_CONCURRENCY=${RANDOM_CONCURRENCY:-64}
SHAREGPT_N=${SHAREGPT_N:-128} SHAREGPT_SCALE=${SHAREGPT_SCALE:-0.5}
SHAREGPT_RATES=${SHAREGPT_RATES:-4,16,64,inf} BURSTY_RATE=${BURSTY_RATE:-16}
PREFIX_N=${PREFIX_N:-128} PREFIX_LEN=${PREFIX_LEN:-1024} PREFIX_SUFFIX=${PREFIX_SUFFIX:-64}
PREFIX_OUT=${PREFIX_OUT:-64}
PACK_OUT=${PACK_OUT:-1}
source bench/scenarios.sh
# Issue 19's serving figures instead of the standard set (their own device call; see the file).
if [[ "${SCENARIO_SET:-standard}" == serving-figures ]]; then
  source bench/serving_figures.sh
  run_serving_figures
  exit $?
fi
run_all
