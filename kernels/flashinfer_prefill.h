// The seam to FlashInfer's Hopper (sm_90a) batch prefill: the only declarations the rest of the
// kernels layer sees of it. The definitions are the only files that include FlashInfer
// (flashinfer_plan.cu, flashinfer_prefill_hd*.cu, built when TG_HAVE_FLASHINFER); the public API
// is kernels/prefill_hopper.h. Not a public API.
#pragma once

#include "kernels/common.h"

namespace tg::kernels::detail {

// Where FlashInfer's scheduler put each array of a plan inside the device workspace: its
// PrefillPlanSM90Info as the vector of int64 it converts to and from.
struct FlashInferSchedule {
  static constexpr int kFields = 9;
  int64_t fields[kFields] = {};
};

// Bytes of device (and host staging) memory a plan of this size may take; enough for any batch
// of at most num_tokens new tokens in num_seqs sequences.
size_t FlashInferScheduleBytes(int num_tokens, int num_seqs, int num_q_heads, int num_sms);

// Schedules every (query tile, head) of the batch over the SMs on the host, longest first
// (FlashInfer's PrefillSM90Plan), writes it to host_staging and copies it into `workspace` on
// `stream`. Sequence s reads its pages from block_tables row s, so the KV page offsets are
// s * max_blocks_per_seq. kUnsupported for batches too large for the per-head schedule.
struct FlashInferPlanParams {
  const int32_t* query_starts = nullptr;  // host, [num_seqs + 1]
  const int32_t* seq_lens = nullptr;      // host, [num_seqs]
  int num_seqs = 0;
  int max_blocks_per_seq = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  void* workspace = nullptr;     // device
  void* host_staging = nullptr;  // host, workspace_bytes
  size_t workspace_bytes = 0;
};
Status FlashInferPlan(const FlashInferPlanParams& p, FlashInferSchedule* schedule, Stream stream);

// Causal attention of bf16 queries over the bf16 paged cache into bf16 outputs, one persistent
// block per SM walking its part of the schedule.
struct FlashInferRunParams {
  const void* q = nullptr;  // bf16 [num_tokens, num_q_heads, head_dim]
  void* out = nullptr;      // bf16: token t, head h at out + t * out_stride + h * head_dim
  int out_stride = 0;       // elements, a multiple of 8 (16-byte rows)
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq] (the plan's)
  void* workspace = nullptr;              // holding the schedule
  FlashInferSchedule schedule;
  int num_tokens = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int block_size = 0;
  float scale = 1.f;
};

// One instantiation per served head size (flashinfer_prefill_hd64.cu, _hd128.cu).
template <int kHeadDim>
Status FlashInferRun(const FlashInferRunParams& p, Stream stream);

}  // namespace tg::kernels::detail
