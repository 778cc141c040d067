// A model::WeightSource of random weights under the tensor names and shapes of an HF Llama
// checkpoint (the embedding, per layer the q/k/v/o and gate/up/down projections and both norms,
// the final norm, lm_head unless tied; q/k/v biases and q/k norms where the config has them),
// made on demand instead of read from files: the benchmarks load the real model
// (shard::LlamaModel) in the Llama-3-8B shape in seconds, with no 16 GB checkpoint to ship.
//
// Each element is a counter-based hash of (seed, tensor name, element index), computed in the
// dtype asked for (ReadBF16Into writes bf16 directly) on every core for large tensors, so a
// slice reads the same values as the whole tensor and nothing is stored. Matrices are uniform in
// +-1/sqrt(columns), which keeps every projection's output at the scale of its input, so the
// activations stay finite through any number of layers; norm weights are 1 and biases uniform
// in +-1/sqrt(hidden).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model_files/model_config.h"
#include "model_files/weight_source.h"

namespace tg::bench {

class RandomWeightSource : public model::WeightSource {
 public:
  // Throws tg::Error(kCorruptFile) for a config model::ValidateModelConfig refuses.
  explicit RandomWeightSource(const model::ModelConfig& config, uint32_t seed = 0);

  const model::ModelConfig& config() const override { return config_; }
  bool Has(const std::string& hf_name) const override { return tensors_.count(hf_name) > 0; }
  // Stored as bf16. Throws tg::Error(kNotFound) for a name the checkpoint would not hold.
  model::TensorInfo Info(const std::string& hf_name) const override;
  std::vector<std::string> Names() const override;
  void ReadF32Into(const std::string& name, float* dst, model::RowRange rows = {},
                   model::RowRange cols = {}) const override;
  void ReadBF16Into(const std::string& name, uint16_t* dst, model::RowRange rows = {},
                    model::RowRange cols = {}) const override;
  // Nothing is stored.
  const void* RawData(const std::string& /*name*/) const override { return nullptr; }

 private:
  struct Tensor {
    std::vector<int64_t> shape;
    float bound = 0;   // values uniform in +-bound; 0: every value is 1 (a norm weight)
    uint32_t key = 0;  // from the seed and the name
  };
  const Tensor& Find(const std::string& name) const;
  void Add(const std::string& name, std::vector<int64_t> shape, float bound);

  model::ModelConfig config_;
  uint32_t seed_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace tg::bench
