// What the engine needs of a model architecture (each in its own file of shard/models/): its
// configuration, the bytes its weights take, the paged KV pool its layers read and write, and one
// forward pass over a ForwardBatch. The pool and the batch are the architecture-free halves
// (shard/engine/kv_pool.h, shard/engine/forward_batch.h), as in llama.cpp's
// llama-kv-cache / llama-batch split.
#pragma once

#include <cstdint>

#include "model_files/model_config.h"
#include "shard/backend/tensor.h"
#include "shard/engine/forward_batch.h"
#include "shard/engine/kv_pool.h"

namespace tg::shard {

class Model {
 public:
  virtual ~Model() = default;

  virtual const model::ModelConfig& config() const = 0;
  // Bytes of the weights on the device.
  virtual uint64_t weight_bytes() const = 0;
  // The KV pool, shaped for this model's layers and this rank's KV heads; empty until the
  // engine's Warmup (or a test) allocates it.
  virtual KvPool& kv_pool() = 0;
  virtual const KvPool& kv_pool() const = 0;
  // Runs `batch` (made by a ForwardBatchBuilder over kv_pool()), writing its K/V into the pool;
  // returns float32 logits [batch.logit_rows.size(), vocab] on the device. Throws
  // kInvalidArgument for a batch whose shape does not hold (CheckForwardBatchShape).
  virtual backend::Tensor Forward(const ForwardBatch& batch) = 0;
};

}  // namespace tg::shard
