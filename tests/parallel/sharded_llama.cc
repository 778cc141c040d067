#include "tests/parallel/sharded_llama.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "shard/models/rope.h"
#include "shard/parallel/weight_slicing.h"

namespace tg::parallel::testing {

using backend::DType;
using backend::Tensor;

namespace {

std::string LayerName(int layer, const std::string& suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
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
      SlicedTensor<float> part = ReadSliceF32(source, plan, name);
      stacked.insert(stacked.end(), part.values.begin(), part.values.end());
      total_rows += part.rows;
      cols = part.cols;
    }
    return vector ? upload(std::move(stacked), {total_rows})
                  : upload(std::move(stacked), {total_rows, cols});
  };

  // Vocab-parallel embedding: the rank's padded chunk plus one zero row that every id outside
  // the chunk is mapped to, so the existing Embedding op does the masked lookup.
  {
    SlicedTensor<float> table = ReadSliceF32(source, plan, "model.embed_tokens.weight");
    table.values.resize(table.values.size() + static_cast<size_t>(table.cols), 0.0f);
    embed_ = upload(std::move(table.values), {table.rows + 1, table.cols});
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
  attn.host_query_start = batch.query_start;
  attn.host_seq_lens = batch.seq_lens;
  attn.block_tables = Ints(batch.block_tables).Reshape({num_seqs, batch.max_blocks});
  attn.slots = Ints(batch.slots);
  attn.positions = Ints(batch.positions);

  // Host-side id remapping for the vocab-parallel embedding.
  const std::vector<int32_t> local_ids = LocalVocabIds(plan_, batch.tokens);

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
