#include "shard/models/llama.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "common/error.h"
#include "model_files/dtype.h"
#include "shard/engine/attention_inputs.h"
#include "shard/models/load_progress.h"
#include "shard/models/rope.h"
#include "shard/parallel/weight_slicing.h"

namespace tg::shard {

using backend::DType;
using backend::Tensor;

namespace {

// The largest batch whose q, k and v come from one fused projection (see Forward): the largest
// decode graph batch.
constexpr int64_t kFusedQkvMaxTokens = 256;

// The no-op communicator of world size 1: stateless, so one instance serves every model.
parallel::Communicator& SingleRank() {
  static const std::unique_ptr<parallel::Communicator> single =
      parallel::MakeSingleRankCommunicator();
  return *single;
}

// This rank's slice of the model; none on a single rank.
std::optional<parallel::TensorParallelPlan> PlanFor(const model::ModelConfig& config,
                                                    const parallel::Communicator& comm) {
  if (comm.world_size() == 1) return std::nullopt;
  return parallel::TensorParallelPlan(config, comm.rank(), comm.world_size());
}

// The backend dtype of a stored GGML block format, if it is one a backend may compute on.
std::optional<DType> BlockDType(model::DType stored) {
  switch (stored) {
    case model::DType::kQ8_0:
      return DType::kQ8_0;
    case model::DType::kQ4_0:
      return DType::kQ4_0;
    case model::DType::kQ4_1:
      return DType::kQ4_1;
    default:
      return std::nullopt;
  }
}

std::string LayerName(int layer, const std::string& suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
}

}  // namespace

BlockWeights ParseBlockWeights(const std::string& name) {
  if (name == "keep") return BlockWeights::kKeep;
  if (name == "dequantize") return BlockWeights::kDequantize;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown block weights mode '" + name + "' (expected keep or dequantize)");
}

LlamaModel::LlamaModel(const model::ModelConfig& config, const model::WeightSource& source,
                       backend::Backend& backend, DType weight_dtype, BlockWeights block_weights)
    : LlamaModel(config, source, backend, weight_dtype, SingleRank(), block_weights) {}

LlamaModel::LlamaModel(const model::ModelConfig& config, const model::WeightSource& source,
                       backend::Backend& backend, DType weight_dtype, parallel::Communicator& comm,
                       BlockWeights block_weights)
    : config_(config),
      backend_(backend),
      comm_(comm),
      plan_(PlanFor(config, comm)),
      local_heads_(sliced() ? plan_->num_heads() : config.num_attention_heads),
      local_kv_heads_(sliced() ? plan_->num_kv_heads() : config.num_key_value_heads),
      local_intermediate_(sliced() ? plan_->intermediate_size() : config.intermediate_size),
      weight_dtype_(weight_dtype),
      block_weights_(block_weights),
      kv_pool_(backend, {.num_layers = static_cast<int>(config.num_hidden_layers),
                         .num_kv_heads = local_kv_heads_,
                         .head_dim = config.head_dim}) {
  TG_CHECK(weight_dtype != DType::kI32, kInvalidArgument, "weights must be a float dtype");
  const int head_dim = static_cast<int>(config.head_dim);
  q_dim_ = static_cast<int>(local_heads_) * head_dim;
  kv_dim_ = static_cast<int>(local_kv_heads_) * head_dim;

  // The embedding table doubles as lm_head when tied, so it takes the Linear dtype.
  embed_ = LoadMatrix(source, {"model.embed_tokens.weight"}, /*replicated=*/true);
  final_norm_ = LoadVector(source, {"model.norm.weight"});
  if (!config.tie_word_embeddings && source.Has("lm_head.weight")) {
    lm_head_ = LoadMatrix(source, {"lm_head.weight"}, /*replicated=*/true);
  } else {
    lm_head_ = embed_;
  }
  const std::vector<float> inv_freq = RopeInvFreq(config, head_dim);
  inv_freq_ = Upload(inv_freq, {static_cast<int64_t>(inv_freq.size())}, DType::kF32);

  LoadProgress progress(config.num_hidden_layers);
  for (int i = 0; i < static_cast<int>(config.num_hidden_layers); ++i) {
    Layer layer;
    layer.input_norm = LoadVector(source, {LayerName(i, "input_layernorm.weight")});
    layer.qkv = LoadMatrix(
        source, {LayerName(i, "self_attn.q_proj.weight"), LayerName(i, "self_attn.k_proj.weight"),
                 LayerName(i, "self_attn.v_proj.weight")});
    if (source.Has(LayerName(i, "self_attn.q_proj.bias"))) {
      layer.qkv_bias = LoadVector(
          source, {LayerName(i, "self_attn.q_proj.bias"), LayerName(i, "self_attn.k_proj.bias"),
                   LayerName(i, "self_attn.v_proj.bias")});
    }
    if (config.qk_norm) {
      layer.q_norm = LoadVector(source, {LayerName(i, "self_attn.q_norm.weight")});
      layer.k_norm = LoadVector(source, {LayerName(i, "self_attn.k_norm.weight")});
    }
    layer.o_proj = LoadMatrix(source, {LayerName(i, "self_attn.o_proj.weight")});
    layer.post_norm = LoadVector(source, {LayerName(i, "post_attention_layernorm.weight")});
    layer.gate_up = LoadMatrix(
        source, {LayerName(i, "mlp.gate_proj.weight"), LayerName(i, "mlp.up_proj.weight")});
    layer.down = LoadMatrix(source, {LayerName(i, "mlp.down_proj.weight")});
    layers_.push_back(std::move(layer));
    progress.Layer(i + 1);
  }
}

Tensor LlamaModel::Upload(const std::vector<float>& values, std::vector<int64_t> shape,
                          DType dtype) {
  Tensor tensor = backend_.Allocate(dtype, std::move(shape));
  TG_CHECK(static_cast<size_t>(tensor.numel()) == values.size(), kInternal, "upload size");
  if (dtype == DType::kF32) {
    backend_.CopyFromHost(values.data(), tensor);
  } else {
    std::vector<uint16_t> converted(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      converted[i] =
          dtype == DType::kBF16 ? model::F32ToBf16(values[i]) : model::F32ToF16(values[i]);
    }
    backend_.CopyFromHost(converted.data(), tensor);
  }
  weight_bytes_ += tensor.bytes();
  return tensor;
}

Tensor LlamaModel::UploadInts(const std::vector<int32_t>& values) {
  return shard::UploadInts(backend_, values);
}

std::vector<float> LlamaModel::ReadF32(const model::WeightSource& source, const std::string& name,
                                       int64_t* rows, int64_t* cols) const {
  if (sliced()) {
    parallel::SlicedTensor<float> slice = parallel::ReadSliceF32(source, *plan_, name);
    *rows = slice.rows;
    *cols = slice.cols;
    return std::move(slice.values);
  }
  const model::TensorInfo info = source.Info(name);
  *rows = info.shape.empty() ? 1 : info.shape[0];
  *cols = info.shape.size() == 2 ? info.shape[1] : 1;
  return source.ReadF32(name);
}

std::vector<uint16_t> LlamaModel::ReadBF16(const model::WeightSource& source,
                                           const std::string& name, int64_t* rows,
                                           int64_t* cols) const {
  if (sliced()) {
    parallel::SlicedTensor<uint16_t> slice = parallel::ReadSliceBF16(source, *plan_, name);
    *rows = slice.rows;
    *cols = slice.cols;
    return std::move(slice.values);
  }
  const model::TensorInfo info = source.Info(name);
  *rows = info.shape.empty() ? 1 : info.shape[0];
  *cols = info.shape.size() == 2 ? info.shape[1] : 1;
  return source.ReadBF16(name);
}

// Rows of several [rows_i, cols] matrices (this rank's slices) stacked into one weight.
Tensor LlamaModel::LoadMatrix(const model::WeightSource& source,
                              const std::vector<std::string>& names, bool replicated) {
  for (const std::string& name : names) {
    TG_CHECK(source.Info(name).shape.size() == 2, kCorruptFile, name + " is not a matrix");
  }
  if (Tensor blocks = LoadBlocks(source, names, replicated); blocks.defined()) return blocks;
  int64_t rows = 0, cols = -1;
  auto stack = [&](auto& values, auto&& read) {
    for (const std::string& name : names) {
      int64_t part_rows = 0, part_cols = 0;
      auto part = read(name, &part_rows, &part_cols);
      TG_CHECK(cols < 0 || cols == part_cols, kCorruptFile, name + " has a different width");
      cols = part_cols;
      rows += part_rows;
      values.insert(values.end(), part.begin(), part.end());
    }
  };
  auto whole_f32 = [&](const std::string& name, int64_t* r, int64_t* c) {
    const model::TensorInfo info = source.Info(name);
    *r = info.shape[0];
    *c = info.shape[1];
    return source.ReadF32(name);
  };
  auto whole_bf16 = [&](const std::string& name, int64_t* r, int64_t* c) {
    const model::TensorInfo info = source.Info(name);
    *r = info.shape[0];
    *c = info.shape[1];
    return source.ReadBF16(name);
  };
  if (weight_dtype_ == DType::kBF16) {
    std::vector<uint16_t> values;
    if (replicated) {
      stack(values, whole_bf16);
    } else {
      stack(values, [&](const std::string& name, int64_t* r, int64_t* c) {
        return ReadBF16(source, name, r, c);
      });
    }
    Tensor tensor = backend_.Allocate(DType::kBF16, {rows, cols});
    backend_.CopyFromHost(values.data(), tensor);
    weight_bytes_ += tensor.bytes();
    return tensor;
  }
  std::vector<float> values;
  if (replicated) {
    stack(values, whole_f32);
  } else {
    stack(values, [&](const std::string& name, int64_t* r, int64_t* c) {
      return ReadF32(source, name, r, c);
    });
  }
  return Upload(values, {rows, cols}, weight_dtype_);
}

Tensor LlamaModel::LoadBlocks(const model::WeightSource& source,
                              const std::vector<std::string>& names, bool replicated) {
  if (block_weights_ != BlockWeights::kKeep || (sliced() && !replicated)) return Tensor();
  const model::TensorInfo first = source.Info(names.front());
  std::optional<DType> dtype = BlockDType(first.dtype);
  if (!dtype || !backend_.ComputesOnBlocks(*dtype)) return Tensor();
  int64_t rows = 0;
  for (const std::string& name : names) {
    const model::TensorInfo info = source.Info(name);
    // Parts in different formats (e.g. a Q6_K v_proj beside Q4_K q/k) are dequantized together.
    if (info.dtype != first.dtype || info.shape[1] != first.shape[1]) return Tensor();
    rows += info.shape[0];
  }
  if (first.shape[1] % backend::DTypeBlockElems(*dtype) != 0) return Tensor();
  std::vector<uint8_t> bytes;
  for (const std::string& name : names) {
    const std::vector<uint8_t> part = source.ReadStoredRows(name);
    bytes.insert(bytes.end(), part.begin(), part.end());
  }
  Tensor tensor = backend_.Allocate(*dtype, {rows, first.shape[1]});
  TG_CHECK(tensor.bytes() == bytes.size(), kInternal, "block weight size");
  backend_.CopyFromHost(bytes.data(), tensor);
  weight_bytes_ += tensor.bytes();
  return tensor;
}

Tensor LlamaModel::LoadVector(const model::WeightSource& source,
                              const std::vector<std::string>& names) {
  std::vector<float> values;
  for (const std::string& name : names) {
    int64_t rows = 0, cols = 0;
    const std::vector<float> part = ReadF32(source, name, &rows, &cols);
    values.insert(values.end(), part.begin(), part.end());
  }
  return Upload(values, {static_cast<int64_t>(values.size())}, DType::kF32);
}

Tensor LlamaModel::Forward(const ForwardBatch& batch) {
  const AttentionInputs inputs = UploadAttentionInputs(batch, kv_pool_, backend_);
  const backend::AttentionBatch& attn = inputs.whole;
  const bool decode = inputs.decode;
  const int decode_seqs = inputs.decode_seqs;
  const backend::AttentionBatch &decode_part = inputs.decode_part, &chunk_part = inputs.chunk_part;
  const int64_t n = batch.num_tokens();
  const int64_t hidden = config_.hidden_size, inter = local_intermediate_;
  const int64_t hq = local_heads_, hk = local_kv_heads_;
  const int64_t d = config_.head_dim;

  Tensor ids = UploadInts(batch.tokens);
  Tensor residual = backend_.Allocate(DType::kF32, {n, hidden});
  // In the dtype the projections read without a conversion pass (16-bit on CUDA).
  Tensor normed =
      backend_.Allocate(backend_.ActivationDType(layers_.front().qkv.dtype()), {n, hidden});
  // Up to decode-sized batches q, k and v come from one fused projection: separate k and v
  // GEMMs are too narrow to fill the GPU there (cuda_bench: 0.15 of copy bandwidth at 1-64 rows
  // against 0.8 for the fused one). With one token they are contiguous slices of its output;
  // with more, SplitColumns copies them out so heads stay contiguous per token. Larger batches
  // are compute-bound, and three GEMMs cost less than the copy.
  const bool fused_qkv = n <= kFusedQkvMaxTokens;
  Tensor qkv;
  if (fused_qkv) qkv = backend_.Allocate(DType::kF32, {n, q_dim_ + 2 * kv_dim_});
  Tensor q, k, v;
  if (n == 1) {
    Tensor flat = qkv.Reshape({q_dim_ + 2 * kv_dim_});
    q = flat.Rows(0, q_dim_).Reshape({1, hq, d});
    k = flat.Rows(q_dim_, kv_dim_).Reshape({1, hk, d});
    v = flat.Rows(q_dim_ + kv_dim_, kv_dim_).Reshape({1, hk, d});
  } else {
    q = backend_.Allocate(DType::kF32, {n, hq, d});
    k = backend_.Allocate(DType::kF32, {n, hk, d});
    v = backend_.Allocate(DType::kF32, {n, hk, d});
  }
  // In the dtype the backend's attention writes and its o_proj reads without a conversion pass
  // (bf16 on CUDA with bf16 weights), every part of a mixed step writing its rows.
  const DType attn_dtype = backend_.AttentionOutDType(attn, layers_.front().o_proj.dtype());
  Tensor attn_out = backend_.Allocate(attn_dtype, {n, hq * d});
  Tensor branch = backend_.Allocate(DType::kF32, {n, hidden});
  Tensor gate_up =
      backend_.Allocate(backend_.GateUpDType(layers_.front().gate_up.dtype(), n), {n, 2 * inter});
  Tensor act = backend_.Allocate(DType::kF32, {n, inter});
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  backend_.Embedding(embed_, ids, residual);
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = layers_[i];
    if (i == 0) {
      backend_.RmsNorm(residual, nullptr, layer.input_norm, eps, normed);
    } else {
      backend_.RmsNorm(branch, &residual, layer.input_norm, eps, normed);
    }
    // Otherwise q, k and v come from row ranges of the fused weight, each into its own tensor.
    const int64_t offsets[4] = {0, q_dim_, q_dim_ + kv_dim_, q_dim_ + 2 * kv_dim_};
    Tensor* outputs[3] = {&q, &k, &v};
    if (fused_qkv) {
      backend_.Linear(normed, layer.qkv, layer.qkv_bias.defined() ? &layer.qkv_bias : nullptr, qkv);
      if (n > 1) {
        Tensor flat_q = q.Reshape({n, q_dim_}), flat_k = k.Reshape({n, kv_dim_}),
               flat_v = v.Reshape({n, kv_dim_});
        Tensor* parts[3] = {&flat_q, &flat_k, &flat_v};
        backend_.SplitColumns(qkv, parts);
      }
    }
    for (int part = 0; part < 3 && !fused_qkv; ++part) {
      const int64_t count = offsets[part + 1] - offsets[part];
      Tensor weight = layer.qkv.Rows(offsets[part], count);
      Tensor bias = layer.qkv_bias.defined() ? layer.qkv_bias.Rows(offsets[part], count) : Tensor();
      Tensor flat = outputs[part]->Reshape({n, count});
      backend_.Linear(normed, weight, bias.defined() ? &bias : nullptr, flat);
    }
    if (config_.qk_norm) {
      Tensor q_heads = q.Reshape({n * hq, d}), k_heads = k.Reshape({n * hk, d});
      backend_.RmsNorm(q_heads, nullptr, layer.q_norm, eps, q_heads);
      backend_.RmsNorm(k_heads, nullptr, layer.k_norm, eps, k_heads);
    }
    backend_.RotaryWriteKv(q, k, v, attn.positions, inv_freq_, attn.slots, k_cache_[i],
                           v_cache_[i]);
    Tensor out = attn_out.Reshape({n, hq, d});
    if (decode) {
      backend_.DecodeAttention(q, k_cache_[i], v_cache_[i], attn, scale, out);
    } else if (decode_seqs > 0) {
      const Tensor q_decode = q.Rows(0, decode_seqs),
                   q_chunks = q.Rows(decode_seqs, n - decode_seqs);
      Tensor out_decode = out.Rows(0, decode_seqs),
             out_chunks = out.Rows(decode_seqs, n - decode_seqs);
      backend_.DecodeAttention(q_decode, k_cache_[i], v_cache_[i], decode_part, scale, out_decode);
      backend_.PrefillAttention(q_chunks, k_cache_[i], v_cache_[i], chunk_part, scale, out_chunks);
    } else {
      backend_.PrefillAttention(q, k_cache_[i], v_cache_[i], attn, scale, out);
    }
    backend_.Linear(attn_out, layer.o_proj, nullptr, branch);
    if (sliced()) comm_.AllReduceSum(branch);
    backend_.RmsNorm(branch, &residual, layer.post_norm, eps, normed);
    backend_.Linear(normed, layer.gate_up, nullptr, gate_up);
    backend_.SiluAndMulLinear(gate_up, layer.down, act, branch);
    if (sliced()) comm_.AllReduceSum(branch);
  }
  backend_.RmsNorm(branch, &residual, final_norm_, eps, normed);

  // Only the requested rows go through lm_head; the Embedding op doubles as a row gather.
  const int64_t rows = static_cast<int64_t>(batch.logit_rows.size());
  Tensor selected = backend_.Allocate(DType::kF32, {rows, hidden});
  backend_.Embedding(normed, UploadInts(batch.logit_rows), selected);
  Tensor logits = backend_.Allocate(DType::kF32, {rows, static_cast<int64_t>(config_.vocab_size)});
  backend_.Linear(selected, lm_head_, nullptr, logits);
  return logits;
}

}  // namespace tg::shard
