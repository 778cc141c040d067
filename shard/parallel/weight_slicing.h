// Reading one rank's slices from a WeightSource, and the host-side id remapping of the
// vocab-parallel embedding: the two pieces of tensor parallelism a model's loader and forward
// need besides the Communicator (see shard/parallel/README.md for where a model calls them).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model_files/weight_source.h"
#include "shard/parallel/tp_plan.h"

namespace tg::parallel {

// A rank's part of one tensor, row-major. Vectors have cols == 1.
template <typename T>
struct SlicedTensor {
  std::vector<T> values;
  int64_t rows = 0;
  int64_t cols = 1;
};

// Reads plan.Slice(name) from disk (only the slice's bytes where the format allows), then:
// zero-pads vocabulary chunks to plan.vocab_shard_size() rows, and zeroes row-parallel biases
// (SplitKind::kReplicatedRank0) on every rank but 0 so the all-reduce adds them once.
SlicedTensor<float> ReadSliceF32(const model::WeightSource& source, const TensorParallelPlan& plan,
                                 const std::string& name);
// The same as bf16 bits (WeightSource::ReadBF16), for bf16 Linear weights.
SlicedTensor<uint16_t> ReadSliceBF16(const model::WeightSource& source,
                                     const TensorParallelPlan& plan, const std::string& name);

// Vocab-parallel embedding lookup with the ordinary Embedding op: the rank's table is its padded
// vocabulary chunk plus one extra zero row (index plan.vocab_shard_size()); a token id inside
// the chunk maps to its local row, any other id to that zero row. After Embedding, an
// AllReduceSum of the [tokens, hidden] output gives every rank the full embeddings.
std::vector<int32_t> LocalVocabIds(const TensorParallelPlan& plan,
                                   std::span<const int32_t> token_ids);

}  // namespace tg::parallel
