#include "shard/parallel/tp_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace tg::parallel {
namespace {

model::ModelConfig Shape(uint32_t hidden, uint32_t heads, uint32_t kv_heads, uint32_t inter,
                         uint32_t vocab, uint32_t layers = 2) {
  model::ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = hidden;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.intermediate_size = inter;
  c.vocab_size = vocab;
  c.num_hidden_layers = layers;
  return c;
}

model::ModelConfig Llama3_8B() { return Shape(4096, 32, 8, 14336, 128256, 32); }
model::ModelConfig Llama3_70B() { return Shape(8192, 64, 8, 28672, 128256, 80); }

ErrorKind KindOf(const model::ModelConfig& config, int rank, int world) {
  try {
    TensorParallelPlan plan(config, rank, world);
  } catch (const Error& error) {
    return error.kind();
  }
  ADD_FAILURE() << "no error for world " << world;
  return ErrorKind::kInternal;
}

TEST(TpPlanTest, Llama3_8BAtTp4) {
  TensorParallelPlan plan(Llama3_8B(), 2, 4);
  EXPECT_EQ(plan.num_heads(), 8);
  EXPECT_EQ(plan.heads().begin, 16);
  EXPECT_EQ(plan.num_kv_heads(), 2);
  EXPECT_EQ(plan.kv_heads().begin, 4);
  EXPECT_FALSE(plan.kv_replicated());
  EXPECT_EQ(plan.intermediate_size(), 3584);
  EXPECT_EQ(plan.vocab().begin, 64128);
  EXPECT_EQ(plan.vocab().end, 96192);

  WeightSlice q = plan.Slice("model.layers.7.self_attn.q_proj.weight");
  EXPECT_EQ(q.kind, SplitKind::kRows);
  EXPECT_EQ(q.rows.begin, 16 * 128);
  EXPECT_EQ(q.rows.end, 24 * 128);
  WeightSlice k = plan.Slice("model.layers.7.self_attn.k_proj.weight");
  EXPECT_EQ(k.rows.begin, 4 * 128);
  EXPECT_EQ(k.rows.end, 6 * 128);
  WeightSlice o = plan.Slice("model.layers.7.self_attn.o_proj.weight");
  EXPECT_EQ(o.kind, SplitKind::kColumns);
  EXPECT_EQ(o.cols.begin, 16 * 128);
  EXPECT_EQ(o.cols.end, 24 * 128);
  WeightSlice up = plan.Slice("model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(up.kind, SplitKind::kRows);
  EXPECT_EQ(up.rows.begin, 2 * 3584);
  WeightSlice down = plan.Slice("model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(down.kind, SplitKind::kColumns);
  EXPECT_EQ(down.cols.end, 3 * 3584);
  EXPECT_EQ(plan.Slice("model.layers.0.input_layernorm.weight").kind, SplitKind::kReplicated);
  EXPECT_EQ(plan.Slice("model.norm.weight").kind, SplitKind::kReplicated);
  WeightSlice head = plan.Slice("lm_head.weight");
  EXPECT_EQ(head.kind, SplitKind::kRows);
  EXPECT_EQ(head.rows.begin, 64128);
  EXPECT_EQ(head.padded_rows, 0);
}

TEST(TpPlanTest, Llama3_70BAtTp4And8) {
  TensorParallelPlan tp4(Llama3_70B(), 3, 4);
  EXPECT_EQ(tp4.num_heads(), 16);
  EXPECT_EQ(tp4.num_kv_heads(), 2);
  EXPECT_EQ(tp4.intermediate_size(), 7168);
  TensorParallelPlan tp8(Llama3_70B(), 7, 8);
  EXPECT_EQ(tp8.num_heads(), 8);
  EXPECT_EQ(tp8.num_kv_heads(), 1);
  EXPECT_FALSE(tp8.kv_replicated());
}

TEST(TpPlanTest, ReplicatesKvHeadsWhenFewerThanRanks) {
  // 8B has 8 KV heads: at TP 16 each pair of ranks shares one.
  for (int rank = 0; rank < 16; ++rank) {
    TensorParallelPlan plan(Llama3_8B(), rank, 16);
    EXPECT_TRUE(plan.kv_replicated());
    EXPECT_EQ(plan.num_kv_heads(), 1);
    EXPECT_EQ(plan.kv_heads().begin, rank / 2);
    // Every local query head must attend to the local KV head (GQA group = 4 query heads).
    for (int64_t h = plan.heads().begin; h < plan.heads().end; ++h) {
      EXPECT_EQ(h / 4, plan.kv_heads().begin) << "rank " << rank << " head " << h;
    }
  }
  // 2 KV heads over 4 ranks (the shape of the slicing test).
  model::ModelConfig small = Shape(64, 8, 2, 96, 101);
  for (int rank = 0; rank < 4; ++rank) {
    TensorParallelPlan plan(small, rank, 4);
    EXPECT_EQ(plan.kv_heads().begin, rank / 2);
    EXPECT_EQ(plan.Slice("model.layers.1.self_attn.v_proj.weight").rows.begin, (rank / 2) * 8);
  }
}

TEST(TpPlanTest, VocabChunksArePaddedToOneSize) {
  model::ModelConfig c = Shape(64, 8, 8, 96, 101);
  int64_t covered = 0;
  for (int rank = 0; rank < 4; ++rank) {
    TensorParallelPlan plan(c, rank, 4);
    EXPECT_EQ(plan.vocab_shard_size(), 26);
    EXPECT_EQ(plan.vocab().begin, covered);
    covered = plan.vocab().end;
    WeightSlice embed = plan.Slice("model.embed_tokens.weight");
    EXPECT_EQ(embed.rows.begin, plan.vocab().begin);
    EXPECT_EQ(embed.padded_rows, rank == 3 ? 26 : 0);
  }
  EXPECT_EQ(covered, 101);
  TensorParallelPlan last(c, 3, 4);
  EXPECT_EQ(last.vocab().size(), 23);
}

TEST(TpPlanTest, SlicesCoverEveryWeightExactlyOnce) {
  model::ModelConfig c = Llama3_70B();
  const int world = 4;
  std::vector<int64_t> q_rows(c.num_attention_heads * c.head_dim, 0);
  std::vector<int64_t> down_cols(c.intermediate_size, 0);
  for (int rank = 0; rank < world; ++rank) {
    TensorParallelPlan plan(c, rank, world);
    WeightSlice q = plan.Slice("model.layers.3.self_attn.q_proj.weight");
    for (int64_t i = q.rows.begin; i < q.rows.end; ++i) ++q_rows[i];
    WeightSlice down = plan.Slice("model.layers.3.mlp.down_proj.weight");
    for (int64_t i = down.cols.begin; i < down.cols.end; ++i) ++down_cols[i];
  }
  for (int64_t n : q_rows) ASSERT_EQ(n, 1);
  for (int64_t n : down_cols) ASSERT_EQ(n, 1);
}

TEST(TpPlanTest, SingleRankReadsEverything) {
  TensorParallelPlan plan(Llama3_8B(), 0, 1);
  EXPECT_EQ(plan.num_heads(), 32);
  EXPECT_EQ(plan.num_kv_heads(), 8);
  EXPECT_EQ(plan.vocab_shard_size(), 128256);
  WeightSlice o = plan.Slice("model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(o.cols.begin, 0);
  EXPECT_EQ(o.cols.end, 4096);
}

TEST(TpPlanTest, RowParallelBiasesAreAddedOnce) {
  TensorParallelPlan plan(Llama3_8B(), 1, 2);
  EXPECT_EQ(plan.Slice("model.layers.0.self_attn.o_proj.bias").kind, SplitKind::kReplicatedRank0);
  EXPECT_EQ(plan.Slice("model.layers.0.self_attn.q_proj.bias").kind, SplitKind::kRows);
  EXPECT_EQ(plan.Slice("model.layers.0.self_attn.q_norm.weight").kind, SplitKind::kReplicated);
}

TEST(TpPlanTest, RejectsShapesThatDoNotSplit) {
  model::ModelConfig smol = Shape(576, 9, 3, 1536, 49152, 30);  // SmolLM2-135M
  EXPECT_EQ(KindOf(smol, 0, 2), ErrorKind::kUnsupported);       // 9 heads over 2
  TensorParallelPlan tp3(smol, 2, 3);                           // 9 heads, 3 KV heads: fine
  EXPECT_EQ(tp3.num_kv_heads(), 1);
  // 12 heads, 3 KV heads over 6: 6 is a multiple of 3, so KV heads replicate 2x.
  TensorParallelPlan tp6(Shape(768, 12, 3, 1536, 1000), 5, 6);
  EXPECT_EQ(tp6.kv_heads().begin, 2);
  // 6 KV heads over 4 ranks: neither divides the other.
  EXPECT_EQ(KindOf(Shape(512, 12, 6, 1024, 100), 0, 4), ErrorKind::kUnsupported);
  EXPECT_EQ(KindOf(Shape(512, 8, 8, 1000, 100), 0, 16), ErrorKind::kUnsupported);
  EXPECT_EQ(KindOf(Shape(512, 8, 8, 1001, 100), 0, 2), ErrorKind::kUnsupported);
  EXPECT_EQ(KindOf(Llama3_8B(), 4, 4), ErrorKind::kInvalidArgument);
  EXPECT_EQ(KindOf(Llama3_8B(), 0, 0), ErrorKind::kInvalidArgument);
}

TEST(TpPlanTest, UnknownWeightsAreAnError) {
  TensorParallelPlan plan(Llama3_8B(), 0, 2);
  try {
    plan.Slice("model.layers.0.block_sparse_moe.gate.weight");
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(error.message().find("block_sparse_moe"), std::string::npos);
  }
}

}  // namespace
}  // namespace tg::parallel
