// Runs prompts through LlamaModel on the CUDA backend (bf16 weights, bf16 KV: the serving
// configuration) and writes each prompt's last-position logits and greedy tokens as JSON, for
// scripts/gpu/hf_compare.py to compare against HF transformers.
// usage: cuda_hf_driver MODEL_DIR PROMPTS.json STEPS OUT.json   (PROMPTS: [[ids...], ...])
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model_files/weight_source.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "shard/models/llama.h"
#include "tests/kernels/greedy_runner.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL_DIR PROMPTS.json STEPS OUT.json\n", argv[0]);
    return 2;
  }
  using namespace tg;
  try {
    const auto prompts =
        nlohmann::json::parse(std::ifstream(argv[2])).get<std::vector<std::vector<int32_t>>>();
    const int steps = std::atoi(argv[3]);
    auto source = model::WeightSource::Open(argv[1]);
    auto gpu = backend::MakeCudaBackend({.device = backend::DeviceKind::kCuda});
    shard::LlamaModel model(source->config(), *source, *gpu, backend::DType::kBF16);
    size_t longest = 0;
    for (const auto& p : prompts) longest = std::max(longest, p.size());
    model.kv_pool().Allocate(static_cast<int>((longest + steps) / 16 + 2), 16);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& prompt : prompts) {
      const auto g = shard::testing::Greedy(model, *gpu, prompt, steps);
      out.push_back({{"last_logits", g.first_logits}, {"tokens", g.tokens}});
    }
    std::ofstream(argv[4]) << out.dump();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_hf_driver: %s\n", e.what());
    return 1;
  }
  return 0;
}
