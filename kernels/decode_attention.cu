// Decode attention over the paged KV cache (attention.h): one block per (partition, kv head,
// sequence) computes all query heads of its GQA group, so each K and V row is read from memory
// once, with 16-byte loads and several rows in flight per thread. Scores of the partition stay
// in shared memory (softmax in float32), then P·V. With one partition the block writes the
// output directly; otherwise a second kernel merges the partitions' (max, sum, output).
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_common.cuh"
#include "kernels/attention_internal.h"

namespace tg::kernels {
namespace {

using detail::CacheRow;
using detail::CeilDiv;
using detail::ToFloat;

constexpr int kDecodeWarps = 8;
constexpr int kDecodeThreads = kDecodeWarps * 32;
constexpr int kHeadChunk = 8;              // query heads accumulated together in P·V
constexpr int kLogitBudgetFloats = 16384;  // scores of one block: group * partition_tokens
constexpr int kBlocksPerSm = 2;            // split until the grid has this many blocks per SM

// How a warp covers K/V rows of HD elements of T: kLanes lanes per row, each with kPerLane
// contiguous elements loaded as vectors of kVec (16 bytes where the head size allows), so a
// warp reads 32 / kLanes rows per load instruction.
template <typename T, int HD>
struct RowLayout {
  static constexpr int PickVec() {
    for (int v = 16 / static_cast<int>(sizeof(T)); v > 1; v /= 2) {
      if (HD % v != 0) continue;
      const int lanes = HD / v;
      if (lanes <= 32 ? 32 % lanes == 0 : lanes % 32 == 0) return v;
    }
    return 1;
  }
  static constexpr int kVec = PickVec();
  static constexpr int kLanes = HD / kVec < 32 ? HD / kVec : 32;
  static constexpr int kPerLane = HD / kLanes;
  static constexpr int kVecsPerLane = kPerLane / kVec;
  static constexpr int kRowsPerWarp = 32 / kLanes;
  // Rows each lane has in flight: about eight 16-byte loads for the scores, four in P·V (whose
  // kHeadChunk x kPerLane accumulators need the registers).
  static constexpr int kUnroll = kVecsPerLane >= 8 ? 1 : 8 / kVecsPerLane;
  static constexpr int kUnrollPv = kVecsPerLane >= 4 ? 1 : 4 / kVecsPerLane;
  static_assert(kLanes * kPerLane == HD && kVecsPerLane * kVec == kPerLane, "row layout");
};

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// Loads this lane's kPerLane elements of a row into float registers (zeros when !valid).
template <typename T, int HD>
struct RowLoader {
  using L = RowLayout<T, HD>;
  using VecT = Vec<T, L::kVec>;
  VecT raw[L::kVecsPerLane];

  __device__ __forceinline__ void Load(const T* row, bool valid) {
#pragma unroll
    for (int v = 0; v < L::kVecsPerLane; ++v) {
      if (valid) {
        raw[v] = reinterpret_cast<const VecT*>(row)[v];
      } else {
#pragma unroll
        for (int e = 0; e < L::kVec; ++e) raw[v].v[e] = detail::FromFloat<T>(0.f);
      }
    }
  }
  __device__ __forceinline__ void ToFloats(float out[L::kPerLane]) const {
#pragma unroll
    for (int v = 0; v < L::kVecsPerLane; ++v) {
#pragma unroll
      for (int e = 0; e < L::kVec; ++e) out[v * L::kVec + e] = ToFloat(raw[v].v[e]);
    }
  }
};

struct DecodeScratch {
  float* out;  // [num_seqs, num_q_heads, partitions, head_dim]
  float* max;  // [num_seqs, num_q_heads, partitions]
  float* sum;  // [num_seqs, num_q_heads, partitions]
};

DecodeScratch SplitScratch(void* base, const DecodeAttentionParams& p, int partitions) {
  const size_t rows = static_cast<size_t>(p.num_seqs) * p.num_q_heads * partitions;
  float* f = static_cast<float*>(base);
  return {f, f + rows * p.head_dim, f + rows * p.head_dim + rows};
}

size_t SharedBytes(int group, int head_dim, int partition_tokens) {
  return (static_cast<size_t>(group) * (head_dim + partition_tokens + 1) +
          static_cast<size_t>(kDecodeWarps) * kHeadChunk * head_dim) *
         sizeof(float);
}

template <typename T, int HD>
__global__ void __launch_bounds__(kDecodeThreads, 2)
    DecodePartitionKernel(DecodeAttentionParams p, DecodeAttentionPlan plan,
                          DecodeScratch scratch) {
  using L = RowLayout<T, HD>;
  constexpr int kStep = kDecodeWarps * L::kRowsPerWarp * L::kUnroll;  // rows per block pass
  constexpr int kStepPv = kDecodeWarps * L::kRowsPerWarp * L::kUnrollPv;
  const int P = plan.partition_tokens;
  const int s = blockIdx.z;
  const int kvh = blockIdx.y;
  const int part = blockIdx.x;
  const int ctx = p.context_lens[s];
  const int start = part * P;
  if (start >= ctx) return;  // past this sequence's context (the launch covers the longest)
  const int n = min(P, ctx - start);
  const int group = p.num_q_heads / p.num_kv_heads;
  const int32_t* table = p.block_tables + static_cast<size_t>(s) * p.max_blocks_per_seq;

  extern __shared__ float smem[];
  float* q_s = smem;                                      // [group, HD]
  float* logits = q_s + group * HD;                       // [group, P]
  float* sums = logits + static_cast<size_t>(group) * P;  // [group]
  float* reduce = sums + group;                           // [kDecodeWarps, kHeadChunk, HD]

  const float* q =
      p.q + static_cast<size_t>(s) * p.q_stride + static_cast<size_t>(kvh) * group * HD;
  for (int i = threadIdx.x; i < group * HD; i += blockDim.x) q_s[i] = q[i] * p.scale;
  __syncthreads();

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int sub = lane / L::kLanes;                       // which row of the warp's rows
  const int l = lane % L::kLanes;                         // which part of the row
  const int first = warp * L::kRowsPerWarp * L::kUnroll;  // warp-uniform loop bounds

  // Scores: q·k for every query head of the group.
  for (int base = first; base < n; base += kStep) {
    RowLoader<T, HD> rows[L::kUnroll];
#pragma unroll
    for (int u = 0; u < L::kUnroll; ++u) {
      const int j = base + u * L::kRowsPerWarp + sub;
      const bool valid = j < n;
      rows[u].Load(CacheRow<T>(p.k_cache, table, start + (valid ? j : 0), p.block_size,
                               p.num_kv_heads, kvh, HD) +
                       l * L::kPerLane,
                   valid);
    }
#pragma unroll
    for (int u = 0; u < L::kUnroll; ++u) {
      const int j = base + u * L::kRowsPerWarp + sub;
      float k[L::kPerLane];
      rows[u].ToFloats(k);
      for (int g = 0; g < group; ++g) {
        const float* qg = q_s + g * HD + l * L::kPerLane;
        float dot = 0.f;
#pragma unroll
        for (int e = 0; e < L::kPerLane; ++e) dot += k[e] * qg[e];
#pragma unroll
        for (int off = L::kLanes / 2; off > 0; off >>= 1) {
          dot += __shfl_xor_sync(0xffffffffu, dot, off);
        }
        if (j < n && l == 0) logits[g * P + j] = dot;
      }
    }
  }
  __syncthreads();

  // Softmax numerators in place; the partition's max and sum per head.
  for (int g = warp; g < group; g += kDecodeWarps) {
    float* row = logits + g * P;
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
      sums[g] = sum;
      if (plan.partitions > 1) {
        const size_t idx =
            (static_cast<size_t>(s) * p.num_q_heads + kvh * group + g) * plan.partitions + part;
        scratch.max[idx] = m;
        scratch.sum[idx] = sum;
      }
    }
  }
  __syncthreads();

  // P·V, kHeadChunk query heads at a time; rows past n are never touched (their scores are
  // not computed and the cache there may hold anything, NaN included).
  for (int g0 = 0; g0 < group; g0 += kHeadChunk) {
    float acc[kHeadChunk][L::kPerLane] = {};
    for (int base = warp * L::kRowsPerWarp * L::kUnrollPv; base < n; base += kStepPv) {
      RowLoader<T, HD> rows[L::kUnrollPv];
#pragma unroll
      for (int u = 0; u < L::kUnrollPv; ++u) {
        const int j = base + u * L::kRowsPerWarp + sub;
        const bool valid = j < n;
        rows[u].Load(CacheRow<T>(p.v_cache, table, start + (valid ? j : 0), p.block_size,
                                 p.num_kv_heads, kvh, HD) +
                         l * L::kPerLane,
                     valid);
      }
#pragma unroll
      for (int u = 0; u < L::kUnrollPv; ++u) {
        const int j = base + u * L::kRowsPerWarp + sub;
        if (j >= n) continue;
        float v[L::kPerLane];
        rows[u].ToFloats(v);
#pragma unroll
        for (int gg = 0; gg < kHeadChunk; ++gg) {
          if (g0 + gg >= group) break;
          const float w = logits[(g0 + gg) * P + j];
#pragma unroll
          for (int e = 0; e < L::kPerLane; ++e) acc[gg][e] += w * v[e];
        }
      }
    }
    // Lanes holding the same elements of different rows of the warp.
#pragma unroll
    for (int off = L::kLanes; off < 32; off <<= 1) {
#pragma unroll
      for (int gg = 0; gg < kHeadChunk; ++gg) {
#pragma unroll
        for (int e = 0; e < L::kPerLane; ++e) {
          acc[gg][e] += __shfl_xor_sync(0xffffffffu, acc[gg][e], off);
        }
      }
    }
    if (sub == 0) {
#pragma unroll
      for (int gg = 0; gg < kHeadChunk; ++gg) {
#pragma unroll
        for (int e = 0; e < L::kPerLane; ++e) {
          reduce[(warp * kHeadChunk + gg) * HD + l * L::kPerLane + e] = acc[gg][e];
        }
      }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < kHeadChunk * HD; idx += blockDim.x) {
      const int gg = idx / HD;
      const int d = idx % HD;
      const int g = g0 + gg;
      if (g >= group) continue;
      float sum = 0.f;
#pragma unroll
      for (int w = 0; w < kDecodeWarps; ++w) sum += reduce[(w * kHeadChunk + gg) * HD + d];
      const int h = kvh * group + g;
      if (plan.partitions == 1) {
        detail::StoreOut(p.out, p.out_dtype,
                         static_cast<size_t>(s) * p.out_stride + static_cast<size_t>(h) * HD + d,
                         sum / sums[g]);
      } else {
        const size_t row = (static_cast<size_t>(s) * p.num_q_heads + h) * plan.partitions + part;
        scratch.out[row * HD + d] = sum;
      }
    }
    __syncthreads();
  }
}

// Merges the partitions of one (head, sequence): each partition's output weighted by
// exp(its max - the overall max), the weights computed once into shared memory.
template <int HD>
__global__ void DecodeCombineKernel(DecodeAttentionParams p, DecodeAttentionPlan plan,
                                    DecodeScratch scratch) {
  extern __shared__ float weight[];  // [partitions]
  __shared__ float reduce[32];
  const int s = blockIdx.y;
  const int h = blockIdx.x;
  // Contexts are at most max_context_len (the contract); the min keeps a violation in bounds.
  const int used = min(CeilDiv(p.context_lens[s], plan.partition_tokens), plan.partitions);
  const size_t base = (static_cast<size_t>(s) * p.num_q_heads + h) * plan.partitions;
  float m = -FLT_MAX;
  for (int i = threadIdx.x; i < used; i += blockDim.x) m = fmaxf(m, scratch.max[base + i]);
  m = detail::BlockMax(m, reduce);
  float total = 0.f;
  for (int i = threadIdx.x; i < used; i += blockDim.x) {
    const float w = __expf(scratch.max[base + i] - m);
    weight[i] = w;
    total += scratch.sum[base + i] * w;
  }
  total = detail::BlockSum(total, reduce);  // its barriers also publish weight[]
  const size_t row = static_cast<size_t>(s) * p.out_stride + static_cast<size_t>(h) * HD;
  for (int d = threadIdx.x; d < HD; d += blockDim.x) {
    float acc = 0.f;
    for (int i = 0; i < used; ++i) acc += scratch.out[(base + i) * HD + d] * weight[i];
    detail::StoreOut(p.out, p.out_dtype, row + d, acc / total);
  }
}

}  // namespace

DecodeAttentionPlan PlanDecodeAttention(const DecodeAttentionParams& p) {
  if (!detail::ValidDecodeShape(p) || p.num_seqs == 0) return {};
  const int group = p.num_q_heads / p.num_kv_heads;
  // The scores of a partition live in shared memory.
  const int max_tokens =
      std::clamp(kLogitBudgetFloats / group / kDecodeMinPartitionTokens * kDecodeMinPartitionTokens,
                 kDecodeMinPartitionTokens, kDecodeMaxPartitionTokens);
  const int64_t blocks = static_cast<int64_t>(p.num_seqs) * p.num_kv_heads;
  const int64_t target = static_cast<int64_t>(kBlocksPerSm) *
                         (p.num_sms > 0 ? p.num_sms : detail::DeviceMultiprocessors());
  const int wanted = static_cast<int>(std::max<int64_t>(1, (target + blocks - 1) / blocks));
  // Splitting for the grid aims at a context of at most kDecodePlanContextTokens: a CUDA graph
  // is planned for the longest context it serves, and its replays at short contexts must still
  // spread over the GPU (only the partitions inside a sequence's context do work).
  const int planned = wanted == 1
                          ? p.max_context_len
                          : CeilDiv(std::min(p.max_context_len, kDecodePlanContextTokens), wanted);
  const int tokens = CeilDiv(planned, kDecodeMinPartitionTokens) * kDecodeMinPartitionTokens;
  DecodeAttentionPlan plan;
  plan.partition_tokens = std::clamp(tokens, kDecodeMinPartitionTokens, max_tokens);
  plan.partitions = CeilDiv(p.max_context_len, plan.partition_tokens);
  return plan;
}

namespace detail {

bool ValidDecodeShape(const DecodeAttentionParams& p) {
  return p.num_seqs >= 0 && p.num_q_heads > 0 && p.num_kv_heads > 0 &&
         p.num_q_heads % p.num_kv_heads == 0 && p.head_dim > 0 && p.block_size > 0 &&
         p.max_context_len > 0;
}

size_t OurDecodeScratchBytes(const DecodeAttentionParams& p) {
  const DecodeAttentionPlan plan = PlanDecodeAttention(p);
  if (plan.partitions <= 1) return 0;
  const size_t rows = static_cast<size_t>(p.num_seqs) * p.num_q_heads * plan.partitions;
  return rows * (static_cast<size_t>(p.head_dim) + 2) * sizeof(float);
}

Status OurDecode(const DecodeAttentionParams& p, Stream stream) {
  const DecodeAttentionPlan plan = PlanDecodeAttention(p);
  const size_t scratch_bytes = OurDecodeScratchBytes(p);
  if (scratch_bytes > 0 && (!p.scratch || p.scratch_bytes < scratch_bytes)) {
    return Status::kInvalidArgument;
  }
  const DecodeScratch scratch = plan.partitions > 1 ? SplitScratch(p.scratch, p, plan.partitions)
                                                    : DecodeScratch{nullptr, nullptr, nullptr};
  const int group = p.num_q_heads / p.num_kv_heads;
  return detail::DispatchKvDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return detail::DispatchHeadDim(p.head_dim, [&](auto hd) {
      constexpr int HD = decltype(hd)::value;
      const size_t smem = SharedBytes(group, HD, plan.partition_tokens);
      const void* kernel = reinterpret_cast<const void*>(&DecodePartitionKernel<T, HD>);
      if (detail::SetSharedMemory(kernel, smem) != Status::kOk) return Status::kUnsupported;
      DecodePartitionKernel<T, HD>
          <<<dim3(plan.partitions, p.num_kv_heads, p.num_seqs), kDecodeThreads, smem, stream>>>(
              p, plan, scratch);
      if (plan.partitions > 1) {
        // Padded to whole 16-byte groups and one spare group: compute-sanitizer caught the
        // weights loop reading a 16-byte vector that ended past an unpadded array (head dim 8).
        const size_t weights =
            (static_cast<size_t>(plan.partitions + 3) / 4 + 1) * 4 * sizeof(float);
        const void* combine = reinterpret_cast<const void*>(&DecodeCombineKernel<HD>);
        if (detail::SetSharedMemory(combine, weights) != Status::kOk) return Status::kUnsupported;
        DecodeCombineKernel<HD>
            <<<dim3(p.num_q_heads, p.num_seqs), std::max(32, std::min(HD, 128)), weights, stream>>>(
                p, plan, scratch);
      }
      return detail::LaunchStatus();
    });
  });
}

}  // namespace detail
}  // namespace tg::kernels
