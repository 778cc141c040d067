// Decode through captured CUDA graphs (Engine + CudaBackend with --cuda-graphs) against the same
// engine running every step eagerly: identical greedy tokens and logprobs for stories260K (bf16
// serving configuration), over batches that shrink from 3 sequences (bucket 4, one padding row)
// to 2 and 1, and a batch wider than the graphs' block tables (eager fallback). Skips without a
// GPU. TG_ASSETS_DIR in the environment overrides the compiled-in path.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include "model_files/weight_source.h"
#include "shard/backend/cuda/cuda_backend.h"
#include "shard/engine/engine.h"
#include "shard/models/llama.h"

namespace tg::shard {
namespace {

std::string Assets() {
  const char* env = std::getenv("TG_ASSETS_DIR");
  return env && *env ? env : TG_ASSETS_DIR;
}

struct GenerationRun {
  std::vector<uint32_t> graph_sizes;
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::map<uint64_t, std::vector<float>> logprobs;
};

// Three greedy requests; request 2 is filtered out after 4 steps, request 1 stops at 10 tokens.
// `wide`: request 1 gets more blocks than max_total_tokens covers: eager until it stops.
// `pool_blocks`: the KV pool's size; the requests use its 64 highest blocks.
GenerationRun Generate(std::vector<int> graph_sizes, bool wide, uint32_t pool_blocks = 64) {
  auto source = model::WeightSource::Open(Assets() + "/models/stories260K");
  auto gpu = backend::MakeCudaBackend({.device = backend::DeviceKind::kCuda,
                                       .cuda_graph_batch_sizes = graph_sizes,
                                       .kv_cache_dtype = backend::DType::kBF16});
  LlamaModel model(source->config(), *source, *gpu, backend::DType::kBF16);
  Engine engine(model, *gpu, {});
  WarmupParams params;
  params.max_input_tokens = 32;
  params.max_batch_prefill_tokens = 128;
  params.max_total_tokens = 64;
  params.max_batch_size = 4;
  params.max_batch_total_tokens = pool_blocks * kBlockSize;
  GenerationRun run;
  run.graph_sizes = engine.Warmup(params).cuda_graph_batch_sizes;

  const std::vector<std::vector<int32_t>> prompts = {
      {1, 403, 407, 261, 115}, {1, 172, 326, 204, 280, 107, 362}, {1, 68, 315}};
  std::vector<RequestSpec> specs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    RequestSpec spec;
    spec.id = 100 + i;
    spec.input_ids = prompts[i];
    spec.max_new_tokens = i == 1 ? 10 : 24;
    spec.ignore_eos = true;
    const uint32_t blocks = wide && i == 1 ? 6 : 4;  // 4 blocks = max_total_tokens
    for (uint32_t b = 0; b < blocks; ++b) {
      spec.blocks.push_back(pool_blocks - 64 + 8 * static_cast<uint32_t>(i) + b);
    }
    specs.push_back(spec);
  }
  auto record = [&](const StepOutput& out) {
    EXPECT_TRUE(out.errors.empty());
    for (const GenerationOut& g : out.generations) {
      run.tokens[g.request_id].push_back(g.token.id);
      run.logprobs[g.request_id].push_back(g.token.logprob);
    }
  };
  record(engine.Prefill(1, specs));
  for (int step = 0; step < 40; ++step) {
    if (step == 4) engine.Filter(1, {100, 101});
    const StepOutput out = engine.Decode({1});
    record(out);
    if (!out.batch) break;
  }
  return run;
}

TEST(CudaGraphTest, GraphDecodeEqualsEagerDecode) {
  if (backend::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  for (bool wide : {false, true}) {
    SCOPED_TRACE(wide ? "request wider than the graphs" : "all requests fit the graphs");
    const GenerationRun eager = Generate({}, wide);
    const GenerationRun graphs = Generate({1, 2, 4}, wide);
    EXPECT_TRUE(eager.graph_sizes.empty());
    EXPECT_EQ(graphs.graph_sizes, (std::vector<uint32_t>{1, 2, 4}));
    ASSERT_EQ(eager.tokens.size(), 3u);
    EXPECT_EQ(graphs.tokens, eager.tokens);
    EXPECT_EQ(eager.tokens.at(100).size(), 24u);
    EXPECT_EQ(eager.tokens.at(101).size(), 10u);
    EXPECT_EQ(eager.tokens.at(102).size(), 5u);  // prefill + 4 decode steps, then filtered
    for (const auto& [id, logprobs] : eager.logprobs) {
      const std::vector<float>& other = graphs.logprobs.at(id);
      ASSERT_EQ(other.size(), logprobs.size());
      for (size_t i = 0; i < logprobs.size(); ++i) {
        EXPECT_NEAR(other[i], logprobs[i], 1e-4f + 1e-4f * std::abs(logprobs[i]))
            << "request " << id << " token " << i;
      }
    }
  }
}

// The highest blocks of a pool whose per-layer K and V tensors are each past 2^31 bytes (the
// issue of 2026-12-03: the default plan on an H200 faulted in graph decode): prefill, the KV
// write, and eager and graph decode at every captured size must give what the smallest pool
// gives. 2^21 + 4096 blocks of stories260K in bf16 is 2.15 GB per tensor, 21.5 GB in all.
TEST(CudaGraphTest, HighestBlocksOfAPoolPast2GiBPerLayer) {
  if (backend::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  constexpr uint32_t kPoolBlocks = (1u << 21) + 4096;
  size_t free = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  if (free < 24ull << 30) GTEST_SKIP() << "needs 24 GiB of free device memory";
  const GenerationRun small = Generate({}, /*wide=*/true);
  for (bool wide : {false, true}) {
    SCOPED_TRACE(wide ? "one request wider than the graphs" : "all requests fit the graphs");
    const GenerationRun eager = Generate({}, wide, kPoolBlocks);
    const GenerationRun graphs = Generate({1, 2, 4}, wide, kPoolBlocks);
    EXPECT_EQ(graphs.graph_sizes, (std::vector<uint32_t>{1, 2, 4}));
    EXPECT_EQ(eager.tokens, graphs.tokens);
    if (wide) {
      EXPECT_EQ(eager.tokens, small.tokens);
    }
    for (const auto& [id, logprobs] : eager.logprobs) {
      const std::vector<float>& other = graphs.logprobs.at(id);
      ASSERT_EQ(other.size(), logprobs.size());
      for (size_t i = 0; i < logprobs.size(); ++i) {
        EXPECT_NEAR(other[i], logprobs[i], 1e-4f + 1e-4f * std::abs(logprobs[i]))
            << "request " << id << " token " << i;
      }
    }
  }
}

// Without max_batch_total_tokens the pool is what --gpu-memory-utilization leaves beside the
// profiled peak (weights, the largest prefill and decode, workspaces).
TEST(CudaGraphTest, WarmupPlansKvFromProfiledPeak) {
  if (backend::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto source = model::WeightSource::Open(Assets() + "/models/stories260K");
  size_t free_before = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  auto gpu = backend::MakeCudaBackend({.device = backend::DeviceKind::kCuda,
                                       .cuda_graph_batch_sizes = {1, 8},
                                       .memory_utilization = 0.5});
  LlamaModel model(source->config(), *source, *gpu, backend::DType::kBF16);
  Engine engine(model, *gpu, {});
  WarmupParams params;
  params.max_input_tokens = 256;
  params.max_batch_prefill_tokens = 1024;
  params.max_total_tokens = 512;
  params.max_batch_size = 8;
  const WarmupResult result = engine.Warmup(params);
  const double budget = 0.5 * static_cast<double>(total);
  const double used_before = static_cast<double>(total - free_before);
  EXPECT_LE(static_cast<double>(result.kv_bytes), budget);
  // The tiny model's peak is far below 512 MiB beside what was in use before.
  EXPECT_GT(static_cast<double>(result.kv_bytes), budget - used_before - 512.0 * (1 << 20));
  EXPECT_EQ(result.kv_bytes, result.num_blocks * model.kv_pool().BytesPerBlock(kBlockSize));
  EXPECT_EQ(result.cuda_graph_batch_sizes, (std::vector<uint32_t>{1, 8}));
  std::printf("planned %u KV blocks = %.1f MiB of %.1f MiB total (utilization 0.5)\n",
              result.num_blocks, result.kv_bytes / 1048576.0, total / 1048576.0);
}

}  // namespace
}  // namespace tg::shard
