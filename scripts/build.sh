#!/usr/bin/env bash
# Configures and builds into build/ (CUDA backend when nvcc is found). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache (installed by setup.sh) makes rebuilds and fresh worktrees cheap on small machines.
launchers=()
if command -v ccache >/dev/null; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launchers[@]}" "$@" >/dev/null
cmake --build build -j"$(nproc)"
