#include "bench/arrival.h"

#include <cmath>
#include <random>

#include "common/error.h"

namespace tg::bench {

std::vector<double> ArrivalOffsets(size_t count, const ArrivalOptions& options) {
  TG_CHECK(options.burstiness > 0, kInvalidArgument, "burstiness must be positive");
  std::vector<double> offsets(count, 0.0);
  const bool all_at_once = !(options.request_rate > 0) || std::isinf(options.request_rate);
  if (all_at_once || count == 0) return offsets;
  std::mt19937_64 rng(options.seed);
  const double scale = 1.0 / (options.request_rate * options.burstiness);
  std::gamma_distribution<double> gap(options.burstiness, scale);
  for (size_t i = 1; i < count; ++i) offsets[i] = offsets[i - 1] + gap(rng);
  return offsets;
}

}  // namespace tg::bench
