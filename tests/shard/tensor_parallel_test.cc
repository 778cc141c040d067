// The Llama model split over 2 tensor-parallel ranks (threads of one process, in-process
// collectives, CPU backend) gives the single-rank logits, on prefill and on a decode step,
// and the HF reference within 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/models/llama.h"
#include "shard/parallel/in_process_communicator.h"
#include "tests/shard/reference.h"

namespace tg::shard {
namespace {

// Prefill of `ids` then one decode step of `next`; returns both last-position logits rows.
std::vector<std::vector<float>> PrefillThenDecode(LlamaModel& model, backend::Backend& device,
                                                  const std::vector<int32_t>& ids, int32_t next) {
  std::vector<std::vector<float>> out;
  const int n = static_cast<int>(ids.size());
  const std::vector<uint32_t> blocks = {0};
  ForwardBatchBuilder builder(model.kv_pool());
  const ForwardBatch prefill = builder.AddSequence(ids, 0, blocks).AddLogitRow(n - 1).Build();
  const ForwardBatch decode = builder.AddSequence({&next, 1}, n, blocks).AddLogitRow(0).Build();
  for (const ForwardBatch* batch : {&prefill, &decode}) {
    backend::Tensor logits = model.Forward(*batch);
    std::vector<float> host(logits.numel());
    device.CopyToHost(logits, host.data());
    out.push_back(std::move(host));
  }
  return out;
}

TEST(TensorParallelLlamaTest, TwoRanksMatchOneRankAndTransformers) {
  const auto ref = testing::LoadStoriesReference()[1];
  auto source = model::WeightSource::Open(testing::StoriesDir());
  auto single_device = backend::MakeCpuBackend({.threads = 1});
  LlamaModel single(source->config(), *source, *single_device, backend::DType::kF32);
  single.kv_pool().Allocate(2, 16);
  const auto expected = PrefillThenDecode(single, *single_device, ref.input_ids, ref.greedy_ids[0]);

  constexpr int kRanks = 2;
  parallel::InProcessGroup group(kRanks);
  std::vector<std::vector<std::vector<float>>> got(kRanks);
  std::vector<std::string> failures(kRanks);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks.emplace_back([&, r] {
      try {
        auto comm = group.Join(r);
        auto device = backend::MakeCpuBackend({.threads = 1});
        LlamaModel model(source->config(), *source, *device, backend::DType::kF32, *comm);
        model.kv_pool().Allocate(2, 16);
        got[r] = PrefillThenDecode(model, *device, ref.input_ids, ref.greedy_ids[0]);
      } catch (const std::exception& e) {
        failures[r] = e.what();
      }
    });
  }
  for (std::thread& t : ranks) t.join();
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_EQ(failures[r], "") << "rank " << r;
    ASSERT_EQ(got[r].size(), 2u);
    EXPECT_EQ(got[r], got[0]) << "ranks must hold identical logits";
    for (int step = 0; step < 2; ++step) {
      ASSERT_EQ(got[r][step].size(), expected[step].size());
      for (size_t i = 0; i < expected[step].size(); ++i) {
        ASSERT_NEAR(got[r][step][i], expected[step][i], 1e-5) << "rank " << r << " step " << step;
      }
    }
    for (size_t i = 0; i < ref.last_logits.size(); ++i) {
      ASSERT_NEAR(got[r][0][i], ref.last_logits[i], 1e-4);
    }
  }
}

}  // namespace
}  // namespace tg::shard
