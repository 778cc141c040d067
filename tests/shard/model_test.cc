// The Llama model on the CPU backend against HF transformers: last-position logits of
// stories260K (float32 weights) within 1e-4, from both the safetensors and the GGUF file.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numeric>

#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/models/llama.h"
#include "tests/shard/reference.h"

namespace tg::shard {
namespace {

using testing::LoadStoriesReference;
using testing::StoriesDir;

// Prefill of one prompt into blocks 0.. of the pool; returns the last-position logits.
std::vector<float> LastLogits(LlamaModel& model, backend::Backend& device,
                              const std::vector<int32_t>& ids) {
  const int n = static_cast<int>(ids.size());
  std::vector<uint32_t> blocks((n + 15) / 16);
  std::iota(blocks.begin(), blocks.end(), 0u);
  ForwardBatchBuilder batch(model.kv_pool());
  batch.AddSequence(ids, 0, blocks).AddLogitRow(n - 1);
  backend::Tensor logits = model.Forward(batch.Build());
  std::vector<float> host(logits.numel());
  device.CopyToHost(logits, host.data());
  return host;
}

void ExpectMatchesReference(const std::string& path) {
  auto source = model::WeightSource::Open(path);
  auto device = backend::MakeCpuBackend({.threads = 2});
  LlamaModel model(source->config(), *source, *device, backend::DType::kF32);
  model.kv_pool().Allocate(8, 16);
  for (const auto& ref : LoadStoriesReference()) {
    const std::vector<float> logits = LastLogits(model, *device, ref.input_ids);
    ASSERT_EQ(logits.size(), ref.last_logits.size());
    float max_diff = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(logits[i] - ref.last_logits[i]));
    }
    EXPECT_LT(max_diff, 1e-4f) << ref.prompt << " via " << path;
    std::cout << "max |logit - HF| = " << max_diff << " (" << ref.prompt << ")\n";
  }
}

TEST(LlamaModelTest, StoriesSafetensorsLogitsMatchTransformers) {
  ExpectMatchesReference(StoriesDir());
}

TEST(LlamaModelTest, StoriesGgufLogitsMatchTransformers) {
  ExpectMatchesReference(StoriesDir() + "/stories260K.gguf");
}

TEST(LlamaModelTest, Bf16WeightsStayClose) {
  auto source = model::WeightSource::Open(StoriesDir());
  auto device = backend::MakeCpuBackend({.threads = 2});
  LlamaModel model(source->config(), *source, *device, backend::DType::kBF16);
  model.kv_pool().Allocate(8, 16);
  const auto ref = LoadStoriesReference().front();
  const std::vector<float> logits = LastLogits(model, *device, ref.input_ids);
  const auto argmax = [](const std::vector<float>& v) {
    return std::max_element(v.begin(), v.end()) - v.begin();
  };
  EXPECT_EQ(argmax(logits), argmax(ref.last_logits));
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(logits[i], ref.last_logits[i], 0.1);
}

}  // namespace
}  // namespace tg::shard
