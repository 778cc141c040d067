// Device logits processing and sampling against the CPU reference (shard/backend/sampling.h):
// same tokens for greedy and seeded sampling with every processor, logprobs and top-n alike.
// Logits are continuous random values, so no two kept values tie. Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "shard/backend/cuda/cuda_backend.h"
#include "tests/kernels/op_compare.h"

namespace tg::backend {
namespace {

using testing::RandomVector;
using testing::Upload;

struct Case {
  const char* name;
  SamplingParams params;
  uint32_t top_n;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"greedy", {}, 5});
  SamplingParams pen;
  pen.repetition_penalty = 1.3f;
  pen.frequency_penalty = 0.4f;
  pen.presence_penalty = 0.25f;
  cases.push_back({"greedy+penalties", pen, 3});
  SamplingParams plain;
  plain.do_sample = true;
  plain.seed = 42;
  cases.push_back({"sample", plain, 0});
  SamplingParams temp = plain;
  temp.temperature = 0.7f;
  temp.top_k = 50;
  temp.seed = 7;
  cases.push_back({"top_k+temperature", temp, 2});
  SamplingParams topp = plain;
  topp.top_p = 0.9f;
  topp.seed = 1234567890123ull;
  cases.push_back({"top_p", topp, 0});
  SamplingParams typical = plain;
  typical.typical_p = 0.8f;
  typical.seed = 99;
  cases.push_back({"typical_p", typical, 1});
  SamplingParams minp = plain;
  minp.min_p = 0.05f;
  minp.temperature = 1.5f;
  minp.seed = 5;
  cases.push_back({"min_p", minp, 0});
  SamplingParams all = pen;
  all.do_sample = true;
  all.temperature = 0.8f;
  all.top_k = 200;
  all.top_p = 0.95f;
  all.typical_p = 0.97f;
  all.min_p = 0.01f;
  all.seed = 31337;
  cases.push_back({"everything", all, 4});
  return cases;
}

TEST(CudaSamplingTest, MatchesReferenceRowByRow) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto cpu = MakeCpuBackend({});
  auto gpu = MakeCudaBackend({.device = DeviceKind::kCuda});
  const std::vector<Case> cases = Cases();
  for (int vocab : {1000, 151936}) {
    for (uint64_t step : {0ull, 1ull, 17ull}) {
      const int rows = static_cast<int>(cases.size());
      const auto logits = RandomVector(static_cast<size_t>(rows) * vocab, 100 + step, 2.5f);
      std::vector<int32_t> history;
      for (int i = 0; i < 40; ++i) history.push_back((i * 7919 + 13) % vocab);
      history.push_back(history[3]);  // repeated tokens count twice for the frequency penalty
      std::vector<SampleRequest> requests;
      for (const Case& c : cases) {
        SampleRequest r;
        r.params = c.params;
        r.step = step;
        r.history = history;
        r.top_n = c.top_n;
        requests.push_back(r);
      }
      const auto ref = cpu->Sample(Upload(*cpu, DType::kF32, {rows, vocab}, logits), requests);
      const auto got = gpu->Sample(Upload(*gpu, DType::kF32, {rows, vocab}, logits), requests);
      ASSERT_EQ(got.size(), ref.size());
      for (int r = 0; r < rows; ++r) {
        SCOPED_TRACE(std::string(cases[r].name) + " vocab=" + std::to_string(vocab) +
                     " step=" + std::to_string(step));
        EXPECT_EQ(got[r].token, ref[r].token);
        EXPECT_NEAR(got[r].logprob, ref[r].logprob, 1e-3f);
        ASSERT_EQ(got[r].top.size(), ref[r].top.size());
        for (size_t k = 0; k < ref[r].top.size(); ++k) {
          EXPECT_EQ(got[r].top[k].first, ref[r].top[k].first);
          EXPECT_NEAR(got[r].top[k].second, ref[r].top[k].second, 1e-3f);
        }
      }
    }
  }
}

// logit_bias (including -inf bans, as min_new_tokens uses) matches the CPU sampler row by row,
// greedy and sampled, with rows of different bias lists in one batch.
TEST(CudaSamplingTest, LogitBiasMatchesReference) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto cpu = MakeCpuBackend({});
  auto gpu = MakeCudaBackend({.device = DeviceKind::kCuda});
  const int vocab = 49152;
  const int rows = 4;
  const auto logits = RandomVector(static_cast<size_t>(rows) * vocab, 515, 2.5f);
  // Row 0: ban the argmax; row 1: push a low token to the top; row 2: none; row 3: many.
  std::vector<std::vector<LogitBias>> biases(rows);
  const auto argmax0 = std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin();
  biases[0] = {{static_cast<int32_t>(argmax0), -std::numeric_limits<float>::infinity()}};
  biases[1] = {{17, 100.0f}, {vocab - 1, -5.0f}};
  for (int t = 0; t < 300; ++t) biases[3].push_back({t * 131 % vocab, (t % 7) - 3.0f});
  for (bool sample : {false, true}) {
    std::vector<SampleRequest> requests(rows);
    for (int r = 0; r < rows; ++r) {
      requests[r].params.do_sample = sample;
      requests[r].params.seed = 99 + r;
      requests[r].params.top_k = sample ? 50 : 0;
      requests[r].step = 5;
      requests[r].top_n = 3;
      requests[r].logit_bias = biases[r];
    }
    const auto ref = cpu->Sample(Upload(*cpu, DType::kF32, {rows, vocab}, logits), requests);
    const auto got = gpu->Sample(Upload(*gpu, DType::kF32, {rows, vocab}, logits), requests);
    EXPECT_NE(ref[0].token, argmax0);
    EXPECT_EQ(ref[1].token, 17);
    for (int r = 0; r < rows; ++r) {
      SCOPED_TRACE("row " + std::to_string(r) + (sample ? " sampled" : " greedy"));
      EXPECT_EQ(got[r].token, ref[r].token);
      EXPECT_NEAR(got[r].logprob, ref[r].logprob, 1e-3f);
      ASSERT_EQ(got[r].top.size(), ref[r].top.size());
      for (size_t k = 0; k < ref[r].top.size(); ++k) {
        EXPECT_EQ(got[r].top[k].first, ref[r].top[k].first);
        EXPECT_NEAR(got[r].top[k].second, ref[r].top[k].second, 1e-3f);
      }
    }
  }
}

// A seeded request draws the same token whatever else shares its batch.
TEST(CudaSamplingTest, SeededDrawIndependentOfBatch) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto gpu = MakeCudaBackend({.device = DeviceKind::kCuda});
  const int vocab = 32000;
  const auto row = RandomVector(vocab, 77, 2.f);
  SampleRequest r;
  r.params.do_sample = true;
  r.params.seed = 2024;
  r.step = 3;
  const int32_t alone = gpu->Sample(Upload(*gpu, DType::kF32, {1, vocab}, row), {&r, 1})[0].token;
  std::vector<float> batch = RandomVector(4 * static_cast<size_t>(vocab), 78, 2.f);
  std::copy(row.begin(), row.end(), batch.begin() + 2 * vocab);
  std::vector<SampleRequest> rs(4, r);
  for (int i = 0; i < 4; ++i) rs[i].params.seed = i == 2 ? 2024 : 1000 + i;
  EXPECT_EQ(gpu->Sample(Upload(*gpu, DType::kF32, {4, vocab}, batch), rs)[2].token, alone);
}

}  // namespace
}  // namespace tg::backend
