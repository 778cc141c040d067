#include <gtest/gtest.h>

#include "bench/workload.h"

namespace tg::bench {
namespace {

TEST(ShareGptLengthsTest, FollowsTheDocumentedDistribution) {
  ShareGptLengths lengths(42);
  const int n = 100000;
  double input_sum = 0, output_sum = 0;
  for (int i = 0; i < n; ++i) {
    const auto [prompt, output] = lengths.Sample();
    ASSERT_GE(prompt, 4u);
    ASSERT_GE(output, 4u);
    ASSERT_LE(prompt, 1024u);
    ASSERT_LE(prompt + output, 2048u);
    input_sum += prompt;
    output_sum += output;
  }
  // The vLLM filter trims the far tails, so the means land a little under the paper's
  // (161.31 / 337.99): within 8%.
  EXPECT_NEAR(input_sum / n, ShareGptLengths::kMeanInput, 0.08 * ShareGptLengths::kMeanInput);
  EXPECT_NEAR(output_sum / n, ShareGptLengths::kMeanOutput, 0.08 * ShareGptLengths::kMeanOutput);
  EXPECT_LT(output_sum / n, ShareGptLengths::kMeanOutput);
}

}  // namespace
}  // namespace tg::bench
