// The real models in the shared assets: stories260K as HF safetensors and as GGUF must give
// identical tensors after name mapping and un-permuting q/k; SmolLM2's quantized GGUF must load.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model_files/gguf.h"
#include "model_files/weight_source.h"

namespace tg::model {
namespace {

const std::filesystem::path kStories = TG_ASSETS_DIR "/models/stories260K";
const std::filesystem::path kSmol =
    TG_SOURCE_DIR "/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(Stories260K, SafetensorsAndGgufGiveIdenticalTensors) {
  const auto hf = WeightSource::Open(kStories);
  const auto gguf = WeightSource::Open(kStories / "stories260K.gguf");
  const auto names = hf->Names();
  ASSERT_EQ(names.size(), 47u);  // embeddings, final norm, 5 layers x 9
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(gguf->Has(name));
    EXPECT_EQ(hf->Info(name).shape, gguf->Info(name).shape);
    EXPECT_EQ(hf->ReadF32(name), gguf->ReadF32(name));
  }
  // The GGUF keeps an explicit output matrix; it equals the tied embeddings of the HF model.
  EXPECT_TRUE(hf->config().tie_word_embeddings);
  EXPECT_FALSE(hf->Has("lm_head.weight"));
  ASSERT_TRUE(gguf->Has("lm_head.weight"));
  EXPECT_EQ(gguf->ReadF32("lm_head.weight"), hf->ReadF32("model.embed_tokens.weight"));
  // The GGUF q rows really are permuted (so the test above exercises the un-permutation).
  const GgufFile raw = GgufFile::Open(kStories / "stories260K.gguf");
  const auto* q = raw.FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  const auto hf_q = hf->ReadF32("model.layers.0.self_attn.q_proj.weight");
  const auto* stored = reinterpret_cast<const float*>(raw.TensorData(*q));
  EXPECT_NE(std::vector<float>(stored, stored + hf_q.size()), hf_q);
  // Tensor-parallel halves put back together give the whole tensor.
  const std::string k = "model.layers.2.self_attn.k_proj.weight";
  auto top = gguf->ReadF32(k, {0, 16}), bottom = gguf->ReadF32(k, {16, 32});
  top.insert(top.end(), bottom.begin(), bottom.end());
  EXPECT_EQ(top, hf->ReadF32(k));
  const std::string o = "model.layers.2.self_attn.o_proj.weight";
  const auto left = gguf->ReadF32(o, {}, {0, 32}), whole = hf->ReadF32(o);
  for (int r = 0; r < 64; ++r) {
    for (int c = 0; c < 32; ++c) ASSERT_EQ(left[r * 32 + c], whole[r * 64 + c]);
  }
}

TEST(Stories260K, ConfigsAgree) {
  const auto hf = WeightSource::Open(kStories);
  const auto gguf = WeightSource::Open(kStories / "stories260K.gguf");
  const ModelConfig& a = hf->config();
  const ModelConfig& b = gguf->config();
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_FLOAT_EQ(static_cast<float>(a.rms_norm_eps), static_cast<float>(b.rms_norm_eps));
  EXPECT_DOUBLE_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

TEST(SmolLM2, QuantizedGgufLoads) {
  if (!std::filesystem::exists(kSmol))
    GTEST_SKIP() << kSmol << " is absent (scripts/fetch-default-model.sh)";
  const GgufFile file = GgufFile::Open(kSmol);
  std::map<DType, int> types;
  for (const auto& t : file.tensors()) ++types[t.dtype];
  // What the file really holds: Q4_1 matrices, a Q8_0 embedding, F32 norms.
  EXPECT_EQ(types[DType::kQ4_1], 210);
  EXPECT_EQ(types[DType::kQ8_0], 1);
  EXPECT_EQ(types[DType::kF32], 61);
  EXPECT_EQ(file.FindTensor("token_embd.weight")->dtype, DType::kQ8_0);
  EXPECT_FALSE(file.GetStringArray("tokenizer.ggml.tokens").empty());
  EXPECT_FALSE(file.GetString("tokenizer.chat_template").empty());

  const auto w = WeightSource::Open(kSmol);
  const ModelConfig& c = w->config();
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 576u);
  EXPECT_EQ(c.intermediate_size, 1536u);
  EXPECT_EQ(c.num_hidden_layers, 30u);
  EXPECT_EQ(c.num_attention_heads, 9u);
  EXPECT_EQ(c.num_key_value_heads, 3u);
  EXPECT_EQ(c.head_dim, 64u);
  EXPECT_EQ(c.vocab_size, 49152u);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_EQ(w->Names().size(), 272u);
  for (const std::string name :
       {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
        "model.layers.29.mlp.down_proj.weight", "model.norm.weight"}) {
    SCOPED_TRACE(name);
    const auto v = w->ReadF32(name);
    EXPECT_EQ(static_cast<int64_t>(v.size()), NumElements(w->Info(name)));
    double sum_sq = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x));
      sum_sq += double{x} * x;
    }
    EXPECT_GT(sum_sq, 0.0);  // not all zeros
  }
  // A TP rank's slice of a quantized matrix equals the same window of the whole matrix.
  const std::string gate = "model.layers.3.mlp.gate_proj.weight";
  const auto whole = w->ReadF32(gate);
  const auto part = w->ReadF32(gate, {768, 1536}, {100, 300});
  for (int r = 0; r < 768; ++r) {
    for (int col = 0; col < 200; ++col) {
      ASSERT_EQ(part[r * 200 + col], whole[(768 + r) * 576 + 100 + col]);
    }
  }
}

}  // namespace
}  // namespace tg::model
