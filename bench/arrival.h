// When each request of a benchmark is sent (vLLM's get_request):
//   rate = inf                  -> every request at t = 0 ("all at once")
//   burstiness = 1              -> Poisson process: exponential gaps with mean 1/rate
//   burstiness = b != 1         -> gamma-distributed gaps, shape b, scale 1/(rate*b): the mean
//                                  stays 1/rate, the coefficient of variation is 1/sqrt(b)
//                                  (b < 1 burstier, b > 1 more uniform)
// The first request goes at t = 0; gap i separates request i from request i+1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tg::bench {

struct ArrivalOptions {
  double request_rate = 0;  // requests per second; <= 0 or infinity means all at once
  double burstiness = 1.0;  // gamma shape; must be > 0
  uint64_t seed = 0;
};

// Send offsets in seconds from the benchmark start, non-decreasing, one per request.
std::vector<double> ArrivalOffsets(size_t count, const ArrivalOptions& options);

}  // namespace tg::bench
