#include "tests/parallel/sharded_llama.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "shard/models/rope.h"

namespace tg::parallel::testing {

using backend::DType;
using backend::Tensor;

namespace {

std::string LayerName(int layer, const std::string& suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
}

// The rank's slice of one tensor as read from disk, zero-padded to slice.padded_rows.
std::vector<float> ReadSlice(const model::WeightSource& source, const TensorParallelPlan& plan,
                             const std::string& name, int64_t* rows, int64_t* cols) {
  const WeightSlice slice = plan.Slice(name);
  const model::TensorInfo info = source.Info(name);
  std::vector<float> values = source.ReadF32(name, slice.rows, slice.cols);
  const int64_t full_cols = info.shape.size() == 2 ? info.shape[1] : 1;
  *cols = slice.kind == SplitKind::kColumns ? slice.cols.end - slice.cols.begin : full_cols;
  *rows = static_cast<int64_t>(values.size()) / *cols;
  if (slice.padded_rows > *rows) {
    values.resize(static_cast<size_t>(slice.padded_rows * *cols), 0.0f);
    *rows = slice.padded_rows;
  }
  // Row-parallel biases are added once, by rank 0, so the all-reduce does not multiply them.
  if (slice.kind == SplitKind::kReplicatedRank0 && plan.rank() != 0) {
    std::fill(values.begin(), values.end(), 0.0f);
  }
  return values;
}

}  // namespace

ShardedLlama::ShardedLlama(const model::WeightSource& source, const TensorParallelPlan& plan,
                           Communicator& comm, backend::Backend& backend, int num_blocks,
                           int block_size)
    : config_(source.config()),
      plan_(plan),
      comm_(comm),
      backend_(backend),
      block_size_(block_size) {
  auto upload = [&](std::vector<float> values, std::vector<int64_t> shape) {
    Tensor t = backend_.Allocate(DType::kF32, std::move(shape));
    backend_.CopyFromHost(values.data(), t);
    return t;
  };
  auto load = [&](const std::vector<std::string>& names, bool vector) {
    std::vector<float> stacked;
    int64_t total_rows = 0, cols = 0;
    for (const std::string& name : names) {
      int64_t rows = 0;
      std::vector<float> part = ReadSlice(source, plan, name, &rows, &cols);
      stacked.insert(stacked.end(), part.begin(), part.end());
      total_rows += rows;
    }
    return vector ? upload(std::move(stacked), {total_rows})
                  : upload(std::move(stacked), {total_rows, cols});
  };

  // Vocab-parallel embedding: the rank's padded chunk plus one zero row that every id outside
  // the chunk is mapped to, so the existing Embedding op does the masked lookup.
  {
    int64_t rows = 0, cols = 0;
    std::vector<float> table = ReadSlice(source, plan, "model.embed_tokens.weight", &rows, &cols);
    table.resize(table.size() + static_cast<size_t>(cols), 0.0f);
    embed_ = upload(std::move(table), {rows + 1, cols});
  }
  lm_head_ = config_.tie_word_embeddings ? embed_.Rows(0, plan.vocab_shard_size())
                                         : load({"lm_head.weight"}, false);
  final_norm_ = load({"model.norm.weight"}, true);
  const std::vector<float> inv_freq =
      shard::RopeInvFreq(config_, static_cast<int>(plan.head_dim()));
  inv_freq_ = upload(inv_freq, {static_cast<int64_t>(inv_freq.size())});

  const int64_t hk = plan.num_kv_heads(), d = plan.head_dim();
  for (int i = 0; i < static_cast<int>(config_.num_hidden_layers); ++i) {
    Layer layer;
    layer.input_norm = load({LayerName(i, "input_layernorm.weight")}, true);
    layer.q = load({LayerName(i, "self_attn.q_proj.weight")}, false);
    layer.k = load({LayerName(i, "self_attn.k_proj.weight")}, false);
    layer.v = load({LayerName(i, "self_attn.v_proj.weight")}, false);
    layer.o_proj = load({LayerName(i, "self_attn.o_proj.weight")}, false);
    layer.post_norm = load({LayerName(i, "post_attention_layernorm.weight")}, true);
    layer.gate_up =
        load({LayerName(i, "mlp.gate_proj.weight"), LayerName(i, "mlp.up_proj.weight")}, false);
    layer.down = load({LayerName(i, "mlp.down_proj.weight")}, false);
    layers_.push_back(std::move(layer));
    k_cache_.push_back(backend_.Allocate(DType::kF32, {num_blocks, block_size, hk, d}));
    v_cache_.push_back(backend_.Allocate(DType::kF32, {num_blocks, block_size, hk, d}));
  }
}

Tensor ShardedLlama::Ints(const std::vector<int32_t>& values) {
  Tensor t = backend_.Allocate(DType::kI32, {static_cast<int64_t>(values.size())});
  backend_.CopyFromHost(values.data(), t);
  return t;
}

Tensor ShardedLlama::Forward(const shard::ForwardBatch& batch) {
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int num_seqs = static_cast<int>(batch.seq_lens.size());
  const int64_t hidden = config_.hidden_size, inter = plan_.intermediate_size();
  const int64_t hq = plan_.num_heads(), hk = plan_.num_kv_heads(), d = plan_.head_dim();

  backend::AttentionBatch attn;
  attn.num_seqs = num_seqs;
  attn.num_tokens = static_cast<int>(n);
  attn.block_size = block_size_;
  for (int s = 0; s < num_seqs; ++s) {
    attn.max_query_len =
        std::max(attn.max_query_len, batch.query_start[s + 1] - batch.query_start[s]);
    attn.max_seq_len = std::max(attn.max_seq_len, batch.seq_lens[s]);
  }
  attn.query_start = Ints(batch.query_start);
  attn.seq_lens = Ints(batch.seq_lens);
  attn.block_tables = Ints(batch.block_tables).Reshape({num_seqs, batch.max_blocks});
  attn.slots = Ints(batch.slots);
  attn.positions = Ints(batch.positions);

  // Host-side id remapping for the vocab-parallel embedding.
  const IndexRange vocab = plan_.vocab();
  std::vector<int32_t> local_ids(batch.tokens.size());
  for (size_t t = 0; t < local_ids.size(); ++t) {
    const int32_t id = batch.tokens[t];
    local_ids[t] = id >= vocab.begin && id < vocab.end
                       ? static_cast<int32_t>(id - vocab.begin)
                       : static_cast<int32_t>(plan_.vocab_shard_size());
  }

  Tensor residual = backend_.Allocate(DType::kF32, {n, hidden});
  Tensor normed = backend_.Allocate(DType::kF32, {n, hidden});
  Tensor q = backend_.Allocate(DType::kF32, {n, hq, d});
  Tensor k = backend_.Allocate(DType::kF32, {n, hk, d});
  Tensor v = backend_.Allocate(DType::kF32, {n, hk, d});
  Tensor attn_out = backend_.Allocate(DType::kF32, {n, hq * d});
  Tensor branch = backend_.Allocate(DType::kF32, {n, hidden});
  Tensor gate_up = backend_.Allocate(DType::kF32, {n, 2 * inter});
  Tensor act = backend_.Allocate(DType::kF32, {n, inter});
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  layer_outputs_.assign(layers_.size(), std::vector<float>(2 * n * hidden));
  backend_.Embedding(embed_, Ints(local_ids), residual);
  comm_.AllReduceSum(residual);
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = layers_[i];
    if (i == 0) {
      backend_.RmsNorm(residual, nullptr, layer.input_norm, eps, normed);
    } else {
      backend_.RmsNorm(branch, &residual, layer.input_norm, eps, normed);
    }
    Tensor q_flat = q.Reshape({n, hq * d}), k_flat = k.Reshape({n, hk * d}),
           v_flat = v.Reshape({n, hk * d});
    backend_.Linear(normed, layer.q, nullptr, q_flat);
    backend_.Linear(normed, layer.k, nullptr, k_flat);
    backend_.Linear(normed, layer.v, nullptr, v_flat);
    backend_.Rotary(q, k, attn.positions, inv_freq_);
    backend_.WriteKv(k, v, attn.slots, k_cache_[i], v_cache_[i]);
    Tensor out = attn_out.Reshape({n, hq, d});
    if (attn.max_query_len == 1) {
      backend_.DecodeAttention(q, k_cache_[i], v_cache_[i], attn, scale, out);
    } else {
      backend_.PrefillAttention(q, k_cache_[i], v_cache_[i], attn, scale, out);
    }
    backend_.Linear(attn_out, layer.o_proj, nullptr, branch);  // partial sum over local heads
    comm_.AllReduceSum(branch);
    backend_.CopyToHost(branch, layer_outputs_[i].data());
    backend_.RmsNorm(branch, &residual, layer.post_norm, eps, normed);
    backend_.Linear(normed, layer.gate_up, nullptr, gate_up);
    backend_.SiluAndMul(gate_up, act);
    backend_.Linear(act, layer.down, nullptr, branch);  // partial sum over local intermediate
    comm_.AllReduceSum(branch);
    backend_.CopyToHost(branch, layer_outputs_[i].data() + n * hidden);
  }
  backend_.RmsNorm(branch, &residual, final_norm_, eps, normed);

  const int64_t rows = static_cast<int64_t>(batch.logit_rows.size());
  Tensor selected = backend_.Allocate(DType::kF32, {rows, hidden});
  backend_.Embedding(normed, Ints(batch.logit_rows), selected);
  Tensor local_logits = backend_.Allocate(DType::kF32, {rows, plan_.vocab_shard_size()});
  backend_.Linear(selected, lm_head_, nullptr, local_logits);
  Tensor logits = backend_.Allocate(DType::kF32, {rows, plan_.vocab_size()});
  comm_.AllGatherColumns(local_logits, logits);
  return logits;
}

}  // namespace tg::parallel::testing
