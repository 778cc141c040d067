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
  // After the filter the means are the paper's (161.31 / 337.99); the standard error of 100k
  // samples is under 0.5%, so 2% is a real check of the calibration.
  EXPECT_NEAR(input_sum / n, ShareGptLengths::kMeanInput, 0.02 * ShareGptLengths::kMeanInput);
  EXPECT_NEAR(output_sum / n, ShareGptLengths::kMeanOutput, 0.02 * ShareGptLengths::kMeanOutput);
}

}  // namespace
}  // namespace tg::bench
