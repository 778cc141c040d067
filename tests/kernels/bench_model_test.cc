// The GPU benchmarks' model harness on the CPU backend (bench_model.h, random_weight_source.h):
// random weights that are deterministic, sliceable and in range; decode steps and prompts built
// where the pool layout says, checked against forwards the test builds itself; the Llama-3-8B
// shape's weight names and sizes.
#include "tests/kernels/bench_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include "model_files/dtype.h"
#include "tests/common/invalid_argument.h"
#include "tests/kernels/random_weight_source.h"

namespace tg::bench {
namespace {

using backend::DType;

// A Llama of a few thousand parameters per layer with GQA 2, and a vocabulary of 512.
model::ModelConfig TinyConfig(int layers = 2) {
  model::ModelConfig c = Llama3_8BConfig(layers, 512);
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  return c;
}

std::vector<float> ToHost(backend::Backend& b, const backend::Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  b.CopyToHost(t, out.data());
  return out;
}

TEST(RandomWeightSourceTest, HoldsTheLlama3_8BTensorsInTheirShapes) {
  const RandomWeightSource source(Llama3_8BConfig(2));
  EXPECT_EQ(source.Names().size(), 3u + 2 * 9);
  EXPECT_EQ(source.Info("model.embed_tokens.weight").shape, (std::vector<int64_t>{128256, 4096}));
  EXPECT_EQ(source.Info("lm_head.weight").shape, (std::vector<int64_t>{128256, 4096}));
  EXPECT_EQ(source.Info("model.norm.weight").shape, (std::vector<int64_t>{4096}));
  EXPECT_EQ(source.Info("model.layers.1.self_attn.q_proj.weight").shape,
            (std::vector<int64_t>{4096, 4096}));
  EXPECT_EQ(source.Info("model.layers.1.self_attn.k_proj.weight").shape,
            (std::vector<int64_t>{1024, 4096}));
  EXPECT_EQ(source.Info("model.layers.0.mlp.down_proj.weight").shape,
            (std::vector<int64_t>{4096, 14336}));
  EXPECT_EQ(source.Info("model.layers.0.mlp.up_proj.weight").dtype, model::DType::kBF16);
  EXPECT_FALSE(source.Has("model.layers.2.mlp.up_proj.weight"));
  EXPECT_FALSE(source.Has("model.layers.0.self_attn.q_proj.bias"));
  try {
    source.Info("model.layers.2.mlp.up_proj.weight");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound) << e.what();
  }
}

TEST(RandomWeightSourceTest, ValuesAreUniformInTheFanInBoundAndNormsAreOne) {
  const RandomWeightSource source(TinyConfig());
  const std::vector<float> w = source.ReadF32("model.layers.0.mlp.down_proj.weight");  // [64, 96]
  ASSERT_EQ(w.size(), 64u * 96);
  const float bound = 1.0f / std::sqrt(96.0f);
  double sum = 0, squares = 0;
  for (float v : w) {
    ASSERT_LE(std::fabs(v), bound * 1.004f);  // bf16 rounding
    sum += v;
    squares += double(v) * v;
  }
  const double mean = sum / w.size(), variance = squares / w.size() - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.05 * bound);
  EXPECT_NEAR(variance, bound * bound / 3, 0.1 * bound * bound / 3);  // uniform's variance
  for (float v : source.ReadF32("model.layers.1.post_attention_layernorm.weight")) EXPECT_EQ(v, 1);
  // Every tensor has its own values.
  EXPECT_NE(source.ReadF32("model.layers.0.mlp.gate_proj.weight"),
            source.ReadF32("model.layers.0.mlp.up_proj.weight"));
  EXPECT_NE(source.ReadF32("model.layers.0.mlp.gate_proj.weight"),
            RandomWeightSource(TinyConfig(), 1).ReadF32("model.layers.0.mlp.gate_proj.weight"));
}

// A tensor past the threaded size (the embedding: 512 x 64 is not; a wide one is), read whole
// and in row and column slices, in bf16 and float32: the same values everywhere.
TEST(RandomWeightSourceTest, SlicesAndDTypesReadTheSameValuesAsTheWholeTensor) {
  model::ModelConfig config = TinyConfig();
  config.vocab_size = 40000;  // embedding of 2.56M elements: read by several threads
  const RandomWeightSource source(config);
  const std::string name = "model.embed_tokens.weight";
  const std::vector<uint16_t> whole = source.ReadBF16(name);
  const std::vector<float> whole_f32 = source.ReadF32(name);
  ASSERT_EQ(whole.size(), 40000u * 64);
  for (size_t i = 0; i < whole.size(); i += 997) {
    ASSERT_EQ(whole_f32[i], model::Bf16ToF32(whole[i])) << i;
  }
  const std::vector<uint16_t> rows = source.ReadBF16(name, {30001, 30004}, {});
  ASSERT_EQ(rows.size(), 3u * 64);
  for (size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rows[i], whole[30001 * 64 + i]) << i;
  const std::vector<uint16_t> cols = source.ReadBF16(name, {7, 9}, {16, 48});
  ASSERT_EQ(cols.size(), 2u * 32);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 32; ++c) ASSERT_EQ(cols[r * 32 + c], whole[(7 + r) * 64 + 16 + c]);
  }
  // Not constant along a row or down a column.
  EXPECT_NE(whole[0], whole[1]);
  EXPECT_NE(whole[0], whole[64]);
}

class BenchModelTest : public ::testing::Test {
 protected:
  static constexpr int kSeqs = 3, kContext = 40, kPrompt = 37;
  std::unique_ptr<backend::Backend> backend_ =
      backend::MakeCpuBackend({.device = backend::DeviceKind::kCpu, .threads = 2});
  BenchModel model_{*backend_, TinyConfig(), DType::kF32,
                    BenchLayout{.seqs = kSeqs, .context = kContext, .prompt = kPrompt}};

  // The logits of the last of `tokens` run as one prompt from position 0, over the prompt's
  // blocks, in a batch built here.
  std::vector<float> PromptLogits(const std::vector<int32_t>& tokens) {
    std::vector<uint32_t> blocks(model_.model().kv_pool().num_blocks() -
                                 kSeqs * model_.context_blocks());
    std::iota(blocks.begin(), blocks.end(), static_cast<uint32_t>(kSeqs * model_.context_blocks()));
    shard::ForwardBatchBuilder builder(model_.model().kv_pool());
    builder.AddSequence(tokens, 0, blocks).AddLogitRow(static_cast<int>(tokens.size()) - 1);
    return ToHost(*backend_, model_.model().Forward(builder.Build()));
  }
};

TEST_F(BenchModelTest, PoolHoldsEachSequenceAtFullContextAndThePrompt) {
  const int blocks = (kContext + 15) / 16;
  EXPECT_EQ(model_.context_blocks(), blocks);
  EXPECT_EQ(model_.model().kv_pool().num_blocks(), kSeqs * blocks + (kPrompt + 15) / 16);
}

TEST_F(BenchModelTest, DecodeStepSitsInEachSequencesBlocks) {
  const shard::ForwardBatch batch = model_.Decode(2, 37);
  const int b = model_.context_blocks();  // 3
  EXPECT_EQ(batch.positions, (std::vector<int32_t>{36, 36}));
  EXPECT_EQ(batch.seq_lens, (std::vector<int32_t>{37, 37}));
  EXPECT_EQ(batch.tokens, (std::vector<int32_t>{model_.TokenAt(0, 36), model_.TokenAt(1, 36)}));
  EXPECT_EQ(batch.max_blocks, 3);
  EXPECT_EQ(batch.block_tables, (std::vector<int32_t>{0, 1, 2, b, b + 1, b + 2}));
  EXPECT_EQ(batch.slots, (std::vector<int32_t>{2 * 16 + 4, (b + 2) * 16 + 4}));
  EXPECT_EQ(batch.logit_rows, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(model_.Decode(1, 16).max_blocks, 1);  // only the blocks the context needs
}

// The harness's decode step after its prefill gives the logits of one prompt of the same tokens:
// the prefill wrote each position where the decode step reads it. The prefill runs 2 sequences
// per forward here (max_tokens), so the 3 sequences take two.
TEST_F(BenchModelTest, DecodeAfterFillMatchesOnePromptOfTheSameTokens) {
  const int len = kPrompt;  // the prompt's blocks hold the reference
  model_.FillContexts(kSeqs, len - 1, 2 * (len - 1));
  const std::vector<float> decode =
      ToHost(*backend_, model_.model().Forward(model_.Decode(kSeqs, len)));
  const size_t vocab = model_.config().vocab_size;
  ASSERT_EQ(decode.size(), kSeqs * vocab);
  for (int s = 0; s < kSeqs; ++s) {
    std::vector<int32_t> tokens(len);
    for (int p = 0; p < len; ++p) tokens[p] = model_.TokenAt(s, p);
    const std::vector<float> expected = PromptLogits(tokens);
    for (size_t v = 0; v < vocab; ++v) {
      ASSERT_NEAR(decode[s * vocab + v], expected[v], 1e-4f + 1e-4f * std::fabs(expected[v]))
          << "sequence " << s << " logit " << v;
    }
  }
}

TEST_F(BenchModelTest, PromptIsOneSequenceInThePromptBlocksWithItsLastLogits) {
  const shard::ForwardBatch batch = model_.Prompt(kPrompt);
  const int first = kSeqs * model_.context_blocks();
  ASSERT_EQ(batch.num_tokens(), kPrompt);
  EXPECT_EQ(batch.positions.back(), kPrompt - 1);
  EXPECT_EQ(batch.tokens[5], model_.TokenAt(kSeqs, 5));
  EXPECT_EQ(batch.block_tables, (std::vector<int32_t>{first, first + 1, first + 2}));
  EXPECT_EQ(batch.logit_rows, (std::vector<int32_t>{kPrompt - 1}));
  const std::vector<float> logits = ToHost(*backend_, model_.model().Forward(batch));
  EXPECT_EQ(logits, PromptLogits(std::vector<int32_t>(batch.tokens)));
}

TEST_F(BenchModelTest, WeightBytesAndLinearParamsCountTheModel) {
  const model::ModelConfig& c = model_.config();
  const double per_layer = (64.0 + 2 * 32) * 64 + 64.0 * 64 + 2 * 96.0 * 64 + 64.0 * 96;
  EXPECT_EQ(model_.linear_params(), 2 * per_layer + 512.0 * 64);
  // All weights but the embedding table, float32 here.
  EXPECT_EQ(model_.decode_weight_bytes(),
            model_.model().weight_bytes() - uint64_t{c.vocab_size} * c.hidden_size * 4);
  EXPECT_EQ(model_.model().weight_bytes(),
            static_cast<uint64_t>(4 * (2 * per_layer + 2 * 512.0 * 64 + (2 * 2 + 1) * 64 + 8)));
}

TEST_F(BenchModelTest, NoGraphsOnTheCpuSoAGraphStepIsAnError) {
  EXPECT_TRUE(model_.CaptureGraphs(kSeqs).empty());
  try {
    model_.GraphForward(model_.Decode(1, 2));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal) << e.what();
  }
}

TEST_F(BenchModelTest, BatchesOutsideTheLayoutAreRefused) {
  EXPECT_NE(testing::InvalidArgumentMessage([&] { model_.Decode(kSeqs + 1, 2); }), "");
  EXPECT_NE(testing::InvalidArgumentMessage([&] { model_.Decode(1, kContext + 1); }), "");
  EXPECT_NE(testing::InvalidArgumentMessage([&] { model_.Prompt(kPrompt + 1); }), "");
  EXPECT_NE(testing::InvalidArgumentMessage([&] { model_.FillContexts(1, 10, 9); }), "");
}

// Through many layers of bf16 weights the activations keep their scale: finite, varied logits.
TEST(BenchModelScaleTest, LogitsOfADeepBf16ModelAreFiniteAndVaried) {
  auto backend = backend::MakeCpuBackend({.device = backend::DeviceKind::kCpu, .threads = 2});
  BenchModel model(*backend, TinyConfig(16), DType::kBF16,
                   BenchLayout{.seqs = 1, .context = 32, .prompt = 0});
  model.FillContexts(1, 31);
  const std::vector<float> logits = ToHost(*backend, model.model().Forward(model.Decode(1, 32)));
  float lo = logits[0], hi = logits[0];
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GT(hi - lo, 0.1f);
  EXPECT_LT(hi - lo, 1e3f);
}

}  // namespace
}  // namespace tg::bench
