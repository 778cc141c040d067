// The validated request: what every route's raw request (raw_request.h) becomes before it reaches
// the engine. Holding one means the limits were checked, every default was decided and the prompt
// was tokenized.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/serving_limits.h"

namespace tg::api {

// Neutral values disable a processor (mirrors proto NextTokenChooserParameters).
struct SamplingParams {
  float temperature = 1.0f;
  uint32_t top_k = 0;
  float top_p = 1.0f;
  float typical_p = 1.0f;
  float min_p = 0.0f;
  bool do_sample = false;
  uint64_t seed = 0;
  float repetition_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  std::vector<std::pair<uint32_t, float>> logit_bias;  // (token, bias), distinct tokens
};

struct StoppingParams {
  uint32_t max_new_tokens = 0;  // 0 (OpenAI echo only): score the prompt, generate nothing
  std::vector<std::string> stop_sequences;
  bool ignore_eos = false;
  uint32_t min_new_tokens = 0;           // EOS, stop_token_ids and stop sequences wait for these
  std::vector<uint32_t> stop_token_ids;  // finish when one is generated (vLLM)
  bool include_stop_str_in_output = false;
};

// Constrained decoding (mirrors proto Grammar; router/api/grammar_params.h parses it).
enum class GrammarType { kNone, kJsonSchema, kJsonObject, kRegex, kEbnf };

struct GrammarRequest {
  GrammarType type = GrammarType::kNone;
  std::string value;  // the schema (serialized JSON), regex or EBNF
};

class Validator;

// Every field decided: a request's sampling (and seed), stopping, grammar and output options, with
// its prompt tokenized and truncated. Only Validator (validation.h) makes one, from what the client
// sent (raw_request.h); the engine and everything after it read it and never change it.
class ValidatedRequest {
 public:
  const std::string& inputs() const { return inputs_; }  // the prompt text (return_full_text, logs)
  const std::vector<uint32_t>& input_ids() const { return input_ids_; }  // after truncation
  uint32_t truncate() const { return truncate_; }                        // 0: not asked
  const SamplingParams& sampling() const { return sampling_; }
  const StoppingParams& stopping() const { return stopping_; }
  const GrammarRequest& grammar() const { return grammar_; }
  uint32_t top_n_tokens() const { return top_n_tokens_; }
  bool decoder_input_details() const { return decoder_input_details_; }  // prefill logprobs
  // The route reports each generated token's logprob (TGI's always do: stream events, details,
  // best_of; OpenAI's with `logprobs`). False lets the shard skip computing them.
  bool token_logprobs() const { return token_logprobs_; }
  bool details() const { return details_; }
  bool return_full_text() const { return return_full_text_; }
  uint32_t best_of() const { return best_of_; }  // TGI best_of; OpenAI's n is the route's

  // Sequence `index` of the several a request asks for (TGI best_of, OpenAI n): a sampled request's
  // sequences draw apart with seed + index; a greedy one's are all the same request.
  ValidatedRequest Sequence(uint32_t index) const;

 private:
  friend class Validator;
  ValidatedRequest() = default;

  std::string inputs_;
  std::vector<uint32_t> input_ids_;
  uint32_t truncate_ = 0;
  SamplingParams sampling_;
  StoppingParams stopping_;
  GrammarRequest grammar_;
  uint32_t top_n_tokens_ = 0;
  bool decoder_input_details_ = false;
  bool token_logprobs_ = true;
  bool details_ = false;
  bool return_full_text_ = false;
  uint32_t best_of_ = 1;
};

// Server-side limits that validation enforces (TGI flag names).
struct ValidationLimits {
  uint32_t max_input_tokens = 1024;
  uint32_t max_total_tokens = 2048;
  uint32_t max_best_of = limits::kMaxBestOf;
  uint32_t max_stop_sequences = limits::kMaxStopSequences;
  uint32_t max_top_n_tokens = limits::kMaxTopNTokens;
};

}  // namespace tg::api
