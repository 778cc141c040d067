#!/usr/bin/env bash
# Fetches the headers of FlashInfer's Hopper prefill kernel (with the CUTLASS it pins) and the
# newer CCCL it needs into third_party/ (git-ignored), from their PyPI wheels, pinned. Idempotent:
# a stamp file naming both versions, written after a complete extraction, skips the download.
# CMake finds them there (cmake/Dependencies.cmake); a CUDA build without them is a configure error
# unless -DTG_FLASHINFER=OFF (our own attention kernels only).
# Usage: scripts/fetch-flashinfer.sh [DEST]   (DEST defaults to third_party)
set -euo pipefail
cd "$(dirname "$0")/.."

flashinfer_version=0.7.2.post1
cccl_version=13.3.5.0.6
dest=${1:-third_party}
stamp="$dest/.flashinfer-$flashinfer_version-cccl-$cccl_version"
trees=(flashinfer/include flashinfer/cutlass/include flashinfer/cutlass/tools/util/include
  cccl/include)
complete() {
  [[ -f $stamp ]] || return 1
  local tree
  for tree in "${trees[@]}"; do [[ -d $dest/$tree ]] || return 1; done
}
complete && exit 0

echo "setup: fetching flashinfer-python==$flashinfer_version and nvidia-cuda-cccl==$cccl_version headers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --dest "$tmp" \
  "flashinfer-python==$flashinfer_version" "nvidia-cuda-cccl==$cccl_version"

rm -rf "$stamp" "$dest/flashinfer" "$dest/cccl"
mkdir -p "$dest"
# Only the header trees (FlashInfer's include/, CUTLASS's include/ and tools/util/include/, CCCL's
# include/cccl/) and the licenses.
python3 - "$tmp" "$dest" "$flashinfer_version" "$cccl_version" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1:3]
trees = {
    "flashinfer_python-": [("flashinfer/data/include/", "flashinfer/include/"),
                           ("flashinfer/data/cutlass/include/", "flashinfer/cutlass/include/"),
                           ("flashinfer/data/cutlass/tools/util/include/",
                            "flashinfer/cutlass/tools/util/include/"),
                           ("flashinfer_python-%s.dist-info/licenses/LICENSE" % sys.argv[3],
                            "flashinfer/LICENSE")],
    "nvidia_cuda_cccl-": [("nvidia/cu13/include/cccl/", "cccl/include/"),
                          ("nvidia_cuda_cccl-%s.dist-info/licenses/" % sys.argv[4], "cccl/licenses/")],
}
for prefix, mappings in trees.items():
    (wheel,) = glob.glob(os.path.join(tmp, prefix + "*.whl"))
    with zipfile.ZipFile(wheel) as z:
        count = 0
        for name in z.namelist():
            for src, dst in mappings:
                if name.startswith(src) and not name.endswith("/"):
                    target = os.path.join(dest, dst + name[len(src):])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with z.open(name) as f, open(target, "wb") as out:
                        out.write(f.read())
                    count += 1
        if count == 0:
            sys.exit(f"fetch-flashinfer: nothing extracted from {wheel}")
PY
touch "$stamp"
complete || { echo "fetch-flashinfer: incomplete extraction in $dest" >&2; exit 1; }
