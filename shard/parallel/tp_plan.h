// Which part of every weight one tensor-parallel rank owns (Megatron-style sharding).
//
// For world_size N and rank r:
// - Attention: the query heads split evenly, [r * Hq/N, (r+1) * Hq/N). q_proj/k_proj/v_proj
//   (and their biases) are column-parallel: a rank reads the rows of its heads. o_proj is
//   row-parallel: a rank reads the columns of its heads, and the partial products are summed by
//   one all-reduce.
// - KV heads split the same way when Hk >= N. When Hk < N (N must then be a multiple of Hk),
//   each rank holds exactly one KV head, the one its query heads attend to: groups of N/Hk ranks
//   replicate the same KV head.
// - MLP: gate_proj/up_proj column-parallel over the intermediate size, down_proj row-parallel
//   (one all-reduce).
// - Embedding and lm_head: vocab-parallel. Each rank owns a chunk of ceil(V/N) vocabulary rows
//   (the last chunk may be short, or even empty); the chunk is padded with zero rows to the
//   common size so every rank's logits buffer has the same shape for the all-gather.
// - Norm weights are replicated. Biases of row-parallel layers are replicated but must be added
//   by rank 0 only, so the all-reduce adds them once.
//
// The plan speaks HF tensor names, like model::WeightSource, so a rank reads only its slice from
// disk: source.ReadF32(name, slice.rows, slice.cols).
#pragma once

#include <cstdint>
#include <string>

#include "model_files/model_config.h"
#include "model_files/weight_source.h"

namespace tg::parallel {

// How a weight is laid out across ranks.
enum class SplitKind {
  kReplicated,       // every rank reads the whole tensor
  kRows,             // column-parallel layer (or vocab-parallel table): a range of dim 0
  kColumns,          // row-parallel layer: a range of dim 1
  kReplicatedRank0,  // bias of a row-parallel layer: whole tensor, added on rank 0 only
};
const char* ToString(SplitKind kind);

// This rank's part of one tensor. `rows`/`cols` are ready to pass to WeightSource::ReadF32.
struct WeightSlice {
  SplitKind kind = SplitKind::kReplicated;
  model::RowRange rows;  // {0, -1}: all rows
  model::RowRange cols;  // {0, -1}: all columns
  // When > 0, the slice has fewer rows than this and must be zero-padded to it (vocab chunks).
  int64_t padded_rows = 0;
};

// A half-open range [begin, end) of global indices.
struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

class TensorParallelPlan {
 public:
  // Throws tg::Error(kUnsupported) when the model cannot be split N ways (heads or the
  // intermediate size not divisible, KV heads neither divisible by nor dividing N), and
  // kInvalidArgument for a bad rank/world_size.
  TensorParallelPlan(const model::ModelConfig& config, int rank, int world_size);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // ---- Attention ----
  int64_t head_dim() const { return head_dim_; }
  int64_t num_heads() const { return heads_.size(); }        // local query heads
  int64_t num_kv_heads() const { return kv_heads_.size(); }  // local KV heads
  IndexRange heads() const { return heads_; }                // global query heads of this rank
  IndexRange kv_heads() const { return kv_heads_; }          // global KV heads of this rank
  // True when ranks hold copies of the same KV head (Hk < N).
  bool kv_replicated() const { return kv_replicated_; }

  // ---- MLP ----
  int64_t intermediate_size() const { return intermediate_.size(); }  // local
  IndexRange intermediate() const { return intermediate_; }

  // ---- Vocabulary ----
  // Global token ids whose embedding/lm_head rows this rank holds (may be empty on the last ranks
  // of a tiny vocabulary).
  IndexRange vocab() const { return vocab_; }
  // Rows of every rank's padded embedding/lm_head shard and columns of its local logits.
  int64_t vocab_shard_size() const { return vocab_shard_size_; }
  int64_t vocab_size() const { return vocab_size_; }

  // The part of `hf_name` this rank reads. Throws tg::Error(kUnsupported) for a name the plan
  // does not know, rather than silently replicating a tensor that should be split.
  WeightSlice Slice(const std::string& hf_name) const;

  // One line for the start-up log.
  std::string Describe() const;

 private:
  int rank_;
  int world_size_;
  int64_t head_dim_;
  IndexRange heads_;
  IndexRange kv_heads_;
  bool kv_replicated_;
  IndexRange intermediate_;
  IndexRange vocab_;
  int64_t vocab_shard_size_;
  int64_t vocab_size_;
};

}  // namespace tg::parallel
