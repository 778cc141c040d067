#include "tests/kernels/bench_model.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <optional>
#include <string>

#include "common/error.h"
#include "tests/kernels/random_weight_source.h"

namespace tg::bench {
namespace {

int BlocksFor(int tokens) { return (tokens + BenchModel::kBlockSize - 1) / BenchModel::kBlockSize; }

}  // namespace

model::ModelConfig Llama3_8BConfig(int layers, int vocab) {
  model::ModelConfig c;
  c.model_type = "llama";
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_hidden_layers = static_cast<uint32_t>(layers);
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.vocab_size = static_cast<uint32_t>(vocab);
  c.max_position_embeddings = 8192;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.tie_word_embeddings = false;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  c.torch_dtype = "bfloat16";
  model::ValidateModelConfig(c, "Llama-3-8B shape");
  return c;
}

std::vector<LinearShape> LayerLinearShapes(const model::ModelConfig& config) {
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  const int64_t q_dim = int64_t{config.num_attention_heads} * config.head_dim;
  const int64_t kv_dim = int64_t{config.num_key_value_heads} * config.head_dim;
  return {{"qkv", q_dim + 2 * kv_dim, hidden},
          {"o_proj", hidden, q_dim},
          {"gate_up", 2 * inter, hidden},
          {"down", hidden, inter}};
}

BenchModel::BenchModel(backend::Backend& backend, const model::ModelConfig& config,
                       backend::DType weight_dtype, BenchLayout layout)
    : backend_(backend),
      layout_(layout),
      weight_dtype_(weight_dtype),
      context_blocks_(BlocksFor(layout.context)) {
  TG_CHECK(layout.seqs > 0 && layout.context > 0 && layout.prompt >= 0, kInvalidArgument,
           "bench model layout of " + std::to_string(layout.seqs) + " sequences of " +
               std::to_string(layout.context) + " tokens and a prompt of " +
               std::to_string(layout.prompt));
  const auto start = std::chrono::steady_clock::now();
  const RandomWeightSource weights(config);
  model_ = std::make_unique<shard::LlamaModel>(config, weights, backend, weight_dtype);
  backend.Synchronize();
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int blocks = layout.seqs * context_blocks_ + BlocksFor(layout.prompt);
  model_->kv_pool().Allocate(blocks, kBlockSize);
  block_ids_.resize(blocks);
  std::iota(block_ids_.begin(), block_ids_.end(), 0u);
  graphs_ = std::make_unique<shard::DecodeGraphRunner>(*model_, backend);
}

uint64_t BenchModel::decode_weight_bytes() const {
  const model::ModelConfig& c = config();
  if (c.tie_word_embeddings) return model_->weight_bytes();  // the table is lm_head too
  return model_->weight_bytes() -
         uint64_t{c.vocab_size} * c.hidden_size * backend::DTypeSize(weight_dtype_);
}

double BenchModel::linear_params() const {
  const model::ModelConfig& c = config();
  double per_layer = 0;
  for (const LinearShape& w : LayerLinearShapes(c)) per_layer += double(w.rows) * double(w.cols);
  return per_layer * c.num_hidden_layers + double(c.vocab_size) * c.hidden_size;
}

int32_t BenchModel::TokenAt(int seq, int position) const {
  const int64_t vocab = config().vocab_size;
  return static_cast<int32_t>((int64_t{seq} * 7919 + int64_t{position} * 31 + 1) % vocab);
}

std::span<const uint32_t> BenchModel::SequenceBlocks(int seq, int blocks) const {
  const size_t first = static_cast<size_t>(seq) * context_blocks_;
  return std::span(block_ids_).subspan(first, static_cast<size_t>(blocks));
}

shard::ForwardBatch BenchModel::Decode(int seqs, int seq_len) const {
  TG_CHECK(seqs >= 1 && seqs <= layout_.seqs && seq_len >= 1 && seq_len <= layout_.context,
           kInvalidArgument,
           "decode step of " + std::to_string(seqs) + " sequences at " + std::to_string(seq_len) +
               " tokens outside the bench layout (" + std::to_string(layout_.seqs) + " of " +
               std::to_string(layout_.context) + ")");
  shard::ForwardBatchBuilder builder(model_->kv_pool());
  for (int s = 0; s < seqs; ++s) {
    const int32_t token = TokenAt(s, seq_len - 1);
    builder.AddSequence({&token, 1}, seq_len - 1, SequenceBlocks(s, BlocksFor(seq_len)));
    builder.AddLogitRow(s);
  }
  return builder.Build();
}

shard::ForwardBatch BenchModel::Prompt(int tokens) const {
  TG_CHECK(tokens >= 1 && tokens <= layout_.prompt, kInvalidArgument,
           "prompt of " + std::to_string(tokens) + " tokens outside the bench layout (" +
               std::to_string(layout_.prompt) + ")");
  std::vector<int32_t> ids(tokens);
  for (int p = 0; p < tokens; ++p) ids[p] = TokenAt(layout_.seqs, p);
  shard::ForwardBatchBuilder builder(model_->kv_pool());
  builder.AddSequence(ids, 0, SequenceBlocks(layout_.seqs, BlocksFor(tokens)));
  builder.AddLogitRow(tokens - 1);
  return builder.Build();
}

void BenchModel::FillContexts(int seqs, int len, int max_tokens) {
  TG_CHECK(
      seqs >= 1 && seqs <= layout_.seqs && len >= 1 && len <= layout_.context && max_tokens >= len,
      kInvalidArgument,
      "filling " + std::to_string(seqs) + " contexts of " + std::to_string(len) +
          " tokens outside the bench layout");
  std::vector<int32_t> ids(len);
  for (int first = 0; first < seqs;) {
    const int count = std::min(seqs - first, max_tokens / len);
    shard::ForwardBatchBuilder builder(model_->kv_pool());
    for (int s = first; s < first + count; ++s) {
      for (int p = 0; p < len; ++p) ids[p] = TokenAt(s, p);
      builder.AddSequence(ids, 0, SequenceBlocks(s, BlocksFor(len)));
    }
    builder.AddLogitRow(builder.num_tokens() - 1);
    model_->Forward(builder.Build());
    first += count;
  }
  backend_.Synchronize();
}

const std::vector<int>& BenchModel::CaptureGraphs(int max_batch) {
  graphs_->Capture(context_blocks_, max_batch);
  return graphs_->sizes();
}

backend::Tensor BenchModel::GraphForward(const shard::ForwardBatch& batch) {
  std::optional<backend::Tensor> logits = graphs_->Forward(batch);
  TG_CHECK(logits.has_value(), kInternal,
           "no decode graph holds a batch of " + std::to_string(batch.num_seqs()) +
               " sequences (captured: " + std::to_string(graphs_->sizes().size()) + " sizes)");
  return *logits;
}

}  // namespace tg::bench
