#include "shard/grammar/engine_hooks.h"

#include <algorithm>

#include "common/error.h"

namespace tg::shard::grammar {

std::unique_ptr<GrammarRuntime> MakeRuntime(const std::string& tokenizer_path,
                                            const model::ModelConfig& config,
                                            const std::unordered_set<int32_t>& stop_token_ids) {
  if (tokenizer_path.empty()) return nullptr;
  std::vector<int32_t> stops(stop_token_ids.begin(), stop_token_ids.end());
  std::sort(stops.begin(), stops.end());
  return std::make_unique<GrammarRuntime>(tokenizer_path, static_cast<int>(config.vocab_size),
                                          std::move(stops));
}

std::shared_ptr<RequestMatcher> StartMatcher(GrammarRuntime* runtime, const RequestSpec& spec,
                                             const std::vector<int32_t>& tokens) {
  if (spec.grammar.kind == GrammarKind::kNone) return nullptr;
  if (runtime == nullptr) {
    throw RequestError(spec.id, ErrorKind::kUnsupported,
                       "constrained decoding needs the shard to know the model's tokenizer");
  }
  std::shared_ptr<RequestMatcher> matcher;
  try {
    matcher = runtime->Start(spec.grammar);
  } catch (const Error& e) {
    throw RequestError(spec.id, e.kind(), e.message());
  }
  // A re-prefilled request resumes where its grammar was.
  const size_t generated_from = tokens.size() - spec.generated_ids.size();
  for (size_t i = generated_from; i < tokens.size(); ++i) {
    if (!matcher->Accept(tokens[i])) {
      throw RequestError(spec.id, ErrorKind::kInvalidArgument,
                         "generated_ids do not match the request's grammar");
    }
  }
  return matcher;
}

}  // namespace tg::shard::grammar
