// The default serving limits, defined once for the launcher (text-gen-launcher, which derives
// them for the router it starts) and the router run on its own (text-gen-router, text-gen-batch):
// the request-policy defaults of TGI's flags and the rules that derive the token limits from the
// model's context length when a flag is absent.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace tg::limits {

// Request policy (TGI's defaults).
inline constexpr uint32_t kMaxConcurrentRequests = 128;
inline constexpr uint32_t kMaxBestOf = 2;
inline constexpr uint32_t kMaxStopSequences = 4;
inline constexpr uint32_t kMaxTopNTokens = 5;
inline constexpr uint64_t kPayloadLimitBytes = 2'000'000;
// Accepted for TGI compatibility; every engine step admits prompt chunks regardless.
inline constexpr double kWaitingServedRatio = 1.2;
inline constexpr uint32_t kMaxWaitingTokens = 20;

// TGI's default context when the model allows more (or does not say): long contexts cost KV
// memory per request.
inline constexpr uint32_t kDefaultMaxTotalTokens = 4096;
// TGI's margin between the longest prompt and the prefill budget, for block alignment.
inline constexpr uint32_t kPrefillMargin = 50;
// With chunked prefill the budget is per engine step: long prompts no longer need it, and a
// step much above this stalls the running decodes (vLLM V1 serves with 8192 on large GPUs).
inline constexpr uint32_t kMaxDefaultStepTokens = 8192;

// --max-total-tokens when absent: min(max_position_embeddings, 4096); 4096 when unknown (0).
constexpr uint32_t DefaultMaxTotalTokens(uint32_t max_position_embeddings) {
  return max_position_embeddings > 0 ? std::min(max_position_embeddings, kDefaultMaxTotalTokens)
                                     : kDefaultMaxTotalTokens;
}

// --max-input-tokens when absent: one less than the total, leaving room for one new token.
constexpr uint32_t DefaultMaxInputTokens(uint32_t max_total_tokens) { return max_total_tokens - 1; }

// --max-batch-prefill-tokens when absent: --max-batch-size whole prompts when that is given,
// else max(max_input + 50, 4096); with chunked prefill at most 8192 (a per-step budget).
constexpr uint32_t DefaultMaxBatchPrefillTokens(uint32_t max_input_tokens,
                                                std::optional<uint32_t> max_batch_size,
                                                bool chunked_prefill) {
  const uint32_t budget = max_batch_size
                              ? *max_batch_size * max_input_tokens
                              : std::max(max_input_tokens + kPrefillMargin, kDefaultMaxTotalTokens);
  return chunked_prefill ? std::min(budget, kMaxDefaultStepTokens) : budget;
}

}  // namespace tg::limits
