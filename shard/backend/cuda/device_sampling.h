// Logits processing and sampling on the device, one block per row, mirroring the CPU reference
// pipeline of shard/backend/sampling.h step for step (logit bias, penalties, greedy argmax,
// temperature, top-k, top-p, typical-p, min-p, Philox draw in token-id order, log-softmax logprob,
// top-n). Sorted-prefix filters are computed as thresholds found by bisection over the float
// ordering, which equals the reference's sort wherever no two kept values tie.
#pragma once

#include "kernels/common.h"

// Lives beside the backend, not in kernels/, because it runs the shard's own Philox
// (shard/backend/philox.h) on the device.
namespace tg::backend::cuda {

using kernels::Status;
using kernels::Stream;

constexpr int kMaxTopN = 16;

// Per-row parameters, in device memory.
struct SampleRowParams {
  float temperature = 1.f;
  float top_p = 1.f;
  float typical_p = 1.f;
  float min_p = 0.f;
  float repetition_penalty = 1.f;
  float frequency_penalty = 0.f;
  float presence_penalty = 0.f;
  uint32_t top_k = 0;
  int32_t sampling = 0;  // 0: greedy argmax
  int32_t top_n = 0;     // <= kMaxTopN
  uint64_t seed = 0;
  uint64_t step = 0;
  int32_t history_offset = 0;  // into SampleParams::history
  int32_t history_len = 0;
  int32_t bias_offset = 0;  // into SampleParams::bias_tokens / bias_values
  int32_t bias_len = 0;     // distinct tokens
};

struct SampleParams {
  const float* logits = nullptr;                // [rows, vocab]
  const SampleRowParams* row_params = nullptr;  // [rows]
  const int32_t* history = nullptr;             // concatenated token histories
  const int32_t* bias_tokens = nullptr;         // concatenated logit bias entries
  const float* bias_values = nullptr;
  int rows = 0;
  int vocab = 0;
  void* scratch = nullptr;        // SampleScratchBytes; its counts region must start zeroed once
  size_t scratch_bytes = 0;       // (SampleScratchZeroedBytes at its start) and is left zeroed
  int32_t* out_tokens = nullptr;  // [rows]
  float* out_logprobs = nullptr;  // [rows]
  int32_t* out_top_tokens = nullptr;  // [rows, kMaxTopN]
  float* out_top_logprobs = nullptr;  // [rows, kMaxTopN]
};

size_t SampleScratchBytes(int rows, int vocab);
// The leading part of the scratch that must be zero before the first call (per-token counts).
size_t SampleScratchZeroedBytes(int rows, int vocab);
Status Sample(const SampleParams& p, Stream stream);

// out[r] = log_softmax(logits[r, :])[targets[r]] (raw logits, prompt logprobs).
struct TokenLogprobParams {
  const float* logits = nullptr;  // [rows, vocab]
  const int32_t* targets = nullptr;
  float* out = nullptr;
  int rows = 0;
  int vocab = 0;
};
Status TokenLogprobs(const TokenLogprobParams& p, Stream stream);

}  // namespace tg::backend::cuda
