// The router run on its own derives the same default limits as the launcher (one definition,
// common/serving_limits.h), from the context length the shards report.
#include <gtest/gtest.h>

#include "common/error.h"
#include "router/engine/shard_warmup.h"

namespace tg::engine {
namespace {

textgen::v1::InfoResponse Info(uint32_t max_position_embeddings) {
  textgen::v1::InfoResponse info;
  info.set_max_position_embeddings(max_position_embeddings);
  return info;
}

TEST(DeriveLimits, DefaultsFollowTheModelContext) {
  const ServingLimits small = DeriveLimits(Info(512), {});
  EXPECT_EQ(small.max_total_tokens, 512u);
  EXPECT_EQ(small.max_input_tokens, 511u);
  EXPECT_EQ(small.max_batch_prefill_tokens, 4096u);  // max(511 + 50, 4096), as the launcher
  const ServingLimits large = DeriveLimits(Info(131072), {});
  EXPECT_EQ(large.max_total_tokens, 4096u);
  EXPECT_EQ(large.max_input_tokens, 4095u);
  EXPECT_EQ(large.max_batch_prefill_tokens, 4145u);
  const ServingLimits batched = DeriveLimits(Info(0), {.max_batch_size = 2});
  EXPECT_EQ(batched.max_total_tokens, 4096u);
  EXPECT_EQ(batched.max_batch_prefill_tokens, 8190u);
}

TEST(DeriveLimits, FlagsWinAndContradictionsThrow) {
  const ServingLimits given = DeriveLimits(
      Info(512),
      {.max_input_tokens = 100, .max_total_tokens = 200, .max_batch_prefill_tokens = 64});
  EXPECT_EQ(given.max_input_tokens, 100u);
  EXPECT_EQ(given.max_total_tokens, 200u);
  EXPECT_EQ(given.max_batch_prefill_tokens, 64u);
  EXPECT_THROW(DeriveLimits(Info(512), {.max_input_tokens = 200, .max_total_tokens = 200}), Error);
  EXPECT_THROW(DeriveLimits(Info(512), {.max_batch_prefill_tokens = 64, .chunked_prefill = false}),
               Error);
}

}  // namespace
}  // namespace tg::engine
