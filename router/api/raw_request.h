// What a client sent, before validation: every parameter optional, nothing defaulted or checked
// beyond its JSON type. The TGI parser (tgi_request.h) and the OpenAI parser (openai.h) produce
// these; only validation (validation.h) turns them into a ValidatedRequest, deciding every
// default once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "router/api/request.h"

namespace tg::api {

// The generation parameters, in TGI's names (the OpenAI parser translates its fields into these).
// An empty list means the client sent none.
struct RawParameters {
  // Sampling.
  std::optional<bool> do_sample;
  std::optional<float> temperature;
  std::optional<uint32_t> top_k;
  std::optional<float> top_p;
  std::optional<float> typical_p;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<float> frequency_penalty;
  std::optional<float> presence_penalty;
  std::optional<uint64_t> seed;
  std::vector<std::pair<uint32_t, float>> logit_bias;  // (token, bias)
  // Stopping.
  std::optional<uint32_t> max_new_tokens;
  std::optional<uint32_t> min_new_tokens;
  std::vector<std::string> stop;
  std::vector<uint32_t> stop_token_ids;
  std::optional<bool> ignore_eos;
  std::optional<bool> include_stop_str_in_output;
  // Output and prompt.
  std::optional<uint32_t> best_of;
  std::optional<uint32_t> top_n_tokens;
  std::optional<uint32_t> truncate;
  std::optional<bool> details;
  std::optional<bool> decoder_input_details;
  std::optional<bool> return_full_text;
  std::optional<bool> token_logprobs;  // generated tokens' logprobs wanted (default: yes)
  std::optional<GrammarRequest> grammar;
};

// TGI body: {"inputs": "...", "parameters": {...}, "stream": bool}.
struct RawTgiRequest {
  std::string inputs;
  std::optional<bool> stream;
  RawParameters parameters;
};

}  // namespace tg::api
