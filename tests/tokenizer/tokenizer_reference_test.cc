// Every row of reference/tok-public-*.jsonl (ids and decoded text from HF `tokenizers`) must be
// reproduced exactly, with and without special tokens.
#include <gtest/gtest.h>

#include "router/tokenizer/tokenizer.h"
#include "tests/tokenizer/test_util.h"

namespace tg::tokenizer {
namespace {

struct Case {
  const char* name;
  const char* tokenizer;  // relative to the assets directory
};

class TokenizerReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(TokenizerReferenceTest, MatchesHuggingFace) {
  const auto assets = tg::testing::AssetsDir();
  const auto tok = Tokenizer::Load(assets / GetParam().tokenizer);
  const auto rows = tg::testing::ReadJsonLines(
      assets / "reference" / (std::string("tok-public-") + GetParam().name + ".jsonl"));
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    const std::string text = row.at("text");
    const bool add_special = row.at("add_special_tokens");
    const auto expected = row.at("ids").get<std::vector<uint32_t>>();
    const auto ids = tok->Encode(text, add_special);
    EXPECT_EQ(ids, expected) << "text: " << nlohmann::json(text).dump()
                             << " add_special_tokens=" << add_special;
    EXPECT_EQ(tok->Decode(expected, false), row.at("decoded").get<std::string>())
        << "ids of " << nlohmann::json(text).dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenizerReferenceTest,
                         ::testing::Values(Case{"llama2", "tokenizers/llama2/tokenizer.json"},
                                           Case{"qwen3", "tokenizers/qwen3"},
                                           Case{"gpt2", "tokenizers/gpt2/tokenizer.json"},
                                           Case{"gpt-neox", "tokenizers/gpt-neox/tokenizer.json"},
                                           Case{"stories260K",
                                                "models/stories260K/tokenizer.json"}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           std::string name = param_info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace tg::tokenizer
