// FlashInfer's Hopper (sm_90a) prefill attention behind our PrefillAttention contract: a
// persistent, warp-specialised kernel (producer warps gather the paged K/V, consumer warpgroups
// run wgmma with the softmax overlapped) over a schedule that FlashInfer's planner balances across
// the SMs on the host, longest work first, so short and long prompts packed together leave no SM
// idle. Plan/run split as in FlashInfer: the plan needs host copies of query_starts and seq_lens,
// and one plan serves every layer of a forward (it is redone only when the batch changes).
//
// Served: a bfloat16 cache, head sizes 64 and 128, any GQA group, any block size. Queries are
// float32 activations (attention.h), rounded to bf16 into the workspace on the way in (as our
// tensor-core kernel does). A bf16 output (out_dtype) is written in place by the kernel; a
// float32 one is staged as bf16 in the workspace and widened on the way out.
#pragma once

#include <memory>

#include "kernels/attention.h"

namespace tg::kernels {

class HopperPrefill {
 public:
  // True when this build includes FlashInfer's kernels (TG_HAVE_FLASHINFER).
  static bool Compiled();
  // Null when not compiled in or when `device` is not sm_90 (the kernels are sm_90a code).
  static std::unique_ptr<HopperPrefill> Create(int device);
  ~HopperPrefill();
  HopperPrefill(const HopperPrefill&) = delete;
  HopperPrefill& operator=(const HopperPrefill&) = delete;

  static bool Supports(DType kv_dtype, int head_dim);

  // Device workspace for a batch of num_tokens new tokens in num_seqs sequences writing outputs
  // of out_dtype: the schedule, the bf16 copy of q and (float32 outputs) of the output.
  size_t WorkspaceBytes(int num_tokens, int num_seqs, int num_q_heads, int head_dim,
                        DType out_dtype) const;

  // PrefillAttention's contract with p.host_query_starts, p.host_seq_lens and p.workspace set
  // (parameters already checked by PrefillAttention). kUnsupported for what it does not serve,
  // so that the caller falls back to our kernels.
  Status Run(const PrefillAttentionParams& p, Stream stream);

 private:
  struct Impl;
  explicit HopperPrefill(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tg::kernels
