# Sourced by every script that runs on the GPU machine: unpacks .bundle/bundle.tar.xz (made by
# scripts/gpu/bundle.sh, carried as ".bundle") once per machine and exports
#   TG_BUNDLE (the unpacked folder), TG_BIN, TG_ASSETS, TG_COMMIT, and LD_LIBRARY_PATH.
# NVLink multicast stays off on the lent machines (NCCL_NVLS_ENABLE=0).
tg_pack=${TG_BUNDLE_PACK:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.bundle/bundle.tar.xz}
if [[ ! -f $tg_pack ]]; then
  echo "bundle-env: no $tg_pack (run scripts/gpu/bundle.sh here, carry .bundle)" >&2
  return 1 2>/dev/null || exit 1
fi
TG_BUNDLE=${TG_BUNDLE:-/tmp/tg-bundle}
tg_stamp=$(md5sum <"$tg_pack")
if [[ "$(cat "$TG_BUNDLE/.stamp" 2>/dev/null)" != "$tg_stamp" ]]; then
  rm -rf "$TG_BUNDLE" && mkdir -p "$TG_BUNDLE"
  xz -dc -T0 "$tg_pack" | tar -C "$TG_BUNDLE" -xf - && echo "$tg_stamp" >"$TG_BUNDLE/.stamp"
fi
export TG_BUNDLE
export TG_BIN=$TG_BUNDLE/bin TG_ASSETS=$TG_BUNDLE/assets
TG_COMMIT=$(cat "$TG_BUNDLE/COMMIT" 2>/dev/null || echo unknown)
export TG_COMMIT
export LD_LIBRARY_PATH=$TG_BUNDLE/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
unset tg_pack tg_stamp
