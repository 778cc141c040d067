// Where a request stops, one home per rule:
//   - length (max_new_tokens, counted across preemption re-prefills) and EOS (unless ignore_eos):
//     the shard (shard/engine/engine.cc), reported as the finish reason of its last token;
//   - stop token ids (vLLM) and stop sequences, matched on the detokenized text: here, the
//     router's only stopping rules. The shard receives stop token ids solely to ban them (and
//     EOS) before min_new_tokens; stop sequences never leave the router.
// Neither router rule applies before min_new_tokens tokens.
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
