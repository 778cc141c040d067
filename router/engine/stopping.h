// The router's stopping rules for one new token: stop token ids (vLLM) and stop sequences
// matched on the detokenized text. Neither applies before min_new_tokens tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "router/api/request.h"
#include "router/engine/generation.h"

namespace tg::engine {

// Called after the token was counted and its text (if any) appended at `previous_length` of
// result.generated_text. On a match, cuts the text after the stop, records what matched and
// returns kStopSequence; otherwise nullopt.
std::optional<FinishReason> MatchStop(const api::StoppingParams& stopping, uint32_t token_id,
                                      size_t previous_length, GenerationResult& result);

}  // namespace tg::engine
