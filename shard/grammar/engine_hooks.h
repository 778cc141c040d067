// The engine's entry points into constrained decoding, so that engine.cc needs only one line at
// each place: create the runtime, start a request's matcher, and (RequestMatcher) fill the mask
// before sampling and accept the sampled token after.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "model_files/model_config.h"
#include "shard/engine/types.h"
#include "shard/grammar/grammar_runtime.h"

namespace tg::shard::grammar {

// Null when tokenizer_path is empty (then constrained requests fail with a clear error).
std::unique_ptr<GrammarRuntime> MakeRuntime(const std::string& tokenizer_path,
                                            const model::ModelConfig& config,
                                            const std::unordered_set<int32_t>& stop_token_ids);

// The request's matcher, advanced past the tokens it generated before a preemption; null for a
// free request. Throws RequestError when the grammar cannot be compiled or replayed.
std::shared_ptr<RequestMatcher> StartMatcher(GrammarRuntime* runtime, const RequestSpec& spec,
                                             const std::vector<int32_t>& tokens);

}  // namespace tg::shard::grammar
