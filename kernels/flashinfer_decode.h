// The seam to FlashInfer's paged batch decode: the only declarations the rest of the kernels layer
// sees of it. The definitions are the only files that include FlashInfer's decode headers
// (flashinfer_decode_bf16.cu, flashinfer_decode_f16.cu, built when TG_HAVE_FLASHINFER); the
// driver that plans and prepares its launch is decode_flashinfer.cu. Not a public API.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace tg::kernels::detail {

// One launch of FlashInfer's BatchDecodeWithPagedKVCache over our cache, every array already
// prepared on the device (decode_flashinfer.cu). Float32 queries (FlashInfer's DTypeQ), float32
// or bf16 outputs (its DTypeO, which its split-KV partial outputs share), a bf16 or fp16 cache in
// FlashInfer's NHD page layout.
struct FlashInferDecodeRunParams {
  const float* q = nullptr;  // seq s, head h at q + s * q_stride + h * head_dim
  int q_stride = 0;
  void* out = nullptr;  // packed [num_seqs, num_q_heads, head_dim] of the instantiation's kOut
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* page_indices = nullptr;   // our block tables, row after row
  const int32_t* page_indptr = nullptr;    // [num_seqs + 1]: s * max_blocks_per_seq
  const int32_t* last_page_len = nullptr;  // [num_seqs] (see decode_flashinfer.cu)
  // The split-KV schedule: work item i (of padded_tiles) is tile tile_indices[i] of sequence
  // request_indices[i] when tile_valid[i]; sequence s's tiles are items
  // [tile_indptr[s], tile_indptr[s + 1]). Unsplit when partial_out is null (one item per
  // sequence, tile_valid may be null).
  const int32_t* request_indices = nullptr;
  const int32_t* tile_indices = nullptr;
  const int32_t* tile_indptr = nullptr;
  const int32_t* chunk_tokens = nullptr;  // [1]
  const bool* tile_valid = nullptr;
  void* partial_out = nullptr;   // [padded_tiles, num_q_heads, head_dim] of kOut
  float* partial_lse = nullptr;  // [padded_tiles, num_q_heads]
  int padded_tiles = 0;
  int num_seqs = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int block_size = 0;
  float scale = 1.f;
};

// One instantiation per served (cache dtype, output dtype, head size): bf16 and fp16 caches with
// float32 outputs, a bf16 cache with bf16 outputs (the rows of a mixed step, whose attention
// output feeds the bf16 o_proj as it is), head sizes 64 and 128. kUnsupported for a GQA group
// FlashInfer has no kernel for (1, 2, 3, 4, 6, 8 and 16 it has).
template <DType kKv, DType kOut, int kHeadDim>
Status FlashInferDecodeRun(const FlashInferDecodeRunParams& p, Stream stream);

}  // namespace tg::kernels::detail
