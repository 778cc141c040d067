// FlashInfer's Hopper batch prefill over our paged cache, for one head size: included only by
// flashinfer_prefill_hd*.cu (one instantiation each, so they compile in parallel).
//
// Our cache [num_blocks, block_size, num_kv_heads, head_dim] is FlashInfer's NHD paged layout with
// page size block_size; a sequence's block table row is its page list, so the flat page index
// array is the block table itself and sequence s starts at s * max_blocks_per_seq (the plan's KV
// offsets). Causal with the queries right-aligned to the KV (query i of a sequence with q_len
// queries and seq_len keys sits at seq_len - q_len + i), which is our cache_len convention.
#pragma once

#include <flashinfer/attention/hopper/default_params.cuh>
#include <flashinfer/attention/hopper/prefill_sm90.cuh>
#include <flashinfer/attention/hopper/variants.cuh>
#include <flashinfer/attention/mask.cuh>

#include "kernels/flashinfer_prefill.h"

namespace tg::kernels::detail {

template <int kHeadDim>
Status FlashInferRun(const FlashInferRunParams& p, Stream stream) {
  using bf16 = cutlass::bfloat16_t;
  using Params = flashinfer::BatchPrefillPagedParams<bf16, bf16, bf16, int32_t>;
  const int64_t* f = p.schedule.fields;
  auto at = [&](int field) {
    return reinterpret_cast<int32_t*>(static_cast<char*>(p.workspace) + f[field]);
  };
  Params params{};
  params.q_ptr = static_cast<bf16*>(const_cast<void*>(p.q));
  params.k_ptr = static_cast<bf16*>(const_cast<void*>(p.k_cache));
  params.v_ptr = static_cast<bf16*>(const_cast<void*>(p.v_cache));
  params.o_ptr = static_cast<bf16*>(p.out);
  params.lse_ptr = nullptr;
  // The order of PrefillPlanSM90Info::ToVector().
  params.qo_tile_indices = at(0);
  params.qo_indptr = at(1);
  params.kv_indptr = at(2);
  params.qo_lens = at(3);
  params.kv_lens = at(4);
  params.head_indices = at(5);
  params.work_indptr = at(6);
  params.batch_indices = at(7);
  params.kv_indices = const_cast<int32_t*>(p.block_tables);
  params.additional_params.logits_soft_cap = 0.f;
  params.additional_params.sm_scale = p.scale;
  params.q_stride_n = static_cast<int64_t>(p.num_q_heads) * kHeadDim;
  params.o_stride_n = p.out_stride;
  params.q_stride_h = params.o_stride_h = kHeadDim;
  params.k_stride_n = params.v_stride_n = static_cast<int64_t>(p.num_kv_heads) * kHeadDim;
  params.k_stride_h = params.v_stride_h = kHeadDim;
  params.k_page_stride = params.v_page_stride = params.k_stride_n * p.block_size;
  params.nnz_qo = p.num_tokens;
  params.num_qo_heads = p.num_q_heads;
  params.num_kv_heads = p.num_kv_heads;
  params.group_size = p.num_q_heads / p.num_kv_heads;
  params.page_size = p.block_size;
  params.window_left = -1;
  params.causal = true;
  const cudaError_t status = flashinfer::BatchPrefillWithPagedKVCacheDispatched<
      kHeadDim, kHeadDim, flashinfer::MaskMode::kCausal, /*LEFT_SLIDING_WINDOW=*/false,
      /*SAME_SCHEDULE_FOR_ALL_HEADS=*/false, flashinfer::StandardAttention, Params>(
      params, /*enable_pdl=*/false, stream);
  return status == cudaSuccess ? Status::kOk : Status::kLaunchFailed;
}

}  // namespace tg::kernels::detail
