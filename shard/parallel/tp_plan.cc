#include "shard/parallel/tp_plan.h"

#include <algorithm>
#include <sstream>
#include <string_view>

#include "common/error.h"

namespace tg::parallel {
namespace {

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The part after "model.layers.<n>." (or the whole name for non-layer tensors).
std::string_view LayerLocalName(std::string_view name) {
  constexpr std::string_view kPrefix = "model.layers.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return name;
  std::string_view rest = name.substr(kPrefix.size());
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return name;
  return rest.substr(dot + 1);
}

// Even split of `count` items into `parts`; requires divisibility (checked by the caller).
IndexRange EvenPart(int64_t count, int parts, int index) {
  int64_t size = count / parts;
  return {index * size, (index + 1) * size};
}

model::RowRange ToRowRange(IndexRange range) { return {range.begin, range.end}; }

WeightSlice Rows(IndexRange range) { return {.kind = SplitKind::kRows, .rows = ToRowRange(range)}; }
WeightSlice Columns(IndexRange range) {
  return {.kind = SplitKind::kColumns, .cols = ToRowRange(range)};
}

}  // namespace

const char* ToString(SplitKind kind) {
  switch (kind) {
    case SplitKind::kReplicated:
      return "replicated";
    case SplitKind::kRows:
      return "rows";
    case SplitKind::kColumns:
      return "columns";
    case SplitKind::kReplicatedRank0:
      return "replicated-rank0";
  }
  return "?";
}

TensorParallelPlan::TensorParallelPlan(const model::ModelConfig& config, int rank, int world_size)
    : rank_(rank), world_size_(world_size) {
  TG_CHECK(world_size >= 1, kInvalidArgument,
           "world size must be at least 1, got " + std::to_string(world_size));
  TG_CHECK(rank >= 0 && rank < world_size, kInvalidArgument,
           "rank " + std::to_string(rank) + " is outside [0, " + std::to_string(world_size) + ")");
  const int64_t hq = config.num_attention_heads;
  const int64_t hk = config.num_key_value_heads != 0 ? config.num_key_value_heads : hq;
  const int64_t inter = config.intermediate_size;
  TG_CHECK(hq > 0 && hk > 0 && hq % hk == 0 && config.hidden_size > 0 && inter > 0 &&
               config.vocab_size > 0,
           kInvalidArgument, "tensor-parallel plan needs a validated model config");
  head_dim_ = config.head_dim != 0 ? config.head_dim : config.hidden_size / hq;
  const std::string n = std::to_string(world_size);

  TG_CHECK(hq % world_size == 0, kUnsupported,
           "cannot split " + std::to_string(hq) + " attention heads over " + n +
               " shards: the shard count must divide the number of attention heads");
  heads_ = EvenPart(hq, world_size, rank);

  kv_replicated_ = hk < world_size;
  if (kv_replicated_) {
    TG_CHECK(world_size % hk == 0, kUnsupported,
             "cannot place " + std::to_string(hk) + " KV heads on " + n +
                 " shards: with fewer KV heads than shards, the shard count must be a multiple "
                 "of the KV head count");
    // Ranks [k * N/Hk, (k+1) * N/Hk) hold KV head k; their query heads all belong to group k
    // because Hq/N divides Hq/Hk.
    int64_t head = rank / (world_size / hk);
    kv_heads_ = {head, head + 1};
  } else {
    TG_CHECK(hk % world_size == 0, kUnsupported,
             "cannot split " + std::to_string(hk) + " KV heads over " + n +
                 " shards: the shard count must divide the number of KV heads");
    kv_heads_ = EvenPart(hk, world_size, rank);
  }

  TG_CHECK(inter % world_size == 0, kUnsupported,
           "cannot split intermediate size " + std::to_string(inter) + " over " + n + " shards");
  intermediate_ = EvenPart(inter, world_size, rank);

  vocab_size_ = config.vocab_size;
  vocab_shard_size_ = (vocab_size_ + world_size - 1) / world_size;
  vocab_.begin = std::min(vocab_size_, rank * vocab_shard_size_);
  vocab_.end = std::min(vocab_size_, (rank + 1) * vocab_shard_size_);
}

WeightSlice TensorParallelPlan::Slice(const std::string& hf_name) const {
  const std::string_view name = LayerLocalName(hf_name);
  const IndexRange q_rows{heads_.begin * head_dim_, heads_.end * head_dim_};
  const IndexRange kv_rows{kv_heads_.begin * head_dim_, kv_heads_.end * head_dim_};

  if (hf_name == "model.embed_tokens.weight" || hf_name == "lm_head.weight") {
    WeightSlice slice = Rows(vocab_);
    if (vocab_.size() < vocab_shard_size_) slice.padded_rows = vocab_shard_size_;
    return slice;
  }
  if (EndsWith(name, "norm.weight") || EndsWith(name, "norm.bias") ||
      EndsWith(name, "rotary_emb.inv_freq")) {
    return {};  // input/post-attention/final norms, qwen3 per-head q/k norms
  }
  if (name == "self_attn.q_proj.weight" || name == "self_attn.q_proj.bias") return Rows(q_rows);
  if (name == "self_attn.k_proj.weight" || name == "self_attn.k_proj.bias" ||
      name == "self_attn.v_proj.weight" || name == "self_attn.v_proj.bias") {
    return Rows(kv_rows);
  }
  if (name == "self_attn.o_proj.weight") return Columns(q_rows);
  if (name == "mlp.gate_proj.weight" || name == "mlp.up_proj.weight") return Rows(intermediate_);
  if (name == "mlp.down_proj.weight") return Columns(intermediate_);
  if (name == "self_attn.o_proj.bias" || name == "mlp.down_proj.bias") {
    return {.kind = SplitKind::kReplicatedRank0};
  }
  throw Error(ErrorKind::kUnsupported,
              "tensor parallelism does not know how to split weight '" + hf_name + "'");
}

std::string TensorParallelPlan::Describe() const {
  std::ostringstream out;
  out << "tp rank " << rank_ << "/" << world_size_ << ": heads [" << heads_.begin << ","
      << heads_.end << ") kv_heads [" << kv_heads_.begin << "," << kv_heads_.end << ")"
      << (kv_replicated_ ? " (replicated)" : "") << " intermediate [" << intermediate_.begin << ","
      << intermediate_.end << ") vocab [" << vocab_.begin << "," << vocab_.end << ") of "
      << vocab_size_ << " (shard " << vocab_shard_size_ << ")";
  return out.str();
}

}  // namespace tg::parallel
