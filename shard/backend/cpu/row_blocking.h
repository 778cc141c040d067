// Row blocking, shared by every Linear kernel of the CPU backend: a kernel multiplies one weight
// row by up to kMaxRows activation rows per pass, its row count a template parameter so that
// each row's accumulators live in registers. Two pieces serve all of them:
// - DispatchRows: the runtime row count to the kernel specialised for it;
// - ForEachRowGroup: the loop over weight rows and groups of activation rows around a kernel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace tg::backend::cpu {

// Calls body.template operator()<R>() with R = clamp(rows, 1, kMaxRows).
template <int kMaxRows, typename Body>
inline void DispatchRows(int rows, Body&& body) {
  const int clamped = std::clamp(rows, 1, kMaxRows);
  [&]<int... kIndex>(std::integer_sequence<int, kIndex...>) {
    (void)((clamped == kIndex + 1 && (body.template operator()<kIndex + 1>(), true)) || ...);
  }
  (std::make_integer_sequence<int, kMaxRows>{});
}

// For weight rows o in [begin, end) and all `rows` activation rows: calls
// dot(o, first_row, group, vals) for groups of at most kMaxRows activation rows, which writes the
// dots of weight row o with rows first_row .. first_row + group - 1 into vals, and stores
// out[t * n_out + o] = vals[t - first_row] + bias[o] (bias may be null). Activation rows go a
// tile at a time, so a tile stays in cache while the weight rows stream past.
template <int kMaxRows, typename Dot>
inline void ForEachRowGroup(int64_t begin, int64_t end, int64_t rows, int64_t n_out,
                            const float* bias, float* out, Dot&& dot) {
  constexpr int64_t kTokenTile = 64;
  float vals[kMaxRows];
  for (int64_t t0 = 0; t0 < rows; t0 += kTokenTile) {
    const int64_t t1 = std::min(rows, t0 + kTokenTile);
    for (int64_t o = begin; o < end; ++o) {
      const float bias_o = bias != nullptr ? bias[o] : 0.0f;
      for (int64_t t = t0; t < t1; t += kMaxRows) {
        const int group = static_cast<int>(std::min<int64_t>(kMaxRows, t1 - t));
        dot(o, t, group, vals);
        for (int g = 0; g < group; ++g) out[(t + g) * n_out + o] = vals[g] + bias_o;
      }
    }
  }
}

}  // namespace tg::backend::cpu
