// WeightSource over a GGUF file: GGUF tensor names mapped to HF names, GGUF dims (innermost first)
// turned into row-major shapes, and llama.cpp's rope permutation of q/k rows undone.
#include <cstring>
#include <map>
#include <optional>

#include "common/error.h"
#include "model_files/gguf.h"
#include "model_files/tensor_slice.h"
#include "model_files/weight_source_impl.h"

namespace tg::model {

namespace {

struct Entry {
  const GgufTensorInfo* tensor;
  uint32_t permute_heads = 0;  // > 0: rows are in llama.cpp's interleaved rope order
};

class GgufWeightSource final : public WeightSource {
 public:
  explicit GgufWeightSource(const std::filesystem::path& path)
      : file_(GgufFile::Open(path)), config_(ModelConfigFromGguf(file_)) {
    // llama.cpp's converter reorders the q/k rows of each head for "llama" models so that its
    // rope can rotate adjacent pairs (GPT-J style); HF checkpoints rotate the two halves of the
    // head (NeoX style). Qwen2/Qwen3 GGUFs keep the HF order.
    const bool permuted = file_.GetString("general.architecture") == "llama";
    for (const auto& t : file_.tensors()) {
      auto hf = GgufToHfName(t.name);
      if (!hf) continue;
      Entry e{&t};
      if (permuted && t.shape.size() == 2) {
        if (hf->ends_with("self_attn.q_proj.weight")) e.permute_heads = config_.num_attention_heads;
        if (hf->ends_with("self_attn.k_proj.weight")) e.permute_heads = config_.num_key_value_heads;
        if (e.permute_heads > 0) {
          TG_CHECK(t.shape[0] == int64_t{e.permute_heads} * config_.head_dim, kCorruptFile,
                   file_.origin() + ": tensor " + t.name + " has " + std::to_string(t.shape[0]) +
                       " rows, expected heads x head_dim");
        }
      }
      entries_.emplace(std::move(*hf), e);
    }
  }

  const ModelConfig& config() const override { return config_; }
  bool Has(const std::string& name) const override { return entries_.count(name) > 0; }
  TensorInfo Info(const std::string& name) const override {
    const auto& e = Get(name);
    return {e.tensor->dtype, e.tensor->shape};
  }
  std::vector<std::string> Names() const override {
    std::vector<std::string> names;
    for (const auto& [name, e] : entries_) names.push_back(name);
    return names;
  }
  void ReadF32Into(const std::string& name, float* dst, RowRange rows,
                   RowRange cols) const override {
    const auto& e = Get(name);
    ReadSliceInto(e.tensor->dtype, file_.TensorData(*e.tensor),
                  ResolveSlice(e.tensor->shape, rows, cols, name), RowMapFor(e), dst);
  }
  void ReadBF16Into(const std::string& name, uint16_t* dst, RowRange rows,
                    RowRange cols) const override {
    const auto& e = Get(name);
    ReadSliceInto(e.tensor->dtype, file_.TensorData(*e.tensor),
                  ResolveSlice(e.tensor->shape, rows, cols, name), RowMapFor(e), dst);
  }
  std::vector<uint8_t> ReadStoredRows(const std::string& name) const override {
    const auto& e = Get(name);
    const std::vector<int64_t>& shape = e.tensor->shape;
    TG_CHECK(shape.size() == 2, kInvalidArgument, name + " is not a matrix");
    const std::optional<int64_t> row_bytes = DTypeBytes(e.tensor->dtype, shape[1]);
    TG_CHECK(row_bytes.has_value(), kCorruptFile,
             file_.origin() + ": rows of " + name + " are not whole blocks");
    const uint8_t* data = file_.TensorData(*e.tensor);
    std::vector<uint8_t> out(static_cast<size_t>(*row_bytes * shape[0]));
    const RowMap map = RowMapFor(e);
    for (int64_t r = 0; r < shape[0]; ++r) {
      const int64_t from = map ? map(r) : r;
      std::memcpy(out.data() + r * *row_bytes, data + from * *row_bytes,
                  static_cast<size_t>(*row_bytes));
    }
    return out;
  }
  const void* RawData(const std::string& name) const override {
    const auto& e = Get(name);
    const DType d = e.tensor->dtype;
    if (e.permute_heads > 0 || (d != DType::kF32 && d != DType::kF16 && d != DType::kBF16)) {
      return nullptr;
    }
    return file_.TensorData(*e.tensor);
  }

 private:
  const Entry& Get(const std::string& name) const {
    auto it = entries_.find(name);
    TG_CHECK(it != entries_.end(), kNotFound, "no tensor \"" + name + "\" in " + file_.origin());
    return it->second;
  }

  // HF row h of a head holds rotate-half index h; the GGUF stores the pair (i, i + d/2) of
  // the head at rows (2i, 2i + 1). So HF row (j * d/2 + i) comes from GGUF row (2i + j).
  RowMap RowMapFor(const Entry& e) const {
    if (e.permute_heads == 0) return {};
    const int64_t d = config_.head_dim, half = d / 2;
    return [d, half](int64_t h) {
      const int64_t head = h / d, local = h % d;
      return head * d + 2 * (local % half) + local / half;
    };
  }

  GgufFile file_;
  ModelConfig config_;
  std::map<std::string, Entry> entries_;
};

}  // namespace

std::unique_ptr<WeightSource> OpenGgufWeights(const std::filesystem::path& gguf_path) {
  return std::make_unique<GgufWeightSource>(gguf_path);
}

}  // namespace tg::model
