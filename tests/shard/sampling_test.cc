// The sampling reference: Philox known answers, frequencies over many draws against the filtered
// distribution, filtered tokens never drawn, penalties, logprobs of the processed logits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "common/error.h"
#include "shard/backend/logit_reductions.h"
#include "shard/backend/philox.h"
#include "shard/backend/sampling.h"

namespace tg::backend {
namespace {

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PhiloxTest, UniformIsInRangeAndKeyedBySeedAndStep) {
  double sum = 0;
  for (uint64_t step = 0; step < 100000; ++step) {
    const float u = PhiloxUniform(7, step);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);  // 5.5 standard deviations
  EXPECT_EQ(PhiloxUniform(7, 3), PhiloxUniform(7, 3));
  EXPECT_NE(PhiloxUniform(7, 3), PhiloxUniform(8, 3));
  EXPECT_NE(PhiloxUniform(7, 3), PhiloxUniform(7, 4));
}

const std::vector<float> kLogits = {2.0f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 1.5f, -3.0f};

std::vector<double> Softmax(const std::vector<float>& logits, double temperature = 1.0) {
  std::vector<double> p;
  double sum = 0;
  for (float x : logits) sum += std::exp(x / temperature);
  for (float x : logits) p.push_back(std::exp(x / temperature) / sum);
  return p;
}

// Restricts p to `kept` and renormalises.
std::vector<double> Restrict(std::vector<double> p, const std::vector<int>& kept) {
  std::vector<double> out(p.size(), 0.0);
  double sum = 0;
  for (int t : kept) sum += p[t];
  for (int t : kept) out[t] = p[t] / sum;
  return out;
}

// Draws `n` tokens (seed fixed, step varying) and checks each frequency against `expected`
// within 5 standard deviations; tokens with expected probability 0 must never appear.
void ExpectFrequencies(const SamplingParams& params, const std::vector<double>& expected,
                       int n = 40000) {
  std::vector<int> counts(kLogits.size(), 0);
  for (int i = 0; i < n; ++i) {
    SampleRequest request{.params = params, .step = static_cast<uint64_t>(i)};
    ++counts[SampleRow(kLogits, request).token];
  }
  for (size_t t = 0; t < expected.size(); ++t) {
    if (expected[t] == 0.0) {
      EXPECT_EQ(counts[t], 0) << "filtered token " << t << " was drawn";
      continue;
    }
    const double sigma = std::sqrt(n * expected[t] * (1 - expected[t]));
    EXPECT_NEAR(counts[t], n * expected[t], 5 * sigma + 1) << "token " << t;
  }
}

SamplingParams Sampled(uint64_t seed = 42) {
  SamplingParams params;
  params.do_sample = true;
  params.seed = seed;
  return params;
}

TEST(SamplingTest, PlainSamplingFollowsSoftmax) { ExpectFrequencies(Sampled(), Softmax(kLogits)); }

TEST(SamplingTest, TemperatureSharpens) {
  SamplingParams params = Sampled();
  params.temperature = 0.5f;
  ExpectFrequencies(params, Softmax(kLogits, 0.5));
}

TEST(SamplingTest, TopKKeepsTheKBest) {
  SamplingParams params = Sampled();
  params.top_k = 3;  // logits 2.0 (0), 1.5 (6), 1.0 (1)
  ExpectFrequencies(params, Restrict(Softmax(kLogits), {0, 6, 1}));
}

TEST(SamplingTest, TopPKeepsTheSmallestNucleus) {
  const std::vector<double> p = Softmax(kLogits);
  // Sorted: 0 (.35), 6 (.21), 1 (.13), 2 (.08) ... ; cumulative reaches 0.7 at token 1.
  ASSERT_LT(p[0] + p[6], 0.7);
  ASSERT_GE(p[0] + p[6] + p[1], 0.7);
  SamplingParams params = Sampled();
  params.top_p = 0.7f;
  ExpectFrequencies(params, Restrict(p, {0, 6, 1}));
}

TEST(SamplingTest, MinPDropsUnlikelyTokens) {
  const std::vector<double> p = Softmax(kLogits);
  SamplingParams params = Sampled();
  params.min_p = 0.2f;
  std::vector<int> kept;
  for (int t = 0; t < static_cast<int>(p.size()); ++t) {
    if (p[t] >= 0.2 * p[0]) kept.push_back(t);
  }
  ASSERT_LT(kept.size(), p.size());
  ExpectFrequencies(params, Restrict(p, kept));
}

TEST(SamplingTest, TypicalPKeepsTokensNearTheEntropy) {
  const std::vector<double> p = Softmax(kLogits);
  double entropy = 0;
  for (double x : p) entropy -= x * std::log(x);
  std::vector<int> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::abs(-std::log(p[a]) - entropy) < std::abs(-std::log(p[b]) - entropy);
  });
  std::vector<int> kept;
  double mass = 0;
  for (int t : order) {
    kept.push_back(t);
    mass += p[t];
    if (mass >= 0.5) break;
  }
  SamplingParams params = Sampled();
  params.typical_p = 0.5f;
  ExpectFrequencies(params, Restrict(p, kept));
}

// Whatever the seed, a token outside top-k / top-p / min-p never comes out.
TEST(SamplingTest, FilteredTokensAreNeverDrawn) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 4;
  SamplingParams params = Sampled();
  params.top_k = 20;
  params.top_p = 0.8f;
  params.min_p = 0.05f;
  params.temperature = 1.7f;
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  const std::set<int> top20(order.begin(), order.begin() + 20);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    params.seed = seed;
    for (uint64_t step = 0; step < 40; ++step) {
      const SampleResult r = SampleRow(logits, {.params = params, .step = step});
      ASSERT_TRUE(top20.contains(r.token)) << r.token;
    }
  }
}

TEST(SamplingTest, GreedyPicksTheArgmaxAndReportsItsLogprob) {
  const SampleResult r = SampleRow(kLogits, {.top_n = 3});
  EXPECT_EQ(r.token, 0);
  const std::vector<double> p = Softmax(kLogits);
  EXPECT_NEAR(r.logprob, std::log(p[0]), 1e-5);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_EQ(r.top[0].first, 0);
  EXPECT_EQ(r.top[1].first, 6);
  EXPECT_EQ(r.top[2].first, 1);
  EXPECT_NEAR(r.top[1].second, std::log(p[6]), 1e-5);
  // The router decides whether a request samples: without do_sample the warpers change nothing.
  SamplingParams warped;
  warped.temperature = 3.0f;
  warped.top_k = 4;
  warped.top_p = 0.5f;
  warped.seed = 11;
  for (uint64_t step = 0; step < 20; ++step) {
    EXPECT_EQ(SampleRow(kLogits, {.params = warped, .step = step}).token, 0);
  }
  // Sampling at temperature 0 is a contract violation, not a silent greedy pick.
  SamplingParams cold = Sampled();
  cold.temperature = 0.0f;
  EXPECT_THROW(SampleRow(kLogits, {.params = cold, .step = 5}), Error);
}

TEST(SamplingTest, LogprobIsOfTheProcessedDistribution) {
  SamplingParams params = Sampled();
  params.top_k = 2;
  const SampleResult r = SampleRow(kLogits, {.params = params, .step = 1, .top_n = 3});
  const std::vector<double> p = Restrict(Softmax(kLogits), {0, 6});
  EXPECT_NEAR(r.logprob, std::log(p[r.token]), 1e-5);
  EXPECT_TRUE(std::isinf(r.top[2].second));  // the third token was filtered out
}

TEST(SamplingTest, PenaltiesFollowTheDocumentedFormulas) {
  const std::vector<int32_t> history = {0, 0, 5};
  SamplingParams params;
  params.repetition_penalty = 4.0f;  // token 0: 2.0 / 4 = 0.5; token 5: -1.0 * 4 = -4
  SampleResult r = SampleRow(kLogits, {.params = params, .history = history, .top_n = 8});
  EXPECT_EQ(r.token, 6);
  std::vector<float> expected = kLogits;
  expected[0] = 0.5f;
  expected[5] = -4.0f;
  std::map<int, float> top(r.top.begin(), r.top.end());
  const std::vector<double> p = Softmax(expected);
  for (int t = 0; t < 8; ++t) EXPECT_NEAR(top[t], std::log(p[t]), 1e-5) << t;

  SamplingParams frequency;
  frequency.frequency_penalty = 0.3f;  // token 0 seen twice: 2.0 - 0.6 = 1.4 < 1.5
  EXPECT_EQ(SampleRow(kLogits, {.params = frequency, .history = history}).token, 6);
  SamplingParams presence;
  presence.presence_penalty = 0.3f;  // once per seen token: 2.0 - 0.3 = 1.7 > 1.5
  EXPECT_EQ(SampleRow(kLogits, {.params = presence, .history = history}).token, 0);
}

TEST(SamplingTest, LogitBiasIsAddedBeforeEveryOtherStep) {
  // +1.0 on token 3 (0.0 -> 1.0) and a ban on token 0: greedy picks 6 (1.5), logprobs are of the
  // biased row, and the banned token has probability zero.
  const std::vector<LogitBias> bias = {{3, 1.0f}, {0, -std::numeric_limits<float>::infinity()}};
  const SampleResult r = SampleRow(kLogits, {.top_n = 3, .logit_bias = bias});
  EXPECT_EQ(r.token, 6);
  std::vector<float> expected = kLogits;
  expected[3] = 1.0f;
  expected[0] = -std::numeric_limits<float>::infinity();
  const std::vector<double> p = Softmax(expected);
  EXPECT_NEAR(r.logprob, std::log(p[6]), 1e-5);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_EQ(r.top[1].first, 1);  // 1.0 ties with the biased token 3: lower id first
  EXPECT_EQ(r.top[2].first, 3);
  // A large bias wins a sampled draw too; the repetition penalty sees the biased logit.
  const std::vector<LogitBias> push = {{7, 50.0f}};
  EXPECT_EQ(SampleRow(kLogits, {.params = Sampled(3), .step = 2, .logit_bias = push}).token, 7);
  const std::vector<int32_t> history = {7};
  SamplingParams penalised;
  penalised.repetition_penalty = 100.0f;  // (-3 + 50) / 100 = 0.47 < 2.0
  EXPECT_EQ(SampleRow(kLogits, {.params = penalised, .history = history, .logit_bias = push}).token,
            0);
}

TEST(SamplingTest, SameSeedAndStepGiveTheSameToken) {
  std::vector<float> flat(50, 0.0f);
  std::set<int32_t> seen;
  for (uint64_t step = 0; step < 30; ++step) {
    const int32_t a = SampleRow(flat, {.params = Sampled(9), .step = step}).token;
    EXPECT_EQ(a, SampleRow(flat, {.params = Sampled(9), .step = step}).token);
    seen.insert(a);
  }
  EXPECT_GT(seen.size(), 10u);
}

// A vocabulary-sized row: logits over a wide range (as a model's are), a few filtered (-inf).
std::vector<float> VocabRow(uint32_t seed, size_t size = 49152) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> row(size);
  for (float& x : row) x = normal(rng);
  row[size / 3] = 31.0f;  // one clear winner far above the rest
  for (size_t i = 7; i < size; i += 997) row[i] = -std::numeric_limits<float>::infinity();
  return row;
}

double LogSumExpInDouble(const std::vector<float>& row) {
  const double max = *std::max_element(row.begin(), row.end());
  double sum = 0;
  for (float x : row) sum += std::exp(static_cast<double>(x) - max);
  return max + std::log(sum);
}

TEST(LogitReductionsTest, MatchDoubleAndMaxElementOverAVocabulary) {
  for (uint32_t seed = 0; seed < 4; ++seed) {
    std::vector<float> row = VocabRow(seed);
    if (seed == 1) row.resize(49152 - 37);  // not a whole number of chunks or lanes
    if (seed == 2) row[0] = 1e4f;           // every other exponent underflows to 0
    const double expected = LogSumExpInDouble(row);
    EXPECT_NEAR(LogSumExp(row), expected, 2e-6 * std::max(1.0, std::abs(expected))) << seed;
    EXPECT_EQ(MaxLogit(row), *std::max_element(row.begin(), row.end()));
  }
  // The argmax is std::max_element's: the first of equal maxima, in a lane, across lanes, in
  // the tail after the last whole vector, or the first of a row with nothing above -inf.
  std::vector<float> row = VocabRow(9, 16 * 40 + 7);
  const auto first_max = [](const std::vector<float>& r) {
    return static_cast<int32_t>(std::max_element(r.begin(), r.end()) - r.begin());
  };
  EXPECT_EQ(ArgmaxLogit(row), first_max(row));
  for (size_t a : {size_t{3}, size_t{600}, size_t{645}}) {
    for (size_t b : {size_t{19}, size_t{35}, size_t{646}}) {
      std::vector<float> tied = row;
      tied[a] = tied[b] = 40.0f;
      EXPECT_EQ(ArgmaxLogit(tied), first_max(tied)) << a << " " << b;
    }
  }
  std::vector<float> filtered_row(21, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(ArgmaxLogit(filtered_row), 0);
  filtered_row[18] = -5.0f;
  EXPECT_EQ(ArgmaxLogit(filtered_row), 18);
  // Exponents from 0 down to the underflow limit, element by element against std::exp.
  std::vector<float> ramp;
  for (float x = 0.0f; x > -90.0f; x -= 0.0137f) ramp.push_back(x);
  EXPECT_NEAR(LogSumExp(ramp), LogSumExpInDouble(ramp), 1e-6);
  for (float x : ramp) {
    const std::vector<float> pair = {0.0f, x};
    EXPECT_NEAR(LogSumExp(pair), std::log1p(std::exp(static_cast<double>(x))), 3e-7) << x;
  }
  const std::vector<float> filtered(100, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(LogSumExp(filtered), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(LogSumExp(std::vector<float>{3.5f}), 3.5f);
}

TEST(SamplingTest, VocabularySizedRowsMatchTheDoubleReference) {
  for (uint32_t seed = 0; seed < 3; ++seed) {
    const std::vector<float> row = VocabRow(seed);
    const SampleResult r = SampleRow(row, {.top_n = 5});
    EXPECT_EQ(r.token, std::max_element(row.begin(), row.end()) - row.begin());
    const double log_norm = LogSumExpInDouble(row);
    EXPECT_NEAR(r.logprob, row[r.token] - log_norm, 1e-5);
    ASSERT_EQ(r.top.size(), 5u);
    std::vector<int> order(row.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                      [&](int a, int b) { return row[a] > row[b]; });
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(r.top[i].first, order[i]);
      EXPECT_NEAR(r.top[i].second, row[order[i]] - log_norm, 1e-5);
    }
    EXPECT_NEAR(TokenLogprob(row, 11), row[11] - log_norm, 1e-5);
  }
}

TEST(SamplingTest, WithoutLogprobsTheTokenIsTheSameAndTheLogprobIsNaN) {
  const std::vector<float> row = VocabRow(5);
  std::vector<float> tied = row;
  tied[100] = tied[row.size() / 3];  // a tie with the winner: the lower id wins either way
  SamplingParams penalised;
  penalised.repetition_penalty = 1.3f;
  const std::vector<int32_t> history = {static_cast<int32_t>(row.size() / 3), 4};
  for (const std::vector<float>* logits : {&row, static_cast<const std::vector<float>*>(&tied)}) {
    for (const SampleRequest& request :
         {SampleRequest{}, SampleRequest{.params = Sampled(4), .step = 3},
          SampleRequest{.params = penalised, .history = history}}) {
      SampleRequest quiet = request;
      quiet.logprob = false;
      const SampleResult full = SampleRow(*logits, request);
      const SampleResult bare = SampleRow(*logits, quiet);
      EXPECT_EQ(bare.token, full.token);
      EXPECT_TRUE(std::isnan(bare.logprob));
      EXPECT_FALSE(std::isnan(full.logprob));
      // top_n needs the normaliser, so it brings the logprob back.
      quiet.top_n = 2;
      EXPECT_EQ(SampleRow(*logits, quiet).logprob, full.logprob);
    }
  }
  EXPECT_EQ(SampleRow(tied, {}).token, 100);
}

}  // namespace
}  // namespace tg::backend
