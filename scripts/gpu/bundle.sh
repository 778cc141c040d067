#!/usr/bin/env bash
# The one bundle every GPU script runs from: packs the built binaries, their non-system shared
# libraries, the small assets the GPU steps read (../shared does not travel) and the commit into
# ONE xz file, .bundle/bundle.tar.xz, under the device tool's 64 MiB carry (the router's ICU data
# library alone is 31 MB unpacked). On the GPU machine, scripts/gpu/bundle-env.sh unpacks it.
#   bin/     servers, benchmark and GPU test programs (whichever of them are built)
#   lib/     their non-system libraries: the GPU machine brings glibc, libstdc++, CUDA and NCCL
#   assets/  stories260K with its HF reference, the Qwen3 tokenizer used by the benchmarks and
#            SmolLM2's vocabulary (a vocab-only GGUF, when models/ has the model)
# usage: scripts/gpu/bundle.sh [BUILD_DIR ...]   (default: build; the first folder holding a
#        program wins). Then: run carry=[".bundle"] command="scripts/gpu/run-gpu-tests.sh" (or
#        bench/run-gpu-scenarios.sh, scripts/gpu/multi/run.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
builds=("$@")
((${#builds[@]})) || builds=(build)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/assets/models" "$stage/assets/reference" \
  "$stage/assets/tokenizer"

programs=(text-gen-shard text-gen-router text-gen-launcher text-gen-tokenize text-gen-bench)
required=(text-gen-shard text-gen-router text-gen-launcher)
gpu_tools=(kernels_host_test cuda_ops_test cuda_sampling_test cuda_token_mask_test cuda_model_test
  cuda_graph_test cuda_bench cuda_hf_driver nccl_collectives_check tg_make_random_model)

find_binary() {
  local dir found
  for dir in "${builds[@]}"; do
    [[ -d $dir ]] || continue
    found=$(find "$dir" -type f -name "$1" -perm -u+x 2>/dev/null | head -n1)
    [[ -n $found ]] && { echo "$found"; return 0; }
  done
  return 1
}

for name in "${programs[@]}" "${gpu_tools[@]}"; do
  if path=$(find_binary "$name"); then
    cp "$path" "$stage/bin/$name"
    strip --strip-unneeded "$stage/bin/$name"
  elif [[ " ${required[*]} " == *" $name "* ]]; then
    echo "bundle: $name is not built in ${builds[*]}" >&2
    exit 1
  else
    echo "bundle: $name not built (left out)"
  fi
done
# grep -c reads all of ldd's output (grep -q could close the pipe early under pipefail).
ldd "$stage/bin/text-gen-shard" | grep -c libcudart >/dev/null ||
  { echo "bundle: text-gen-shard was built without CUDA" >&2; exit 1; }

# The libraries the GPU machine has itself.
is_system_lib() {
  case $1 in
    linux-vdso.so* | ld-linux* | libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | \
      libutil.so* | libresolv.so* | libanl.so* | libmvec.so* | libstdc++.so* | libgcc_s.so* | \
      libcuda.so* | libcudart.so* | libnccl.so* | libcublas.so* | libcublasLt.so* | libnvidia* | \
      libnvrtc*) return 0 ;;
  esac
  return 1
}
for bin in "$stage"/bin/*; do ldd "$bin" | awk '/=> \//{print $1, $3}'; done | sort -u |
  while read -r lib path; do
    is_system_lib "$lib" && continue
    cp -L "$path" "$stage/lib/$lib"
    chmod u+w "$stage/lib/$lib"
    strip --strip-unneeded "$stage/lib/$lib" 2>/dev/null || true
  done
missing=$(for bin in "$stage"/bin/*; do
  env -i LD_LIBRARY_PATH="$stage/lib" ldd "$bin" | awk '/not found/ {print $1}'
done | sort -u | while read -r lib; do is_system_lib "$lib" || echo "$lib"; done)
[[ -z $missing ]] || { echo "bundle: unresolved libraries: $missing" >&2; exit 1; }

assets=$root/../shared/assets
cp -r "$assets/models/stories260K" "$stage/assets/models/"
cp "$assets/reference/stories260K-reference.jsonl" "$stage/assets/reference/"
cp "$assets/tokenizers/qwen3/tokenizer.json" "$assets/tokenizers/qwen3/tokenizer_config.json" \
  "$stage/assets/tokenizer/"
smol=$(find models/SmolLM2-135M-Instruct/ -name '*.gguf' 2>/dev/null | head -n1)
if [[ -n $smol ]]; then
  python3 scripts/gpu/vocab_only_gguf.py "$smol" "$stage/assets/tokenizer/smollm2-vocab.gguf"
fi
git rev-parse --short HEAD >"$stage/COMMIT"

mkdir -p .bundle
rm -f .bundle/*
tar -C "$stage" -cf - . | xz -T2 -6 >.bundle/bundle.tar.xz
size_kib=$(du -k .bundle/bundle.tar.xz | cut -f1)
echo "bundle: .bundle/bundle.tar.xz: $(ls "$stage/bin" | wc -l) programs, $(ls "$stage/lib" | wc -l)" \
  "libraries, ${size_kib} KiB, commit $(cat "$stage/COMMIT")"
((size_kib < 60 * 1024)) || { echo "bundle: over the 60 MiB carry budget" >&2; exit 1; }
