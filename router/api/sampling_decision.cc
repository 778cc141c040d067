#include "router/api/sampling_decision.h"

#include <random>

namespace tg::api {

bool Samples(const SamplingParams& s) {
  return s.do_sample || s.temperature != 1.0f || s.top_k > 0 || s.top_p < 1.0f ||
         s.typical_p < 1.0f || s.min_p > 0.0f;
}

void DecideSampling(SamplingParams& s, bool seed_given) {
  if (s.temperature == 0.0f) {
    s.temperature = 1.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.typical_p = 1.0f;
    s.min_p = 0.0f;
    s.do_sample = false;
  }
  s.do_sample = Samples(s);
  if (s.do_sample && !seed_given) s.seed = RandomSeed();
}

uint64_t RandomSeed() {
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }()};
  return generator();
}

}  // namespace tg::api
