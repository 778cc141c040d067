#!/usr/bin/env bash
# Copies what run-gpu-scenarios.sh needs into bench/.gpu-assets/ (git-ignored; name it in the
# device call's carry list), since ../shared does not travel to the GPU machine:
#   tokenizer/   the Qwen3 tokenizer (byte-level BPE; Llama-3's own is not among the shared assets)
#   COMMIT       the commit being measured
#   bundle.tar.xz  (with --bundle BUILD_DIR...) the four server/bench binaries, the first found in
#                the given build folders, plus every non-system library they link, xz-packed:
#                the ICU data library alone is 31 MB and the carry limit is 64 MiB.
# Usage: bench/prepare-gpu-assets.sh [--bundle build-cuda build-bench ...]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=bench/.gpu-assets
mkdir -p "$dest/tokenizer"
cp ../shared/assets/tokenizers/qwen3/tokenizer.json ../shared/assets/tokenizers/qwen3/tokenizer_config.json \
  "$dest/tokenizer/"
git rev-parse --short HEAD >"$dest/COMMIT"

if [[ "${1:-}" == "--bundle" ]]; then
  shift
  stage=$(mktemp -d)
  mkdir -p "$stage/bundle/bin" "$stage/bundle/lib"
  for name in text-gen-shard text-gen-launcher text-gen-router text-gen-bench; do
    found=""
    for dir in "$@"; do
      found=$(find "$dir" -type f -name "$name" -perm -u+x 2>/dev/null | head -n1)
      [[ -n "$found" ]] && break
    done
    [[ -n "$found" ]] || { echo "prepare-gpu-assets: $name not found in $*" >&2; exit 1; }
    echo "bundle: $name <- $found"
    cp "$found" "$stage/bundle/bin/"
    strip --strip-unneeded "$stage/bundle/bin/$name"
  done
  # The GPU machine brings glibc, the C++ runtime, CUDA and NCCL itself.
  for bin in "$stage"/bundle/bin/*; do ldd "$bin" | awk '/=> \//{print $1, $3}'; done | sort -u |
    while read -r lib path; do
      case $lib in
        linux-vdso* | ld-linux* | libc.so* | libm.so* | libpthread* | libdl* | librt* | libstdc++* | \
          libgcc_s* | libcuda* | libcudart* | libnccl* | libcublas* | libnvidia* | libnvrtc*) ;;
        *) cp -L "$path" "$stage/bundle/lib/" ;;
      esac
    done
  tar -C "$stage" -cJf "$dest/bundle.tar.xz" bundle
  rm -rf "$stage"
fi
du -sh "$dest"
