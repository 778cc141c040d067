#!/usr/bin/env bash
# Packs everything the tensor-parallel run (run.sh) needs into ONE xz file inside a git-ignored
# build folder, so a device call carries a single path: the served stages need the router, whose
# ICU data library alone is 31 MB, which an unpacked .bundle/ cannot fit in the 64 MiB carry.
#   bundle/bin   text-gen-shard (from a CUDA + NCCL build), text-gen-launcher, text-gen-router,
#                nccl_collectives_check, tg_make_random_model (+ text-gen-bench when built)
#   bundle/lib   their non-system shared libraries (the GPU machine has glibc, libstdc++, CUDA,
#                NCCL)
#   tokenizer/   the benchmark tokenizer (Qwen3's) for the random-weight models
# usage: scripts/gpu/multi/pack.sh OUT.tar.xz BUILD_DIR...   (first folder holding a binary wins)
# e.g.   scripts/gpu/multi/pack.sh build-tp/tp-bundle.tar.xz build-tp build-launcher
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
out=$1
shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bundle/bin" "$stage/bundle/lib" "$stage/tokenizer"
required=(text-gen-shard text-gen-launcher text-gen-router nccl_collectives_check
  tg_make_random_model)
for name in "${required[@]}" text-gen-bench; do
  found=""
  for dir in "$@"; do
    found=$(find "$dir" -type f -name "$name" -perm -u+x 2>/dev/null | head -n1)
    [[ -n $found ]] && break
  done
  if [[ -z $found ]]; then
    [[ $name == text-gen-bench ]] && continue
    echo "pack: $name not built in $*" >&2
    exit 1
  fi
  echo "bin: $name <- $found"
  cp "$found" "$stage/bundle/bin/$name"
  strip --strip-unneeded "$stage/bundle/bin/$name"
done
# grep -c reads all of ldd's output: grep -q could exit first and fail the pipe (pipefail).
ldd "$stage/bundle/bin/text-gen-shard" | grep -c libnccl >/dev/null ||
  { echo "pack: text-gen-shard was built without NCCL (use a CUDA build)" >&2; exit 1; }
for bin in "$stage"/bundle/bin/*; do ldd "$bin" | awk '/=> \//{print $1, $3}'; done | sort -u |
  while read -r lib path; do
    case $lib in
      linux-vdso* | ld-linux* | libc.so* | libm.so* | libpthread* | libdl* | librt* | libutil* | \
        libresolv* | libstdc++* | libgcc_s* | libcuda* | libcudart* | libnccl* | libcublas* | \
        libnvidia* | libnvrtc*) ;;
      *) cp -L "$path" "$stage/bundle/lib/$lib" ;;
    esac
  done
cp ../shared/assets/tokenizers/qwen3/tokenizer.json ../shared/assets/tokenizers/qwen3/tokenizer_config.json \
  "$stage/tokenizer/"
git rev-parse --short HEAD >"$stage/bundle/COMMIT"
tar -C "$stage" -cf - bundle tokenizer | xz -T2 -6 >"$out"
size_kib=$(du -k "$out" | cut -f1)
echo "pack: $out, ${size_kib} KiB"
((size_kib < 60 * 1024)) || { echo "pack: over the 60 MiB carry budget" >&2; exit 1; }
