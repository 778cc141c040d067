// Validation: the only way to a ValidatedRequest (TGI's validation.rs idea). It takes what the
// client sent (raw_request.h), checks every range and limit, decides every default once (sampling
// and its seed, max_new_tokens, best_of, ...) and tokenizes the prompt. Every failure throws
// tg::Error(kInvalidArgument) with a message for the user; the HTTP layer maps it to 422 in one
// place. No JSON here: the parsers (tgi_request.h, openai.h) read it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "router/api/raw_request.h"
#include "router/api/request.h"

namespace tg::api {

// Tokenizes a prompt, with the model's special tokens (BOS) added when asked.
using EncodeFn =
    std::function<std::vector<uint32_t>(const std::string& text, bool add_special_tokens)>;

// Whether a request may ask for no new tokens (OpenAI echo with max_tokens 0 scores the prompt).
enum class NewTokens { kAtLeastOne, kZeroAllowed };

// One prompt of a request.
struct Prompt {
  std::string text;  // the prompt, or the decoding of `ids`
  // The prompt as token ids (OpenAI completions), used as they are; unset: `text` is tokenized.
  std::optional<std::vector<uint32_t>> ids;
  // Chat prompts come from a template that writes its own BOS: they pass false.
  bool add_special_tokens = true;
};

class Validator {
 public:
  Validator(ValidationLimits limits, EncodeFn encode);

  // One request: `raw`'s parameters for `prompt`.
  ValidatedRequest Validate(const RawParameters& raw, Prompt prompt,
                            NewTokens new_tokens = NewTokens::kAtLeastOne) const;
  // One request per prompt (OpenAI completions with a list of prompts). The parameters are
  // decided once for them all: an unseeded sampled request draws one seed, shared by every prompt.
  std::vector<ValidatedRequest> ValidateEach(const RawParameters& raw, std::vector<Prompt> prompts,
                                             NewTokens new_tokens) const;

  const ValidationLimits& limits() const { return limits_; }

 private:
  ValidatedRequest DecideParameters(const RawParameters& raw, NewTokens new_tokens) const;
  ValidatedRequest WithPrompt(ValidatedRequest decided, bool max_new_tokens_given,
                              Prompt prompt) const;

  ValidationLimits limits_;
  EncodeFn encode_;
};

}  // namespace tg::api
