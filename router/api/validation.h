// Validation: the conversion of a request's JSON into a ValidatedRequest (TGI's validation.rs
// idea). Every failure throws tg::Error(kInvalidArgument) with a message for the user; the HTTP
// layer maps it to 422 in one place.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "router/api/request.h"

namespace tg::api {

// Tokenizes a prompt, with the model's special tokens (BOS) added when asked.
using EncodeFn =
    std::function<std::vector<uint32_t>(const std::string& text, bool add_special_tokens)>;

// Whether a request may ask for no new tokens (OpenAI echo with max_tokens 0 scores the prompt).
enum class NewTokens { kAtLeastOne, kZeroAllowed };

class Validator {
 public:
  Validator(ValidationLimits limits, EncodeFn encode);

  // TGI body: {"inputs": "...", "parameters": {...}, "stream": bool}.
  ValidatedRequest ValidateTgi(const nlohmann::json& body) const;

  // Checks ranges and fills defaults; used by the TGI and OpenAI routes alike.
  // `prompt` is tokenized here, then truncated and checked against the token limits. Chat
  // prompts come from a template that writes its own BOS, so they pass add_special_tokens false.
  ValidatedRequest Finish(std::string prompt, ValidatedRequest request, bool max_new_tokens_given,
                          bool add_special_tokens = true,
                          NewTokens new_tokens = NewTokens::kAtLeastOne) const;
  // The same for a prompt given as token ids (OpenAI completions); `text` is their decoding.
  ValidatedRequest FinishTokens(std::string text, std::vector<uint32_t> ids,
                                ValidatedRequest request, bool max_new_tokens_given,
                                NewTokens new_tokens) const;

  const ValidationLimits& limits() const { return limits_; }

 private:
  ValidationLimits limits_;
  EncodeFn encode_;
};

// Parses a request body as JSON; malformed JSON throws kInvalidArgument (422).
nlohmann::json ParseJsonBody(const std::string& body);

// Throws kInvalidArgument naming every key of `object` not in `known`.
void RejectUnknownKeys(const nlohmann::json& object, const std::vector<std::string>& known,
                       const std::string& where);

}  // namespace tg::api
