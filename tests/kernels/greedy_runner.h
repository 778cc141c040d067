// Greedy generation of one sequence through LlamaModel on any backend: a prefill into blocks
// 0.., then one decode step per token, argmax taken on the device (Backend::Sample).
#pragma once

#include <cstdint>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/models/llama.h"

namespace tg::shard::testing {

struct Generation {
  std::vector<float> first_logits;  // last-position logits of the prompt
  std::vector<int32_t> tokens;
};

// Prefill, then `steps - 1` decode steps of one sequence in blocks 0.., greedy on the device.
inline Generation Greedy(LlamaModel& model, backend::Backend& device,
                         const std::vector<int32_t>& prompt, int steps) {
  Generation g;
  std::vector<int32_t> all = prompt;
  for (int step = 0; step < steps; ++step) {
    const int start = step == 0 ? 0 : static_cast<int>(all.size()) - 1;
    const int len = static_cast<int>(all.size());
    ForwardBatch batch;
    for (int p = start; p < len; ++p) {
      batch.tokens.push_back(all[p]);
      batch.positions.push_back(p);
      batch.slots.push_back(p);
    }
    const int n = len - start;
    batch.query_start = {0, n};
    batch.seq_lens = {len};
    batch.max_blocks = (len + model.block_size() - 1) / model.block_size();
    for (int b = 0; b < batch.max_blocks; ++b) batch.block_tables.push_back(b);
    batch.logit_rows = {n - 1};
    backend::Tensor logits = model.Forward(batch);
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
