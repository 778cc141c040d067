#!/usr/bin/env bash
# Installs everything, builds, and runs the whole test suite; exits non-zero on any failure.
# GPU tests skip cleanly on machines without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900
