// The shard's constrained-decoding runtime on real vocabularies (SmolLM2's byte-level BPE from its
// GGUF, Qwen3's 151k byte-level tokenizer.json): masks allow
// exactly what the grammar can continue with, a valid answer's tokens are all accepted, the
// request terminates on EOS, and bad grammars are kInvalidArgument.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/error.h"
#include "router/tokenizer/tokenizer.h"
#include "shard/grammar/engine_hooks.h"
#include "shard/grammar/grammar_runtime.h"

namespace tg::shard::grammar {
namespace {

namespace fs = std::filesystem;

bool Allowed(std::span<const int32_t> mask, uint32_t token) {
  return (static_cast<uint32_t>(mask[token / 32]) >> (token % 32)) & 1u;
}

struct Vocab {
  std::string path;
  std::string eos;
};

class GrammarRuntimeTest : public ::testing::TestWithParam<Vocab> {
 protected:
  void SetUp() override {
    if (!fs::exists(GetParam().path)) GTEST_SKIP() << GetParam().path << " not present";
    tok_ = tokenizer::Tokenizer::Load(GetParam().path);
    eos_ = static_cast<int32_t>(tok_->TokenToId(GetParam().eos).value());
    // A model vocabulary padded past the tokenizer's, as real checkpoints often are.
    vocab_ = static_cast<int>(tok_->vocab_size()) + 64;
    runtime_ =
        std::make_unique<GrammarRuntime>(GetParam().path, vocab_, std::vector<int32_t>{eos_});
  }

  // Feeds the tokens of `text` through the matcher, checking each was allowed by the mask.
  void Feed(RequestMatcher& m, const std::string& text) {
    for (uint32_t id : tok_->Encode(text, false)) {
      ASSERT_TRUE(Allowed(m.FillMask(), id)) << "token " << id << " of " << text;
      ASSERT_TRUE(m.Accept(static_cast<int32_t>(id)));
    }
  }

  std::unique_ptr<tokenizer::Tokenizer> tok_;
  std::unique_ptr<GrammarRuntime> runtime_;
  int32_t eos_ = 0;
  int vocab_ = 0;
};

TEST_P(GrammarRuntimeTest, JsonSchemaAnswerIsAcceptedAndEndsOnEos) {
  const std::string schema =
      R"({"type":"object","properties":{"color":{"enum":["red","blue"]},"n":{"type":"integer"}},)"
      R"("required":["color","n"]})";
  auto m = runtime_->Start({GrammarKind::kJsonSchema, schema});
  {
    const auto mask = m->FillMask();
    ASSERT_EQ(mask.size(), static_cast<size_t>((vocab_ + 31) / 32));
    EXPECT_FALSE(Allowed(mask, eos_));                               // nothing generated yet
    EXPECT_FALSE(Allowed(mask, tok_->Encode("hello", false)[0]));    // not JSON
    EXPECT_FALSE(Allowed(mask, static_cast<uint32_t>(vocab_ - 1)));  // padding never
  }
  Feed(*m, R"({"color": "blue", "n": 42})");
  EXPECT_FALSE(m->Terminated());
  EXPECT_TRUE(Allowed(m->FillMask(), eos_));  // complete: only the stop token is left
  EXPECT_TRUE(m->AcceptSampled(eos_));
}

TEST_P(GrammarRuntimeTest, RegexAllowsOnlyMatchingTokens) {
  auto m = runtime_->Start({GrammarKind::kRegex, "[0-9]{3}-[0-9]{2}"});
  const auto mask = m->FillMask();
  EXPECT_TRUE(Allowed(mask, tok_->Encode("7", false).back()));
  EXPECT_FALSE(Allowed(mask, tok_->Encode("x", false).back()));
  Feed(*m, "123-45");
  EXPECT_TRUE(m->AcceptSampled(eos_));
}

TEST_P(GrammarRuntimeTest, BadGrammarsAreInvalidArgument) {
  for (const GrammarSpec& spec : {GrammarSpec{GrammarKind::kRegex, "(unclosed"},
                                  GrammarSpec{GrammarKind::kJsonSchema, "{not json"},
                                  GrammarSpec{GrammarKind::kEbnf, "root ::= undefined_rule"}}) {
    try {
      (void)runtime_->Start(spec);
      ADD_FAILURE() << spec.value << " compiled";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    }
  }
}

TEST_P(GrammarRuntimeTest, PreemptedRequestResumesWhereItWas) {
  RequestSpec spec;
  spec.id = 9;
  spec.grammar = {GrammarKind::kRegex, "(yes|no)!"};
  const std::vector<uint32_t> yes = tok_->Encode("yes", false);
  std::vector<int32_t> tokens = {1, 2, 3};
  for (uint32_t id : yes) {
    spec.generated_ids.push_back(static_cast<int32_t>(id));
    tokens.push_back(static_cast<int32_t>(id));
  }
  auto m = StartMatcher(runtime_.get(), spec, tokens);
  const auto mask = m->FillMask();
  EXPECT_TRUE(Allowed(mask, tok_->Encode("!", false).back()));
  EXPECT_FALSE(Allowed(mask, eos_));
  spec.generated_ids = {static_cast<int32_t>(tok_->Encode("maybe", false)[0])};
  EXPECT_THROW(StartMatcher(runtime_.get(), spec, {1, spec.generated_ids[0]}), RequestError);
}

INSTANTIATE_TEST_SUITE_P(
    Vocabularies, GrammarRuntimeTest,
    ::testing::Values(Vocab{TG_SOURCE_DIR
                            "/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
                            "<|im_end|>"},
                      Vocab{TG_ASSETS_DIR "/tokenizers/qwen3/tokenizer.json", "<|im_end|>"}),
    [](const auto& param_info) {
      return std::string(param_info.index == 0 ? "SmolLM2" : "Qwen3");
    });

}  // namespace
}  // namespace tg::shard::grammar
