#include "model_files/gguf.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "model_files/weight_source.h"
#include "quant_blocks.h"
#include "test_files.h"

namespace tg::model {
namespace {

using testing::AsBytes;
using testing::GgufWriter;
using testing::QuantCase;
using testing::ScratchDir;

// GGML type ids from the GGUF spec.
enum : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30
};

uint32_t GgmlType(DType d) {
  switch (d) {
    case DType::kQ8_0:
      return kQ8_0;
    case DType::kQ4_0:
      return kQ4_0;
    case DType::kQ4_1:
      return kQ4_1;
    case DType::kQ4_K:
      return kQ4_K;
    case DType::kQ5_K:
      return kQ5_K;
    default:
      return kQ6_K;
  }
}

constexpr uint32_t kHidden = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 16;

// HF-layout q matrix: row r, column c holds r * 100 + c.
std::vector<float> HfMatrix(int rows, int cols) {
  std::vector<float> m(static_cast<size_t>(rows * cols));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c)
      m[static_cast<size_t>(r * cols + c)] = static_cast<float>(r * 100 + c);
  }
  return m;
}

// What llama.cpp's converter does to q/k rows: within each head, rows (i, i + d/2) of the HF
// layout become rows (2i, 2i + 1).
std::vector<float> PermuteForGguf(const std::vector<float>& hf, int heads, int cols) {
  std::vector<float> out(hf.size());
  const int d = static_cast<int>(hf.size()) / cols / heads, half = d / 2;
  for (int h = 0; h < heads; ++h) {
    for (int j = 0; j < 2; ++j) {
      for (int i = 0; i < half; ++i) {
        const int src = h * d + j * half + i, dst = h * d + 2 * i + j;
        std::copy_n(hf.begin() + src * cols, cols, out.begin() + dst * cols);
      }
    }
  }
  return out;
}

// A tiny llama GGUF with a tensor of every type; quant tensors are 2 or more rows of 256 columns.
class GgufModel : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(7);
    cases_ = testing::AllQuantCases(rng, 2);  // 2 x 256 elements each (Q8_0/Q4_x: 16 x 32)
    GgufWriter w;
    w.String("general.architecture", "llama");
    w.String("general.name", "tiny \xc3\xa9");
    w.U32("llama.context_length", 256);
    w.U32("llama.embedding_length", kHidden);
    w.U32("llama.feed_forward_length", 128);
    w.U32("llama.block_count", 2);
    w.U32("llama.attention.head_count", kHeads);
    w.U32("llama.attention.head_count_kv", kKvHeads);
    w.F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.F32("llama.rope.freq_base", 500000.0f);
    w.String("llama.rope.scaling.type", "linear");
    w.F32("llama.rope.scaling.factor", 4.0f);
    w.StringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    w.F32Array("tokenizer.ggml.scores", {0.0f, -1.5f, 2.25f, 3.0f});
    w.I32Array("tokenizer.ggml.token_type", {2, 3, 3, 1});
    w.U32("tokenizer.ggml.bos_token_id", 1);
    w.I32("tokenizer.ggml.eos_token_id", 2);
    w.U64("tokenizer.ggml.eot_token_id", 3);
    w.Bool("tokenizer.ggml.add_bos_token", true);
    w.I32("test.negative", -5);
    q_ = HfMatrix(kHeads * kHeadDim, kHidden);
    k_ = HfMatrix(kKvHeads * kHeadDim, kHidden);
    for (float& v : k_) v = F16ToF32(F32ToF16(v));  // k is stored as F16
    w.Tensor("blk.0.attn_q.weight", kF32, {kHidden, kHeads * kHeadDim},
             AsBytes(PermuteForGguf(q_, kHeads, kHidden)));
    std::vector<uint16_t> k16;
    for (float v : PermuteForGguf(k_, kKvHeads, kHidden)) k16.push_back(F32ToF16(v));
    w.Tensor("blk.0.attn_k.weight", kF16, {kHidden, kKvHeads * kHeadDim}, AsBytes(k16));
    w.Tensor("blk.0.attn_norm.weight", kBF16, {kHidden},
             AsBytes(std::vector<uint16_t>(kHidden, 0x3fc0)));
    w.Tensor("output_norm.weight", kF32, {kHidden}, AsBytes(std::vector<float>(kHidden, 0.5f)));
    const char* names[] = {"token_embd.weight",     "blk.0.attn_v.weight", "blk.1.attn_v.weight",
                           "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"};
    for (size_t i = 0; i < cases_.size(); ++i) {
      const uint64_t rows = cases_[i].expected.size() / 256;
      w.Tensor(names[i], GgmlType(cases_[i].dtype), {256, rows}, cases_[i].bytes);
      hf_names_.push_back(*GgufToHfName(names[i]));
    }
    path_ = dir_.path() / "tiny.gguf";
    w.Write(path_);
  }
  ScratchDir dir_;
  std::filesystem::path path_;
  std::vector<QuantCase> cases_;
  std::vector<std::string> hf_names_;
  std::vector<float> q_, k_;
};

TEST_F(GgufModel, Metadata) {
  const GgufFile f = GgufFile::Open(path_);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.GetString("general.name"), "tiny \xc3\xa9");
  EXPECT_EQ(f.GetU32("llama.block_count"), 2u);
  EXPECT_EQ(f.GetU32("tokenizer.ggml.eos_token_id"), 2u);  // stored as i32, widened
  EXPECT_EQ(f.GetU32("tokenizer.ggml.eot_token_id"), 3u);  // stored as u64, narrowed
  EXPECT_EQ(f.GetI64("test.negative"), -5);
  EXPECT_THROW(f.GetU32("test.negative"), Error);
  EXPECT_FLOAT_EQ(f.GetF32("llama.rope.freq_base"), 500000.0f);
  EXPECT_TRUE(f.GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(f.GetStringArray("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"<unk>", "<s>", "</s>", "a"}));
  EXPECT_EQ(f.GetF32Array("tokenizer.ggml.scores"), (std::vector<float>{0.0f, -1.5f, 2.25f, 3.0f}));
  EXPECT_EQ(f.GetI32Array("tokenizer.ggml.token_type"), (std::vector<int32_t>{2, 3, 3, 1}));
  EXPECT_EQ(f.ArraySize("tokenizer.ggml.tokens"), 4u);
  EXPECT_EQ(f.KeyType("general.name"), GgufType::kString);
  EXPECT_EQ(f.ArrayElementType("tokenizer.ggml.scores"), GgufType::kF32);
  EXPECT_FALSE(f.TryGetString("missing").has_value());
  EXPECT_EQ(f.TryGetU32("llama.block_count"), 2u);
  try {
    f.GetString("llama.block_count");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorruptFile);
    EXPECT_NE(e.message().find("llama.block_count"), std::string::npos);
  }
  try {
    f.GetU32("missing.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
  EXPECT_EQ(f.Keys().front(), "general.architecture");
  const auto* t = f.FindTensor("blk.0.attn_k.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ne, (std::vector<int64_t>{kHidden, kKvHeads * kHeadDim}));
  EXPECT_EQ(t->shape, (std::vector<int64_t>{kKvHeads * kHeadDim, kHidden}));
  EXPECT_EQ(t->dtype, DType::kF16);
  EXPECT_EQ(t->offset % 32, 0u);
}

TEST_F(GgufModel, ConfigFromMetadata) {
  const ModelConfig c = ModelConfigFromGguf(GgufFile::Open(path_));
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, kHidden);
  EXPECT_EQ(c.intermediate_size, 128u);
  EXPECT_EQ(c.num_hidden_layers, 2u);
  EXPECT_EQ(c.num_attention_heads, kHeads);
  EXPECT_EQ(c.num_key_value_heads, kKvHeads);
  EXPECT_EQ(c.head_dim, kHeadDim);
  EXPECT_EQ(c.max_position_embeddings, 256u);
  EXPECT_EQ(c.vocab_size, 2u);  // rows of token_embd (the Q8_0 case: 2 x 256)
  EXPECT_FLOAT_EQ(static_cast<float>(c.rms_norm_eps), 1e-5f);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1u);
  EXPECT_EQ(c.eos_token_ids, (std::vector<uint32_t>{2, 3}));
}

TEST_F(GgufModel, DequantizesEveryTypeUnderHfNames) {
  const auto w = WeightSource::Open(path_);
  for (size_t i = 0; i < cases_.size(); ++i) {
    SCOPED_TRACE(hf_names_[i]);
    const auto info = w->Info(hf_names_[i]);
    EXPECT_EQ(info.dtype, cases_[i].dtype);
    EXPECT_EQ(info.shape,
              (std::vector<int64_t>{static_cast<int64_t>(cases_[i].expected.size() / 256), 256}));
    const auto got = w->ReadF32(hf_names_[i]);
    ASSERT_EQ(got.size(), cases_[i].expected.size());
    for (size_t e = 0; e < got.size(); ++e) {
      ASSERT_NEAR(got[e], cases_[i].expected[e], 1e-6 * std::abs(cases_[i].expected[e]) + 1e-7)
          << e;
    }
    // Row 1, columns [40, 300) cut through quant blocks.
    const auto slice = w->ReadF32(hf_names_[i], {1, 2}, {40, 256});
    ASSERT_EQ(slice.size(), 216u);
    for (size_t e = 0; e < slice.size(); ++e) ASSERT_EQ(slice[e], got[256 + 40 + e]);
    const auto bf = w->ReadBF16(hf_names_[i]);
    for (size_t e = 0; e < bf.size(); ++e) ASSERT_EQ(bf[e], F32ToBf16(got[e]));
    EXPECT_EQ(w->RawData(hf_names_[i]), nullptr);
  }
  EXPECT_EQ(w->ReadF32("model.layers.0.input_layernorm.weight"), std::vector<float>(kHidden, 1.5f));
  EXPECT_NE(w->RawData("model.norm.weight"), nullptr);
  EXPECT_FALSE(w->Has("lm_head.weight"));
  EXPECT_TRUE(w->Has("model.embed_tokens.weight"));
}

TEST_F(GgufModel, UndoesLlamaQkPermutation) {
  const auto w = WeightSource::Open(path_);
  EXPECT_EQ(w->ReadF32("model.layers.0.self_attn.q_proj.weight"), q_);
  EXPECT_EQ(w->ReadF32("model.layers.0.self_attn.k_proj.weight"), k_);
  // Tensor-parallel slice: head 1 and 2 of q, columns [8, 24).
  const auto slice = w->ReadF32("model.layers.0.self_attn.q_proj.weight", {16, 48}, {8, 24});
  ASSERT_EQ(slice.size(), 32u * 16u);
  for (int r = 0; r < 32; ++r) {
    for (int c = 0; c < 16; ++c) ASSERT_EQ(slice[r * 16 + c], q_[(16 + r) * kHidden + 8 + c]);
  }
  // The stored (permuted) layout is not handed out as raw data.
  EXPECT_EQ(w->RawData("model.layers.0.self_attn.q_proj.weight"), nullptr);
}

// Qwen2/Qwen3 GGUFs keep HF's rotate-half row order: nothing is un-permuted there.
TEST(GgufQwen, NoPermutationBiasAndQkNorm) {
  ScratchDir dir;
  for (const std::string arch : {"qwen2", "qwen3"}) {
    SCOPED_TRACE(arch);
    GgufWriter w;
    w.String("general.architecture", arch);
    w.U32(arch + ".embedding_length", 32);
    w.U32(arch + ".feed_forward_length", 64);
    w.U32(arch + ".block_count", 1);
    w.U32(arch + ".attention.head_count", 2);
    w.U32(arch + ".attention.head_count_kv", 1);
    w.U32(arch + ".attention.sliding_window", 4096);
    const auto q = HfMatrix(32, 32);
    w.Tensor("token_embd.weight", kF32, {32, 8}, AsBytes(HfMatrix(8, 32)));
    w.Tensor("output.weight", kF32, {32, 8}, AsBytes(HfMatrix(8, 32)));
    w.Tensor("blk.0.attn_q.weight", kF32, {32, 32}, AsBytes(q));
    if (arch == "qwen2") {
      w.Tensor("blk.0.attn_q.bias", kF32, {32}, AsBytes(std::vector<float>(32, 0.25f)));
    } else {
      w.Tensor("blk.0.attn_q_norm.weight", kF32, {16}, AsBytes(std::vector<float>(16, 1.0f)));
    }
    const auto path = dir.path() / (arch + ".gguf");
    w.Write(path);
    const auto src = WeightSource::Open(path);
    EXPECT_EQ(src->config().model_type, arch);
    EXPECT_EQ(src->config().attention_bias, arch == "qwen2");
    EXPECT_EQ(src->config().qk_norm, arch == "qwen3");
    EXPECT_EQ(src->config().sliding_window, 4096u);
    EXPECT_FALSE(src->config().tie_word_embeddings);
    EXPECT_EQ(src->config().vocab_size, 8u);
    EXPECT_EQ(src->ReadF32("model.layers.0.self_attn.q_proj.weight"), q);
    EXPECT_NE(src->RawData("model.layers.0.self_attn.q_proj.weight"), nullptr);
    if (arch == "qwen2") {
      EXPECT_EQ(src->ReadF32("model.layers.0.self_attn.q_proj.bias"),
                std::vector<float>(32, 0.25f));
    } else {
      EXPECT_TRUE(src->Has("model.layers.0.self_attn.q_norm.weight"));
    }
  }
}

TEST(GgufNames, MapsToHf) {
  EXPECT_EQ(GgufToHfName("blk.12.ffn_down.weight"), "model.layers.12.mlp.down_proj.weight");
  EXPECT_EQ(GgufToHfName("blk.0.attn_q.bias"), "model.layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(GgufToHfName("blk.3.attn_k_norm.weight"), "model.layers.3.self_attn.k_norm.weight");
  EXPECT_EQ(GgufToHfName("blk.1.ffn_norm.weight"),
            "model.layers.1.post_attention_layernorm.weight");
  EXPECT_EQ(GgufToHfName("output.weight"), "lm_head.weight");
  EXPECT_FALSE(GgufToHfName("rope_freqs.weight").has_value());
  EXPECT_FALSE(GgufToHfName("blk.x.attn_q.weight").has_value());
}

// Real vocab-only GGUF files from llama.cpp parse (metadata only, no tensors).
TEST(GgufRealFiles, VocabFilesParse) {
  int parsed = 0;
  for (const auto& e : std::filesystem::directory_iterator(TG_ASSETS_DIR "/vocab-gguf")) {
    if (e.path().extension() != ".gguf") continue;
    const GgufFile f = GgufFile::Open(e.path());
    EXPECT_GT(f.GetStringArray("tokenizer.ggml.tokens").size(), 1000u) << e.path();
    EXPECT_FALSE(f.GetString("tokenizer.ggml.model").empty());
    ++parsed;
  }
  EXPECT_GE(parsed, 5);
}

Error GgufError(const std::vector<uint8_t>& bytes) {
  try {
    GgufFile::Parse(bytes, "bad.gguf");
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("bad.gguf"), std::string::npos) << e.message();
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error(ErrorKind::kInternal, "none");
}

TEST(GgufBadFiles, EveryTruncationFailsCleanly) {
  GgufWriter w;
  w.String("general.architecture", "llama");
  w.StringArray("tokenizer.ggml.tokens", {"a", "b"});
  w.Tensor("x", kF32, {4, 2}, AsBytes(std::vector<float>(8, 1.0f)));
  const auto good = w.Build();
  EXPECT_NO_THROW(GgufFile::Parse(good, "good"));
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(GgufError({good.begin(), good.begin() + static_cast<long>(n)}).kind(),
              ErrorKind::kCorruptFile)
        << n;
  }
}

TEST(GgufBadFiles, ClearErrors) {
  auto message = [](const GgufWriter& w) { return GgufError(w.Build()).message(); };
  {
    GgufWriter w;
    w.Tensor("a", kF32, {8}, AsBytes(std::vector<float>(8)));
    auto bytes = w.Build();
    bytes[0] = 'X';
    EXPECT_NE(GgufError(bytes).message().find("magic"), std::string::npos);
    bytes[0] = 'G';
    bytes[4] = 1;  // version 1
    EXPECT_NE(GgufError(bytes).message().find("version 1"), std::string::npos);
  }
  {
    GgufWriter w;  // tensor says 16 floats, file holds 8
    w.Tensor("a", kF32, {16}, AsBytes(std::vector<float>(8)));
    EXPECT_NE(message(w).find("past the end"), std::string::npos);
  }
  {
    GgufWriter w;  // Q5_0 is not supported
    w.Tensor("a", 6, {32}, std::vector<uint8_t>(22));
    const Error e = GgufError(w.Build());
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(e.message().find("type 6"), std::string::npos);
  }
  {
    GgufWriter w;  // Q8_0 rows must be whole blocks
    w.Tensor("a", kQ8_0, {33}, std::vector<uint8_t>(68));
    EXPECT_NE(message(w).find("blocks"), std::string::npos);
  }
  {
    GgufWriter w;
    w.String("bad", "caf\xe9");  // Latin-1, not UTF-8
    EXPECT_NE(message(w).find("UTF-8"), std::string::npos);
  }
  {
    GgufWriter w;
    w.U32("dup", 1);
    w.U32("dup", 2);
    EXPECT_NE(message(w).find("duplicate"), std::string::npos);
  }
  {
    // Two tensors at the same offset: patch the second one's offset to 0.
    GgufWriter w;
    w.Tensor("a", kF32, {8}, AsBytes(std::vector<float>(8)));
    w.Tensor("b", kF32, {8}, AsBytes(std::vector<float>(8)));
    auto bytes = w.Build();
    // Tensor infos end with the 8-byte offset; "b" is the last info before padding.
    const std::string key = "b";
    auto it = std::search(bytes.begin() + 24, bytes.end(), key.begin(), key.end());
    const size_t offset_pos = static_cast<size_t>(it - bytes.begin()) + 1 + 4 + 8 + 4;
    std::fill_n(bytes.begin() + static_cast<long>(offset_pos), 8, 0);
    EXPECT_NE(GgufError(bytes).message().find("overlap"), std::string::npos);
    bytes[offset_pos] = 4;  // not a multiple of the 32-byte alignment
    EXPECT_NE(GgufError(bytes).message().find("aligned"), std::string::npos);
  }
  {
    // An array claiming 2^40 elements.
    std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
    testing::Append<uint32_t>(&b, 3);
    testing::Append<uint64_t>(&b, 0);
    testing::Append<uint64_t>(&b, 1);
    testing::Append<uint64_t>(&b, 1);
    b.push_back('k');
    testing::Append<uint32_t>(&b, 9);
    testing::Append<uint32_t>(&b, 5);
    testing::Append<uint64_t>(&b, uint64_t{1} << 40);
    EXPECT_NE(GgufError(b).message().find("longer than the file"), std::string::npos);
  }
}

TEST(GgufBadFiles, UnknownArchitectureNamesIt) {
  ScratchDir dir;
  GgufWriter w;
  w.String("general.architecture", "mamba");
  w.Write(dir.path() / "m.gguf");
  try {
    WeightSource::Open(dir.path() / "m.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(e.message().find("mamba"), std::string::npos);
    EXPECT_NE(e.message().find("llama"), std::string::npos);
  }
}

}  // namespace
}  // namespace tg::model
