#include "shard/backend/sampling.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "common/error.h"
#include "shard/backend/logit_reductions.h"
#include "shard/backend/philox.h"

namespace tg::backend {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void ApplyLogitBias(const SampleRequest& request, std::vector<float>& logits) {
  for (const LogitBias& b : request.logit_bias) {
    if (b.token >= 0 && static_cast<size_t>(b.token) < logits.size()) logits[b.token] += b.bias;
  }
}

void ApplyPenalties(const SampleRequest& request, std::vector<float>& logits) {
  const SamplingParams& p = request.params;
  const bool repetition = p.repetition_penalty != 1.0f && p.repetition_penalty > 0.0f;
  if (!repetition && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : request.history) {
    if (t >= 0 && static_cast<size_t>(t) < logits.size()) ++counts[t];
  }
  for (const auto& [token, count] : counts) {
    float& x = logits[token];
    if (repetition) x = x > 0 ? x / p.repetition_penalty : x * p.repetition_penalty;
    x -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
  }
}

// Probabilities of the kept (finite) logits, normalised; zero elsewhere.
std::vector<float> Softmax(const std::vector<float>& logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<float> probs(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = logits[i] == kNegInf ? 0.0f : std::exp(logits[i] - max);
    sum += probs[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (float& x : probs) x *= inv;
  return probs;
}

std::vector<int32_t> KeptTokens(const std::vector<float>& logits) {
  std::vector<int32_t> kept;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] != kNegInf) kept.push_back(static_cast<int32_t>(i));
  }
  return kept;
}

// Keeps the shortest prefix of `order` whose probability sum reaches `mass`.
void KeepPrefix(const std::vector<int32_t>& order, const std::vector<float>& probs, float mass,
                std::vector<float>& logits) {
  double sum = 0;
  size_t keep = 0;
  while (keep < order.size()) {
    sum += probs[order[keep]];
    ++keep;
    if (sum >= mass) break;
  }
  for (size_t i = keep; i < order.size(); ++i) logits[order[i]] = kNegInf;
}

void ApplyTopK(uint32_t k, std::vector<float>& logits) {
  if (k == 0 || k >= logits.size()) return;
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
  const float kth = sorted[k - 1];
  for (float& x : logits) {
    if (x < kth) x = kNegInf;
  }
}

void ApplyTopP(float top_p, std::vector<float>& logits) {
  if (top_p >= 1.0f) return;
  const std::vector<float> probs = Softmax(logits);
  std::vector<int32_t> order = KeptTokens(logits);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  KeepPrefix(order, probs, top_p, logits);
}

void ApplyTypicalP(float typical_p, std::vector<float>& logits) {
  if (typical_p >= 1.0f) return;
  const std::vector<float> probs = Softmax(logits);
  std::vector<int32_t> order = KeptTokens(logits);
  double entropy = 0;
  for (int32_t t : order) {
    if (probs[t] > 0) entropy -= probs[t] * std::log(static_cast<double>(probs[t]));
  }
  std::vector<double> surprise_gap(logits.size(), 0.0);
  for (int32_t t : order) {
    const double surprise = probs[t] > 0 ? -std::log(static_cast<double>(probs[t]))
                                         : std::numeric_limits<double>::infinity();
    surprise_gap[t] = std::abs(surprise - entropy);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return surprise_gap[a] < surprise_gap[b]; });
  KeepPrefix(order, probs, typical_p, logits);
}

void ApplyMinP(float min_p, std::vector<float>& logits) {
  if (min_p <= 0.0f) return;
  const std::vector<float> probs = Softmax(logits);
  const float threshold = min_p * *std::max_element(probs.begin(), probs.end());
  for (size_t i = 0; i < logits.size(); ++i) {
    if (probs[i] < threshold) logits[i] = kNegInf;
  }
}

int32_t Draw(const std::vector<float>& logits, uint64_t seed, uint64_t step) {
  const std::vector<float> probs = Softmax(logits);
  float total = 0;
  for (float p : probs) total += p;
  const float target = PhiloxUniform(seed, step) * total;
  float running = 0;
  int32_t last_kept = ArgmaxLogit(logits);
  for (size_t i = 0; i < probs.size(); ++i) {
    if (logits[i] == kNegInf) continue;
    last_kept = static_cast<int32_t>(i);
    running += probs[i];
    if (running > target) return last_kept;
  }
  return last_kept;
}

}  // namespace

void ApplyAllowedMask(std::span<const int32_t> allowed, std::span<float> logits) {
  if (allowed.empty()) return;
  TG_CHECK(allowed.size() * 32 >= logits.size(), kInvalidArgument,
           "allowed-token mask shorter than the vocabulary");
  // Word at a time: grammar masks are mostly all-zero words (filled) and all-one words (skipped).
  for (size_t w = 0, base = 0; base < logits.size(); ++w, base += 32) {
    const auto bits = static_cast<uint32_t>(allowed[w]);
    if (bits == 0xFFFFFFFFu) continue;
    const size_t n = std::min<size_t>(32, logits.size() - base);
    float* row = logits.data() + base;
    if (bits == 0) {
      std::fill_n(row, n, kNegInf);
      continue;
    }
    // Mixed word: visit only the disallowed tokens (few inside strings, where most are allowed).
    uint32_t disallowed = ~bits & (n == 32 ? 0xFFFFFFFFu : (1u << n) - 1u);
    while (disallowed != 0) {
      row[std::countr_zero(disallowed)] = kNegInf;
      disallowed &= disallowed - 1;
    }
  }
}

SampleResult SampleRow(std::span<const float> row, const SampleRequest& request) {
  TG_CHECK(!row.empty(), kInvalidArgument, "empty logits row");
  const SamplingParams& p = request.params;
  // A greedy row with no processor is read where it is; anything else works on a float copy.
  const bool repetition = p.repetition_penalty != 1.0f && p.repetition_penalty > 0.0f;
  const bool processed = p.do_sample || !request.logit_bias.empty() || !request.allowed.empty() ||
                         repetition || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  std::vector<float> copy;
  if (processed) {
    copy.assign(row.begin(), row.end());
    ApplyLogitBias(request, copy);
    ApplyAllowedMask(request.allowed, copy);
    ApplyPenalties(request, copy);
  }
  SampleResult result;
  if (!p.do_sample) {
    result.token = ArgmaxLogit(processed ? std::span<const float>(copy) : row);
  } else {
    TG_CHECK(p.temperature > 0.0f, kInvalidArgument, "sampling needs temperature > 0");
    if (p.temperature != 1.0f) {
      for (float& x : copy) x /= p.temperature;
    }
    ApplyTopK(p.top_k, copy);
    ApplyTopP(p.top_p, copy);
    ApplyTypicalP(p.typical_p, copy);
    ApplyMinP(p.min_p, copy);
    result.token = Draw(copy, p.seed, request.step);
  }
  if (!request.logprob && request.top_n == 0) {
    result.logprob = std::numeric_limits<float>::quiet_NaN();
    return result;
  }
  const std::span<const float> logits = processed ? std::span<const float>(copy) : row;
  const float log_norm = LogSumExp(logits);
  const auto logprob = [&](int32_t t) { return logits[t] - log_norm; };
  result.logprob = logprob(result.token);
  if (request.top_n > 0) {
    const size_t n = std::min<size_t>(request.top_n, logits.size());
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
      const float la = logprob(a), lb = logprob(b);
      return la > lb || (la == lb && a < b);
    });
    for (size_t i = 0; i < n; ++i) result.top.emplace_back(order[i], logprob(order[i]));
  }
  return result;
}

float TokenLogprob(std::span<const float> row, int32_t target) {
  TG_CHECK(target >= 0 && static_cast<size_t>(target) < row.size(), kInvalidArgument,
           "target token out of range");
  return row[target] - LogSumExp(row);
}

}  // namespace tg::backend
