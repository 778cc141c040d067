#include "shard/backend/logit_reductions.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace tg::backend {
namespace {

// 16 floats (or int32s) as one value: GCC lowers the arithmetic to whatever the clone's ISA
// has (one AVX-512 register, two AVX2 or four SSE2 ones), so these loops are vectorised on
// every CPU without -ffast-math (which would also break the -inf tests).
typedef float Floats __attribute__((vector_size(64)));
typedef int32_t Ints __attribute__((vector_size(64)));
constexpr int kLanes = 16;
constexpr size_t kChunk = 256;  // elements summed in float before the double accumulator
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The helpers below are always inlined into the clones, so the ABI of passing these types by
// value (what -Wpsabi warns about) never applies.
#pragma GCC diagnostic ignored "-Wpsabi"
#define TG_REDUCTION_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

[[gnu::always_inline]] inline Floats Load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

[[gnu::always_inline]] inline Floats Splat(float x) { return Floats{} + x; }

// e^x for x <= 0: x = n ln2 + r with |r| <= ln2 / 2, e^r by its degree-6 Taylor polynomial
// (truncation below 2e-7 relative), 2^n through the exponent bits. x below -87 (the smallest
// normal float's log) and -inf give 0.
[[gnu::always_inline]] inline Floats ExpNonPositive(Floats x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln2 = hi + lo, hi exact
  constexpr float kRoundMagic = 12582912.0f;                        // 1.5 * 2^23
  const Floats floor = Splat(-87.0f);
  const Floats clamped = x < floor ? floor : x;
  const Floats n = (clamped * kLog2e + kRoundMagic) - kRoundMagic;  // round to nearest
  const Floats r = (clamped - n * kLn2Hi) - n * kLn2Lo;
  Floats p = Splat(1.0f / 720.0f);
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const Ints exponent = (__builtin_convertvector(n, Ints) + 127) << 23;
  // A cast between vector types of one size reinterprets the bits.
  const Floats e = p * (Floats)exponent;
  return x < floor ? Splat(0.0f) : e;
}

}  // namespace

TG_REDUCTION_CLONES float MaxLogit(std::span<const float> logits) {
  const size_t n = logits.size(), whole = n - n % kLanes;
  const float* x = logits.data();
  Floats lanes = Splat(kNegInf);
  for (size_t i = 0; i < whole; i += kLanes) {
    const Floats v = Load(x + i);
    lanes = v > lanes ? v : lanes;
  }
  float max = kNegInf;
  for (int l = 0; l < kLanes; ++l) max = std::max(max, lanes[l]);
  for (size_t i = whole; i < n; ++i) max = std::max(max, x[i]);
  return max;
}

TG_REDUCTION_CLONES int32_t ArgmaxLogit(std::span<const float> logits) {
  // Per lane the largest value and the first index holding it; then the best lane, lowest
  // index on ties.
  const size_t n = logits.size(), whole = n - n % kLanes;
  const float* x = logits.data();
  Floats best = Splat(kNegInf);
  Ints best_index = Ints{} - 1;
  Ints index = Ints{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (size_t i = 0; i < whole; i += kLanes, index += kLanes) {
    const Floats v = Load(x + i);
    const Ints better = v > best;
    best = better ? v : best;
    best_index = better ? index : best_index;
  }
  float max = kNegInf;
  int64_t argmax = -1;
  for (int l = 0; l < kLanes; ++l) {
    if (best_index[l] < 0) continue;
    if (best[l] > max || (best[l] == max && best_index[l] < argmax)) {
      max = best[l];
      argmax = best_index[l];
    }
  }
  for (size_t i = whole; i < n; ++i) {
    if (x[i] > max) {
      max = x[i];
      argmax = static_cast<int64_t>(i);
    }
  }
  return static_cast<int32_t>(argmax < 0 ? 0 : argmax);  // no logit above -inf: the first
}

TG_REDUCTION_CLONES float LogSumExp(std::span<const float> logits) {
  const float max = MaxLogit(logits);
  if (max == kNegInf) return max;  // every token filtered
  const float* x = logits.data();
  const size_t n = logits.size();
  const Floats shift = Splat(max);
  double total = 0;
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    Floats lanes = Splat(0.0f);
    for (size_t j = 0; j < kChunk; j += kLanes) lanes += ExpNonPositive(Load(x + i + j) - shift);
    float chunk = 0;
    for (int l = 0; l < kLanes; ++l) chunk += lanes[l];
    total += chunk;
  }
  for (; i < n; ++i) total += ExpNonPositive(Splat(x[i] - max))[0];
  return max + static_cast<float>(std::log(total));
}

}  // namespace tg::backend
