// FlashInfer's paged batch decode over our cache, for one cache dtype: included only by
// flashinfer_decode_bf16.cu and flashinfer_decode_f16.cu (one dtype each, so they compile in
// parallel).
//
// Our cache [num_blocks, block_size, num_kv_heads, head_dim] is FlashInfer's NHD paged layout with
// page size block_size, K and V in separate pools of the same strides. The page list of sequence
// s is row s of our block tables, so the flat page index array is the block table itself and the
// sequence's first page sits at s * max_blocks_per_seq (page_indptr). Queries are float32 and
// outputs float32 or bf16 (FlashInfer's DTypeQ/DTypeO are templates; they need no staging), the
// softmax state float32 as always in FlashInfer.
#pragma once

#include <flashinfer/cp_async.cuh>

namespace flashinfer::cp_async {
// FlashInfer's merge of split-KV partial outputs (VariableLengthMergeStates) is instantiated for
// every head size its dispatch lists; with float32 partials, head size 512 needs a 512-bit
// predicated load, which cp_async lacks (only 128 and 256). We never run head size 512, but it
// must compile: four 128-bit loads.
template <>
__device__ __forceinline__ void
pred_load<512, PrefetchMode::kPrefetch, SharedMemFillMode::kNoFill, float>(float* smem_ptr,
                                                                           const float* gmem_ptr,
                                                                           bool predicate) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    pred_load_128b<PrefetchMode::kPrefetch, SharedMemFillMode::kNoFill>(
        smem_ptr + 4 * i, gmem_ptr + 4 * i, predicate);
  }
}
}  // namespace flashinfer::cp_async

#include <flashinfer/attention/decode.cuh>
#include <flashinfer/attention/default_decode_params.cuh>
#include <flashinfer/attention/variants.cuh>

#include <exception>

#include "kernels/flashinfer_decode.h"

namespace tg::kernels::detail {

// FlashInfer's GQA group sizes (DISPATCH_GQA_GROUP_SIZE): anything else would throw there.
inline bool FlashInferHasGroup(int group) {
  return group == 1 || group == 2 || group == 3 || group == 4 || group == 6 || group == 8 ||
         group == 16;
}

template <DType kDType>
struct FlashInferType;
template <>
struct FlashInferType<DType::kFloat32> {
  using type = float;
};
template <>
struct FlashInferType<DType::kBFloat16> {
  using type = __nv_bfloat16;
};
template <>
struct FlashInferType<DType::kFloat16> {
  using type = __half;
};

template <DType kKv, DType kOut, int kHeadDim>
Status FlashInferDecodeRun(const FlashInferDecodeRunParams& p, Stream stream) {
  using KvT = typename FlashInferType<kKv>::type;
  using OutT = typename FlashInferType<kOut>::type;
  if (p.num_kv_heads <= 0 || p.num_q_heads % p.num_kv_heads != 0 ||
      !FlashInferHasGroup(p.num_q_heads / p.num_kv_heads)) {
    return Status::kUnsupported;
  }
  using Params = flashinfer::BatchDecodeParams<float, KvT, OutT, int32_t>;
  using Variant = flashinfer::DefaultAttention</*use_custom_mask=*/false,
                                               /*use_sliding_window=*/false,
                                               /*use_logits_soft_cap=*/false, /*use_alibi=*/false>;
  auto mut = [](const int32_t* ptr) { return const_cast<int32_t*>(ptr); };
  const int64_t row = static_cast<int64_t>(p.num_kv_heads) * kHeadDim;
  const int64_t strides[3] = {row * p.block_size, row, kHeadDim};  // page, token, head
  flashinfer::paged_kv_t<KvT, int32_t> paged_kv(
      p.num_kv_heads, p.block_size, kHeadDim, p.num_seqs, flashinfer::QKVLayout::kNHD,
      static_cast<KvT*>(const_cast<void*>(p.k_cache)),
      static_cast<KvT*>(const_cast<void*>(p.v_cache)), strides, mut(p.page_indices),
      mut(p.page_indptr), mut(p.last_page_len));
  Params params(const_cast<float*>(p.q), /*q_rope_offset=*/nullptr, paged_kv,
                static_cast<OutT*>(p.out),
                /*lse=*/nullptr, /*maybe_alibi_slopes=*/nullptr, p.num_q_heads, p.q_stride,
                kHeadDim, /*window_left=*/-1, /*logits_soft_cap=*/0.f, p.scale,
                /*rope_scale=*/1.f, /*rope_theta=*/1e4f);
  params.padded_batch_size = p.padded_tiles;
  params.request_indices = mut(p.request_indices);
  params.kv_tile_indices = mut(p.tile_indices);
  params.o_indptr = mut(p.tile_indptr);
  params.kv_chunk_size_ptr = mut(p.chunk_tokens);
  params.block_valid_mask = const_cast<bool*>(p.tile_valid);
  try {
    const cudaError_t status = flashinfer::BatchDecodeWithPagedKVCacheDispatched<
        kHeadDim, flashinfer::PosEncodingMode::kNone, Variant>(
        params, static_cast<OutT*>(p.partial_out), p.partial_lse,
        /*enable_pdl=*/false, stream);
    return status == cudaSuccess ? Status::kOk : Status::kLaunchFailed;
  } catch (const std::exception&) {  // FlashInfer's dispatch errors (checked above)
    return Status::kUnsupported;
  }
}

}  // namespace tg::kernels::detail
