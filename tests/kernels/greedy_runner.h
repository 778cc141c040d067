// Greedy generation of one sequence through a Model on any backend: a prefill into blocks
// 0.., then one decode step per token, argmax taken on the device (Backend::Sample).
#pragma once

#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/engine/forward_batch.h"
#include "shard/models/model.h"

namespace tg::shard::testing {

struct Generation {
  std::vector<float> first_logits;  // last-position logits of the prompt
  std::vector<int32_t> tokens;
};

// Prefill, then `steps - 1` decode steps of one sequence in blocks 0.., greedy on the device.
inline Generation Greedy(Model& model, backend::Backend& device, const std::vector<int32_t>& prompt,
                         int steps) {
  Generation g;
  std::vector<int32_t> all = prompt;
  for (int step = 0; step < steps; ++step) {
    const int start = step == 0 ? 0 : static_cast<int>(all.size()) - 1;
    const int len = static_cast<int>(all.size());
    const int n = len - start;
    const int block_size = model.kv_pool().block_size();
    std::vector<uint32_t> blocks((len + block_size - 1) / block_size);
    std::iota(blocks.begin(), blocks.end(), 0u);
    ForwardBatchBuilder batch(model.kv_pool());
    batch.AddSequence(std::span(all).subspan(start, n), start, blocks).AddLogitRow(n - 1);
    backend::Tensor logits = model.Forward(batch.Build());
    if (step == 0) {
      g.first_logits.resize(logits.numel());
      device.CopyToHost(logits, g.first_logits.data());
    }
    backend::SampleRequest greedy;
    const int32_t token = device.Sample(logits, {&greedy, 1})[0].token;
    g.tokens.push_back(token);
    all.push_back(token);
  }
  return g;
}

}  // namespace tg::shard::testing
