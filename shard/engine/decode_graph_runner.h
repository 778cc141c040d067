// Decode forwards replayed from CUDA graphs (Backend::BeginGraph / EndGraph), for the engine and
// for the benchmarks that time what the engine runs (tests/kernels/cuda_bench.cc): one graph per
// backend batch size, captured with the padded batch of decode_graph_batch.h, and each decode
// batch run through the smallest graph that holds it. On a backend without graphs (the CPU) no
// size is captured and every batch runs eagerly.
#pragma once

#include <optional>
#include <vector>

#include "shard/backend/backend.h"
#include "shard/engine/forward_batch.h"
#include "shard/models/model.h"

namespace tg::shard {

class DecodeGraphRunner {
 public:
  // `model` and `backend` must outlive the runner.
  DecodeGraphRunner(Model& model, backend::Backend& backend);

  // Drops the graphs captured before, then captures one per backend batch size (ascending, up to
  // the first one >= max_batch_size; 0: all of them), with block tables of `max_blocks` columns
  // over the model's KV pool, which must be allocated. Each forward runs eagerly first, so the
  // backend sizes its scratch buffers outside the capture. A size that fails to capture stays
  // eager (logged); tg::Error(kDeviceLost) propagates.
  void Capture(int max_blocks, int max_batch_size);
  // Forgets every graph (batches run eagerly until the next Capture).
  void Clear();

  // The logits of `batch` (one token per sequence) from the smallest captured graph that holds
  // it, or nullopt when none does (the caller runs it eagerly). A replay that diverges from its
  // capture is a bug: it is logged, the graphs are dropped and nullopt returned, so serving goes
  // on eagerly; tg::Error(kDeviceLost) propagates.
  std::optional<backend::Tensor> Forward(const ForwardBatch& batch);

  // The captured batch sizes, ascending, and the block-table width they were captured with.
  const std::vector<int>& sizes() const { return sizes_; }
  int max_blocks() const { return max_blocks_; }

 private:
  Model& model_;
  backend::Backend& backend_;
  std::vector<int> sizes_;
  int max_blocks_ = 0;
};

}  // namespace tg::shard
