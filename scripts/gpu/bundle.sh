#!/usr/bin/env bash
# Packs what the GPU machine needs into .bundle/ (carried by the device tool with
# carry: [".bundle"]): the built binaries and GPU test executables in .bundle/bin, every
# non-system shared library they link in .bundle/lib (resolved with ldd), the small test models
# in .bundle/assets, and the commit in .bundle/COMMIT. The GPU machine (Ubuntu 24.04, glibc 2.39,
# CUDA 13, NCCL 2.28) provides glibc, libstdc++, libgcc_s and the CUDA/NCCL libraries itself.
#
# usage: scripts/gpu/bundle.sh [BUILD_DIR ...]     (default: build-cuda, then build)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
builds=("$@")
[[ ${#builds[@]} -gt 0 ]] || builds=(build-cuda build)
bundle=$root/.bundle
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/assets"

programs=(text-gen-shard text-gen-router text-gen-launcher text-gen-tokenize text-gen-bench)
gpu_tests=(kernels_host_test cuda_ops_test cuda_sampling_test cuda_model_test cuda_graph_test cuda_bench cuda_hf_driver)

# The first build directory holding an executable of this name wins.
find_binary() {
  local name=$1 dir found
  for dir in "${builds[@]}"; do
    [[ -d $dir ]] || continue
    found=$(find "$dir" -type f -name "$name" -perm -u+x 2>/dev/null | head -n1)
    if [[ -n $found ]]; then
      echo "$found"
      return 0
    fi
  done
  return 1
}

for name in "${programs[@]}" "${gpu_tests[@]}"; do
  if path=$(find_binary "$name"); then
    cp "$path" "$bundle/bin/$name"
    strip --strip-unneeded "$bundle/bin/$name"
    echo "bin: $name <- $path"
  else
    echo "bin: $name not built (skipped)"
  fi
done

# Libraries the GPU machine has itself: glibc's, the C++ runtime, CUDA and NCCL.
is_system_lib() {
  case $1 in
    linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libutil.so*) return 0 ;;
    libresolv.so*|libanl.so*|libmvec.so*|libstdc++.so*|libgcc_s.so*) return 0 ;;
    libcuda.so*|libcudart.so*|libnccl.so*|libcublas.so*|libcublasLt.so*|libnvidia*|libnvrtc*) return 0 ;;
  esac
  return 1
}

shopt -s nullglob
for bin in "$bundle"/bin/*; do
  while read -r name path; do
    [[ -n $path && -f $path ]] || continue
    is_system_lib "$name" && continue
    [[ -f $bundle/lib/$name ]] && continue
    cp -L "$path" "$bundle/lib/$name"
    chmod u+w "$bundle/lib/$name"
    strip --strip-unneeded "$bundle/lib/$name" 2>/dev/null || true
  done < <(ldd "$bin" | awk '/=>/ {print $1, $3}')
done

# Small real models for the smoke test and the CPU/GPU comparisons (the ../shared folder beside
# the checkout does not travel).
assets=$root/../shared/assets
if [[ -d $assets/models/stories260K ]]; then
  mkdir -p "$bundle/assets/models"
  cp -r "$assets/models/stories260K" "$bundle/assets/models/"
  mkdir -p "$bundle/assets/reference"
  cp "$assets/reference/stories260K-reference.jsonl" "$bundle/assets/reference/" 2>/dev/null || true
fi
# SmolLM2-135M's GGUF (98 MB) is larger than the whole carry budget, so it stays behind.

git -C "$root" rev-parse HEAD > "$bundle/COMMIT" 2>/dev/null || echo unknown > "$bundle/COMMIT"

# Everything must resolve from the bundle alone, apart from the libraries of the GPU machine.
missing=$(for bin in "$bundle"/bin/*; do
  env -i LD_LIBRARY_PATH="$bundle/lib" ldd "$bin" | awk '/not found/ {print $1}'
done | sort -u | while read -r name; do is_system_lib "$name" || echo "$name"; done)
if [[ -n $missing ]]; then
  echo "bundle: unresolved libraries: $missing" >&2
  exit 1
fi
size_kib=$(du -sk "$bundle" | cut -f1)
echo "bundle: $(ls "$bundle/bin" | wc -l) binaries, $(ls "$bundle/lib" | wc -l) libraries, ${size_kib} KiB"
if (( size_kib > 60 * 1024 )); then
  echo "bundle: over the 60 MiB budget of the device tool's carry" >&2
  exit 1
fi
