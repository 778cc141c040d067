#include "model_files/model_config.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"

namespace tg::model {

namespace {

using nlohmann::json;

std::string ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  TG_CHECK(in.good(), kNotFound, "cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

json ParseJson(std::string_view text, std::string_view origin) {
  try {
    json j = json::parse(text);
    TG_CHECK(j.is_object(), kCorruptFile, std::string(origin) + ": top level is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kCorruptFile, std::string(origin) + ": invalid JSON: " + e.what());
  }
}

// A key that is absent or JSON null counts as absent (HF writes "head_dim": null, "sliding_window":
// null).
const json* Find(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

uint32_t GetU32(const json& j, const char* key, std::string_view origin,
                std::optional<uint32_t> fallback = std::nullopt) {
  const json* v = Find(j, key);
  if (v == nullptr) {
    TG_CHECK(fallback.has_value(), kCorruptFile,
             std::string(origin) + ": missing required field \"" + key + "\"");
    return *fallback;
  }
  TG_CHECK(v->is_number_integer() && v->get<int64_t>() >= 0 &&
               v->get<int64_t>() <= std::numeric_limits<uint32_t>::max(),
           kCorruptFile, std::string(origin) + ": \"" + key + "\" is not a non-negative integer");
  return static_cast<uint32_t>(v->get<int64_t>());
}

double GetDouble(const json& j, const char* key, double fallback, std::string_view origin) {
  const json* v = Find(j, key);
  if (v == nullptr) return fallback;
  TG_CHECK(v->is_number(), kCorruptFile, std::string(origin) + ": \"" + key + "\" is not a number");
  return v->get<double>();
}

bool GetBool(const json& j, const char* key, bool fallback, std::string_view origin) {
  const json* v = Find(j, key);
  if (v == nullptr) return fallback;
  TG_CHECK(v->is_boolean(), kCorruptFile,
           std::string(origin) + ": \"" + key + "\" is not a boolean");
  return v->get<bool>();
}

// eos_token_id may be one id or a list of ids.
void AddTokenIds(const json& j, const char* key, std::string_view origin,
                 std::vector<uint32_t>* out) {
  const json* v = Find(j, key);
  if (v == nullptr) return;
  auto add = [&](const json& id) {
    TG_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, kCorruptFile,
             std::string(origin) + ": \"" + key + "\" holds a non-integer token id");
    const auto value = static_cast<uint32_t>(id.get<int64_t>());
    if (std::find(out->begin(), out->end(), value) == out->end()) out->push_back(value);
  };
  if (v->is_array()) {
    for (const auto& id : *v) add(id);
  } else {
    add(*v);
  }
}

// transformers >= 5 writes rope settings (theta included) under "rope_parameters" instead of the
// top-level "rope_theta"/"rope_scaling" that checkpoints on the Hub carry; both must load.
const json* RopeSettings(const json& config) {
  const json* v = Find(config, "rope_scaling");
  if (v == nullptr) v = Find(config, "rope_parameters");
  return v;
}

double ParseRopeTheta(const json& config, std::string_view origin) {
  if (Find(config, "rope_theta") == nullptr) {
    const json* params = Find(config, "rope_parameters");
    if (params != nullptr && params->is_object() && Find(*params, "rope_theta") != nullptr) {
      return GetDouble(*params, "rope_theta", 10000.0, std::string(origin) + " rope_parameters");
    }
  }
  return GetDouble(config, "rope_theta", 10000.0, origin);
}

RopeScaling ParseRopeScaling(const json& config, std::string_view origin) {
  RopeScaling rs;
  const json* v = RopeSettings(config);
  if (v == nullptr) return rs;
  TG_CHECK(v->is_object(), kCorruptFile, std::string(origin) + ": rope_scaling is not an object");
  // transformers >= 4.45 writes "rope_type"; older configs write "type".
  const json* type = Find(*v, "rope_type");
  if (type == nullptr) type = Find(*v, "type");
  TG_CHECK(type != nullptr && type->is_string(), kCorruptFile,
           std::string(origin) + ": rope_scaling has no rope_type");
  rs.type = type->get<std::string>();
  if (rs.type == "default") {
    rs.type.clear();
    return rs;
  }
  static const char* kKnown[] = {"linear", "dynamic", "llama3", "yarn"};
  TG_CHECK(std::find(std::begin(kKnown), std::end(kKnown), rs.type) != std::end(kKnown),
           kUnsupported,
           std::string(origin) + ": rope_scaling type \"" + rs.type +
               "\" is not supported (supported: linear, dynamic, llama3, yarn)");
  const std::string where = std::string(origin) + " rope_scaling";
  rs.factor = GetDouble(*v, "factor", 1.0, where);
  rs.low_freq_factor = GetDouble(*v, "low_freq_factor", 1.0, where);
  rs.high_freq_factor = GetDouble(*v, "high_freq_factor", 4.0, where);
  rs.original_max_position_embeddings = GetU32(*v, "original_max_position_embeddings", where, 0u);
  rs.beta_fast = GetDouble(*v, "beta_fast", 32.0, where);
  rs.beta_slow = GetDouble(*v, "beta_slow", 1.0, where);
  rs.attention_factor = GetDouble(*v, "attention_factor", 0.0, where);
  TG_CHECK(rs.factor > 0, kCorruptFile, where + ": factor must be > 0");
  return rs;
}

std::string JoinSupported() {
  std::string out;
  for (const auto& t : SupportedModelTypes()) out += (out.empty() ? "" : ", ") + t;
  return out;
}

}  // namespace

const std::vector<std::string>& SupportedModelTypes() {
  static const std::vector<std::string> kTypes = {"llama", "mistral", "qwen2", "qwen3"};
  return kTypes;
}

ModelConfig ParseHfModelConfig(std::string_view config_json,
                               std::string_view generation_config_json, std::string_view origin) {
  const json j = ParseJson(config_json, origin);
  ModelConfig c;
  const json* type = Find(j, "model_type");
  TG_CHECK(type != nullptr && type->is_string(), kCorruptFile,
           std::string(origin) + ": missing \"model_type\"");
  c.model_type = type->get<std::string>();
  if (const json* archs = Find(j, "architectures");
      archs && archs->is_array() && !archs->empty() && (*archs)[0].is_string()) {
    c.architecture = (*archs)[0].get<std::string>();
  }
  const auto& supported = SupportedModelTypes();
  if (std::find(supported.begin(), supported.end(), c.model_type) == supported.end()) {
    throw Error(ErrorKind::kUnsupported,
                std::string(origin) + ": unsupported architecture \"" + c.model_type + "\"" +
                    (c.architecture.empty() ? "" : " (" + c.architecture + ")") +
                    "; supported model types: " + JoinSupported());
  }
  c.hidden_size = GetU32(j, "hidden_size", origin);
  c.intermediate_size = GetU32(j, "intermediate_size", origin);
  c.num_hidden_layers = GetU32(j, "num_hidden_layers", origin);
  c.num_attention_heads = GetU32(j, "num_attention_heads", origin);
  c.num_key_value_heads = GetU32(j, "num_key_value_heads", origin, c.num_attention_heads);
  TG_CHECK(c.num_attention_heads > 0, kCorruptFile,
           std::string(origin) + ": num_attention_heads must be > 0");
  c.head_dim = GetU32(j, "head_dim", origin, c.hidden_size / c.num_attention_heads);
  c.vocab_size = GetU32(j, "vocab_size", origin);
  c.max_position_embeddings = GetU32(j, "max_position_embeddings", origin, 2048u);
  c.rms_norm_eps = GetDouble(j, "rms_norm_eps", 1e-6, origin);
  c.rope_theta = ParseRopeTheta(j, origin);
  c.rope_scaling = ParseRopeScaling(j, origin);
  c.tie_word_embeddings = GetBool(j, "tie_word_embeddings", false, origin);
  // Qwen2 always has q/k/v biases; Llama/Mistral/Qwen3 only with attention_bias = true.
  c.attention_bias = c.model_type == "qwen2" || GetBool(j, "attention_bias", false, origin);
  c.qk_norm = c.model_type == "qwen3";
  // Mistral applies sliding_window whenever set; Qwen2/Qwen3 only with use_sliding_window.
  if (Find(j, "sliding_window") != nullptr) {
    const bool used = c.model_type == "mistral" || GetBool(j, "use_sliding_window", false, origin);
    if (used) c.sliding_window = GetU32(j, "sliding_window", origin);
  }
  if (Find(j, "bos_token_id") != nullptr) c.bos_token_id = GetU32(j, "bos_token_id", origin);
  AddTokenIds(j, "eos_token_id", origin, &c.eos_token_ids);
  if (!generation_config_json.empty()) {
    const json g = ParseJson(generation_config_json, "generation_config.json");
    AddTokenIds(g, "eos_token_id", "generation_config.json", &c.eos_token_ids);
    if (!c.bos_token_id && Find(g, "bos_token_id") != nullptr) {
      c.bos_token_id = GetU32(g, "bos_token_id", "generation_config.json");
    }
  }
  // transformers >= 4.56 writes "dtype" instead of "torch_dtype".
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (const json* v = Find(j, key); v != nullptr && v->is_string() && c.torch_dtype.empty()) {
      c.torch_dtype = v->get<std::string>();
    }
  }
  ValidateModelConfig(c, origin);
  return c;
}

ModelConfig LoadHfModelConfig(const std::filesystem::path& model_dir) {
  const auto config_path = model_dir / "config.json";
  TG_CHECK(std::filesystem::is_regular_file(config_path), kNotFound,
           "no config.json in " + model_dir.string());
  const std::string config = ReadTextFile(config_path);
  std::string generation;
  const auto gen_path = model_dir / "generation_config.json";
  if (std::filesystem::is_regular_file(gen_path)) generation = ReadTextFile(gen_path);
  return ParseHfModelConfig(config, generation, config_path.string());
}

void ValidateModelConfig(const ModelConfig& c, std::string_view origin) {
  const std::string o(origin);
  TG_CHECK(
      c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 && c.vocab_size > 0,
      kCorruptFile,
      o + ": hidden_size, intermediate_size, num_hidden_layers and vocab_size must be > 0");
  TG_CHECK(c.num_attention_heads > 0 && c.num_key_value_heads > 0, kCorruptFile,
           o + ": head counts must be > 0");
  TG_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, kCorruptFile,
           o + ": num_attention_heads (" + std::to_string(c.num_attention_heads) +
               ") is not a multiple of num_key_value_heads (" +
               std::to_string(c.num_key_value_heads) + ")");
  TG_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0, kCorruptFile,
           o + ": head_dim must be a positive even number, got " + std::to_string(c.head_dim));
  TG_CHECK(c.rms_norm_eps > 0 && c.rope_theta > 0, kCorruptFile,
           o + ": rms_norm_eps and rope_theta must be > 0");
}

std::string Describe(const ModelConfig& c) {
  std::ostringstream s;
  s << c.model_type << (c.architecture.empty() ? "" : " (" + c.architecture + ")")
    << ": hidden=" << c.hidden_size << " intermediate=" << c.intermediate_size
    << " layers=" << c.num_hidden_layers << " heads=" << c.num_attention_heads
    << " kv_heads=" << c.num_key_value_heads << " head_dim=" << c.head_dim
    << " vocab=" << c.vocab_size << " max_pos=" << c.max_position_embeddings
    << " rope_theta=" << c.rope_theta;
  if (!c.rope_scaling.type.empty()) {
    s << " rope_scaling=" << c.rope_scaling.type << "x" << c.rope_scaling.factor;
  }
  if (c.sliding_window) s << " sliding_window=" << *c.sliding_window;
  s << " tied=" << (c.tie_word_embeddings ? "yes" : "no");
  if (c.attention_bias) s << " qkv_bias";
  if (c.qk_norm) s << " qk_norm";
  if (!c.torch_dtype.empty()) s << " dtype=" << c.torch_dtype;
  return s.str();
}

}  // namespace tg::model
