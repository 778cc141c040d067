// Streaming detokenization: pieces concatenate to the full decode and are each valid UTF-8.
#include <gtest/gtest.h>

#include "router/tokenizer/incremental_decoder.h"
#include "router/tokenizer/utf8.h"
#include "tests/tokenizer/test_util.h"

namespace tg::tokenizer {
namespace {

class IncrementalDecoderTest
    : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(IncrementalDecoderTest, PiecesConcatenateToFullDecode) {
  const auto assets = tg::testing::AssetsDir();
  const auto tok = Tokenizer::Load(assets / GetParam().second);
  const auto rows = tg::testing::ReadJsonLines(assets / "reference" /
                                               ("tok-public-" + GetParam().first + ".jsonl"));
  for (const auto& row : rows) {
    const auto ids = row.at("ids").get<std::vector<uint32_t>>();
    for (bool skip : {false, true}) {
      IncrementalDecoder decoder(*tok, skip);
      std::string streamed;
      for (uint32_t id : ids) {
        const std::string piece = decoder.Push(id);
        EXPECT_TRUE(IsValidUtf8(piece)) << "piece splits a character";
        streamed += piece;
      }
      streamed += decoder.Flush();
      EXPECT_EQ(streamed, tok->Decode(ids, skip)) << row.at("text").get<std::string>();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, IncrementalDecoderTest,
    ::testing::Values(
        std::pair<std::string, std::string>{"llama2", "tokenizers/llama2/tokenizer.json"},
        std::pair<std::string, std::string>{"qwen3", "tokenizers/qwen3/tokenizer.json"},
        std::pair<std::string, std::string>{"gpt2", "tokenizers/gpt2/tokenizer.json"}),
    [](const ::testing::TestParamInfo<std::pair<std::string, std::string>>& param_info) {
      return param_info.param.first;
    });

TEST(IncrementalDecoder, HoldsBackIncompleteCharacters) {
  const auto tok = Tokenizer::Load(tg::testing::AssetsDir() / "tokenizers/llama2/tokenizer.json");
  // "🦙" has no token of its own in Llama-2: it is four byte-fallback tokens.
  const auto ids = tok->Encode("a🦙", false);
  ASSERT_GE(ids.size(), 5u);
  IncrementalDecoder decoder(*tok, false);
  std::vector<std::string> pieces;
  for (uint32_t id : ids) pieces.push_back(decoder.Push(id));
  EXPECT_EQ(pieces[0], "a");
  for (size_t i = 1; i + 1 < pieces.size(); ++i) EXPECT_EQ(pieces[i], "") << i;
  EXPECT_EQ(pieces.back(), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(decoder.Flush(), "");
}

TEST(IncrementalDecoder, SentencePieceKeepsSpacesAfterTheFirstToken) {
  const auto tok = Tokenizer::Load(tg::testing::AssetsDir() / "tokenizers/llama2/tokenizer.json");
  IncrementalDecoder decoder(*tok, false);
  std::string text;
  for (uint32_t id : tok->Encode("Hello big world", false)) text += decoder.Push(id);
  text += decoder.Flush();
  EXPECT_EQ(text, "Hello big world");
}

}  // namespace
}  // namespace tg::tokenizer
