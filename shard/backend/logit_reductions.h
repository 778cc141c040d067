// Reductions over a row of logits (the argmax, the normaliser of a log-softmax), fast enough to
// run once per sampled token over a whole vocabulary (tens of thousands of logits) on the host:
// vectorised on every x86 CPU (clones for AVX-512, AVX2 and the baseline) without -ffast-math.
#pragma once

#include <cstdint>
#include <span>

namespace tg::backend {

// The largest logit (-inf for a row of -inf; the row must not be empty).
float MaxLogit(std::span<const float> logits);

// The index of the largest logit, the lowest one on ties (as std::max_element).
int32_t ArgmaxLogit(std::span<const float> logits);

// log Σ_i exp(logits[i]) = max + log Σ_i exp(logits[i] - max): -inf logits (filtered tokens)
// contribute nothing. The exponentials are float (relative error below 3e-7 each), summed in
// float per 16-lane chunk of 256 and in double across chunks, so the result is within a few
// 1e-7 of a double computation for any vocabulary size.
float LogSumExp(std::span<const float> logits);

}  // namespace tg::backend
