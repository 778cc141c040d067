#include "tests/kernels/random_weight_source.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <thread>

#include "common/error.h"
#include "model_files/dtype.h"
#include "model_files/tensor_slice.h"

namespace tg::bench {
namespace {

// Below this many elements a read runs on the calling thread (thread start-up would dominate).
constexpr int64_t kParallelElems = int64_t{1} << 20;

uint32_t NameHash(const std::string& name, uint32_t seed) {
  uint32_t h = 2166136261u ^ seed;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return h;
}

// A 32-bit integer hash with good avalanche (two multiply-xorshift rounds); 32-bit lanes so the
// fill loops vectorize.
inline uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// Element `index` of a tensor: uniform in [-bound, bound) (scale = bound / 2^31).
inline float Value(uint32_t key, uint32_t index, float scale) {
  return static_cast<float>(static_cast<int32_t>(Mix(index * 0x9e3779b9u + key))) * scale;
}

// The hot loops of a load are built for AVX2 too (8 lanes of 32-bit multiplies where the x86-64
// baseline has 4 emulated ones), picked at run time.
#if defined(__x86_64__)
#define TG_AVX2_CLONES [[gnu::target_clones("avx2", "default")]]
#else
#define TG_AVX2_CLONES
#endif

// `width` consecutive elements from `first`, as bf16 (rounded to nearest even; the values are
// finite) or as float32 holding those bf16 values.
TG_AVX2_CLONES void RowBf16(uint16_t* out, int64_t width, uint32_t key, uint32_t first,
                            float scale) {
  for (int64_t i = 0; i < width; ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(Value(key, first + static_cast<uint32_t>(i), scale));
    bits += 0x7fffu + ((bits >> 16) & 1u);
    out[i] = static_cast<uint16_t>(bits >> 16);
  }
}
TG_AVX2_CLONES void RowF32(float* out, int64_t width, uint32_t key, uint32_t first, float scale) {
  for (int64_t i = 0; i < width; ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(Value(key, first + static_cast<uint32_t>(i), scale));
    bits += 0x7fffu + ((bits >> 16) & 1u);
    out[i] = std::bit_cast<float>(bits & 0xffff0000u);
  }
}
void Row(uint16_t* out, int64_t width, uint32_t key, uint32_t first, float scale) {
  RowBf16(out, width, key, first, scale);
}
void Row(float* out, int64_t width, uint32_t key, uint32_t first, float scale) {
  RowF32(out, width, key, first, scale);
}

// Fills the window `b` of a tensor into dst: every value `one` where bound is 0 (a norm weight),
// random otherwise; split by rows over the cores when the window is large.
template <typename T>
void Fill(uint32_t key, float bound, const model::SliceBounds& b, T* dst, T one) {
  const int64_t width = (b.c1 - b.c0) * b.inner;
  const float scale = bound * 0x1p-31f;
  auto rows = [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      T* out = dst + (r - b.r0) * width;
      if (bound == 0) {
        std::fill(out, out + width, one);
      } else {
        Row(out, width, key, static_cast<uint32_t>((r * b.cols + b.c0) * b.inner), scale);
      }
    }
  };
  const int64_t count = b.r1 - b.r0;
  const int64_t threads = std::min<int64_t>(
      {std::max(1u, std::thread::hardware_concurrency()), count, b.out_elems() / kParallelElems});
  if (threads <= 1) return rows(b.r0, b.r1);
  std::vector<std::thread> workers;
  for (int64_t t = 0; t < threads; ++t) {
    workers.emplace_back(rows, b.r0 + count * t / threads, b.r0 + count * (t + 1) / threads);
  }
  for (std::thread& w : workers) w.join();
}

std::string LayerName(uint32_t layer, const std::string& suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
}

}  // namespace

RandomWeightSource::RandomWeightSource(const model::ModelConfig& config, uint32_t seed)
    : config_(config), seed_(seed) {
  model::ValidateModelConfig(config, "random weights");
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  const int64_t q_dim = int64_t{config.num_attention_heads} * config.head_dim;
  const int64_t kv_dim = int64_t{config.num_key_value_heads} * config.head_dim;
  const float bias_bound = 1.0f / std::sqrt(static_cast<float>(hidden));
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    Add(name, {rows, cols}, 1.0f / std::sqrt(static_cast<float>(cols)));
  };
  matrix("model.embed_tokens.weight", config.vocab_size, hidden);
  Add("model.norm.weight", {hidden}, 0);
  if (!config.tie_word_embeddings) matrix("lm_head.weight", config.vocab_size, hidden);
  for (uint32_t l = 0; l < config.num_hidden_layers; ++l) {
    Add(LayerName(l, "input_layernorm.weight"), {hidden}, 0);
    Add(LayerName(l, "post_attention_layernorm.weight"), {hidden}, 0);
    matrix(LayerName(l, "self_attn.q_proj.weight"), q_dim, hidden);
    matrix(LayerName(l, "self_attn.k_proj.weight"), kv_dim, hidden);
    matrix(LayerName(l, "self_attn.v_proj.weight"), kv_dim, hidden);
    matrix(LayerName(l, "self_attn.o_proj.weight"), hidden, q_dim);
    matrix(LayerName(l, "mlp.gate_proj.weight"), inter, hidden);
    matrix(LayerName(l, "mlp.up_proj.weight"), inter, hidden);
    matrix(LayerName(l, "mlp.down_proj.weight"), hidden, inter);
    if (config.attention_bias) {
      Add(LayerName(l, "self_attn.q_proj.bias"), {q_dim}, bias_bound);
      Add(LayerName(l, "self_attn.k_proj.bias"), {kv_dim}, bias_bound);
      Add(LayerName(l, "self_attn.v_proj.bias"), {kv_dim}, bias_bound);
    }
    if (config.qk_norm) {
      Add(LayerName(l, "self_attn.q_norm.weight"), {config.head_dim}, 0);
      Add(LayerName(l, "self_attn.k_norm.weight"), {config.head_dim}, 0);
    }
  }
}

void RandomWeightSource::Add(const std::string& name, std::vector<int64_t> shape, float bound) {
  int64_t elems = 1;
  for (int64_t d : shape) elems *= d;
  // Element indices are hashed as 32-bit counters.
  TG_CHECK(elems <= std::numeric_limits<uint32_t>::max(), kUnsupported,
           "random weights: " + name + " has more than 2^32 elements");
  tensors_[name] = Tensor{std::move(shape), bound, NameHash(name, seed_)};
}

const RandomWeightSource::Tensor& RandomWeightSource::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  TG_CHECK(it != tensors_.end(), kNotFound, "random weights have no tensor " + name);
  return it->second;
}

model::TensorInfo RandomWeightSource::Info(const std::string& hf_name) const {
  return {model::DType::kBF16, Find(hf_name).shape};
}

std::vector<std::string> RandomWeightSource::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : tensors_) names.push_back(name);
  return names;
}

void RandomWeightSource::ReadF32Into(const std::string& name, float* dst, model::RowRange rows,
                                     model::RowRange cols) const {
  const Tensor& t = Find(name);
  // The stored dtype is bf16: float32 reads see the bf16 values, as from a bf16 checkpoint.
  Fill(t.key, t.bound, model::ResolveSlice(t.shape, rows, cols, name), dst, 1.0f);
}

void RandomWeightSource::ReadBF16Into(const std::string& name, uint16_t* dst, model::RowRange rows,
                                      model::RowRange cols) const {
  const Tensor& t = Find(name);
  Fill(t.key, t.bound, model::ResolveSlice(t.shape, rows, cols, name), dst, model::F32ToBf16(1.0f));
}

}  // namespace tg::bench
