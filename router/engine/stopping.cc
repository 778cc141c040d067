#include "router/engine/stopping.h"

#include <algorithm>
#include <string>

namespace tg::engine {

std::optional<FinishReason> MatchStop(const api::StoppingParams& stopping, uint32_t token_id,
                                      size_t previous_length, GenerationResult& result) {
  if (result.generated_tokens < stopping.min_new_tokens) return std::nullopt;
  const auto& ids = stopping.stop_token_ids;
  if (std::find(ids.begin(), ids.end(), token_id) != ids.end()) {
    result.stop_token_id = token_id;
    result.stop_sequence_length = result.generated_text.size() - previous_length;
    return FinishReason::kStopSequence;
  }
  // Only the region that the new piece can complete is searched.
  size_t best = std::string::npos;
  const std::string* matched = nullptr;
  for (const std::string& stop : stopping.stop_sequences) {
    const size_t from = previous_length >= stop.size() ? previous_length - stop.size() + 1 : 0;
    const size_t pos = result.generated_text.find(stop, from);
    if (pos != std::string::npos && pos < best) {
      best = pos;
      matched = &stop;
    }
  }
  if (!matched) return std::nullopt;
  result.generated_text.resize(best + matched->size());
  result.stop_sequence_length = matched->size();
  result.stop_sequence = *matched;
  return FinishReason::kStopSequence;
}

}  // namespace tg::engine
