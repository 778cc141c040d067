#!/usr/bin/env bash
# Copies what run-gpu-scenarios.sh needs from ../shared (which does not travel to the GPU
# machine) into bench/.gpu-assets/ (git-ignored; pass it in the device call's carry list):
# the Qwen3 tokenizer (byte-level BPE; Llama-3's own tokenizer is not among the shared assets)
# and the commit being measured.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=bench/.gpu-assets
mkdir -p "$dest/tokenizer"
cp ../shared/assets/tokenizers/qwen3/tokenizer.json ../shared/assets/tokenizers/qwen3/tokenizer_config.json \
  "$dest/tokenizer/"
git rev-parse --short HEAD >"$dest/COMMIT"
du -sh "$dest"
