// Benchmark workloads: the prompts and output lengths a run sends.
//
//  random        fixed lengths of random tokens (prompt exactly input_len tokens, re-encoded to
//                check), max_new_tokens = output_len with ignore_eos.
//  sharegpt      lengths drawn from a ShareGPT-like distribution (see ShareGptLengths below),
//                filled with random tokens, ignore_eos: the length mix of chat traffic without
//                the data set, which this project cannot ship.
//  prefix        `num_prefixes` groups sharing a random prefix of prefix_len tokens, each
//                request adding its own random suffix of input_len tokens (prefix caching).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/text_codec.h"

namespace tg::bench {

struct WorkloadRequest {
  std::string prompt;
  uint32_t prompt_len = 0;  // tokens of `prompt` as the codec encodes it (no special tokens)
  uint32_t output_len = 0;  // max_new_tokens, generated in full (ignore_eos)
};

enum class WorkloadKind { kRandom, kShareGpt, kPrefix };
WorkloadKind ParseWorkloadKind(const std::string& name);
const char* ToString(WorkloadKind kind);

struct WorkloadOptions {
  WorkloadKind kind = WorkloadKind::kRandom;
  size_t num_requests = 100;
  uint32_t input_len = 128;   // random: prompt tokens; prefix: suffix tokens
  uint32_t output_len = 128;  // random/prefix: max_new_tokens
  uint32_t prefix_len = 256;  // prefix only
  uint32_t num_prefixes = 4;  // prefix only
  double length_scale = 1.0;  // sharegpt only: multiplies both lengths (to scale down on CPU)
  uint64_t seed = 0;
};

// ShareGPT-like (prompt, output) token lengths. Target: the means the vLLM paper reports for
// ShareGPT (Kwon et al., "Efficient Memory Management for Large Language Model Serving with
// PagedAttention", SOSP 2023, section 6.1 / Fig. 11a: mean input 161.31 tokens, mean output
// 337.99 tokens). Shape: independent log-normal distributions with a log-space sigma of 1.0 (our
// assumption: it gives the long right tails of Fig. 11a), filtered as vLLM's
// sample_sharegpt_requests filters the real set (both lengths >= 4, prompt <= 1024 tokens,
// prompt + output <= 2048). The log-space means below were calibrated numerically (2M samples,
// numpy) so that the means *after* the filter equal the paper's figures; 3.2% of draws are
// rejected by the filter.
class ShareGptLengths {
 public:
  static constexpr double kMeanInput = 161.31;
  static constexpr double kMeanOutput = 337.99;
  static constexpr double kSigma = 1.0;
  static constexpr double kLogMeanInput = 4.68949;
  static constexpr double kLogMeanOutput = 5.45645;

  explicit ShareGptLengths(uint64_t seed);
  std::pair<uint32_t, uint32_t> Sample();

 private:
  std::mt19937_64 rng_;
  std::lognormal_distribution<double> input_;
  std::lognormal_distribution<double> output_;
};

// Random text of exactly `length` tokens under `codec` (decode random ids, re-encode, adjust).
// Throws tg::Error when no exact length is reached after a bounded number of tries.
std::string RandomPrompt(const TextCodec& codec, uint32_t length, std::mt19937_64* rng);

std::vector<WorkloadRequest> BuildWorkload(const TextCodec& codec, const WorkloadOptions& options);

}  // namespace tg::bench
