#include "router/engine/shard_warmup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "common/error.h"
#include "common/serving_limits.h"
#include "common/startup_markers.h"
#include "router/client/sharded_client.h"

namespace tg::engine {

ServingLimits DeriveLimits(const textgen::v1::InfoResponse& info, const LimitFlags& flags) {
  ServingLimits limits;
  limits.max_total_tokens = flags.max_total_tokens.value_or(
      tg::limits::DefaultMaxTotalTokens(info.max_position_embeddings()));
  limits.max_input_tokens =
      flags.max_input_tokens.value_or(tg::limits::DefaultMaxInputTokens(limits.max_total_tokens));
  limits.max_batch_prefill_tokens =
      flags.max_batch_prefill_tokens.value_or(tg::limits::DefaultMaxBatchPrefillTokens(
          limits.max_input_tokens, flags.max_batch_size, flags.chunked_prefill));
  TG_CHECK(limits.max_input_tokens < limits.max_total_tokens, kInvalidArgument,
           "--max-input-tokens must be < --max-total-tokens");
  TG_CHECK(flags.chunked_prefill || limits.max_batch_prefill_tokens >= limits.max_input_tokens,
           kInvalidArgument,
           "--max-batch-prefill-tokens must be >= --max-input-tokens without --chunked-prefill");
  return limits;
}

KvPool WarmUpShards(client::ShardedClient& client, const textgen::v1::InfoResponse& info,
                    const ServingLimits& limits, const LimitFlags& flags) {
  textgen::v1::WarmupRequest warmup;
  warmup.set_max_input_tokens(limits.max_input_tokens);
  warmup.set_max_batch_prefill_tokens(limits.max_batch_prefill_tokens);
  warmup.set_max_total_tokens(limits.max_total_tokens);
  warmup.set_max_batch_size(flags.max_batch_size.value_or(0));
  warmup.set_max_batch_total_tokens(flags.max_batch_total_tokens.value_or(0));
  spdlog::info("{}", kWarmupStartMarker);
  const auto warm = client.Warmup(warmup);
  KvPool pool;
  pool.block_size = warm.block_size() > 0 ? warm.block_size() : info.block_size();
  TG_CHECK(pool.block_size > 0, kInternal, "the shards report no KV block size");
  uint64_t capacity = warm.max_supported_total_tokens();
  if (flags.max_batch_total_tokens) capacity = std::min(capacity, *flags.max_batch_total_tokens);
  pool.num_blocks = static_cast<uint32_t>(capacity / pool.block_size);
  if (warm.num_blocks() > 0) pool.num_blocks = std::min(pool.num_blocks, warm.num_blocks());
  const uint64_t tokens = uint64_t{pool.num_blocks} * pool.block_size;
  TG_CHECK(tokens >= limits.max_total_tokens, kInvalidArgument,
           "the KV cache holds " + std::to_string(tokens) +
               " tokens, fewer than --max-total-tokens " + std::to_string(limits.max_total_tokens));
  spdlog::info(
      "{}{} blocks of {} tokens; max_input_tokens={} max_total_tokens={} "
      "max_batch_prefill_tokens={}",
      kWarmupDoneMarker, pool.num_blocks, pool.block_size, limits.max_input_tokens,
      limits.max_total_tokens, limits.max_batch_prefill_tokens);
  return pool;
}

}  // namespace tg::engine
