// Attention over the paged KV cache.
//
// Cache layout (per layer, K and V alike): [num_blocks, block_size, num_kv_heads, head_dim] in
// `dtype` (the KV dtype: float32 or bfloat16; WriteKvCache also float16, and DecodeAttention on
// FlashInfer's kernel); queries and new K/V rows are float32 activations. Outputs are float32 or
// bfloat16 rows (`out_dtype`): bf16 where they feed a bf16 GEMM (o_proj), which then reads them
// as they are instead of through a conversion pass on either side. A sequence's
// token at position p lives in block block_tables[seq][p / block_size], offset p % block_size.
// Supported head sizes are the instantiations listed in attention_common.cuh (8, 16, 32, 64, 96,
// 128, 256); anything else returns kUnsupported.
#pragma once

#include "kernels/common.h"
#include "kernels/elementwise.h"

namespace tg::kernels {

class HopperPrefill;

// Scatters new K/V rows into the cache: token t goes to slot slots[t] (block * block_size +
// offset); a negative slot skips the token (padding).
struct KvCacheWriteParams {
  DType dtype = DType::kBFloat16;
  const float* k = nullptr;  // token t, kv head h at k + t * k_stride + h * head_dim
  const float* v = nullptr;
  int k_stride = 0;
  int v_stride = 0;
  const int32_t* slots = nullptr;  // [num_tokens]
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  int num_tokens = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  int num_blocks = 0;
};
Status WriteKvCache(const KvCacheWriteParams& p, Stream stream);

// Rotary (elementwise.h) on q and k, then WriteKvCache of the rotated k and of v, as one kernel:
// the same results as the two calls in that order. `write.k` must be `rotary.k` (same rows,
// stride and head shape).
Status RotaryKvWrite(const RotaryParams& rotary, const KvCacheWriteParams& write, Stream stream);

// The decode attention kernels: ours (kernels/decode_attention.cu) and FlashInfer's paged batch
// decode (kernels/decode_flashinfer.cu; bf16/fp16 caches, head sizes 64 and 128, sm_90, when
// built with FlashInfer). kAuto picks (DecodeKernelFor); tests and the benchmark force one.
enum class DecodeKernel { kAuto, kOurs, kFlashInfer };
const char* ToString(DecodeKernel kernel);

// One query token per sequence against its whole cached context (GQA: q head h reads kv head
// h / (num_q_heads / num_kv_heads)).
//
// Ours: one block per (tile of the context, kv head, sequence) covers up to four query heads of
// the GQA group, reading each K and V row once with 16-byte loads, all of a pass's rows in
// flight before any arithmetic; a second kernel merges the tiles (FlashDecoding) of sequences
// longer than one tile. FlashInfer's: a small kernel writes its paged-KV description and
// split-KV schedule from context_lens, then its decode kernel and (when split) its merge.
//
// Either grid depends only on the launch shape (max_context_len, never context_lens), so one
// launch serves a CUDA graph while the actual context_lens change between replays; each
// sequence's split is sized on the device from its actual context, so that a graph planned for
// a long maximum still spreads short contexts over the GPU.
struct DecodeAttentionParams {
  DType dtype = DType::kBFloat16;
  const float* q = nullptr;  // seq s, head h at q + s * q_stride + h * head_dim
  int q_stride = 0;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  const int32_t* context_lens = nullptr;  // [num_seqs], each in [1, max_context_len]
  void* out = nullptr;  // seq s, head h at out + s * out_stride + h * head_dim (elements)
  DType out_dtype = DType::kFloat32;  // AttentionOutDTypeServed
  int out_stride = 0;
  int num_seqs = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  int max_context_len = 0;
  float scale = 1.f;
  int num_sms = 0;          // multiprocessors to fill; 0: those of the current device
  void* scratch = nullptr;  // DecodeAttentionScratchBytes(p) bytes
  size_t scratch_bytes = 0;
  DecodeKernel kernel = DecodeKernel::kAuto;
  // FlashInfer's: the scratch already holds the schedule an earlier call on this stream wrote
  // for the same context_lens (unchanged since) and launch shape, as every layer of one decode
  // step after the first: the prepare kernel is skipped. Ours has no schedule and ignores it.
  bool schedule_ready = false;
};

// The kernel DecodeAttention runs for p (never kAuto): p.kernel when forced, else FlashInfer's
// where it serves p, ours otherwise. A forced kernel that does not serve p makes DecodeAttention
// return kUnsupported.
DecodeKernel DecodeKernelFor(const DecodeAttentionParams& p);
// True when this build has FlashInfer's decode and it serves p on the current device.
bool FlashInferDecodeServes(const DecodeAttentionParams& p);

// How our kernel splits the context: `tiles` blocks per (sequence, kv head, group of up to 4
// query heads), chosen from the launch shape to give about four blocks per SM; each sequence's
// context is cut into that many tiles of at least kDecodeMinTileTokens on the device.
struct DecodeAttentionPlan {
  int tiles = 0;
};
constexpr int kDecodeMinTileTokens = 64;
DecodeAttentionPlan PlanDecodeAttention(const DecodeAttentionParams& p);
// Scratch for the kernel DecodeKernelFor(p) picks (0 for ours when unsplit).
size_t DecodeAttentionScratchBytes(const DecodeAttentionParams& p);
Status DecodeAttention(const DecodeAttentionParams& p, Stream stream);

// Causal attention for a variable-length batch of prompts whose K/V are already in the cache
// (WriteKvCache first). Dispatch: FlashInfer's Hopper kernel when given and served, else our
// tensor-core kernel (bf16 cache, head sizes 64/128), else the SIMT kernel. Sequence s has q_len =
// query_starts[s + 1] - query_starts[s] query tokens; its query i sits at position seq_lens[s] -
// q_len + i (a prefix-cache hit makes seq_lens[s] > q_len) and sees cache positions [0, that
// position].
struct PrefillAttentionParams {
  DType dtype = DType::kBFloat16;
  const float* q = nullptr;  // token t, head h at q + t * q_stride + h * head_dim
  int q_stride = 0;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  const int32_t* query_starts = nullptr;  // [num_seqs + 1]
  const int32_t* seq_lens = nullptr;      // [num_seqs]: KV length after this step
  void* out = nullptr;  // token t, head h at out + t * out_stride + h * head_dim (elements)
  DType out_dtype = DType::kFloat32;  // AttentionOutDTypeServed
  int out_stride = 0;
  int num_seqs = 0;
  int max_query_len = 0;  // >= every sequence's query count (sizes the grid)
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  float scale = 1.f;
  // Optional: FlashInfer's Hopper kernel (kernels/prefill_hopper.h) runs instead of ours when
  // `hopper` is set and serves the shape. It schedules from host copies of query_starts and
  // seq_lens and needs hopper->WorkspaceBytes(...) of device workspace.
  HopperPrefill* hopper = nullptr;
  const int32_t* host_query_starts = nullptr;  // [num_seqs + 1]
  const int32_t* host_seq_lens = nullptr;      // [num_seqs]
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};
Status PrefillAttention(const PrefillAttentionParams& p, Stream stream);

// The dtypes attention can write its output rows in (`out_dtype` of the params above).
inline bool AttentionOutDTypeServed(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kBFloat16;
}

// True when the attention kernels are instantiated for this head size.
bool AttentionSupportsHeadDim(int head_dim);

}  // namespace tg::kernels
