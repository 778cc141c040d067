// WeightSource over an HF model directory: config.json + safetensors (single file or sharded).
#include "common/error.h"
#include "model_files/safetensors.h"
#include "model_files/tensor_slice.h"
#include "model_files/weight_source_impl.h"

namespace tg::model {

namespace {

class SafetensorsWeightSource final : public WeightSource {
 public:
  explicit SafetensorsWeightSource(const std::filesystem::path& dir)
      : config_(LoadHfModelConfig(dir)), ckpt_(SafetensorsCheckpoint::Open(dir)) {}

  const ModelConfig& config() const override { return config_; }
  bool Has(const std::string& name) const override { return ckpt_.Find(name) != nullptr; }
  TensorInfo Info(const std::string& name) const override {
    const auto& e = Get(name);
    return {e.tensor->dtype, e.tensor->shape};
  }
  std::vector<std::string> Names() const override {
    std::vector<std::string> names;
    for (const auto& [name, e] : ckpt_.entries()) names.push_back(name);
    return names;
  }
  void ReadF32Into(const std::string& name, float* dst, RowRange rows,
                   RowRange cols) const override {
    const auto& e = Get(name);
    ReadSliceInto(e.tensor->dtype, e.file->Data(*e.tensor),
                  ResolveSlice(e.tensor->shape, rows, cols, name), {}, dst);
  }
  void ReadBF16Into(const std::string& name, uint16_t* dst, RowRange rows,
                    RowRange cols) const override {
    const auto& e = Get(name);
    ReadSliceInto(e.tensor->dtype, e.file->Data(*e.tensor),
                  ResolveSlice(e.tensor->shape, rows, cols, name), {}, dst);
  }
  const void* RawData(const std::string& name) const override {
    const auto& e = Get(name);
    const DType d = e.tensor->dtype;
    if (d != DType::kF32 && d != DType::kF16 && d != DType::kBF16) return nullptr;
    return e.file->Data(*e.tensor);
  }

 private:
  const SafetensorsCheckpoint::Entry& Get(const std::string& name) const {
    const auto* e = ckpt_.Find(name);
    TG_CHECK(e != nullptr, kNotFound, "no tensor \"" + name + "\" in the safetensors checkpoint");
    return *e;
  }

  ModelConfig config_;
  SafetensorsCheckpoint ckpt_;
};

}  // namespace

std::unique_ptr<WeightSource> OpenSafetensorsWeights(const std::filesystem::path& model_dir) {
  return std::make_unique<SafetensorsWeightSource>(model_dir);
}

}  // namespace tg::model
