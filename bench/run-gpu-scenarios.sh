#!/usr/bin/env bash
# The standard scenario set (bench/scenarios.sh) on the GPU machine, within one `device` call:
# builds a random-weight Llama-3-8B-shaped bf16 model with transformers, measures the roofline,
# sweeps a standalone shard over gRPC, serves the scenarios through the launcher, runs the HF
# transformers peer on the same workloads, and leaves results.md, chart.png and results.tar.gz
# (every JSON, command and log) in $OUT (the device tool returns at most 8 files).
#
# Needs (carried to the machine) bench/.gpu-assets/ from bench/prepare-gpu-assets.sh (tokenizer,
# commit, and with --bundle the packed binaries + libraries; ../shared does not travel), or a
# .bundle/ (bin/ + lib/) from scripts/gpu/bundle.sh. Device call used for RESULTS.md:
#   bench/prepare-gpu-assets.sh --bundle build-cuda build-bench
#   run command="bench/run-gpu-scenarios.sh" carry=["bench/.gpu-assets"] kind=nvidia-h200
# (or: scripts/gpu/bundle.sh, then carry=[".bundle", "bench/.gpu-assets"]).
# env: LAYERS (default 32: the full 8B shape), MODEL_ARGS (more make_random_model.py flags),
#      DEVICE (cuda), BUDGET_S (default 560: under the 600 s limit),
#      BUNDLE (.bundle), ASSETS (bench/.gpu-assets), MODEL_DIR (/tmp/tg-bench-llama3-8b-random).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
OUT=${OUT:-/tmp/tg-bench-gpu}
ASSETS=$(realpath "${ASSETS:-bench/.gpu-assets}")
# A packed bundle from prepare-gpu-assets.sh --bundle wins over .bundle/ (scripts/gpu/bundle.sh).
if [[ -z "${BUNDLE:-}" && -f "$ASSETS/bundle.tar.xz" ]]; then
  tar -xJf "$ASSETS/bundle.tar.xz" -C /tmp
  BUNDLE=/tmp/bundle
fi
BUNDLE=$(realpath "${BUNDLE:-.bundle}")
export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN=$BUNDLE/bin
for b in text-gen-launcher text-gen-router text-gen-shard text-gen-bench; do
  [[ -x "$BIN/$b" ]] || { echo "run-gpu-scenarios: $BIN/$b missing (scripts/gpu/bundle.sh)" >&2; exit 1; }
done
[[ -f "$ASSETS/tokenizer/tokenizer.json" ]] ||
  { echo "run-gpu-scenarios: no tokenizer in $ASSETS (bench/prepare-gpu-assets.sh)" >&2; exit 1; }
mkdir -p "$OUT/logs"
MODEL=${MODEL_DIR:-/tmp/tg-bench-llama3-8b-random}
MODEL_HF=$MODEL
TOKENIZER=$ASSETS/tokenizer/tokenizer.json
DEVICE=${DEVICE:-cuda}
PORT=${PORT:-8080}
BUDGET_S=${BUDGET_S:-560}
COMMIT=$(cat "$ASSETS/COMMIT" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n1 >"$OUT/device.txt"
TITLE="text-gen GPU scenarios ($(cat "$OUT/device.txt" | cut -d, -f1), random Llama-3-8B shape, bf16), $COMMIT"

if [[ ! -f "$MODEL/config.json" ]]; then
  python3 bench/make_random_model.py --out "$MODEL" --tokenizer-dir "$ASSETS/tokenizer" \
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
