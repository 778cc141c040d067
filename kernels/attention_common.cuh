// Device helpers shared by the attention kernels (attention.cu, decode_attention.cu): the paged
// cache addressing and the KV-dtype and head-size dispatch tables. Internal to kernels/.
#pragma once

#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/attention.h"
#include "kernels/device_utils.cuh"

namespace tg::kernels::detail {

// Parameter checks of WriteKvCache: kInvalidArgument, or kOk (an empty batch is a no-op).
inline Status CheckKvCacheWrite(const KvCacheWriteParams& p) {
  if (p.num_tokens < 0 || p.num_kv_heads <= 0 || p.head_dim <= 0 || p.block_size <= 0) {
    return Status::kInvalidArgument;
  }
  if (p.num_tokens == 0) return Status::kOk;
  if (!p.k || !p.v || !p.slots || !p.k_cache || !p.v_cache) return Status::kInvalidArgument;
  const int width = p.num_kv_heads * p.head_dim;
  if (p.k_stride < width || p.v_stride < width) return Status::kInvalidArgument;
  return Status::kOk;
}

// Element `index` of an attention output of `dtype` (float32 or bf16, AttentionOutDTypeServed,
// checked by the entry points): the branch is uniform across a launch.
__device__ __forceinline__ void StoreOut(void* out, DType dtype, size_t index, float value) {
  if (dtype == DType::kBFloat16) {
    static_cast<__nv_bfloat16*>(out)[index] = __float2bfloat16_rn(value);
  } else {
    static_cast<float*>(out)[index] = value;
  }
}

__host__ __device__ constexpr int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// Row `kvh` of the token at position `pos` of a sequence with block table `block_table`.
template <typename T>
__device__ __forceinline__ const T* CacheRow(const void* cache, const int32_t* block_table, int pos,
                                             int block_size, int num_kv_heads, int kvh,
                                             int head_dim) {
  const int block = block_table[pos / block_size];
  const size_t row =
      (static_cast<size_t>(block) * block_size + pos % block_size) * num_kv_heads + kvh;
  return static_cast<const T*>(cache) + row * head_dim;
}

// The KV-cache types the attention kernels are built for: float32 (exact comparisons with the
// CPU backend) and bfloat16 (what the CUDA backend serves with).
template <typename Fn>
Status DispatchKvDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(static_cast<float*>(nullptr));
    case DType::kBFloat16:
      return fn(static_cast<__nv_bfloat16*>(nullptr));
    default:
      return Status::kUnsupported;
  }
}

// The single head-size dispatch of the attention kernels; its cases are the supported sizes.
template <typename Fn>
Status DispatchHeadDim(int head_dim, Fn&& fn) {
  switch (head_dim) {
    case 8:
      return fn(std::integral_constant<int, 8>{});
    case 16:
      return fn(std::integral_constant<int, 16>{});
    case 32:
      return fn(std::integral_constant<int, 32>{});
    case 64:
      return fn(std::integral_constant<int, 64>{});
    case 96:
      return fn(std::integral_constant<int, 96>{});
    case 128:
      return fn(std::integral_constant<int, 128>{});
    case 256:
      return fn(std::integral_constant<int, 256>{});
    default:
      return Status::kUnsupported;
  }
}

// Opts a kernel into more than the default 48 KiB of dynamic shared memory when it needs it.
inline Status SetSharedMemory(const void* kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return Status::kOk;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(bytes)) == cudaSuccess
             ? Status::kOk
             : Status::kUnsupported;
}

}  // namespace tg::kernels::detail
