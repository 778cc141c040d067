#include "router/api/sampling_decision.h"

#include <random>

namespace tg::api {

bool Samples(const SamplingParams& s) {
  return s.do_sample || s.temperature != 1.0f || s.top_k > 0 || s.top_p < 1.0f ||
         s.typical_p < 1.0f || s.min_p > 0.0f;
}

void DecideSampling(SamplingParams& s, std::optional<uint64_t> given_seed) {
  if (s.temperature == 0.0f) {
    s.temperature = 1.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.typical_p = 1.0f;
    s.min_p = 0.0f;
    s.do_sample = false;
  }
  s.do_sample = Samples(s);
  if (given_seed) {
    s.seed = *given_seed;
  } else {
    s.seed = s.do_sample ? RandomSeed() : 0;
  }
}

ValidatedRequest ValidatedRequest::Sequence(uint32_t index) const {
  ValidatedRequest sequence = *this;
  if (sequence.sampling_.do_sample) sequence.sampling_.seed += index;
  return sequence;
}

uint64_t RandomSeed() {
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }()};
  return generator();
}

}  // namespace tg::api
