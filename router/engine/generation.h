// What the engine reports back to a route for one request: tokens as they come, then a result.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace tg::engine {

enum class FinishReason { kLength, kEosToken, kStopSequence };
const char* ToString(FinishReason reason);  // "length", "eos_token", "stop_sequence"

struct TokenInfo {
  uint32_t id = 0;
  float logprob = 0.0f;
  std::string text;
  bool special = false;
};

struct GenerationResult;

struct TokenEvent {
  TokenInfo token;
  std::vector<TokenInfo> top_tokens;
  uint32_t index = 0;  // 0-based position among generated tokens
  // The request's result so far: set on its first event (prompt logprobs arrive before the
  // first token) and its last, maybe null on the others (Engine drops it there: delivery.h).
  // Valid only during the callback.
  const GenerationResult* so_far = nullptr;
};

struct GenerationResult {
  std::string generated_text;       // special tokens skipped; cut after a stop sequence
  size_t stop_sequence_length = 0;  // length of the matched stop sequence at the end, if any
  uint32_t generated_tokens = 0;
  uint32_t input_tokens = 0;
  FinishReason finish_reason = FinishReason::kLength;
  std::string stop_sequence;              // the stop string matched (kStopSequence)
  std::optional<uint32_t> stop_token_id;  // or the stop token id generated (kStopSequence)
  std::optional<uint64_t> seed;           // when sampling
  std::vector<TokenInfo> prefill;         // when decoder_input_details
  std::vector<std::vector<TokenInfo>> prefill_top_tokens;  // ... and top_n_tokens
  std::vector<TokenInfo> tokens;
  std::vector<std::vector<TokenInfo>> top_tokens;
  double queue_seconds = 0.0;
  double inference_seconds = 0.0;
  double time_per_token_seconds = 0.0;
  double total_seconds = 0.0;
};

// Called from one thread at a time, in order (Engine: its delivery thread, delivery.h; EngineCore
// alone: the caller of Step). `on_token` gets every token; the last call also carries the result
// (`done` non-null). `on_error` ends the request instead.
struct Callbacks {
  std::function<void(const TokenEvent& event, const GenerationResult* done)> on_token;
  std::function<void(ErrorKind kind, const std::string& message)> on_error;
};

}  // namespace tg::engine
