// llama.cpp's own tokenizer test vectors (vocab-gguf/*.inp / .out): every input, tokenized with
// only the GGUF vocabulary and without BOS, must give exactly the expected ids.
#include <gtest/gtest.h>

#include <sstream>

#include "router/tokenizer/tokenizer.h"
#include "tests/tokenizer/test_util.h"

namespace tg::tokenizer {
namespace {

std::vector<std::string> SplitInputs(const std::string& text) {
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t at = text.find(separator, begin);
    if (at == std::string::npos) break;
    parts.push_back(text.substr(begin, at - begin));
    begin = at + separator.size();
  }
  return parts;  // the text after the last separator is empty
}

std::vector<std::vector<uint32_t>> ReadExpected(const std::string& text) {
  std::vector<std::vector<uint32_t>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ids(line);
    std::vector<uint32_t> row;
    uint32_t id = 0;
    while (ids >> id) row.push_back(id);
    rows.push_back(std::move(row));
  }
  return rows;
}

class GgufVocabTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVocabTest, MatchesLlamaCppVectors) {
  const auto base =
      tg::testing::AssetsDir() / "vocab-gguf" / ("ggml-vocab-" + GetParam() + ".gguf");
  const auto tok = Tokenizer::Load(base);
  const auto inputs = SplitInputs(tg::testing::ReadFile(base.string() + ".inp"));
  const auto expected = ReadExpected(tg::testing::ReadFile(base.string() + ".out"));
  ASSERT_GE(inputs.size(), 40u);
  ASSERT_EQ(inputs.size(), expected.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(tok->Encode(inputs[i], false), expected[i]) << "input " << i << ": " << inputs[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufVocabTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "qwen2", "starcoder",
                                           "deepseek-llm"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// The GGUF and tokenizer.json forms of the same tokenizer agree (stories260K ships both).
TEST(GgufTokenizer, MatchesTokenizerJsonOfSameModel) {
  const auto dir = tg::testing::AssetsDir() / "models" / "stories260K";
  const auto from_gguf = Tokenizer::Load(dir / "stories260K.gguf");
  const auto from_json = Tokenizer::Load(dir / "tokenizer.json");
  for (const auto& row : tg::testing::ReadJsonLines(tg::testing::AssetsDir() / "reference" /
                                                    "tok-public-stories260K.jsonl")) {
    const std::string text = row.at("text");
    const bool add_special = row.at("add_special_tokens");
    const auto ids = from_gguf->Encode(text, add_special);
    EXPECT_EQ(ids, row.at("ids").get<std::vector<uint32_t>>()) << text;
    EXPECT_EQ(from_gguf->Decode(ids, false), from_json->Decode(ids, false)) << text;
  }
  EXPECT_EQ(from_gguf->bos_token(), std::optional<std::string>("<s>"));
}

}  // namespace
}  // namespace tg::tokenizer
