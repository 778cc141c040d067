// A tensor-parallel Llama forward written against the Backend ops, a TensorParallelPlan and a
// Communicator: the recipe the production model (shard/models/llama.cc) follows, kept here so
// the slicing test can run N sliced ranks against the unsliced model.
//
// Per rank: it reads only its slices from the WeightSource; attention runs on the rank's heads
// with its own KV cache; o_proj and down_proj produce partial sums that one AllReduceSum each
// completes; the embedding is vocab-parallel (ids outside the rank's chunk point at an extra zero
// row, then AllReduceSum); lm_head produces the rank's vocabulary columns, which
// AllGatherColumns assembles into full logits.
#pragma once

#include <cstdint>
#include <vector>

#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/models/llama.h"
#include "shard/parallel/communicator.h"
#include "shard/parallel/tp_plan.h"

namespace tg::parallel::testing {

class ShardedLlama {
 public:
  ShardedLlama(const model::WeightSource& source, const TensorParallelPlan& plan,
               Communicator& comm, backend::Backend& backend, int num_blocks, int block_size);

  // Runs one step; returns float32 logits [logit_rows, vocab] (on every rank). Records, per
  // layer, the all-reduced attention and MLP outputs (what the unsliced layer would produce).
  backend::Tensor Forward(const shard::ForwardBatch& batch);

  // Host copies of the last Forward's per-layer outputs: [layer][2 * tokens * hidden] (attention
  // output rows then MLP output rows).
  const std::vector<std::vector<float>>& layer_outputs() const { return layer_outputs_; }

 private:
  struct Layer {
    backend::Tensor input_norm, q, k, v, o_proj, post_norm, gate_up, down;
  };
  backend::Tensor Load(const std::string& name, const std::vector<std::string>& stacked = {});
  backend::Tensor Ints(const std::vector<int32_t>& values);

  const model::ModelConfig& config_;
  const TensorParallelPlan& plan_;
  Communicator& comm_;
  backend::Backend& backend_;
  int block_size_;
  backend::Tensor embed_;  // [vocab_shard_size + 1, hidden]: last row zero (foreign ids)
  backend::Tensor lm_head_, final_norm_, inv_freq_;
  std::vector<Layer> layers_;
  std::vector<backend::Tensor> k_cache_, v_cache_;
  std::vector<std::vector<float>> layer_outputs_;
};

}  // namespace tg::parallel::testing
