#!/usr/bin/env bash
# Installs everything, builds, and serves the default model (SmolLM2-135M-Instruct) on
# http://127.0.0.1:${PORT:-8080}: on the GPU when one is present, otherwise on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
model=$(scripts/fetch-default-model.sh)
# A 135M model (9 attention heads) needs one GPU at most: one shard unless NUM_SHARD says otherwise.
exec build/launcher/text-gen-launcher --model-id "$model" --port "${PORT:-8080}" \
  --num-shard "${NUM_SHARD:-1}" "$@"
