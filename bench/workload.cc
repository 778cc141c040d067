#include "bench/workload.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace tg::bench {
namespace {

std::vector<uint32_t> RandomIds(const TextCodec& codec, size_t count, std::mt19937_64* rng) {
  const auto& pool = codec.ordinary_ids();
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  std::vector<uint32_t> ids(count);
  for (auto& id : ids) id = pool[pick(*rng)];
  return ids;
}

}  // namespace

WorkloadKind ParseWorkloadKind(const std::string& name) {
  if (name == "random") return WorkloadKind::kRandom;
  if (name == "sharegpt") return WorkloadKind::kShareGpt;
  if (name == "prefix") return WorkloadKind::kPrefix;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown workload '" + name + "' (random, sharegpt, prefix)");
}

const char* ToString(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kRandom:
      return "random";
    case WorkloadKind::kShareGpt:
      return "sharegpt";
    case WorkloadKind::kPrefix:
      return "prefix";
  }
  return "?";
}

ShareGptLengths::ShareGptLengths(uint64_t seed)
    : rng_(seed), input_(kLogMeanInput, kSigma), output_(kLogMeanOutput, kSigma) {}

std::pair<uint32_t, uint32_t> ShareGptLengths::Sample() {
  while (true) {
    const auto prompt = static_cast<uint32_t>(std::lround(input_(rng_)));
    const auto output = static_cast<uint32_t>(std::lround(output_(rng_)));
    if (prompt < 4 || output < 4 || prompt > 1024 || prompt + output > 2048) continue;
    return {prompt, output};
  }
}

std::string RandomPrompt(const TextCodec& codec, uint32_t length, std::mt19937_64* rng) {
  TG_CHECK(!codec.ordinary_ids().empty(), kInvalidArgument, "tokenizer has no ordinary tokens");
  if (length == 0) return "";
  std::vector<uint32_t> ids = RandomIds(codec, length, rng);
  // Decoding and re-encoding merges or splits pieces at random boundaries; trim or top up the
  // re-encoded ids until the text round-trips to exactly `length` tokens.
  for (int attempt = 0; attempt < 32; ++attempt) {
    const std::string text = codec.Decode(ids);
    std::vector<uint32_t> encoded = codec.Encode(text);
    if (encoded.size() == length) return text;
    if (encoded.size() > length) {
      encoded.resize(length);
    } else {
      const auto extra = RandomIds(codec, length - encoded.size(), rng);
      encoded.insert(encoded.end(), extra.begin(), extra.end());
    }
    ids = std::move(encoded);
  }
  throw Error(ErrorKind::kInternal,
              "could not build a prompt of exactly " + std::to_string(length) + " tokens");
}

std::vector<WorkloadRequest> BuildWorkload(const TextCodec& codec, const WorkloadOptions& options) {
  std::mt19937_64 rng(options.seed);
  std::vector<WorkloadRequest> requests;
  requests.reserve(options.num_requests);
  auto add = [&](std::string prompt, uint32_t output_len) {
    WorkloadRequest request;
    request.prompt_len = static_cast<uint32_t>(codec.Encode(prompt).size());
    request.prompt = std::move(prompt);
    request.output_len = output_len;
    requests.push_back(std::move(request));
  };
  switch (options.kind) {
    case WorkloadKind::kRandom:
      for (size_t i = 0; i < options.num_requests; ++i) {
        add(RandomPrompt(codec, options.input_len, &rng), options.output_len);
      }
      break;
    case WorkloadKind::kShareGpt: {
      ShareGptLengths lengths(options.seed);
      for (size_t i = 0; i < options.num_requests; ++i) {
        const auto [prompt, output] = lengths.Sample();
        auto scale = [&](uint32_t n) {
          return std::max<uint32_t>(1,
                                    static_cast<uint32_t>(std::lround(n * options.length_scale)));
        };
        add(RandomPrompt(codec, scale(prompt), &rng), scale(output));
      }
      break;
    }
    case WorkloadKind::kPrefix: {
      TG_CHECK(options.num_prefixes > 0, kInvalidArgument, "prefix workload needs num_prefixes");
      std::vector<std::string> prefixes;
      for (uint32_t p = 0; p < options.num_prefixes; ++p) {
        prefixes.push_back(RandomPrompt(codec, options.prefix_len, &rng));
      }
      for (size_t i = 0; i < options.num_requests; ++i) {
        // Round-robin over the groups so every group is hot throughout the run.
        add(prefixes[i % prefixes.size()] + RandomPrompt(codec, options.input_len, &rng),
            options.output_len);
      }
      break;
    }
  }
  return requests;
}

}  // namespace tg::bench
