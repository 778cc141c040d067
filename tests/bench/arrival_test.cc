#include "bench/arrival.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"

namespace tg::bench {
namespace {

struct GapStats {
  double mean = 0;
  double cv = 0;  // coefficient of variation
};

GapStats Gaps(const std::vector<double>& offsets) {
  std::vector<double> gaps;
  for (size_t i = 1; i < offsets.size(); ++i) gaps.push_back(offsets[i] - offsets[i - 1]);
  double sum = 0;
  for (double g : gaps) sum += g;
  GapStats s;
  s.mean = sum / gaps.size();
  double squares = 0;
  for (double g : gaps) squares += (g - s.mean) * (g - s.mean);
  s.cv = std::sqrt(squares / gaps.size()) / s.mean;
  return s;
}

TEST(ArrivalTest, AllAtOnce) {
  for (double rate : {0.0, std::numeric_limits<double>::infinity()}) {
    const auto offsets = ArrivalOffsets(5, {.request_rate = rate});
    ASSERT_EQ(offsets.size(), 5u);
    for (double o : offsets) EXPECT_EQ(o, 0.0);
  }
}

TEST(ArrivalTest, PoissonHasExponentialGaps) {
  const auto offsets = ArrivalOffsets(200001, {.request_rate = 4.0, .burstiness = 1.0, .seed = 7});
  EXPECT_EQ(offsets.front(), 0.0);
  for (size_t i = 1; i < offsets.size(); ++i) ASSERT_GE(offsets[i], offsets[i - 1]);
  const GapStats s = Gaps(offsets);
  // 200k samples: the standard error of the mean is 0.25/sqrt(2e5) ~ 0.00056.
  EXPECT_NEAR(s.mean, 0.25, 0.003);
  EXPECT_NEAR(s.cv, 1.0, 0.02);  // exponential: CV = 1
}

TEST(ArrivalTest, GammaKeepsTheMeanAndChangesTheSpread) {
  for (double burstiness : {0.25, 4.0}) {
    const auto offsets =
        ArrivalOffsets(200001, {.request_rate = 10.0, .burstiness = burstiness, .seed = 3});
    const GapStats s = Gaps(offsets);
    EXPECT_NEAR(s.mean, 0.1, 0.003) << burstiness;
    EXPECT_NEAR(s.cv, 1.0 / std::sqrt(burstiness), 0.04) << burstiness;
  }
}

TEST(ArrivalTest, SeededAndValidated) {
  EXPECT_EQ(ArrivalOffsets(10, {.request_rate = 2, .seed = 1}),
            ArrivalOffsets(10, {.request_rate = 2, .seed = 1}));
  EXPECT_NE(ArrivalOffsets(10, {.request_rate = 2, .seed = 1}),
            ArrivalOffsets(10, {.request_rate = 2, .seed = 2}));
  EXPECT_THROW(ArrivalOffsets(3, {.request_rate = 2, .burstiness = 0}), Error);
}

}  // namespace
}  // namespace tg::bench
