// Whether a request samples, and with which seed: decided once, here, during validation. The
// engine and the shard only read the result (`do_sample`, `seed`); neither re-derives it.
//
// The rule (TGI's NextTokenChooser): a request samples when it asks for `do_sample` or moves any
// warper off its neutral value (temperature != 1, top_k > 0, top_p < 1, typical_p < 1, and
// min_p > 0 here). `do_sample: false` does not turn the warpers off. Temperature 0 means greedy
// (OpenAI's meaning; TGI refuses it), whatever the other warpers say. A sampled request without a
// seed gets a fresh random one (TGI draws it in validation), returned in `details.seed` (TGI) and
// `seed` (OpenAI routes). The several sequences of one request (TGI best_of, OpenAI n) sample with
// seed + their index (ValidatedRequest::Sequence, defined here), so a returned seed replays them.
#pragma once

#include <cstdint>
#include <optional>

#include "router/api/request.h"

namespace tg::api {

// True when `s` samples (the rule above; temperature 0 must already be normalised away).
bool Samples(const SamplingParams& s);

// Applies the rule to `s`: normalises temperature 0 to greedy with neutral warpers, sets
// `do_sample` to whether the request samples, and sets the seed: `given_seed` when the client sent
// one, else a random one for a sampled request and 0 for a greedy one.
void DecideSampling(SamplingParams& s, std::optional<uint64_t> given_seed);

// A fresh seed from a per-thread generator seeded by the OS.
uint64_t RandomSeed();

}  // namespace tg::api
