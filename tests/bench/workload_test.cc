// Workload generation against the real project tokenizer and real tokenizer files.
#include "bench/workload.h"

#include <gtest/gtest.h>

#include <string>

#include "bench/text_codec.h"

namespace tg::bench {
namespace {

class WorkloadTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { codec_ = LoadTextCodec(std::string(TG_ASSETS_DIR) + "/" + GetParam()); }
  std::unique_ptr<TextCodec> codec_;
};

TEST_P(WorkloadTest, RandomPromptsHaveExactLengths) {
  std::mt19937_64 rng(11);
  for (uint32_t length : {1u, 2u, 7u, 64u, 333u}) {
    const std::string prompt = RandomPrompt(*codec_, length, &rng);
    EXPECT_EQ(codec_->Encode(prompt).size(), length) << prompt;
  }
}

TEST_P(WorkloadTest, RandomWorkload) {
  const auto requests = BuildWorkload(*codec_, {.kind = WorkloadKind::kRandom,
                                                .num_requests = 6,
                                                .input_len = 48,
                                                .output_len = 9,
                                                .seed = 5});
  ASSERT_EQ(requests.size(), 6u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.prompt_len, 48u);
    EXPECT_EQ(codec_->Encode(r.prompt).size(), 48u);
    EXPECT_EQ(r.output_len, 9u);
  }
  EXPECT_NE(requests[0].prompt, requests[1].prompt);
  // Same seed, same workload: runs are reproducible.
  const auto again = BuildWorkload(*codec_, {.kind = WorkloadKind::kRandom,
                                             .num_requests = 6,
                                             .input_len = 48,
                                             .output_len = 9,
                                             .seed = 5});
  EXPECT_EQ(again[3].prompt, requests[3].prompt);
}

TEST_P(WorkloadTest, PrefixWorkloadSharesPrefixesRoundRobin) {
  const WorkloadOptions options{.kind = WorkloadKind::kPrefix,
                                .num_requests = 6,
                                .input_len = 8,
                                .output_len = 4,
                                .prefix_len = 40,
                                .num_prefixes = 2,
                                .seed = 1};
  const auto requests = BuildWorkload(*codec_, options);
  ASSERT_EQ(requests.size(), 6u);
  // The generator draws the group prefixes first from the seeded stream.
  std::mt19937_64 rng(options.seed);
  const std::string prefix0 = RandomPrompt(*codec_, 40, &rng);
  const std::string prefix1 = RandomPrompt(*codec_, 40, &rng);
  ASSERT_NE(prefix0, prefix1);
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string& prefix = i % 2 == 0 ? prefix0 : prefix1;
    EXPECT_EQ(requests[i].prompt.substr(0, prefix.size()), prefix) << i;
    EXPECT_GT(requests[i].prompt.size(), prefix.size());
    // Prefix and suffix may merge at their boundary by a token or so, never more.
    EXPECT_NEAR(static_cast<double>(requests[i].prompt_len), 48.0, 2.0);
  }
  EXPECT_NE(requests[0].prompt, requests[2].prompt);
}

TEST_P(WorkloadTest, ShareGptWorkloadScalesLengths) {
  const auto requests = BuildWorkload(
      *codec_,
      {.kind = WorkloadKind::kShareGpt, .num_requests = 20, .length_scale = 0.25, .seed = 2});
  ShareGptLengths lengths(2);
  for (const auto& r : requests) {
    const auto [prompt, output] = lengths.Sample();
    EXPECT_EQ(r.prompt_len, std::max<uint32_t>(1, std::lround(prompt * 0.25)));
    EXPECT_EQ(r.output_len, std::max<uint32_t>(1, std::lround(output * 0.25)));
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, WorkloadTest,
                         ::testing::Values("tokenizers/llama2/tokenizer.json",
                                           "tokenizers/qwen3/tokenizer.json",
                                           "models/stories260K/tokenizer.json"));

}  // namespace
}  // namespace tg::bench
