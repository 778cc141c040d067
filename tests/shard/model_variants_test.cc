// The Llama-family variants the stories260K reference does not cover (Qwen2 q/k/v biases, Qwen3
// per-head q/k RMSNorm, Llama-3 rope scaling, untied lm_head, GQA) against a plain double
// reference forward written from the HF modelling code, on small random models saved as real
// config.json + model.safetensors directories.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <random>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "model_files/weight_source.h"
#include "shard/backend/backend.h"
#include "shard/models/llama.h"

namespace tg::shard {
namespace {

using Weights = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;

struct Variant {
  std::string model_type;
  nlohmann::json extra;  // merged into config.json
  bool bias = false, qk_norm = false;
};

constexpr int kHidden = 32, kInter = 48, kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 8;
constexpr int kVocab = 40;

void WriteSafetensors(const std::filesystem::path& path, const Weights& weights) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, tensor] : weights) {
    const size_t bytes = tensor.second.size() * sizeof(float);
    header[name] = {
        {"dtype", "F32"}, {"shape", tensor.first}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t size = text.size();
  out.write(reinterpret_cast<const char*>(&size), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& [name, tensor] : weights) {
    out.write(reinterpret_cast<const char*>(tensor.second.data()),
              static_cast<std::streamsize>(tensor.second.size() * sizeof(float)));
  }
}

Weights RandomWeights(const Variant& variant, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.2f);
  Weights w;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float base = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> values(n);
    for (float& x : values) x = base + normal(rng);
    w[name] = {shape, values};
  };
  add("model.embed_tokens.weight", {kVocab, kHidden}, 0.0f);
  add("lm_head.weight", {kVocab, kHidden});
  add("model.norm.weight", {kHidden}, 1.0f);
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {kHidden}, 1.0f);
    add(p + "post_attention_layernorm.weight", {kHidden}, 1.0f);
    add(p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden});
    add(p + "self_attn.k_proj.weight", {kKvHeads * kHeadDim, kHidden});
    add(p + "self_attn.v_proj.weight", {kKvHeads * kHeadDim, kHidden});
    add(p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim});
    add(p + "mlp.gate_proj.weight", {kInter, kHidden});
    add(p + "mlp.up_proj.weight", {kInter, kHidden});
    add(p + "mlp.down_proj.weight", {kHidden, kInter});
    if (variant.bias) {
      add(p + "self_attn.q_proj.bias", {kHeads * kHeadDim});
      add(p + "self_attn.k_proj.bias", {kKvHeads * kHeadDim});
      add(p + "self_attn.v_proj.bias", {kKvHeads * kHeadDim});
    }
    if (variant.qk_norm) {
      add(p + "self_attn.q_norm.weight", {kHeadDim}, 1.0f);
      add(p + "self_attn.k_norm.weight", {kHeadDim}, 1.0f);
    }
  }
  return w;
}

using Matrix = std::vector<std::vector<double>>;  // [tokens][features]

Matrix Project(const Matrix& x, const Weights& w, const std::string& name, bool bias) {
  const auto& [shape, values] = w.at(name + ".weight");
  Matrix y(x.size(), std::vector<double>(shape[0]));
  for (size_t t = 0; t < x.size(); ++t) {
    for (int64_t o = 0; o < shape[0]; ++o) {
      double acc = bias ? w.at(name + ".bias").second[o] : 0.0;
      for (int64_t i = 0; i < shape[1]; ++i) acc += x[t][i] * values[o * shape[1] + i];
      y[t][o] = acc;
    }
  }
  return y;
}

// RMSNorm of each group of `width` features.
void Norm(Matrix& x, const std::vector<float>& weight, int width, double eps) {
  for (auto& row : x) {
    for (size_t g = 0; g < row.size(); g += width) {
      double sq = 0;
      for (int i = 0; i < width; ++i) sq += row[g + i] * row[g + i];
      const double inv = 1.0 / std::sqrt(sq / width + eps);
      for (int i = 0; i < width; ++i) row[g + i] *= inv * weight[i];
    }
  }
}

std::vector<double> InvFreq(const nlohmann::json& config) {
  const double theta = config.value("rope_theta", 10000.0);
  std::vector<double> inv(kHeadDim / 2);
  for (int i = 0; i < kHeadDim / 2; ++i) inv[i] = 1.0 / std::pow(theta, 2.0 * i / kHeadDim);
  if (config.contains("rope_scaling")) {  // transformers' _compute_llama3_parameters
    const auto& rs = config["rope_scaling"];
    const double factor = rs["factor"], low = rs["low_freq_factor"], high = rs["high_freq_factor"];
    const double old_ctx = rs["original_max_position_embeddings"];
    for (double& f : inv) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen > old_ctx / low) {
        f = f / factor;
      } else if (wavelen >= old_ctx / high) {
        const double smooth = (old_ctx / wavelen - low) / (high - low);
        f = (1 - smooth) * f / factor + smooth * f;
      }
    }
  }
  return inv;
}

// All-position logits of the prompt, in double.
Matrix ReferenceForward(const Variant& variant, const nlohmann::json& config, const Weights& w,
                        const std::vector<int32_t>& ids) {
  const double eps = config["rms_norm_eps"];
  const std::vector<double> inv_freq = InvFreq(config);
  const size_t n = ids.size();
  Matrix h(n, std::vector<double>(kHidden));
  for (size_t t = 0; t < n; ++t) {
    for (int i = 0; i < kHidden; ++i)
      h[t][i] = w.at("model.embed_tokens.weight").second[ids[t] * kHidden + i];
  }
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Matrix x = h;
    Norm(x, w.at(p + "input_layernorm.weight").second, kHidden, eps);
    Matrix q = Project(x, w, p + "self_attn.q_proj", variant.bias);
    Matrix k = Project(x, w, p + "self_attn.k_proj", variant.bias);
    Matrix v = Project(x, w, p + "self_attn.v_proj", variant.bias);
    if (variant.qk_norm) {
      Norm(q, w.at(p + "self_attn.q_norm.weight").second, kHeadDim, eps);
      Norm(k, w.at(p + "self_attn.k_norm.weight").second, kHeadDim, eps);
    }
    for (Matrix* m : {&q, &k}) {
      for (size_t t = 0; t < n; ++t) {
        for (size_t g = 0; g < (*m)[t].size(); g += kHeadDim) {
          for (int i = 0; i < kHeadDim / 2; ++i) {
            const double a = static_cast<double>(t) * inv_freq[i];
            const double x0 = (*m)[t][g + i], x1 = (*m)[t][g + i + kHeadDim / 2];
            (*m)[t][g + i] = x0 * std::cos(a) - x1 * std::sin(a);
            (*m)[t][g + i + kHeadDim / 2] = x1 * std::cos(a) + x0 * std::sin(a);
          }
        }
      }
    }
    Matrix attn(n, std::vector<double>(kHeads * kHeadDim, 0.0));
    for (size_t t = 0; t < n; ++t) {
      for (int hd = 0; hd < kHeads; ++hd) {
        const int kv = hd / (kHeads / kKvHeads);
        std::vector<double> s(t + 1);
        double max = -1e300, sum = 0;
        for (size_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < kHeadDim; ++i)
            dot += q[t][hd * kHeadDim + i] * k[j][kv * kHeadDim + i];
          s[j] = dot / std::sqrt(static_cast<double>(kHeadDim));
          max = std::max(max, s[j]);
        }
        for (double& e : s) sum += (e = std::exp(e - max));
        for (size_t j = 0; j <= t; ++j) {
          for (int i = 0; i < kHeadDim; ++i)
            attn[t][hd * kHeadDim + i] += s[j] / sum * v[j][kv * kHeadDim + i];
        }
      }
    }
    const Matrix o = Project(attn, w, p + "self_attn.o_proj", false);
    for (size_t t = 0; t < n; ++t) {
      for (int i = 0; i < kHidden; ++i) h[t][i] += o[t][i];
    }
    x = h;
    Norm(x, w.at(p + "post_attention_layernorm.weight").second, kHidden, eps);
    const Matrix gate = Project(x, w, p + "mlp.gate_proj", false);
    const Matrix up = Project(x, w, p + "mlp.up_proj", false);
    Matrix act(n, std::vector<double>(kInter));
    for (size_t t = 0; t < n; ++t) {
      for (int i = 0; i < kInter; ++i)
        act[t][i] = gate[t][i] / (1 + std::exp(-gate[t][i])) * up[t][i];
    }
    const Matrix down = Project(act, w, p + "mlp.down_proj", false);
    for (size_t t = 0; t < n; ++t) {
      for (int i = 0; i < kHidden; ++i) h[t][i] += down[t][i];
    }
  }
  Norm(h, w.at("model.norm.weight").second, kHidden, eps);
  return Project(h, w, "lm_head", false);
}

void CheckVariant(const Variant& variant) {
  std::mt19937 rng(99);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("tg-variant-" + variant.model_type + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  nlohmann::json config = {{"architectures", {"X"}},
                           {"model_type", variant.model_type},
                           {"hidden_size", kHidden},
                           {"intermediate_size", kInter},
                           {"num_hidden_layers", kLayers},
                           {"num_attention_heads", kHeads},
                           {"num_key_value_heads", kKvHeads},
                           {"head_dim", kHeadDim},
                           {"vocab_size", kVocab},
                           {"max_position_embeddings", 256},
                           {"rms_norm_eps", 1e-6},
                           {"rope_theta", 10000.0},
                           {"tie_word_embeddings", false},
                           {"eos_token_id", 2}};
  config.update(variant.extra);
  std::ofstream(dir / "config.json") << config.dump();
  const Weights weights = RandomWeights(variant, rng);
  WriteSafetensors(dir / "model.safetensors", weights);

  std::vector<int32_t> ids;
  for (int i = 0; i < 37; ++i) ids.push_back(static_cast<int32_t>(rng() % kVocab));
  const Matrix expected = ReferenceForward(variant, config, weights, ids);

  auto source = model::WeightSource::Open(dir);
  auto device = backend::MakeCpuBackend({.threads = 2});
  LlamaModel model(source->config(), *source, *device, backend::DType::kF32);
  model.kv_pool().Allocate(6, 16);
  const int n = static_cast<int>(ids.size());
  ForwardBatchBuilder batch(model.kv_pool());
  // Blocks in a scrambled order, to go through the block table.
  batch.AddSequence(ids, 0, std::vector<uint32_t>{4, 1, 5});
  for (int p = 0; p < n; ++p) batch.AddLogitRow(p);
  backend::Tensor logits = model.Forward(batch.Build());
  std::vector<float> got(logits.numel());
  device->CopyToHost(logits, got.data());
  double max_diff = 0;
  for (int t = 0; t < n; ++t) {
    for (int v = 0; v < kVocab; ++v)
      max_diff = std::max(max_diff, std::abs(got[t * kVocab + v] - expected[t][v]));
  }
  EXPECT_LT(max_diff, 1e-4) << variant.model_type;
  std::filesystem::remove_all(dir);
}

TEST(LlamaVariantsTest, Qwen2BiasesMatchReference) {
  CheckVariant({.model_type = "qwen2", .extra = nlohmann::json::object(), .bias = true});
}

TEST(LlamaVariantsTest, Qwen3QkNormMatchesReference) {
  CheckVariant({.model_type = "qwen3", .extra = nlohmann::json::object(), .qk_norm = true});
}

TEST(LlamaVariantsTest, Llama3RopeScalingMatchesReference) {
  CheckVariant({.model_type = "llama",
                .extra = {{"rope_theta", 500000.0},
                          {"rope_scaling",
                           {{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 64}}}}});
}

TEST(LlamaVariantsTest, MistralMatchesReference) {
  CheckVariant({.model_type = "mistral", .extra = nlohmann::json::object()});
}

}  // namespace
}  // namespace tg::shard
