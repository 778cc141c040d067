// Constrained decoding for the shard, on xgrammar's C++ core: the model's vocabulary is turned
// into xgrammar's TokenizerInfo once (lazily, on the first constrained request), grammars are
// compiled through xgrammar's GrammarCompiler (which caches by spec), and every constrained
// request keeps its own matcher that yields the allowed-token bitmask for its next step.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "shard/grammar/grammar_spec.h"

namespace xgrammar {
class GrammarCompiler;
class GrammarMatcher;
}  // namespace xgrammar

namespace tg::shard::grammar {

// One request's position in its grammar.
class RequestMatcher {
 public:
  explicit RequestMatcher(std::unique_ptr<xgrammar::GrammarMatcher> matcher, int vocab_size);
  ~RequestMatcher();

  // The allowed tokens of the next step, ceil(vocab / 32) packed words (SampleRequest::allowed).
  std::span<const int32_t> FillMask();
  // Advances past `token`; false when the grammar rejects it (cannot happen for a token sampled
  // under the mask).
  bool Accept(int32_t token);
  // True once the grammar is complete and a stop token was accepted.
  bool Terminated() const;
  // Accept for a token sampled under FillMask's mask (a rejection is a bug: kInternal); returns
  // Terminated(), i.e. whether the request is finished.
  bool AcceptSampled(int32_t token);

 private:
  std::unique_ptr<xgrammar::GrammarMatcher> matcher_;
  std::vector<int32_t> mask_;
};

class GrammarRuntime {
 public:
  // `tokenizer_path`: tokenizer.json, a model directory holding one, or a .gguf file.
  // `vocab_size`: the model's logits width (may exceed the tokenizer's vocabulary).
  GrammarRuntime(std::filesystem::path tokenizer_path, int vocab_size,
                 std::vector<int32_t> stop_token_ids);
  ~GrammarRuntime();

  // Compiles (or finds in the cache) the grammar and starts a matcher at its beginning.
  // Throws tg::Error(kInvalidArgument) naming the problem when the grammar cannot be compiled.
  std::unique_ptr<RequestMatcher> Start(const GrammarSpec& spec);

 private:
  void LoadVocabulary();

  std::filesystem::path tokenizer_path_;
  int vocab_size_;
  std::vector<int32_t> stop_token_ids_;
  std::unique_ptr<xgrammar::GrammarCompiler> compiler_;
};

}  // namespace tg::shard::grammar
