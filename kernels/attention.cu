// Paged attention kernels: KV-cache writes, split-K decode attention and causal prefill
// attention. Arithmetic is float32; K/V/Q are read in the cache dtype.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_internal.h"
#include "kernels/device_utils.cuh"
#include "kernels/prefill_hopper.h"

namespace tg::kernels {
namespace {

using detail::FromFloat;
using detail::ToFloat;

constexpr int kDecodeThreads = 128;
constexpr int kDecodeWarps = kDecodeThreads / 32;
constexpr int kHeadChunk = 8;  // query heads of one GQA group accumulated together

__host__ __device__ constexpr int CeilDiv(int a, int b) { return (a + b - 1) / b; }

template <typename T>
__device__ __forceinline__ const T* CacheRow(const void* cache, const int32_t* block_table, int pos,
                                             int block_size, int num_kv_heads, int kvh,
                                             int head_dim) {
  const int block = block_table[pos / block_size];
  const size_t row =
      (static_cast<size_t>(block) * block_size + pos % block_size) * num_kv_heads + kvh;
  return static_cast<const T*>(cache) + row * head_dim;
}

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

struct DecodeScratch {
  float* out;  // [num_seqs, num_q_heads, partitions, head_dim]
  float* max;  // [num_seqs, num_q_heads, partitions]
  float* sum;  // [num_seqs, num_q_heads, partitions]
};

DecodeScratch SplitScratch(void* base, int num_seqs, int num_q_heads, int head_dim,
                           int partitions) {
  const size_t rows = static_cast<size_t>(num_seqs) * num_q_heads * partitions;
  float* f = static_cast<float*>(base);
  return {f, f + rows * head_dim, f + rows * head_dim + rows};
}

// One block per (partition, kv head, sequence), covering all query heads of the GQA group.
template <typename T, int HD>
__global__ void __launch_bounds__(kDecodeThreads)
    DecodePartitionKernel(DecodeAttentionParams p, DecodeScratch scratch, int partitions) {
  constexpr int kLanes = HD < 32 ? HD : 32;  // lanes sharing one key row
  constexpr int kPerLane = HD / kLanes;
  constexpr int kTokensPerWarp = 32 / kLanes;

  const int s = blockIdx.z;
  const int kvh = blockIdx.y;
  const int part = blockIdx.x;
  const int ctx = p.context_lens[s];
  const int start = part * kDecodePartitionTokens;
  if (start >= ctx) return;
  const int n = min(kDecodePartitionTokens, ctx - start);
  const int group = p.num_q_heads / p.num_kv_heads;
  const int32_t* table = p.block_tables + static_cast<size_t>(s) * p.max_blocks_per_seq;

  extern __shared__ float smem[];
  float* q_s = smem;                                        // [group, HD]
  float* logits = q_s + group * HD;                         // [group, partition]
  float* reduce = logits + group * kDecodePartitionTokens;  // [kDecodeWarps, kHeadChunk, HD]

  const float* q =
      p.q + static_cast<size_t>(s) * p.q_stride + static_cast<size_t>(kvh) * group * HD;
  for (int i = threadIdx.x; i < group * HD; i += blockDim.x) q_s[i] = q[i] * p.scale;
  __syncthreads();

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int sub = lane / kLanes;
  const int l = lane % kLanes;
  for (int base = warp * kTokensPerWarp; base < n; base += kDecodeWarps * kTokensPerWarp) {
    const int j = base + sub;
    const bool valid = j < n;
    float k[kPerLane];
    const T* row = CacheRow<T>(p.k_cache, table, start + (valid ? j : 0), p.block_size,
                               p.num_kv_heads, kvh, HD) +
                   l * kPerLane;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) k[e] = valid ? ToFloat(row[e]) : 0.f;
    for (int g = 0; g < group; ++g) {
      float dot = 0.f;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) dot += k[e] * q_s[g * HD + l * kPerLane + e];
#pragma unroll
      for (int off = kLanes / 2; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
      if (valid && l == 0) logits[g * kDecodePartitionTokens + j] = dot;
    }
  }
  __syncthreads();

  for (int g = warp; g < group; g += kDecodeWarps) {
    float* row = logits + g * kDecodePartitionTokens;
    float m = -FLT_MAX;
    for (int j = lane; j < n; j += 32) m = fmaxf(m, row[j]);
    m = detail::WarpMax(m);
    float sum = 0.f;
    for (int j = lane; j < n; j += 32) {
      const float e = __expf(row[j] - m);
      row[j] = e;
      sum += e;
    }
    sum = detail::WarpSum(sum);
    if (lane == 0) {
      const size_t idx =
          (static_cast<size_t>(s) * p.num_q_heads + kvh * group + g) * partitions + part;
      scratch.max[idx] = m;
      scratch.sum[idx] = sum;
    }
  }
  __syncthreads();

  // P·V: warps split the tokens and lanes split head_dim as in the score loop (vector loads,
  // several rows in flight per warp); partial sums meet in shared memory.
  for (int g0 = 0; g0 < group; g0 += kHeadChunk) {
    float acc[kHeadChunk][kPerLane] = {};
#pragma unroll 4
    for (int base = warp * kTokensPerWarp; base < n; base += kDecodeWarps * kTokensPerWarp) {
      const int j = base + sub;
      if (j >= n) continue;
      const T* row =
          CacheRow<T>(p.v_cache, table, start + j, p.block_size, p.num_kv_heads, kvh, HD) +
          l * kPerLane;
      float v[kPerLane];
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) v[e] = ToFloat(row[e]);
#pragma unroll
      for (int gg = 0; gg < kHeadChunk; ++gg) {
        if (g0 + gg >= group) break;
        const float w = logits[(g0 + gg) * kDecodePartitionTokens + j];
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) acc[gg][e] += w * v[e];
      }
    }
    // Lanes holding the same dims in different token slots of a warp (head_dim < 32).
#pragma unroll
    for (int off = kLanes; off < 32; off <<= 1) {
#pragma unroll
      for (int gg = 0; gg < kHeadChunk; ++gg) {
#pragma unroll
        for (int e = 0; e < kPerLane; ++e)
          acc[gg][e] += __shfl_xor_sync(0xffffffffu, acc[gg][e], off);
      }
    }
    if (sub == 0) {
#pragma unroll
      for (int gg = 0; gg < kHeadChunk; ++gg) {
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) {
          reduce[(warp * kHeadChunk + gg) * HD + l * kPerLane + e] = acc[gg][e];
        }
      }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < kHeadChunk * HD; idx += blockDim.x) {
      const int gg = idx / HD;
      const int d = idx % HD;
      if (g0 + gg >= group) continue;
      float sum = 0.f;
#pragma unroll
      for (int w = 0; w < kDecodeWarps; ++w) sum += reduce[(w * kHeadChunk + gg) * HD + d];
      const size_t out_idx =
          (static_cast<size_t>(s) * p.num_q_heads + kvh * group + g0 + gg) * partitions + part;
      scratch.out[out_idx * HD + d] = sum;
    }
    __syncthreads();
  }
}

template <typename T, int HD>
__global__ void DecodeCombineKernel(DecodeAttentionParams p, DecodeScratch scratch,
                                    int partitions) {
  const int s = blockIdx.y;
  const int h = blockIdx.x;
  const int used = CeilDiv(p.context_lens[s], kDecodePartitionTokens);
  const size_t base = (static_cast<size_t>(s) * p.num_q_heads + h) * partitions;
  float m = -FLT_MAX;
  for (int i = 0; i < used; ++i) m = fmaxf(m, scratch.max[base + i]);
  float total = 0.f;
  for (int i = 0; i < used; ++i) total += scratch.sum[base + i] * __expf(scratch.max[base + i] - m);
  float* out = p.out + static_cast<size_t>(s) * p.out_stride + static_cast<size_t>(h) * HD;
  for (int d = threadIdx.x; d < HD; d += blockDim.x) {
    float acc = 0.f;
    for (int i = 0; i < used; ++i) {
      acc += scratch.out[(base + i) * HD + d] * __expf(scratch.max[base + i] - m);
    }
    out[d] = acc / total;
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
  float* out = p.out + static_cast<size_t>(qstart + i) * p.out_stride + static_cast<size_t>(h) * HD;
  const float inv = 1.f / l;
#pragma unroll
  for (int d = 0; d < HD; ++d) out[d] = acc[d] * inv;
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

// The single head-size dispatch of this file; its cases are the supported head sizes.
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

Status SetSharedMemory(const void* kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return Status::kOk;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(bytes)) == cudaSuccess
             ? Status::kOk
             : Status::kUnsupported;
}

}  // namespace

bool AttentionSupportsHeadDim(int head_dim) {
  return DispatchHeadDim(head_dim, [](auto) { return Status::kOk; }) == Status::kOk;
}

Status WriteKvCache(const KvCacheWriteParams& p, Stream stream) {
  if (p.num_tokens < 0 || p.num_kv_heads <= 0 || p.head_dim <= 0 || p.block_size <= 0) {
    return Status::kInvalidArgument;
  }
  if (p.num_tokens == 0) return Status::kOk;
  if (!p.k || !p.v || !p.slots || !p.k_cache || !p.v_cache) return Status::kInvalidArgument;
  const int width = p.num_kv_heads * p.head_dim;
  if (p.k_stride < width || p.v_stride < width) return Status::kInvalidArgument;
  return DispatchDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    WriteKvCacheKernel<T><<<p.num_tokens, std::min(1024, std::max(32, width)), 0, stream>>>(p);
    return detail::LaunchStatus();
  });
}

size_t DecodeAttentionScratchBytes(int num_seqs, int num_q_heads, int head_dim,
                                   int max_context_len) {
  const size_t rows = static_cast<size_t>(num_seqs) * num_q_heads *
                      CeilDiv(std::max(max_context_len, 1), kDecodePartitionTokens);
  return rows * (static_cast<size_t>(head_dim) + 2) * sizeof(float);
}

Status DecodeAttention(const DecodeAttentionParams& p, Stream stream) {
  if (p.num_seqs < 0 || p.num_q_heads <= 0 || p.num_kv_heads <= 0 ||
      p.num_q_heads % p.num_kv_heads != 0 || p.block_size <= 0 || p.max_context_len <= 0 ||
      p.max_blocks_per_seq * p.block_size < p.max_context_len) {
    return Status::kInvalidArgument;
  }
  if (p.num_seqs == 0) return Status::kOk;
  if (!p.q || !p.k_cache || !p.v_cache || !p.block_tables || !p.context_lens || !p.out ||
      !p.scratch) {
    return Status::kInvalidArgument;
  }
  if (p.scratch_bytes <
      DecodeAttentionScratchBytes(p.num_seqs, p.num_q_heads, p.head_dim, p.max_context_len)) {
    return Status::kInvalidArgument;
  }
  if (p.num_kv_heads > 65535 || p.num_seqs > 65535) return Status::kInvalidArgument;
  const int partitions = CeilDiv(p.max_context_len, kDecodePartitionTokens);
  const DecodeScratch scratch =
      SplitScratch(p.scratch, p.num_seqs, p.num_q_heads, p.head_dim, partitions);
  const int group = p.num_q_heads / p.num_kv_heads;
  return DispatchKvDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return DispatchHeadDim(p.head_dim, [&](auto hd) {
      constexpr int HD = decltype(hd)::value;
      const size_t smem = (static_cast<size_t>(group) * (HD + kDecodePartitionTokens) +
                           static_cast<size_t>(kDecodeWarps) * kHeadChunk * HD) *
                          sizeof(float);
      const void* kernel = reinterpret_cast<const void*>(&DecodePartitionKernel<T, HD>);
      if (SetSharedMemory(kernel, smem) != Status::kOk) return Status::kUnsupported;
      DecodePartitionKernel<T, HD>
          <<<dim3(partitions, p.num_kv_heads, p.num_seqs), kDecodeThreads, smem, stream>>>(
              p, scratch, partitions);
      DecodeCombineKernel<T, HD>
          <<<dim3(p.num_q_heads, p.num_seqs), std::max(32, std::min(HD, 128)), 0, stream>>>(
              p, scratch, partitions);
      return detail::LaunchStatus();
    });
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
