// The model hyper-parameters every other layer needs, from HF config.json (+
// generation_config.json) or from GGUF metadata (gguf.h: ModelConfigFromGguf). Validated once, at
// load time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tg::model {

struct RopeScaling {
  std::string type;  // "" none, "linear", "dynamic", "llama3", "yarn"
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;        // llama3
  uint32_t original_max_position_embeddings = 0;               // llama3, yarn, dynamic
  double beta_fast = 32, beta_slow = 1, attention_factor = 0;  // yarn (0: default formula)
};

struct ModelConfig {
  std::string model_type;    // "llama", "mistral", "qwen2", "qwen3"
  std::string architecture;  // architectures[0] of config.json, e.g. "LlamaForCausalLM"
  uint32_t hidden_size = 0;
  uint32_t intermediate_size = 0;
  uint32_t num_hidden_layers = 0;
  uint32_t num_attention_heads = 0;
  uint32_t num_key_value_heads = 0;  // GQA; equals num_attention_heads when absent
  uint32_t head_dim = 0;             // hidden_size / num_attention_heads when absent
  uint32_t vocab_size = 0;
  uint32_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections have a bias (qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k before rope (qwen3)
  std::optional<uint32_t> sliding_window;
  std::optional<uint32_t> bos_token_id;
  std::vector<uint32_t> eos_token_ids;  // union of config.json and generation_config.json
  std::string torch_dtype;              // "float32", "bfloat16", ... ("" when unknown)
};

// The model_type values this server runs.
const std::vector<std::string>& SupportedModelTypes();

// Reads <model_dir>/config.json and, when present, <model_dir>/generation_config.json.
// Throws tg::Error: kNotFound (no config.json), kCorruptFile (bad JSON / missing fields),
// kUnsupported (unknown model_type, naming it and listing the supported ones).
ModelConfig LoadHfModelConfig(const std::filesystem::path& model_dir);
// The same from JSON text (generation_config_json may be empty). `origin` names the source in
// error messages.
ModelConfig ParseHfModelConfig(std::string_view config_json,
                               std::string_view generation_config_json,
                               std::string_view origin = "config.json");
// Checks the invariants the model code relies on (sizes > 0, heads divide, GQA divides, ...).
void ValidateModelConfig(const ModelConfig& config, std::string_view origin);
// One line for the start-up log.
std::string Describe(const ModelConfig& config);

}  // namespace tg::model
