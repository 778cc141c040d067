// FlashInfer's paged batch decode behind our DecodeAttention contract (attention.h): the plan,
// the workspace and the small kernel that turns our context lengths into FlashInfer's paged-KV
// description and split-KV schedule on the device. FlashInfer itself is behind
// flashinfer_decode.h.
//
// Graph safety: everything the host decides (the grid, the workspace layout, whether the KV is
// split) depends only on the launch shape (num_seqs, heads, max_context_len, block table width),
// never on context_lens, and every array FlashInfer reads lives in the caller's scratch, written
// by the prepare kernel in the same stream. A captured launch therefore stays right when the
// context lengths change between replays: the prepare kernel recomputes the schedule from them.
#include <algorithm>

#include "kernels/attention_common.cuh"
#include "kernels/attention_internal.h"
#include "kernels/dependent_launch.cuh"
#include "kernels/device_utils.cuh"
#include "kernels/flashinfer_decode.h"

namespace tg::kernels::detail {
namespace {

// Split the KV (FlashDecoding) until the grid has about this many 128-thread blocks per SM
// (FlashInfer's decode blocks are small; several per SM keep enough loads in flight), never
// into chunks shorter than kMinChunkTokens (each chunk's partial output costs a write and a
// merge read), chunk lengths rounded to kChunkAlignTokens.
constexpr int kTargetBlocksPerSm = 8;
constexpr int kMinChunkTokens = 64;
constexpr int kChunkAlignTokens = 16;
constexpr int kPrepareThreads = 256;
constexpr size_t kAlign = 256;

size_t Aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Tiles (KV chunks) per sequence the grid has room for: 1 (unsplit) when the sequences alone
// fill the GPU.
int TilesPerSeq(const DecodeAttentionParams& p) {
  const int64_t blocks = static_cast<int64_t>(p.num_seqs) * p.num_kv_heads;
  const int64_t target = static_cast<int64_t>(kTargetBlocksPerSm) *
                         (p.num_sms > 0 ? p.num_sms : DeviceMultiprocessors());
  if (blocks >= target) return 1;
  const int64_t wanted = (target + blocks - 1) / blocks;
  return static_cast<int>(
      std::clamp<int64_t>(wanted, 1, CeilDiv(p.max_context_len, kMinChunkTokens)));
}

// Where each array sits in the scratch.
struct Layout {
  int tiles_per_seq = 1;
  int padded_tiles = 0;
  size_t page_indptr = 0, last_page_len = 0, request_indices = 0, tile_indices = 0, tile_indptr = 0,
         chunk_tokens = 0, tile_valid = 0, partial_out = 0, partial_lse = 0, bytes = 0;
};

Layout LayoutFor(const DecodeAttentionParams& p) {
  Layout l;
  l.tiles_per_seq = TilesPerSeq(p);
  l.padded_tiles = p.num_seqs * l.tiles_per_seq;
  const size_t seqs = static_cast<size_t>(p.num_seqs), tiles = static_cast<size_t>(l.padded_tiles);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t here = at;
    at += Aligned(bytes);
    return here;
  };
  l.page_indptr = take((seqs + 1) * sizeof(int32_t));
  l.last_page_len = take(seqs * sizeof(int32_t));
  l.request_indices = take(tiles * sizeof(int32_t));
  l.tile_indices = take(tiles * sizeof(int32_t));
  l.tile_indptr = take((seqs + 1) * sizeof(int32_t));
  l.chunk_tokens = take(sizeof(int32_t));
  l.tile_valid = take(tiles * sizeof(bool));
  if (l.tiles_per_seq > 1) {
    l.partial_out = take(tiles * p.num_q_heads * p.head_dim * sizeof(float));
    l.partial_lse = take(tiles * p.num_q_heads * sizeof(float));
  }
  l.bytes = at;
  return l;
}

struct PrepareParams {
  const int32_t* context_lens;
  int num_seqs, max_blocks_per_seq, block_size, max_context_len, tiles_per_seq, padded_tiles;
  int32_t *page_indptr, *last_page_len, *request_indices, *tile_indices, *tile_indptr,
      *chunk_tokens;
  bool* tile_valid;
};

// Exclusive prefix sum over the block (kPrepareThreads threads); *total gets the sum.
__device__ int BlockExclusiveSum(int v, int* total) {
  __shared__ int warp_sums[kPrepareThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int inclusive = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int up = __shfl_up_sync(0xffffffffu, inclusive, off);
    if (lane >= off) inclusive += up;
  }
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  int before = 0, sum = 0;
  for (int w = 0; w < kPrepareThreads / 32; ++w) {
    if (w < warp) before += warp_sums[w];
    sum += warp_sums[w];
  }
  *total = sum;
  return before + inclusive - v;
}

// Block-wide maximum (kPrepareThreads threads); every thread gets it.
__device__ int BlockMaxInt(int v) {
  __shared__ int warp_max[kPrepareThreads / 32];
  v = __reduce_max_sync(0xffffffffu, v);
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = v;
  __syncthreads();
  int m = warp_max[0];
  for (int w = 1; w < kPrepareThreads / 32; ++w) m = max(m, warp_max[w]);
  return m;
}

// One block: FlashInfer's description of this step's batch from the device context lengths.
// Sequence s of ctx tokens has max_blocks_per_seq pages in FlashInfer's eyes (its page
// list is its whole block table row, so that the rows need no compaction), and the last page
// length that makes FlashInfer's length formula, (pages - 1) * block_size + last_page_len, equal
// ctx: ctx - (max_blocks_per_seq - 1) * block_size, negative for short contexts. FlashInfer
// evaluates that formula in uint32 arithmetic, where the sum wraps to exactly ctx; pages past
// the context are never read (its loads are predicated on the length).
__global__ void __launch_bounds__(kPrepareThreads) PrepareFlashInferDecode(PrepareParams pp) {
  // Launched as a dependent: an earlier decode (the previous step's) may still read these
  // arrays until then.
  WaitForPriorKernels();
  AllowDependentLaunch();
  const int n = pp.num_seqs;
  int longest = 0;
  for (int s = threadIdx.x; s < n; s += blockDim.x) {
    const int ctx = min(max(pp.context_lens[s], 0), pp.max_context_len);
    longest = max(longest, ctx);
    pp.page_indptr[s] = s * pp.max_blocks_per_seq;
    pp.last_page_len[s] = ctx - (pp.max_blocks_per_seq - 1) * pp.block_size;
  }
  if (threadIdx.x == 0) pp.page_indptr[n] = n * pp.max_blocks_per_seq;
  longest = BlockMaxInt(longest);
  if (pp.tiles_per_seq == 1) {
    for (int s = threadIdx.x; s < n; s += blockDim.x) {
      pp.request_indices[s] = s;
      pp.tile_indices[s] = 0;
      pp.tile_valid[s] = true;
    }
    if (threadIdx.x == 0) *pp.chunk_tokens = max(longest, 1);
    return;
  }
  // Chunks sized so that the longest context takes tiles_per_seq tiles: no sequence takes more,
  // so the grid of padded_tiles always suffices.
  const int chunk =
      max(kMinChunkTokens, CeilDiv(CeilDiv(max(longest, 1), pp.tiles_per_seq), kChunkAlignTokens) *
                               kChunkAlignTokens);
  // Each thread owns a contiguous run of sequences; tile_indptr is the exclusive sum of tiles.
  const int per_thread = CeilDiv(n, kPrepareThreads);
  const int begin = min(n, static_cast<int>(threadIdx.x) * per_thread);
  const int end = min(n, begin + per_thread);
  int mine = 0;
  for (int s = begin; s < end; ++s) {
    mine += CeilDiv(min(max(pp.context_lens[s], 0), pp.max_context_len), chunk);
  }
  int total = 0;
  int offset = BlockExclusiveSum(mine, &total);
  for (int s = begin; s < end; ++s) {
    pp.tile_indptr[s] = offset;
    offset += CeilDiv(min(max(pp.context_lens[s], 0), pp.max_context_len), chunk);
  }
  if (threadIdx.x == 0) {
    pp.tile_indptr[n] = total;
    *pp.chunk_tokens = chunk;
  }
  __syncthreads();  // tile_indptr, written to global memory, is read back by the whole block
  for (int i = threadIdx.x; i < pp.padded_tiles; i += blockDim.x) {
    const bool valid = i < total;
    int seq = 0;
    if (valid) {  // the last sequence whose tiles start at or before i
      int lo = 0, hi = n - 1;
      while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (pp.tile_indptr[mid] <= i) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      seq = lo;
    }
    pp.request_indices[i] = seq;
    pp.tile_indices[i] = valid ? i - pp.tile_indptr[seq] : 0;
    pp.tile_valid[i] = valid;
  }
}

// The instantiation for (cache dtype, output dtype, head_dim) (FlashInferDecodeServes checked
// them).
Status RunFlashInfer(DType dtype, DType out_dtype, int head_dim,
                     const FlashInferDecodeRunParams& run, Stream stream) {
#ifdef TG_HAVE_FLASHINFER
  constexpr DType kBf16 = DType::kBFloat16, kF16 = DType::kFloat16, kF32 = DType::kFloat32;
  const bool bf16 = dtype == kBf16;
  if (out_dtype == kBf16) {
    return head_dim == 64 ? FlashInferDecodeRun<kBf16, kBf16, 64>(run, stream)
                          : FlashInferDecodeRun<kBf16, kBf16, 128>(run, stream);
  }
  if (head_dim == 64) {
    return bf16 ? FlashInferDecodeRun<kBf16, kF32, 64>(run, stream)
                : FlashInferDecodeRun<kF16, kF32, 64>(run, stream);
  }
  return bf16 ? FlashInferDecodeRun<kBf16, kF32, 128>(run, stream)
              : FlashInferDecodeRun<kF16, kF32, 128>(run, stream);
#else
  (void)dtype, (void)out_dtype, (void)head_dim, (void)run, (void)stream;
  return Status::kUnsupported;
#endif
}

bool Aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

bool DeviceIsSm90() {
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return major == 9 && minor == 0;
}

}  // namespace

bool FlashInferDecodeCompiled() {
#ifdef TG_HAVE_FLASHINFER
  return true;
#else
  return false;
#endif
}

}  // namespace tg::kernels::detail

namespace tg::kernels {

bool FlashInferDecodeServes(const DecodeAttentionParams& p) {
  if (!detail::FlashInferDecodeCompiled()) return false;
  if (p.dtype != DType::kBFloat16 && p.dtype != DType::kFloat16) return false;
  // Float32 outputs, and bf16 ones over a bf16 cache (the instantiations).
  if (p.out_dtype != DType::kFloat32 &&
      !(p.out_dtype == DType::kBFloat16 && p.dtype == DType::kBFloat16)) {
    return false;
  }
  if (p.head_dim != 64 && p.head_dim != 128) return false;
  if (p.num_kv_heads <= 0 || p.num_q_heads % p.num_kv_heads != 0) return false;
  const int group = p.num_q_heads / p.num_kv_heads;
  if (group != 1 && group != 2 && group != 3 && group != 4 && group != 6 && group != 8 &&
      group != 16) {
    return false;
  }
  // FlashInfer writes packed outputs and loads 16-byte vectors of q, K and V.
  if (p.out_stride != p.num_q_heads * p.head_dim || p.q_stride % 4 != 0 ||
      !detail::Aligned16(p.q) || !detail::Aligned16(p.out) || !detail::Aligned16(p.k_cache) ||
      !detail::Aligned16(p.v_cache)) {
    return false;
  }
  // Token positions across the whole batch of block tables are uint32 (and int32) there.
  if (static_cast<int64_t>(p.num_seqs + 1) * p.max_blocks_per_seq * p.block_size >=
      (int64_t{1} << 31)) {
    return false;
  }
  return detail::DeviceIsSm90();
}

}  // namespace tg::kernels

namespace tg::kernels::detail {

size_t FlashInferDecodeScratchBytes(const DecodeAttentionParams& p) {
  return p.num_seqs > 0 ? LayoutFor(p).bytes : 0;
}

Status FlashInferDecode(const DecodeAttentionParams& p, Stream stream) {
  if (!FlashInferDecodeCompiled()) return Status::kUnsupported;
  const Layout l = LayoutFor(p);
  if (!p.scratch || p.scratch_bytes < l.bytes) return Status::kInvalidArgument;
  auto* base = static_cast<char*>(p.scratch);
  auto ints = [&](size_t offset) { return reinterpret_cast<int32_t*>(base + offset); };
  PrepareParams pp{};
  pp.context_lens = p.context_lens;
  pp.num_seqs = p.num_seqs;
  pp.max_blocks_per_seq = p.max_blocks_per_seq;
  pp.block_size = p.block_size;
  pp.max_context_len = p.max_context_len;
  pp.tiles_per_seq = l.tiles_per_seq;
  pp.padded_tiles = l.padded_tiles;
  pp.page_indptr = ints(l.page_indptr);
  pp.last_page_len = ints(l.last_page_len);
  pp.request_indices = ints(l.request_indices);
  pp.tile_indices = ints(l.tile_indices);
  pp.tile_indptr = ints(l.tile_indptr);
  pp.chunk_tokens = ints(l.chunk_tokens);
  pp.tile_valid = reinterpret_cast<bool*>(base + l.tile_valid);
  if (!p.schedule_ready &&
      LaunchDependent(PrepareFlashInferDecode, 1, kPrepareThreads, 0, stream, pp) != Status::kOk) {
    return Status::kLaunchFailed;
  }

  FlashInferDecodeRunParams run;
  run.q = p.q;
  run.q_stride = p.q_stride;
  run.out = p.out;
  run.k_cache = p.k_cache;
  run.v_cache = p.v_cache;
  run.page_indices = p.block_tables;
  run.page_indptr = pp.page_indptr;
  run.last_page_len = pp.last_page_len;
  run.request_indices = pp.request_indices;
  run.tile_indices = pp.tile_indices;
  run.tile_indptr = pp.tile_indptr;
  run.chunk_tokens = pp.chunk_tokens;
  run.tile_valid = pp.tile_valid;
  if (l.tiles_per_seq > 1) {
    run.partial_out = base + l.partial_out;  // in the output dtype (at most float32's bytes)
    run.partial_lse = reinterpret_cast<float*>(base + l.partial_lse);
  }
  run.padded_tiles = l.padded_tiles;
  run.num_seqs = p.num_seqs;
  run.num_q_heads = p.num_q_heads;
  run.num_kv_heads = p.num_kv_heads;
  run.block_size = p.block_size;
  run.scale = p.scale;
  return RunFlashInfer(p.dtype, p.out_dtype, p.head_dim, run, stream);
}

}  // namespace tg::kernels::detail
