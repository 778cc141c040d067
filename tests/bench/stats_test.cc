#include "bench/stats.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace tg::bench {
namespace {

RequestOutcome Outcome(double ttft, double latency, uint32_t tokens, std::vector<double> itl = {}) {
  RequestOutcome o;
  o.success = true;
  o.ttft = ttft;
  o.latency = latency;
  o.output_tokens = tokens;
  o.prompt_len = 10;
  o.itl = std::move(itl);
  return o;
}

TEST(PercentileTest, MatchesNumpyLinearInterpolation) {
  // numpy.percentile([1, 2, 3, 4], q) for q = 0, 50, 90, 99, 100.
  const std::vector<double> values = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(Percentile(values, 0), 1.0);
  EXPECT_DOUBLE_EQ(Percentile(values, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(values, 90), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(values, 99), 3.97);
  EXPECT_DOUBLE_EQ(Percentile(values, 100), 4.0);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7.0);
  // numpy.percentile(range(1, 11), 90) == 9.1; (..., 99) == 9.91
  std::vector<double> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(i);
  EXPECT_NEAR(Percentile(ten, 90), 9.1, 1e-12);
  EXPECT_NEAR(Percentile(ten, 99), 9.91, 1e-12);
}

TEST(PercentileTest, RejectsEmptyAndOutOfRange) {
  EXPECT_THROW(Percentile({}, 50), Error);
  EXPECT_THROW(Percentile({1.0}, 101), Error);
  EXPECT_THROW(Percentile({1.0}, -1), Error);
}

TEST(SummarizeTest, MeanMedianStd) {
  const Summary s = Summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_DOUBLE_EQ(s.std, 2.0);  // population std, numpy's default
  EXPECT_DOUBLE_EQ(s.max, 9.0);
  EXPECT_EQ(s.count, 8u);
  const Summary empty = Summarize({});
  EXPECT_EQ(empty.count, 0u);
  EXPECT_EQ(empty.mean, 0.0);
}

TEST(TpotTest, ExcludesFirstToken) {
  EXPECT_DOUBLE_EQ(*TimePerOutputToken(Outcome(0.5, 1.5, 11)), 0.1);
  EXPECT_FALSE(TimePerOutputToken(Outcome(0.5, 0.5, 1)).has_value());
  EXPECT_FALSE(TimePerOutputToken(Outcome(0.5, 0.5, 0)).has_value());
}

TEST(SloTest, ParsesMillisecondsToSeconds) {
  const Slo slo = ParseSlo("ttft:200,tpot:50 e2el:1000");
  EXPECT_DOUBLE_EQ(*slo.ttft, 0.2);
  EXPECT_DOUBLE_EQ(*slo.tpot, 0.05);
  EXPECT_DOUBLE_EQ(*slo.e2el, 1.0);
  EXPECT_TRUE(ParseSlo("").empty());
  EXPECT_THROW(ParseSlo("ttft"), Error);
  EXPECT_THROW(ParseSlo("itl:5"), Error);
  EXPECT_THROW(ParseSlo("ttft:-5"), Error);
  EXPECT_THROW(ParseSlo("ttft:5ms"), Error);
}

TEST(GoodputTest, CountsRequestsMeetingEverySlo) {
  Slo slo;
  slo.ttft = 0.3;
  slo.tpot = 0.1;
  EXPECT_TRUE(MeetsSlo(Outcome(0.3, 1.2, 10), slo));   // tpot exactly 0.1: met (<=)
  EXPECT_FALSE(MeetsSlo(Outcome(0.31, 0.5, 2), slo));  // ttft missed
  EXPECT_FALSE(MeetsSlo(Outcome(0.1, 2.0, 10), slo));  // tpot 0.211 missed
  EXPECT_TRUE(MeetsSlo(Outcome(0.1, 0.1, 1), slo));    // one token: tpot counts as 0
  RequestOutcome failed = Outcome(0.1, 0.2, 3);
  failed.success = false;
  EXPECT_FALSE(MeetsSlo(failed, slo));
}

TEST(ComputeMetricsTest, AggregatesLikeBenchmarkServing) {
  std::vector<RequestOutcome> outcomes = {
      Outcome(0.1, 1.1, 11, std::vector<double>(10, 0.1)),
      Outcome(0.3, 0.7, 5, {0.1, 0.1, 0.1, 0.1}),
      Outcome(0.2, 0.2, 1),
  };
  RequestOutcome failed;
  failed.prompt_len = 99;
  outcomes.push_back(failed);
  Slo slo;
  slo.ttft = 0.25;
  const BenchMetrics m = ComputeMetrics(outcomes, 2.0, slo);
  EXPECT_EQ(m.completed, 3u);
  EXPECT_EQ(m.failed, 1u);
  EXPECT_EQ(m.total_input, 30u);  // failed requests do not count
  EXPECT_EQ(m.total_output, 17u);
  EXPECT_DOUBLE_EQ(m.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(m.output_throughput, 8.5);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 23.5);
  EXPECT_EQ(m.good_requests, 2u);
  EXPECT_DOUBLE_EQ(m.request_goodput, 1.0);
  EXPECT_EQ(m.tpot.count, 2u);  // the one-token request has no TPOT
  EXPECT_DOUBLE_EQ(m.tpot.mean, 0.1);
  EXPECT_EQ(m.itl.count, 14u);
  EXPECT_NEAR(m.ttft.mean, 0.2, 1e-12);
  EXPECT_DOUBLE_EQ(m.e2el.median, 0.7);
  EXPECT_THROW(ComputeMetrics(outcomes, 0.0, slo), Error);
}

}  // namespace
}  // namespace tg::bench
