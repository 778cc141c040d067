#include "shard/grammar/grammar_runtime.h"

#include <xgrammar/xgrammar.h>

#include <string>

#include "common/error.h"
#include "router/tokenizer/tokenizer.h"

namespace tg::shard::grammar {
namespace {

// xgrammar decodes token strings itself; it needs to know how the vocabulary spells bytes.
// Byte-level BPE (GPT-2 style) spells space and newline as U+0120 "Ġ" and U+010A "Ċ";
// SentencePiece with byte fallback has <0x0A>-style byte tokens and "▁" for space.
xgrammar::VocabType DetectVocabType(const tokenizer::Tokenizer& tok) {
  if (tok.TokenToId("<0x0A>").has_value()) return xgrammar::VocabType::BYTE_FALLBACK;
  if (tok.TokenToId("\xC4\x8A").has_value() || tok.TokenToId("\xC4\xA0").has_value()) {
    return xgrammar::VocabType::BYTE_LEVEL;
  }
  return xgrammar::VocabType::RAW;
}

}  // namespace

RequestMatcher::RequestMatcher(std::unique_ptr<xgrammar::GrammarMatcher> matcher, int vocab_size)
    : matcher_(std::move(matcher)), mask_(xgrammar::GetBitmaskSize(vocab_size)) {}

RequestMatcher::~RequestMatcher() = default;

std::span<const int32_t> RequestMatcher::FillMask() {
  int64_t shape[1] = {static_cast<int64_t>(mask_.size())};
  DLTensor tensor{};
  tensor.data = mask_.data();
  tensor.device = DLDevice{kDLCPU, 0};
  tensor.ndim = 1;
  tensor.dtype = xgrammar::GetBitmaskDLType();
  tensor.shape = shape;
  matcher_->FillNextTokenBitmask(&tensor);
  return mask_;
}

bool RequestMatcher::Accept(int32_t token) { return matcher_->AcceptToken(token); }

bool RequestMatcher::Terminated() const { return matcher_->IsTerminated(); }

bool RequestMatcher::AcceptSampled(int32_t token) {
  TG_CHECK(Accept(token), kInternal,
           "grammar rejected token " + std::to_string(token) + " sampled under its own mask");
  return Terminated();
}

GrammarRuntime::GrammarRuntime(std::filesystem::path tokenizer_path, int vocab_size,
                               std::vector<int32_t> stop_token_ids)
    : tokenizer_path_(std::move(tokenizer_path)),
      vocab_size_(vocab_size),
      stop_token_ids_(std::move(stop_token_ids)) {}

GrammarRuntime::~GrammarRuntime() = default;

void GrammarRuntime::LoadVocabulary() {
  const auto tok = tokenizer::Tokenizer::Load(tokenizer_path_);
  const size_t n = tok->vocab_size();
  TG_CHECK(static_cast<int>(n) <= vocab_size_, kCorruptFile,
           "tokenizer has more tokens than the model's vocabulary");
  std::vector<std::string> encoded(n);
  for (size_t id = 0; id < n; ++id) {
    // Special tokens (chat markers and the like) must never appear inside constrained text:
    // xgrammar treats an empty token string as special and never allows it. Stop tokens are
    // passed by id and stay allowed once the grammar is complete.
    const auto u = static_cast<uint32_t>(id);
    if (!tok->IsSpecial(u)) encoded[id] = tok->IdToToken(u);
  }
  const xgrammar::TokenizerInfo info(encoded, DetectVocabType(*tok), vocab_size_, stop_token_ids_,
                                     /*add_prefix_space=*/false);
  // One compile thread: the shard's cores belong to the forward pass.
  compiler_ = std::make_unique<xgrammar::GrammarCompiler>(info, /*max_threads=*/1,
                                                          /*cache_enabled=*/true);
}

std::unique_ptr<RequestMatcher> GrammarRuntime::Start(const GrammarSpec& spec) {
  if (!compiler_) LoadVocabulary();
  std::optional<xgrammar::CompiledGrammar> compiled;
  try {
    switch (spec.kind) {
      case GrammarKind::kJsonSchema:
        compiled = compiler_->CompileJSONSchema(spec.value, /*any_whitespace=*/false);
        break;
      case GrammarKind::kJsonObject:
        compiled = compiler_->CompileBuiltinJSONGrammar();
        break;
      case GrammarKind::kRegex:
        compiled = compiler_->CompileRegex(spec.value);
        break;
      case GrammarKind::kEbnf:
        compiled = compiler_->CompileGrammar(spec.value, "root");
        break;
      case GrammarKind::kNone:
        return nullptr;
    }
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kInvalidArgument, std::string("grammar: ") + e.what());
  }
  return std::make_unique<RequestMatcher>(std::make_unique<xgrammar::GrammarMatcher>(*compiled),
                                          vocab_size_);
}

}  // namespace tg::shard::grammar
