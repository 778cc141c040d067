#!/usr/bin/env bash
# Builds llama.cpp's llama-server and llama-bench from the source vendored in the pinned
# llama-cpp-python sdist on PyPI, into a git-ignored cache (.llamacpp/ at the repository root),
# and prints the folder holding the two binaries. A second call finds the cached build.
# Usage: bench/build-llamacpp.sh            env: LLAMACPP_PY_VERSION (default 0.3.36),
#                                                  LLAMACPP_DIR (default .llamacpp), JOBS
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${LLAMACPP_PY_VERSION:-0.3.36}
DIR=$(realpath -m "${LLAMACPP_DIR:-.llamacpp}")
SRC=$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp
BIN=$DIR/build-$VERSION/bin
if [[ -x $BIN/llama-server && -x $BIN/llama-bench ]]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$DIR"
if [[ ! -f $SRC/CMakeLists.txt ]]; then
  if [[ ! -f $DIR/llama_cpp_python-$VERSION.tar.gz ]]; then
    # The sdist is the only published form of llama-cpp-python (pip prepares its metadata).
    python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$VERSION" -d "$DIR" >&2
  fi
  tar -xzf "$DIR/llama_cpp_python-$VERSION.tar.gz" -C "$DIR"
fi
# Native CPU build (GGML_NATIVE), no network code in the server (LLAMA_CURL=OFF).
cmake -S "$SRC" -B "$DIR/build-$VERSION" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
nice cmake --build "$DIR/build-$VERSION" -j"${JOBS:-$(nproc)}" --target llama-server llama-bench >&2
echo "$BIN"
