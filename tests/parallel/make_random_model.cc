// Writes a random-weight Llama checkpoint in the HF layout (config.json,
// model.safetensors.index.json and one bf16 safetensors shard per layer) for the multi-GPU
// tests and benchmarks, where only the shapes matter:
//   tg_make_random_model --out DIR --shape llama3-8b|llama3-70b|tiny [--layers N]
//                        [--vocab-size N] [--seed S] [--tokenizer tokenizer.json]
// Values are uniform in +-1/sqrt(fan_in) (norms 1), from a generator seeded by the tensor name,
// so a tensor has the same values whatever the layer count. --layers keeps the width of a shape
// with fewer layers (per-layer costs then extrapolate to the full depth).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/flags.h"
#include "model_files/dtype.h"

namespace {

namespace fs = std::filesystem;

struct Shape {
  int64_t hidden, heads, kv_heads, head_dim, inter, layers, vocab;
  double rope_theta;
};

Shape ShapeByName(const std::string& name) {
  if (name == "llama3-8b") return {4096, 32, 8, 128, 14336, 32, 128256, 500000.0};
  if (name == "llama3-70b") return {8192, 64, 8, 128, 28672, 80, 128256, 500000.0};
  if (name == "tiny") return {256, 8, 2, 32, 512, 4, 32000, 10000.0};
  throw tg::Error(tg::ErrorKind::kInvalidArgument, "unknown shape '" + name + "'");
}

struct TensorSpec {
  std::string name;
  int64_t rows, cols;  // cols 0: a vector of `rows`
  bool norm;
};

uint64_t Fnv1a(const std::string& text, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Writes one safetensors file holding `specs` in bf16.
void WriteShard(const fs::path& path, const std::vector<TensorSpec>& specs, uint64_t seed) {
  std::string header = "{";
  uint64_t offset = 0;
  for (const TensorSpec& t : specs) {
    const uint64_t elems = static_cast<uint64_t>(t.rows) * (t.cols ? t.cols : 1);
    header += (header.size() > 1 ? "," : "") + std::string("\"") + t.name +
              "\":{\"dtype\":\"BF16\",\"shape\":[" + std::to_string(t.rows) +
              (t.cols ? "," + std::to_string(t.cols) : "") + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + 2 * elems) + "]}";
    offset += 2 * elems;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream file(path, std::ios::binary);
  TG_CHECK(file.good(), kUnavailable, "cannot write " + path.string());
  const uint64_t header_size = header.size();
  file.write(reinterpret_cast<const char*>(&header_size), 8);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::vector<uint16_t> buffer(1 << 20);
  for (const TensorSpec& t : specs) {
    const uint64_t elems = static_cast<uint64_t>(t.rows) * (t.cols ? t.cols : 1);
    const float bound = t.norm ? 0.0f : 1.0f / std::sqrt(static_cast<float>(t.cols));
    uint64_t state = Fnv1a(t.name, seed) | 1;
    for (uint64_t done = 0; done < elems;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), elems - done));
      for (size_t i = 0; i < n; ++i) {
        state ^= state << 13;  // xorshift64
        state ^= state >> 7;
        state ^= state << 17;
        const float u = static_cast<float>(state >> 40) * (1.0f / 16777216.0f);  // [0, 1)
        buffer[i] = tg::model::F32ToBf16(t.norm ? 1.0f : (2.0f * u - 1.0f) * bound);
      }
      file.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(n * 2));
      done += n;
    }
  }
  TG_CHECK(file.good(), kUnavailable, "short write to " + path.string());
}

int Run(int argc, char** argv) {
  std::string out, shape_name = "tiny", tokenizer;
  int layers = 0;
  int64_t vocab = 0;
  int seed = 0;
  tg::FlagParser flags("tg_make_random_model", "Writes a random-weight Llama checkpoint.");
  flags.Add("out", &out, "output directory", {.required = true});
  flags.Add("shape", &shape_name, "llama3-8b, llama3-70b or tiny");
  flags.Add("layers", &layers, "override the layer count (0: the shape's)");
  flags.Add("vocab-size", &vocab, "override the vocabulary size (0: the shape's)");
  flags.Add("seed", &seed, "value seed");
  flags.Add("tokenizer", &tokenizer, "tokenizer.json to copy into the directory");
  if (flags.Parse(argc, argv) != tg::ParseResult::kRun) return 0;
  Shape s = ShapeByName(shape_name);
  if (layers > 0) s.layers = layers;
  if (vocab > 0) s.vocab = vocab;
  fs::create_directories(out);

  std::map<std::string, std::string> weight_map;
  auto shard = [&](const std::string& file, const std::vector<TensorSpec>& specs) {
    WriteShard(fs::path(out) / file, specs, static_cast<uint64_t>(seed));
    for (const TensorSpec& t : specs) weight_map[t.name] = file;
    std::cerr << "wrote " << file << std::endl;
  };
  const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  shard("model-embed.safetensors", {{"model.embed_tokens.weight", s.vocab, s.hidden, false},
                                    {"lm_head.weight", s.vocab, s.hidden, false},
                                    {"model.norm.weight", s.hidden, 0, true}});
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    char file[64];
    std::snprintf(file, sizeof(file), "model-layer-%05ld.safetensors", static_cast<long>(i));
    shard(file, {{p + "input_layernorm.weight", s.hidden, 0, true},
                 {p + "post_attention_layernorm.weight", s.hidden, 0, true},
                 {p + "self_attn.q_proj.weight", q, s.hidden, false},
                 {p + "self_attn.k_proj.weight", kv, s.hidden, false},
                 {p + "self_attn.v_proj.weight", kv, s.hidden, false},
                 {p + "self_attn.o_proj.weight", s.hidden, q, false},
                 {p + "mlp.gate_proj.weight", s.inter, s.hidden, false},
                 {p + "mlp.up_proj.weight", s.inter, s.hidden, false},
                 {p + "mlp.down_proj.weight", s.hidden, s.inter, false}});
  }

  std::ofstream index(fs::path(out) / "model.safetensors.index.json");
  index << "{\"metadata\": {}, \"weight_map\": {";
  bool first = true;
  for (const auto& [name, file] : weight_map) {
    index << (first ? "" : ",") << "\n  \"" << name << "\": \"" << file << "\"";
    first = false;
  }
  index << "\n}}\n";
  std::ofstream config(fs::path(out) / "config.json");
  config << "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"],"
         << " \"hidden_size\": " << s.hidden << ", \"intermediate_size\": " << s.inter
         << ", \"num_hidden_layers\": " << s.layers << ", \"num_attention_heads\": " << s.heads
         << ", \"num_key_value_heads\": " << s.kv_heads << ", \"head_dim\": " << s.head_dim
         << ", \"vocab_size\": " << s.vocab << ", \"max_position_embeddings\": 8192"
         << ", \"rms_norm_eps\": 1e-5, \"rope_theta\": " << s.rope_theta
         << ", \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\""
         << ", \"bos_token_id\": 1, \"eos_token_id\": 2}\n";
  if (!tokenizer.empty()) {
    fs::copy_file(tokenizer, fs::path(out) / "tokenizer.json",
                  fs::copy_options::overwrite_existing);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tg::Error& error) {
    std::cerr << "error: " << error.message() << std::endl;
    return 1;
  }
}
