#!/usr/bin/env bash
# Adds the tensor-parallel GPU tools to an existing .bundle/ (after scripts/gpu/bundle.sh):
# nccl_collectives_check and tg_make_random_model, plus any non-system library they need.
# usage: scripts/gpu/multi/add-to-bundle.sh [BUILD_DIR]   (default build-cuda)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-build-cuda}
[[ -d $root/$build ]] && build=$root/$build
bundle=$root/.bundle
[[ -d $bundle/bin ]] || { echo "add-to-bundle: run scripts/gpu/bundle.sh first" >&2; exit 1; }
for name in nccl_collectives_check tg_make_random_model; do
  path=$(find "$build" -type f -name "$name" -perm -u+x 2>/dev/null | head -n1)
  [[ -n $path ]] || { echo "add-to-bundle: $name not built in $build" >&2; exit 1; }
  cp "$path" "$bundle/bin/$name"
  strip --strip-unneeded "$bundle/bin/$name"
  echo "bin: $name <- $path"
  while read -r lib libpath; do
    [[ -n $libpath && -f $libpath ]] || continue
    case $lib in
      linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*) continue ;;
      libstdc++.so*|libgcc_s.so*|libcuda.so*|libcudart.so*|libnccl.so*|libnvidia*) continue ;;
    esac
    [[ -f $bundle/lib/$lib ]] || { cp -L "$libpath" "$bundle/lib/$lib"; echo "lib: $lib"; }
  done < <(ldd "$bundle/bin/$name" | awk '/=>/ {print $1, $3}')
done
