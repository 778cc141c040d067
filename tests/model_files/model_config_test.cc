#include "model_files/model_config.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_files.h"

namespace tg::model {
namespace {

TEST(ModelConfig, Stories260K) {
  const auto c = LoadHfModelConfig(TG_ASSETS_DIR "/models/stories260K");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, 64u);
  EXPECT_EQ(c.intermediate_size, 172u);
  EXPECT_EQ(c.num_hidden_layers, 5u);
  EXPECT_EQ(c.num_attention_heads, 8u);
  EXPECT_EQ(c.num_key_value_heads, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.vocab_size, 512u);
  EXPECT_EQ(c.max_position_embeddings, 512u);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.bos_token_id, 1u);
  EXPECT_EQ(c.eos_token_ids, std::vector<uint32_t>{2});
  EXPECT_EQ(c.torch_dtype, "float32");
  EXPECT_TRUE(c.rope_scaling.type.empty());
  EXPECT_FALSE(c.sliding_window.has_value());
}

// Llama-3.1-style config: llama3 rope scaling, several eos ids, head_dim from hidden/heads.
TEST(ModelConfig, Llama31RopeScalingAndEosUnion) {
  const char* config = R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16"})";
  const char* generation = R"({"bos_token_id": 128000, "eos_token_id": [128001, 128009, 128010]})";
  const auto c = ParseHfModelConfig(config, generation);
  EXPECT_EQ(c.head_dim, 128u);
  EXPECT_EQ(c.num_key_value_heads, 8u);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192u);
  EXPECT_EQ(c.eos_token_ids, (std::vector<uint32_t>{128001, 128008, 128009, 128010}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
}

// transformers >= 5 saves rope settings only under "rope_parameters" (theta included).
TEST(ModelConfig, TransformersV5RopeParameters) {
  const char* config = R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                        "original_max_position_embeddings": 8192}})";
  const auto c = ParseHfModelConfig(config, "");
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);

  const char* plain = R"({
    "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
    "num_attention_heads": 4, "vocab_size": 100,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}})";
  const auto q = ParseHfModelConfig(plain, "");
  EXPECT_DOUBLE_EQ(q.rope_theta, 1000000.0);
  EXPECT_TRUE(q.rope_scaling.type.empty());
}

TEST(ModelConfig, MistralSlidingWindowAndNullHeadDim) {
  const char* config = R"({"model_type": "mistral", "architectures": ["MistralForCausalLM"],
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": null, "vocab_size": 32000,
    "max_position_embeddings": 32768, "sliding_window": 4096, "rope_theta": 10000.0,
    "rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": 2})";
  const auto c = ParseHfModelConfig(config, "");
  EXPECT_EQ(c.sliding_window, 4096u);
  EXPECT_EQ(c.head_dim, 128u);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
  EXPECT_EQ(c.eos_token_ids, std::vector<uint32_t>{2});
  EXPECT_FALSE(c.bos_token_id.has_value());
}

TEST(ModelConfig, Qwen2BiasAndYarn) {
  const char* config = R"({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 32768, "use_sliding_window": false, "tie_word_embeddings": true,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
    "eos_token_id": 151643, "torch_dtype": "bfloat16"})";
  const auto c = ParseHfModelConfig(config, R"({"eos_token_id": [151645, 151643]})");
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.head_dim, 64u);
  EXPECT_FALSE(c.sliding_window.has_value());  // use_sliding_window is false
  EXPECT_EQ(c.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_slow, 1.0);
  EXPECT_EQ(c.eos_token_ids, (std::vector<uint32_t>{151643, 151645}));
}

TEST(ModelConfig, Qwen3QkNormAndExplicitHeadDim) {
  const char* config = R"({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"],
    "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
    "max_position_embeddings": 40960, "attention_bias": false, "rope_theta": 1000000,
    "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}, "dtype": "bfloat16"})";
  const auto c = ParseHfModelConfig(config, "");
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.head_dim, 128u);  // not hidden / heads (64)
  EXPECT_EQ(c.rope_scaling.type, "dynamic");
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(ModelConfig, UnknownArchitectureNamesItAndListsSupported) {
  const char* config = R"({"model_type": "gpt_bigcode", "architectures": ["GPTBigCodeForCausalLM"],
    "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 1,
    "vocab_size": 10})";
  try {
    ParseHfModelConfig(config, "");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    const std::string m = e.message();
    EXPECT_NE(m.find("gpt_bigcode"), std::string::npos) << m;
    EXPECT_NE(m.find("GPTBigCodeForCausalLM"), std::string::npos) << m;
    for (const char* t : {"llama", "mistral", "qwen2", "qwen3"}) {
      EXPECT_NE(m.find(t), std::string::npos) << m;
    }
  }
}

TEST(ModelConfig, BadConfigsFailClearly) {
  auto kind_of = [](const std::string& json) {
    try {
      ParseHfModelConfig(json, "");
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  EXPECT_EQ(kind_of("{not json"), ErrorKind::kCorruptFile);
  EXPECT_EQ(kind_of(R"({"model_type": "llama"})"), ErrorKind::kCorruptFile);
  EXPECT_EQ(kind_of(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 64,
    "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2,
    "vocab_size": 10})"),
            ErrorKind::kCorruptFile);  // 3 heads over 2 kv heads
  EXPECT_EQ(kind_of(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 64,
    "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10,
    "rope_scaling": {"rope_type": "longrope", "factor": 2}})"),
            ErrorKind::kUnsupported);
  testing::ScratchDir dir;
  EXPECT_THROW(LoadHfModelConfig(dir.path()), Error);
}

}  // namespace
}  // namespace tg::model
