// The Llama family (Llama-2/3, Mistral, Qwen2, Qwen3, SmolLM2, TinyLlama): decoder layers of
// RMSNorm → attention (GQA, rotary, optional q/k/v bias, optional per-head q/k RMSNorm) → RMSNorm
// → SwiGLU MLP, written once against the Backend ops, over a paged KV cache.
//
// q/k/v and gate/up projections are fused at load time into one weight each, so a layer runs
// four Linear ops.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model_files/model_config.h"
#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/engine/forward_batch.h"
#include "shard/engine/kv_pool.h"
#include "shard/models/model.h"
#include "shard/parallel/communicator.h"
#include "shard/parallel/tp_plan.h"

namespace tg::shard {

// What happens to Linear and embedding weights stored in GGML blocks (Q8_0, Q4_0, Q4_1).
enum class BlockWeights {
  kKeep,        // kept as stored where the backend computes on them (ComputesOnBlocks), whole
                // (unsliced) matrices only; otherwise dequantized to the weight dtype
  kDequantize,  // always dequantized to the weight dtype
};

// "keep" or "dequantize" (the --block-weights flag); throws tg::Error otherwise.
BlockWeights ParseBlockWeights(const std::string& name);

class LlamaModel : public Model {
 public:
  // Loads and uploads the weights; Linear weights in `weight_dtype` (or their stored blocks, see
  // BlockWeights), norms and biases float32. Single rank.
  LlamaModel(const model::ModelConfig& config, const model::WeightSource& source,
             backend::Backend& backend, backend::DType weight_dtype,
             BlockWeights block_weights = BlockWeights::kKeep);
  // Tensor parallel (Megatron): rank comm.rank() of comm.world_size() holds its query/KV heads
  // (q/k/v column-parallel), its slice of the intermediate size (gate/up column-parallel,
  // down row-parallel) and o_proj's matching input columns; o_proj and down_proj outputs are
  // all-reduced. The embedding and lm_head are replicated, so every rank computes the full,
  // identical logits and samples the same tokens. `comm` must outlive the model.
  LlamaModel(const model::ModelConfig& config, const model::WeightSource& source,
             backend::Backend& backend, backend::DType weight_dtype, parallel::Communicator& comm,
             BlockWeights block_weights = BlockWeights::kKeep);

  const model::ModelConfig& config() const override { return config_; }
  uint64_t weight_bytes() const override { return weight_bytes_; }
  KvPool& kv_pool() override { return kv_pool_; }
  const KvPool& kv_pool() const override { return kv_pool_; }

  backend::Tensor Forward(const ForwardBatch& batch) override;

 private:
  struct Layer {
    backend::Tensor input_norm, qkv, qkv_bias, q_norm, k_norm, o_proj, post_norm, gate_up, down;
  };
  // The whole tensor on one rank, this rank's slice otherwise; rows/cols of what was read.
  std::vector<float> ReadF32(const model::WeightSource& source, const std::string& name,
                             int64_t* rows, int64_t* cols) const;
  std::vector<uint16_t> ReadBF16(const model::WeightSource& source, const std::string& name,
                                 int64_t* rows, int64_t* cols) const;
  bool sliced() const { return plan_.has_value(); }
  backend::Tensor Upload(const std::vector<float>& values, std::vector<int64_t> shape,
                         backend::DType dtype);
  backend::Tensor UploadInts(const std::vector<int32_t>& values);
  // `replicated`: read the whole tensor on every rank (embedding, lm_head).
  backend::Tensor LoadMatrix(const model::WeightSource& source,
                             const std::vector<std::string>& names, bool replicated = false);
  // The stacked stored blocks of `names` when the backend computes on them; undefined otherwise.
  backend::Tensor LoadBlocks(const model::WeightSource& source,
                             const std::vector<std::string>& names, bool replicated);
  backend::Tensor LoadVector(const model::WeightSource& source,
                             const std::vector<std::string>& names);

  model::ModelConfig config_;
  backend::Backend& backend_;
  parallel::Communicator& comm_;
  std::optional<parallel::TensorParallelPlan> plan_;  // world_size > 1
  int64_t local_heads_ = 0, local_kv_heads_ = 0, local_intermediate_ = 0;
  backend::DType weight_dtype_;
  BlockWeights block_weights_;
  uint64_t weight_bytes_ = 0;
  int q_dim_ = 0, kv_dim_ = 0;
  backend::Tensor embed_, final_norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;
  KvPool kv_pool_;
  // The pool's per-layer K and V tensors, under the names the layer loop reads.
  std::vector<backend::Tensor>& k_cache_ = kv_pool_.keys();
  std::vector<backend::Tensor>& v_cache_ = kv_pool_.values();
};

}  // namespace tg::shard
