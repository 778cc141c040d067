// Decode attention over the paged KV cache (attention.h), built for latency: one block per
// (tile of the context, kv head, sequence) computes up to kHeadsPerBlock query heads of its GQA
// group, so each K and V row is read from memory once, with 16-byte loads. A pass issues the K
// and V loads of all its rows before any arithmetic (one memory round trip a pass), and the
// softmax runs online across passes in registers; the block's warps then merge through shared
// memory. A tile that is its sequence's whole context writes the output; otherwise a second
// kernel merges the tiles' (max, sum, output). Both are programmatic dependents
// (dependent_launch.cuh), so at small batches the launch gaps overlap the kernels before them.
//
// The grid (tiles per sequence) depends only on the launch shape; each sequence's tile length
// comes from its own context on the device, so every tile of a short context still has work in
// a CUDA graph planned for a long one, and a replay with new lengths stays right.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_common.cuh"
#include "kernels/attention_internal.h"
#include "kernels/dependent_launch.cuh"

namespace tg::kernels {
namespace {

using detail::CacheRow;
using detail::CeilDiv;
using detail::ToFloat;

constexpr int kDecodeWarps = 4;
constexpr int kDecodeThreads = kDecodeWarps * 32;
// Query heads a block accumulates (registers: q and the output accumulator per head); a larger
// GQA group is split over several blocks, each reading the group's K and V.
constexpr int kHeadsPerBlock = 4;
// Blocks per SM the tiles aim at: enough 16-byte loads in flight to stream the KV.
constexpr int kTargetBlocksPerSm = 4;
constexpr int kTileAlignTokens = 16;

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
  // Rows each lane has in flight per pass: about eight 16-byte loads of K, and as many of V.
  static constexpr int kUnroll = kVecsPerLane >= 8 ? 1 : 8 / kVecsPerLane;
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
  float* out;  // [num_seqs, num_q_heads, tiles, head_dim]
  float* max;  // [num_seqs, num_q_heads, tiles]
  float* sum;  // [num_seqs, num_q_heads, tiles]
};

DecodeScratch SplitScratch(void* base, const DecodeAttentionParams& p, int tiles) {
  const size_t rows = static_cast<size_t>(p.num_seqs) * p.num_q_heads * tiles;
  float* f = static_cast<float*>(base);
  return {f, f + rows * p.head_dim, f + rows * p.head_dim + rows};
}

__host__ __device__ inline int HeadBlocks(int group) { return CeilDiv(group, kHeadsPerBlock); }

// Tokens of each tile of a context of ctx tokens split over `tiles` tiles: at least
// kDecodeMinTileTokens, so that a short context is not spread thinner than a block's pass.
__device__ __forceinline__ int TileTokens(int ctx, int tiles) {
  const int even = CeilDiv(CeilDiv(max(ctx, 1), tiles), kTileAlignTokens) * kTileAlignTokens;
  return max(kDecodeMinTileTokens, even);
}

__device__ __forceinline__ int ContextOf(const DecodeAttentionParams& p, int s) {
  // Contexts are at most max_context_len (the contract); the clamp keeps a violation in bounds.
  return min(max(p.context_lens[s], 0), p.max_context_len);
}

template <typename T, int HD>
__global__ void __launch_bounds__(kDecodeThreads)
    DecodeTileKernel(DecodeAttentionParams p, int tiles, DecodeScratch scratch) {
  detail::WaitForPriorKernels();  // q was written by the kernel before
  detail::AllowDependentLaunch();
  using L = RowLayout<T, HD>;
  constexpr int G = kHeadsPerBlock;
  constexpr int kPassRows = kDecodeWarps * L::kRowsPerWarp * L::kUnroll;
  const int s = blockIdx.z;
  const int group = p.num_q_heads / p.num_kv_heads;
  const int kvh = blockIdx.y / HeadBlocks(group);
  const int g0 = (blockIdx.y % HeadBlocks(group)) * G;  // the block's first head in the group
  const int heads = min(G, group - g0);
  const int ctx = ContextOf(p, s);
  const int chunk = TileTokens(ctx, tiles);
  const int start = blockIdx.x * chunk;
  if (start >= ctx) return;  // past this sequence's context (the grid covers the longest)
  const int n = min(chunk, ctx - start);
  const bool whole = chunk >= ctx;  // the only tile: no merge
  const int32_t* table = p.block_tables + static_cast<size_t>(s) * p.max_blocks_per_seq;

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int sub = lane / L::kLanes;  // which row of the warp's rows
  const int l = lane % L::kLanes;    // which part of the row

  float q[G][L::kPerLane];
  const float* q_row = p.q + static_cast<size_t>(s) * p.q_stride +
                       static_cast<size_t>(kvh * group + g0) * HD + l * L::kPerLane;
#pragma unroll
  for (int g = 0; g < G; ++g) {
#pragma unroll
    for (int e = 0; e < L::kPerLane; ++e) q[g][e] = g < heads ? q_row[g * HD + e] * p.scale : 0.f;
  }
  float m[G], sum[G], acc[G][L::kPerLane];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    sum[g] = 0.f;
#pragma unroll
    for (int e = 0; e < L::kPerLane; ++e) acc[g][e] = 0.f;
  }

  for (int base = 0; base < n; base += kPassRows) {
    // Every K and V row of the pass in flight at once.
    RowLoader<T, HD> k_rows[L::kUnroll], v_rows[L::kUnroll];
#pragma unroll
    for (int u = 0; u < L::kUnroll; ++u) {
      const int j = base + (warp * L::kUnroll + u) * L::kRowsPerWarp + sub;
      const bool valid = j < n;
      const int pos = start + (valid ? j : 0);
      k_rows[u].Load(CacheRow<T>(p.k_cache, table, pos, p.block_size, p.num_kv_heads, kvh, HD) +
                         l * L::kPerLane,
                     valid);
      v_rows[u].Load(CacheRow<T>(p.v_cache, table, pos, p.block_size, p.num_kv_heads, kvh, HD) +
                         l * L::kPerLane,
                     valid);
    }
    float score[L::kUnroll][G];
#pragma unroll
    for (int u = 0; u < L::kUnroll; ++u) {
      const int j = base + (warp * L::kUnroll + u) * L::kRowsPerWarp + sub;
      float k[L::kPerLane];
      k_rows[u].ToFloats(k);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float dot = 0.f;
#pragma unroll
        for (int e = 0; e < L::kPerLane; ++e) dot += k[e] * q[g][e];
#pragma unroll
        for (int off = L::kLanes / 2; off > 0; off >>= 1) {
          dot += __shfl_xor_sync(0xffffffffu, dot, off);
        }
        score[u][g] = j < n ? dot : -INFINITY;
      }
    }
    // Online softmax: the warp's running max over all its rows so far (rows past n, and the
    // cache there, which may hold anything, NaN included, never reach the sums).
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float pass_max = -INFINITY;
#pragma unroll
      for (int u = 0; u < L::kUnroll; ++u) pass_max = fmaxf(pass_max, score[u][g]);
#pragma unroll
      for (int off = L::kLanes; off < 32; off <<= 1) {
        pass_max = fmaxf(pass_max, __shfl_xor_sync(0xffffffffu, pass_max, off));
      }
      const float next = fmaxf(m[g], pass_max);
      if (next == -INFINITY) continue;            // no row of this warp yet
      const float rescale = __expf(m[g] - next);  // 0 while m is -inf
      m[g] = next;
      sum[g] *= rescale;
#pragma unroll
      for (int e = 0; e < L::kPerLane; ++e) acc[g][e] *= rescale;
    }
#pragma unroll
    for (int u = 0; u < L::kUnroll; ++u) {
      const int j = base + (warp * L::kUnroll + u) * L::kRowsPerWarp + sub;
      if (j >= n) continue;
      float v[L::kPerLane];
      v_rows[u].ToFloats(v);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const float w = __expf(score[u][g] - m[g]);
        sum[g] += w;
#pragma unroll
        for (int e = 0; e < L::kPerLane; ++e) acc[g][e] += w * v[e];
      }
    }
  }
  // Lanes holding the same elements of different rows of the warp (m is warp-uniform).
#pragma unroll
  for (int off = L::kLanes; off < 32; off <<= 1) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
      sum[g] += __shfl_xor_sync(0xffffffffu, sum[g], off);
#pragma unroll
      for (int e = 0; e < L::kPerLane; ++e) {
        acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], off);
      }
    }
  }
  __shared__ float warp_max[kDecodeWarps][G], warp_sum[kDecodeWarps][G];
  __shared__ float warp_acc[kDecodeWarps][G][HD];
  if (sub == 0) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int e = 0; e < L::kPerLane; ++e) warp_acc[warp][g][l * L::kPerLane + e] = acc[g][e];
      if (l == 0) {
        warp_max[warp][g] = m[g];
        warp_sum[warp][g] = sum[g];
      }
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < heads * HD; idx += blockDim.x) {
    const int g = idx / HD;
    const int d = idx % HD;
    float tile_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) tile_max = fmaxf(tile_max, warp_max[w][g]);
    float total = 0.f, out = 0.f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
      if (warp_max[w][g] == -INFINITY) continue;  // a warp with no row in this tile
      const float weight = __expf(warp_max[w][g] - tile_max);
      total += warp_sum[w][g] * weight;
      out += warp_acc[w][g][d] * weight;
    }
    const int h = kvh * group + g0 + g;
    if (whole) {
      detail::StoreOut(p.out, p.out_dtype,
                       static_cast<size_t>(s) * p.out_stride + static_cast<size_t>(h) * HD + d,
                       out / total);
    } else {
      const size_t row = (static_cast<size_t>(s) * p.num_q_heads + h) * tiles + blockIdx.x;
      scratch.out[row * HD + d] = out;
      if (d == 0) {
        scratch.max[row] = tile_max;
        scratch.sum[row] = total;
      }
    }
  }
}

// Merges the tiles of one (head, sequence): each tile's output weighted by exp(its max - the
// overall max), the weights computed once into shared memory. Sequences whose context was one
// tile were written by the tile kernel.
template <int HD>
__global__ void DecodeMergeKernel(DecodeAttentionParams p, int tiles, DecodeScratch scratch) {
  detail::WaitForPriorKernels();  // the tiles' partial results
  detail::AllowDependentLaunch();
  extern __shared__ float weight[];  // [tiles]
  __shared__ float reduce[32];
  const int s = blockIdx.y;
  const int h = blockIdx.x;
  const int ctx = ContextOf(p, s);
  const int used = CeilDiv(max(ctx, 1), TileTokens(ctx, tiles));
  if (used <= 1) return;
  const size_t base = (static_cast<size_t>(s) * p.num_q_heads + h) * tiles;
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
  const int64_t blocks = static_cast<int64_t>(p.num_seqs) * p.num_kv_heads *
                         HeadBlocks(p.num_q_heads / p.num_kv_heads);
  const int64_t target = static_cast<int64_t>(kTargetBlocksPerSm) *
                         (p.num_sms > 0 ? p.num_sms : detail::DeviceMultiprocessors());
  const int64_t wanted = (target + blocks - 1) / blocks;
  DecodeAttentionPlan plan;
  plan.tiles = static_cast<int>(
      std::clamp<int64_t>(wanted, 1, CeilDiv(p.max_context_len, kDecodeMinTileTokens)));
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
  if (plan.tiles <= 1) return 0;
  const size_t rows = static_cast<size_t>(p.num_seqs) * p.num_q_heads * plan.tiles;
  return rows * (static_cast<size_t>(p.head_dim) + 2) * sizeof(float);
}

Status OurDecode(const DecodeAttentionParams& p, Stream stream) {
  const DecodeAttentionPlan plan = PlanDecodeAttention(p);
  const size_t scratch_bytes = OurDecodeScratchBytes(p);
  if (scratch_bytes > 0 && (!p.scratch || p.scratch_bytes < scratch_bytes)) {
    return Status::kInvalidArgument;
  }
  const DecodeScratch scratch = plan.tiles > 1 ? SplitScratch(p.scratch, p, plan.tiles)
                                               : DecodeScratch{nullptr, nullptr, nullptr};
  const int head_blocks = HeadBlocks(p.num_q_heads / p.num_kv_heads);
  if (static_cast<int64_t>(p.num_kv_heads) * head_blocks > 65535) return Status::kInvalidArgument;
  return detail::DispatchKvDType(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return detail::DispatchHeadDim(p.head_dim, [&](auto hd) {
      constexpr int HD = decltype(hd)::value;
      const dim3 grid(plan.tiles, p.num_kv_heads * head_blocks, p.num_seqs);
      if (const Status launched = detail::LaunchDependent(
              DecodeTileKernel<T, HD>, grid, kDecodeThreads, 0, stream, p, plan.tiles, scratch);
          launched != Status::kOk || plan.tiles == 1) {
        return launched;
      }
      // Padded to whole 16-byte groups and one spare group: compute-sanitizer caught the
      // weights loop reading a 16-byte vector that ended past an unpadded array (head dim 8).
      const size_t weights = (static_cast<size_t>(plan.tiles + 3) / 4 + 1) * 4 * sizeof(float);
      const void* merge = reinterpret_cast<const void*>(&DecodeMergeKernel<HD>);
      if (detail::SetSharedMemory(merge, weights) != Status::kOk) return Status::kUnsupported;
      return detail::LaunchDependent(DecodeMergeKernel<HD>, dim3(p.num_q_heads, p.num_seqs),
                                     std::max(32, std::min(HD, 128)), weights, stream, p,
                                     plan.tiles, scratch);
    });
  });
}

}  // namespace detail
}  // namespace tg::kernels
