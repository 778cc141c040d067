// Paged attention kernels: KV-cache writes and the SIMT causal prefill attention (decode:
// decode_attention.cu). Arithmetic is float32; K/V/Q are read in the cache dtype.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_common.cuh"
#include "kernels/attention_internal.h"
#include "kernels/device_utils.cuh"
#include "kernels/prefill_hopper.h"

namespace tg::kernels {
namespace {

using detail::CacheRow;
using detail::CeilDiv;
using detail::DispatchHeadDim;
using detail::DispatchKvDType;
using detail::FromFloat;
using detail::SetSharedMemory;
using detail::ToFloat;

template <typename T>
__global__ void WriteKvCacheKernel(KvCacheWriteParams p) {
  const int t = blockIdx.x;
  const int slot = p.slots[t];
  if (slot < 0) return;
  const int width = p.num_kv_heads * p.head_dim;
  const float* k = p.k + static_cast<size_t>(t) * p.k_stride;
  const float* v = p.v + static_cast<size_t>(t) * p.v_stride;
  T* kc = static_cast<T*>(p.k_cache) + static_cast<size_t>(slot) * width;
  T* vc = static_cast<T*>(p.v_cache) + static_cast<size_t>(slot) * width;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    kc[i] = FromFloat<T>(k[i]);
    vc[i] = FromFloat<T>(v[i]);
  }
}

constexpr int kPrefillQueries = 64;  // queries (threads) per block
constexpr int kPrefillKeys = 32;     // keys per shared-memory tile

// One block per (query tile, q head, sequence); one thread per query with its accumulator in
// registers; K/V tiles are shared by all queries of the block.
template <typename T, int HD>
__global__ void __launch_bounds__(kPrefillQueries) PrefillKernel(PrefillAttentionParams p) {
  const int s = blockIdx.z;
  const int h = blockIdx.y;
  const int q0 = blockIdx.x * kPrefillQueries;
  const int qstart = p.query_starts[s];
  const int qlen = p.query_starts[s + 1] - qstart;
  if (q0 >= qlen) return;
  const int cache_len = p.seq_lens[s] - qlen;
  const int kvh = h / (p.num_q_heads / p.num_kv_heads);
  const int32_t* table = p.block_tables + static_cast<size_t>(s) * p.max_blocks_per_seq;

  extern __shared__ float smem[];
  float* q_s = smem;                              // [kPrefillQueries, HD + 1]
  float* k_s = q_s + kPrefillQueries * (HD + 1);  // [kPrefillKeys, HD]
  float* v_s = k_s + kPrefillKeys * HD;           // [kPrefillKeys, HD], then scores

  const int rows = min(kPrefillQueries, qlen - q0);
  for (int i = threadIdx.x; i < rows * HD; i += blockDim.x) {
    const int r = i / HD;
    const int d = i % HD;
    const float* q =
        p.q + static_cast<size_t>(qstart + q0 + r) * p.q_stride + static_cast<size_t>(h) * HD;
    q_s[r * (HD + 1) + d] = q[d] * p.scale;
  }

  const int i = q0 + threadIdx.x;
  const bool active = i < qlen;
  const int my_pos = cache_len + i;
  const int visible_end = cache_len + q0 + rows;  // exclusive bound over the block's keys
  float acc[HD];
#pragma unroll
  for (int d = 0; d < HD; ++d) acc[d] = 0.f;
  float m = -FLT_MAX;
  float l = 0.f;

  float* p_s = v_s + kPrefillKeys * HD + threadIdx.x * (kPrefillKeys + 1);  // this query's scores
  const float* my_q = q_s + threadIdx.x * (HD + 1);
  for (int k0 = 0; k0 < visible_end; k0 += kPrefillKeys) {
    const int tile = min(kPrefillKeys, visible_end - k0);
    __syncthreads();
    for (int idx = threadIdx.x; idx < tile * HD; idx += blockDim.x) {
      const int j = idx / HD;
      const int d = idx % HD;
      k_s[idx] =
          ToFloat(CacheRow<T>(p.k_cache, table, k0 + j, p.block_size, p.num_kv_heads, kvh, HD)[d]);
      v_s[idx] =
          ToFloat(CacheRow<T>(p.v_cache, table, k0 + j, p.block_size, p.num_kv_heads, kvh, HD)[d]);
    }
    __syncthreads();
    if (!active) continue;
    // Keys past this query's position are in its future (causal mask).
    const int visible = min(tile, my_pos - k0 + 1);
    if (visible <= 0) continue;
    float tile_max = -FLT_MAX;
    for (int j = 0; j < visible; ++j) {
      float dot = 0.f;
      for (int d = 0; d < HD; ++d) dot += my_q[d] * k_s[j * HD + d];
      p_s[j] = dot;
      tile_max = fmaxf(tile_max, dot);
    }
    const float new_m = fmaxf(m, tile_max);
    const float correction = __expf(m - new_m);
    l *= correction;
#pragma unroll
    for (int d = 0; d < HD; ++d) acc[d] *= correction;
    for (int j = 0; j < visible; ++j) {
      const float e = __expf(p_s[j] - new_m);
      l += e;
#pragma unroll
      for (int d = 0; d < HD; ++d) acc[d] += e * v_s[j * HD + d];
    }
    m = new_m;
  }
  if (!active) return;
  const size_t row = static_cast<size_t>(qstart + i) * p.out_stride + static_cast<size_t>(h) * HD;
  const float inv = 1.f / l;
#pragma unroll
  for (int d = 0; d < HD; ++d) detail::StoreOut(p.out, p.out_dtype, row + d, acc[d] * inv);
}

}  // namespace

bool AttentionSupportsHeadDim(int head_dim) {
  return DispatchHeadDim(head_dim, [](auto) { return Status::kOk; }) == Status::kOk;
}

Status WriteKvCache(const KvCacheWriteParams& p, Stream stream) {
  if (const Status status = detail::CheckKvCacheWrite(p); status != Status::kOk) return status;
  if (p.num_tokens == 0) return Status::kOk;
  const int width = p.num_kv_heads * p.head_dim;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    WriteKvCacheKernel<T><<<p.num_tokens, std::min(1024, std::max(32, width)), 0, stream>>>(p);
    return detail::LaunchStatus();
  });
}

Status PrefillAttention(const PrefillAttentionParams& p, Stream stream) {
  if (p.num_seqs < 0 || p.num_q_heads <= 0 || p.num_kv_heads <= 0 ||
      p.num_q_heads % p.num_kv_heads != 0 || p.block_size <= 0 || p.max_query_len < 0) {
    return Status::kInvalidArgument;
  }
  if (p.num_seqs == 0 || p.max_query_len == 0) return Status::kOk;
  if (!p.q || !p.k_cache || !p.v_cache || !p.block_tables || !p.query_starts || !p.seq_lens ||
      !p.out) {
    return Status::kInvalidArgument;
  }
  if (p.num_q_heads > 65535 || p.num_seqs > 65535) return Status::kInvalidArgument;
  if (!AttentionOutDTypeServed(p.out_dtype)) return Status::kUnsupported;
  if (p.hopper) {
    if (const Status fi = p.hopper->Run(p, stream); fi != Status::kUnsupported) return fi;
  }
  if (const Status tc = detail::PrefillAttentionTensorCore(p, stream); tc != Status::kUnsupported) {
    return tc;
  }
  const dim3 grid(CeilDiv(p.max_query_len, kPrefillQueries), p.num_q_heads, p.num_seqs);
  return DispatchKvDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return DispatchHeadDim(p.head_dim, [&](auto hd) {
      constexpr int HD = decltype(hd)::value;
      const size_t smem = (static_cast<size_t>(kPrefillQueries) * (HD + 1) + 2 * kPrefillKeys * HD +
                           static_cast<size_t>(kPrefillQueries) * (kPrefillKeys + 1)) *
                          sizeof(float);
      const void* kernel = reinterpret_cast<const void*>(&PrefillKernel<T, HD>);
      if (SetSharedMemory(kernel, smem) != Status::kOk) return Status::kUnsupported;
      PrefillKernel<T, HD><<<grid, kPrefillQueries, smem, stream>>>(p);
      return detail::LaunchStatus();
    });
  });
}

}  // namespace tg::kernels
