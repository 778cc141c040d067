// The validated request: what every HTTP route converts its JSON into before it reaches the
// engine. Holding one means the limits were checked and the prompt was tokenized.
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

struct ValidatedRequest {
  std::string inputs;               // the prompt text (for return_full_text and logs)
  std::vector<uint32_t> input_ids;  // after truncation
  uint32_t truncate = 0;            // 0: not asked
  SamplingParams sampling;
  StoppingParams stopping;
  uint32_t top_n_tokens = 0;
  bool decoder_input_details = false;  // prefill token logprobs
  // The route reports each generated token's logprob (TGI's always do: stream events, details,
  // best_of; OpenAI's with `logprobs`). False lets the shard skip computing them.
  bool token_logprobs = true;
  bool details = false;
  bool return_full_text = false;
  uint32_t best_of = 1;  // TGI best_of / OpenAI n
  bool seed_given = false;
  GrammarRequest grammar;
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
