// Sizing the serving limits and the KV block pool from the shards, shared by the HTTP router and
// the offline batch runner (text-gen-batch) so both run the engine under the same rules.
#pragma once

#include <cstdint>
#include <optional>

#include "generate.pb.h"

namespace tg::client {
class ShardedClient;
}

namespace tg::engine {

// Token limits as flags give them (absent: derived).
struct LimitFlags {
  std::optional<uint32_t> max_input_tokens;
  std::optional<uint32_t> max_total_tokens;
  std::optional<uint32_t> max_batch_prefill_tokens;
  std::optional<uint64_t> max_batch_total_tokens;
  std::optional<uint32_t> max_batch_size;
  // Chunked prefill makes --max-batch-prefill-tokens a per-step budget (vLLM's
  // max_num_batched_tokens): long prompts neither raise its default nor have to fit in it.
  bool chunked_prefill = true;
};

struct ServingLimits {
  uint32_t max_input_tokens = 0;
  uint32_t max_total_tokens = 0;
  uint32_t max_batch_prefill_tokens = 0;
};

struct KvPool {
  uint32_t block_size = 0;
  uint32_t num_blocks = 0;
};

// Defaults derived from the model's context length (TGI's rules); throws tg::Error
// (kInvalidArgument) when the flags contradict each other.
ServingLimits DeriveLimits(const textgen::v1::InfoResponse& info, const LimitFlags& flags);

// Runs Warmup on every shard and sizes the KV block pool from its answer and the flags; throws
// when the pool cannot hold one request of max_total_tokens.
KvPool WarmUpShards(client::ShardedClient& client, const textgen::v1::InfoResponse& info,
                    const ServingLimits& limits, const LimitFlags& flags);

}  // namespace tg::engine
