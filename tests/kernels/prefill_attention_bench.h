// Prefill attention benchmark of cuda_bench: our tensor-core kernel against FlashInfer's Hopper
// kernel (kernels/prefill_hopper.h) on the same batches, through kernels::PrefillAttention with
// float32 queries (their bf16 staging timed), bf16 outputs and a bf16 paged cache, as the CUDA
// backend calls it in a prompt step (Backend::AttentionOutDType).
#pragma once

#include <string>
#include <vector>

namespace tg::bench {

struct PrefillAttentionCase {
  std::string name;
  std::vector<int> cached;  // tokens already in the cache, per sequence
  std::vector<int> fresh;   // new tokens, per sequence
};

struct PrefillAttentionResult {
  std::string name;
  double flops = 0;          // 4 * heads * head_dim * (keys seen, summed over queries)
  double ours_ms = 0;        // our tensor-core kernel
  double flashinfer_ms = 0;  // 0 when FlashInfer is not built in or the device is not sm_90
  std::string Json() const;  // one line
};

// The cases of issue 18 in the Llama-3-8B attention shape (32 query heads, 8 KV heads, 128):
// causal 4k, a 2k chunk over 6k cached tokens, and 1 x 4k + 32 x 128 packed together.
std::vector<PrefillAttentionCase> DefaultPrefillAttentionCases();

std::vector<PrefillAttentionResult> RunPrefillAttentionBench(
    const std::vector<PrefillAttentionCase>& cases, int num_q_heads, int num_kv_heads,
    int head_dim);

}  // namespace tg::bench
