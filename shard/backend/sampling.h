// Logits processing and sampling for one row of logits: the reference every backend matches.
//
// SampleRow is a pure function of (logits row, params, seed, step, token history, logit bias,
// allowed mask).
// The exact pipeline, applied to a float32 copy of the row:
//   0. logit bias: logit[t] += bias for each (t, bias) entry (ids outside the row are ignored;
//      -inf bans a token, as min_new_tokens does for EOS)
//   0b. allowed-token mask (constrained decoding, non-empty `allowed`): logit[t] = -inf for each
//      t whose bit (allowed[t / 32] >> (t % 32)) & 1 is 0; after the bias, so a bias cannot
//      re-admit a token the grammar forbids
//   1. repetition penalty r (r != 1): for each distinct token t in `history`,
//        logit[t] = logit[t] > 0 ? logit[t] / r : logit[t] * r
//   2. frequency f and presence p penalties: logit[t] -= f * count(t) + p * (count(t) > 0),
//      counts over `history` (prompt and generated tokens, as TGI)
//   3. greedy (!do_sample): token = argmax (lowest id on ties); skip to 9. Whether a request
//      samples is the router's decision (router/api/sampling_decision.h); warpers are ignored
//      when greedy, and sampling needs temperature > 0
//   4. temperature T: logit /= T
//   5. top-k (k > 0): keep the k largest logits (ties at the k-th value all kept)
//   6. top-p (p < 1): sort kept tokens by probability descending (ties: lower id first), keep the
//      shortest prefix whose probability sum >= p (always at least one token)
//   7. typical-p (t < 1): entropy H of the kept distribution; sort kept tokens by
//      |-log prob - H| ascending (ties: lower id first), keep the shortest prefix with sum >= t
//   8. min-p (m > 0): keep tokens with prob >= m * max prob
//      Filtered tokens get logit -inf; probabilities are always re-normalised over kept tokens.
//      Draw: u = PhiloxUniform(seed, step); walk kept tokens in increasing id order accumulating
//      probabilities (float32); choose the first whose running sum > u * total (the last kept
//      token if rounding leaves none).
//   9. logprob = log_softmax(processed logits)[token] (after steps 1-8, as TGI reports it);
//      top_n alternatives: the n largest processed logprobs (ties: lower id first). The
//      normaliser is LogSumExp (logit_reductions.h). Without `logprob` and top_n, logprob is NaN
//      and no normaliser is computed: a greedy step with no processor then only reads the row once.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace tg::backend {

// Neutral values disable a processor.
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
};

// One additive bias on a raw logit (OpenAI logit_bias; -inf bans the token).
struct LogitBias {
  int32_t token = 0;
  float bias = 0.0f;
};

// One request's row of a Sample call.
struct SampleRequest {
  SamplingParams params;
  uint64_t step = 0;                      // generation step: tokens generated before this one
  std::span<const int32_t> history;       // prompt + generated tokens, for the penalties
  uint32_t top_n = 0;                     // alternatives to report
  bool logprob = true;                    // false: nobody reads the chosen token's logprob
  std::span<const LogitBias> logit_bias;  // step 0 of the pipeline; distinct tokens
  // Packed allowed-token bitmask, ceil(vocab / 32) words (bit t % 32 of word t / 32); empty
  // means every token is allowed. Filled by the request's grammar matcher (shard/grammar/).
  std::span<const int32_t> allowed;
};

// Step 0 of the pipeline: sets the logits of tokens outside `allowed` to -inf.
void ApplyAllowedMask(std::span<const int32_t> allowed, std::span<float> logits);

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // (token, logprob), best first
};

// The reference implementation (see the pipeline above). logits has the vocabulary size.
SampleResult SampleRow(std::span<const float> logits, const SampleRequest& request);

// log_softmax(logits)[target] of raw (unprocessed) logits, for prompt logprobs.
float TokenLogprob(std::span<const float> logits, int32_t target);

}  // namespace tg::backend
