// The model the GPU benchmarks time (cuda_bench.cc, decode_bench.h, token_mask_bench.h): the
// real shard::LlamaModel over random weights (random_weight_source.h), its KV pool laid out for
// the figures, its batches made by shard::ForwardBatchBuilder and its decode graphs captured and
// replayed by shard::DecodeGraphRunner, as the engine does. Every figure therefore times the
// forward pass the server runs, with whatever fusions shard/models/llama.cc makes. Nothing here
// is CUDA-specific: bench_model_test.cc runs the same code on the CPU backend with a tiny shape.
//
// KV pool layout: decode sequence s (0 <= s < seqs) owns blocks [s * B, (s + 1) * B), B =
// context_blocks(), room for `context` tokens; one prompt of up to `prompt` tokens owns the
// blocks after them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model_files/model_config.h"
#include "shard/backend/backend.h"
#include "shard/engine/decode_graph_runner.h"
#include "shard/engine/forward_batch.h"
#include "shard/models/llama.h"

namespace tg::bench {

inline constexpr int kLlama3Vocab = 128256;
// Llama-3-8B (hidden 4096, 32 heads, 8 KV heads, head dim 128, intermediate 14336, rope theta
// 500000, RMSNorm eps 1e-5, untied lm_head) with `layers` layers and a `vocab`-wide vocabulary.
model::ModelConfig Llama3_8BConfig(int layers, int vocab = kLlama3Vocab);

// What the KV pool holds room for (see the layout above).
struct BenchLayout {
  int seqs = 1;     // decode sequences
  int context = 0;  // tokens each of them may reach
  int prompt = 0;   // tokens of the one prompt (0: none)
};

// One Linear weight of a layer, [rows, cols], in the order the model runs them.
struct LinearShape {
  const char* name;
  int64_t rows, cols;
};
// The Linear weights of one decoder layer as shard::LlamaModel holds them (q|k|v and gate|up
// fused at load time): qkv, o_proj, gate_up, down.
std::vector<LinearShape> LayerLinearShapes(const model::ModelConfig& config);

class BenchModel {
 public:
  static constexpr int kBlockSize = 16;  // the engine's (shard/engine/types.h)

  // Loads the model (Linear weights in `weight_dtype`) and allocates its pool; `backend` must
  // outlive it. Throws tg::Error(kInvalidArgument) for a layout without room for a decode step.
  BenchModel(backend::Backend& backend, const model::ModelConfig& config,
             backend::DType weight_dtype, BenchLayout layout);

  shard::LlamaModel& model() { return *model_; }
  backend::Backend& backend() { return backend_; }
  const model::ModelConfig& config() const { return model_->config(); }
  const BenchLayout& layout() const { return layout_; }
  // Wall time of the model's construction (weights made and uploaded).
  double load_seconds() const { return load_seconds_; }
  // Weight bytes one decode step reads: all of them but the embedding table, of which it reads
  // one row per token.
  uint64_t decode_weight_bytes() const;
  // Parameters of every Linear op of a forward: the layers' and lm_head's.
  double linear_params() const;
  // Block-table columns of a sequence at the full context (the decode graphs' width).
  int context_blocks() const { return context_blocks_; }
  // The token at `position` of decode sequence `seq` (seq == layout().seqs: of the prompt); any
  // valid ids do, only the shapes matter.
  int32_t TokenAt(int seq, int position) const;

  // A decode step of sequences 0..seqs-1, each with one new token at position seq_len - 1 (so
  // seq_len tokens of context); logits for every sequence, in order.
  shard::ForwardBatch Decode(int seqs, int seq_len) const;
  // The prompt of `tokens` tokens from position 0; logits for its last token.
  shard::ForwardBatch Prompt(int tokens) const;
  // Prefills positions 0..len-1 of sequences 0..seqs-1, so that decode steps read K/V the model
  // wrote, at most `max_tokens` tokens per forward.
  void FillContexts(int seqs, int len, int max_tokens = 8192);

  // Captures decode graphs for batch sizes up to the first >= max_batch (DecodeGraphRunner,
  // contexts up to context_blocks() blocks); returns the sizes captured (none on a backend
  // without graphs).
  const std::vector<int>& CaptureGraphs(int max_batch);
  // The logits of a decode batch (Decode) replayed from its graph; throws tg::Error(kInternal)
  // when no captured graph holds it.
  backend::Tensor GraphForward(const shard::ForwardBatch& batch);

 private:
  // The first `blocks` blocks of sequence `seq` (seqs: the prompt).
  std::span<const uint32_t> SequenceBlocks(int seq, int blocks) const;

  backend::Backend& backend_;
  BenchLayout layout_;
  backend::DType weight_dtype_;
  int context_blocks_ = 0;
  std::vector<uint32_t> block_ids_;  // 0, 1, 2, ... (every block of the pool)
  double load_seconds_ = 0;
  std::unique_ptr<shard::LlamaModel> model_;
  std::unique_ptr<shard::DecodeGraphRunner> graphs_;
};

}  // namespace tg::bench
