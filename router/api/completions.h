// OpenAI /v1/completions specifics: the four prompt forms, the legacy logprobs object (with the
// echoed prompt tokens when asked), and vLLM's stop_reason.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "router/api/json_fields.h"
#include "router/engine/generation.h"

namespace tg::api {

struct CompletionPrompt {
  std::string text;           // the prompt string, or the decoding of its token ids
  std::vector<uint32_t> ids;  // the token ids, when given as such
  bool tokenized = false;
};

// A string, a list of strings, a list of token ids, or a list of token-id lists; anything else
// (empty lists included) throws kInvalidArgument. Token prompts get no text here.
std::vector<CompletionPrompt> ParseCompletionPrompts(const Json& prompt);

// {"tokens", "token_logprobs", "top_logprobs", "text_offset"}. With `prompt` (echo), the prompt
// tokens come first: a NaN logprob (the first token, which nothing predicts) is null, and so is
// its top_logprobs entry. Offsets count bytes from `first_offset`.
nlohmann::json CompletionLogprobsJson(const std::vector<engine::TokenInfo>* prompt,
                                      const std::vector<std::vector<engine::TokenInfo>>* prompt_top,
                                      const std::vector<engine::TokenInfo>& tokens,
                                      const std::vector<std::vector<engine::TokenInfo>>& top,
                                      size_t first_offset);

// vLLM's stop_reason: the matched stop string, the stop token id, or null (EOS, length).
nlohmann::json StopReasonJson(const engine::GenerationResult& result);

}  // namespace tg::api
