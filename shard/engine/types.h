// The engine's view of the shard protocol, free of protobuf: what a new request asks for and what
// one step returns. service/ converts between these and proto/generate.proto.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "shard/backend/sampling.h"
#include "shard/grammar/grammar_spec.h"

namespace tg::shard {

inline constexpr int kBlockSize = 16;

struct RequestSpec {
  uint64_t id = 0;
  std::vector<int32_t> input_ids;
  std::vector<int32_t> generated_ids;  // non-empty when re-prefilled after preemption
  backend::SamplingParams sampling;
  uint32_t max_new_tokens = 0;
  bool ignore_eos = false;
  uint32_t min_new_tokens = 0;          // EOS and stop_token_ids are banned until then
  std::vector<int32_t> stop_token_ids;  // the router stops on them; banned before min_new_tokens
  std::vector<backend::LogitBias> logit_bias;
  bool prefill_logprobs = false;
  uint32_t top_n_tokens = 0;
  bool token_logprobs = true;    // false: generated tokens' logprobs are NaN (nobody reads them)
  std::vector<uint32_t> blocks;  // KV blocks, in order
  std::vector<uint32_t> slots;   // optional: one slot per position (else derived from blocks)
  uint32_t cache_len = 0;        // prompt tokens already in the cache
  grammar::GrammarSpec grammar;  // constrained decoding; kNone for free generation
  // Positions computed now, from cache_len on (0: all the rest). A chunk that ends before the
  // last position only writes K/V: no token, and the engine keeps nothing of it.
  uint32_t chunk_len = 0;
};

// KV blocks appended to a cached request's table.
struct BlockGrant {
  uint64_t request_id = 0;
  std::vector<uint32_t> blocks;
};

enum class FinishReason { kNone, kLength, kEosToken };

struct TokenInfo {
  int32_t id = 0;
  float logprob = 0.0f;
  bool is_special = false;
};

struct GenerationOut {
  uint64_t request_id = 0;
  std::optional<std::vector<TokenInfo>> prefill_tokens;  // when prefill_logprobs was asked
  // ... and top_n_tokens: alternatives per prompt position (the first is empty).
  std::vector<std::vector<TokenInfo>> prefill_top_tokens;
  TokenInfo token;
  std::vector<TokenInfo> top_tokens;  // top_n_tokens alternatives
  FinishReason finish = FinishReason::kNone;
  uint32_t generated_tokens = 0;
  std::optional<uint64_t> seed;  // set for sampled requests
};

struct CachedBatchInfo {
  uint64_t id = 0;
  std::vector<uint64_t> request_ids;
  uint32_t max_tokens = 0;
  uint64_t current_tokens = 0;
};

struct RequestFailure {
  uint64_t request_id = 0;
  std::string message;
  ErrorKind kind = ErrorKind::kInternal;  // crosses to the router, which answers by it
};

struct StepTimings {
  uint64_t forward_ns = 0, decode_ns = 0, total_ns = 0;
};

struct StepOutput {
  std::vector<GenerationOut> generations;
  std::optional<CachedBatchInfo> batch;  // absent when no request is left
  std::vector<RequestFailure> errors;
  StepTimings timings;
};

struct WarmupParams {
  uint32_t max_input_tokens = 0;
  uint32_t max_batch_prefill_tokens = 0;
  uint32_t max_total_tokens = 0;
  uint32_t max_batch_size = 0;
  uint64_t max_batch_total_tokens = 0;  // 0: size the pool from free memory
};

struct WarmupResult {
  uint64_t max_supported_total_tokens = 0;
  uint32_t num_blocks = 0;
  uint32_t block_size = kBlockSize;
  uint32_t max_input_tokens = 0;
  uint32_t max_total_tokens = 0;
  uint64_t weight_bytes = 0;
  uint64_t kv_bytes = 0;
  std::vector<uint32_t> cuda_graph_batch_sizes;  // decode batch sizes replayed as graphs
};

}  // namespace tg::shard
