// The default serving limits that the launcher and the router both derive
// (common/serving_limits.h).
#include "common/serving_limits.h"

#include <gtest/gtest.h>

namespace tg::limits {
namespace {

TEST(ServingLimits, TotalIsTheModelContextCappedAt4096) {
  EXPECT_EQ(DefaultMaxTotalTokens(512), 512u);
  EXPECT_EQ(DefaultMaxTotalTokens(4096), 4096u);
  EXPECT_EQ(DefaultMaxTotalTokens(131072), 4096u);
  EXPECT_EQ(DefaultMaxTotalTokens(0), 4096u) << "unknown context";
  EXPECT_EQ(DefaultMaxInputTokens(512), 511u);
}

TEST(ServingLimits, PrefillBudgetFollowsTgiAndCapsChunkedSteps) {
  // max(input + 50, 4096).
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(511, std::nullopt, false), 4096u);
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(8191, std::nullopt, false), 8241u);
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(31999, std::nullopt, false), 32049u);
  // Chunked prefill: a per-step budget of at most 8192.
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(31999, std::nullopt, true), 8192u);
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(511, std::nullopt, true), 4096u);
  // --max-batch-size whole prompts.
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(511, 4, false), 2044u);
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(4095, 4, false), 16380u);
  EXPECT_EQ(DefaultMaxBatchPrefillTokens(4095, 4, true), 8192u);
}

}  // namespace
}  // namespace tg::limits
