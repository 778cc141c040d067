// Host-side logic of the kernels and the CUDA backend, runnable without a GPU: dispatch tables,
// parameter checks that answer before any launch, scratch sizing, KV memory planning and CUDA
// graph buckets.
#include <gtest/gtest.h>

#include "common/error.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/prefill_hopper.h"
#include "shard/backend/cuda/memory_plan.h"

namespace tg {
namespace {

using kernels::Status;

// Never dereferenced: the checks under test return before any launch.
void* Fake() { return reinterpret_cast<void*>(0x1000); }

TEST(KernelDispatchTest, HeadDimTableListsExactlyTheInstantiations) {
  for (int d : {8, 16, 32, 64, 96, 128, 256})
    EXPECT_TRUE(kernels::AttentionSupportsHeadDim(d)) << d;
  for (int d : {0, 1, 80, 100, 112, 192, 512})
    EXPECT_FALSE(kernels::AttentionSupportsHeadDim(d)) << d;
}

TEST(KernelDispatchTest, HopperPrefillServesOnlyItsInstantiations) {
  using kernels::DType;
  using kernels::HopperPrefill;
  for (int d : {64, 128})
    EXPECT_EQ(HopperPrefill::Supports(DType::kBFloat16, d), HopperPrefill::Compiled()) << d;
  for (int d : {8, 32, 96, 256}) EXPECT_FALSE(HopperPrefill::Supports(DType::kBFloat16, d)) << d;
  for (DType dtype : {DType::kFloat32, DType::kFloat16})
    EXPECT_FALSE(HopperPrefill::Supports(dtype, 128));
  if (!HopperPrefill::Compiled()) {
    EXPECT_EQ(HopperPrefill::Create(0), nullptr);
  }
}

kernels::DecodeAttentionParams ValidDecode() {
  kernels::DecodeAttentionParams p;
  p.q = static_cast<const float*>(Fake());
  p.k_cache = p.v_cache = Fake();
  p.block_tables = p.context_lens = static_cast<const int32_t*>(Fake());
  p.out = static_cast<float*>(Fake());
  p.scratch = Fake();
  p.num_seqs = 2;
  p.num_q_heads = 8;
  p.num_kv_heads = 2;
  p.head_dim = 100;  // unsupported: the dispatch answers before launching
  p.block_size = 16;
  p.max_blocks_per_seq = 4;
  p.max_context_len = 64;
  p.scratch_bytes = kernels::DecodeAttentionScratchBytes(2, 8, 100, 64);
  return p;
}

TEST(KernelDispatchTest, DecodeAttentionChecksBeforeLaunch) {
  EXPECT_EQ(kernels::DecodeAttention(ValidDecode(), nullptr), Status::kUnsupported);
  auto p = ValidDecode();
  p.num_kv_heads = 3;  // 8 query heads do not split into 3 groups
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  p.scratch_bytes -= 1;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  p.max_blocks_per_seq = 3;  // 3 * 16 < 64 tokens
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  p.num_seqs = 0;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kOk);
  p = ValidDecode();
  p.out = nullptr;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
}

TEST(KernelDispatchTest, DecodeScratchCoversEveryPartition) {
  static_assert(kernels::kDecodePartitionTokens == 128);
  // 2 sequences x 4 heads x ceil(300 / 128) = 3 partitions, each head_dim + max + sum floats.
  EXPECT_EQ(kernels::DecodeAttentionScratchBytes(2, 4, 64, 300), 2u * 4 * 3 * (64 + 2) * 4);
  EXPECT_EQ(kernels::DecodeAttentionScratchBytes(1, 1, 128, 128), 1u * (128 + 2) * 4);
  EXPECT_EQ(kernels::DecodeAttentionScratchBytes(1, 1, 128, 129), 2u * (128 + 2) * 4);
}

TEST(KernelDispatchTest, PrefillAndElementwiseParameterChecks) {
  kernels::PrefillAttentionParams p;
  p.num_seqs = 1;
  p.num_q_heads = 4;
  p.num_kv_heads = 4;
  p.block_size = 16;
  p.max_query_len = 5;
  p.head_dim = 64;
  EXPECT_EQ(kernels::PrefillAttention(p, nullptr), Status::kInvalidArgument);  // null pointers
  kernels::RotaryParams r;
  r.num_tokens = 1;
  r.head_dim = 64;
  r.rotary_dim = 63;
  EXPECT_EQ(kernels::Rotary(r, nullptr), Status::kInvalidArgument);
  kernels::RmsNormParams n;
  n.num_tokens = 0;
  n.cols = 8;
  EXPECT_EQ(kernels::RmsNorm(n, nullptr), Status::kOk);  // empty batches are no-ops
  kernels::GemmParams g;
  g.m = 2;
  g.n = 2;
  g.k = 2;
  g.x = g.w = Fake();
  g.y = Fake();
  g.out_dtype = kernels::DType::kBFloat16;
  EXPECT_EQ(kernels::SimpleGemm(g, nullptr), Status::kUnsupported);
  EXPECT_STREQ(kernels::ToString(Status::kUnsupported), "unsupported configuration");
}

TEST(MemoryPlanTest, KvBlocksFromTheMeasuredPeak) {
  using backend::cuda::PlanKvCache;
  const uint64_t gib = 1ull << 30;
  // Llama-3-8B shape: 32 layers, 8 KV heads of 128, bf16, 16-token blocks = 2 MiB a block.
  const uint64_t per_block = backend::cuda::KvBytesPerBlock(32, 16, 8, 128, 2);
  EXPECT_EQ(per_block, 2ull * 1024 * 1024);
  const auto plan = PlanKvCache({.total_bytes = 80 * gib,
                                 .peak_used_bytes = 18 * gib,
                                 .utilization = 0.9,
                                 .kv_bytes_per_block = per_block});
  EXPECT_EQ(plan.budget_bytes, static_cast<uint64_t>(80 * gib * 0.9));
  EXPECT_EQ(plan.num_blocks, static_cast<int64_t>((plan.budget_bytes - 18 * gib) / per_block));
  EXPECT_EQ(plan.kv_bytes, plan.num_blocks * per_block);
  // Nothing left: zero blocks, not a negative count.
  EXPECT_EQ(
      PlanKvCache({.total_bytes = gib, .peak_used_bytes = gib, .kv_bytes_per_block = 1}).num_blocks,
      0);
  EXPECT_THROW(PlanKvCache({.total_bytes = gib, .utilization = 1.5, .kv_bytes_per_block = 1}),
               Error);
  EXPECT_THROW(PlanKvCache({.total_bytes = gib, .utilization = 0.0, .kv_bytes_per_block = 1}),
               Error);
}

TEST(GraphBucketsTest, ParseAndPick) {
  using backend::cuda::GraphBucketFor;
  using backend::cuda::ParseGraphBatchSizes;
  const auto sizes = ParseGraphBatchSizes("8,1,2,4,4,256");
  EXPECT_EQ(sizes, (std::vector<int>{1, 2, 4, 8, 256}));
  EXPECT_TRUE(ParseGraphBatchSizes("0").empty());
  EXPECT_TRUE(ParseGraphBatchSizes("").empty());
  EXPECT_THROW(ParseGraphBatchSizes("1,x"), Error);
  EXPECT_THROW(ParseGraphBatchSizes("1,-2"), Error);
  EXPECT_THROW(ParseGraphBatchSizes("3,"), Error);
  EXPECT_EQ(GraphBucketFor(sizes, 1), 1);
  EXPECT_EQ(GraphBucketFor(sizes, 3), 4);
  EXPECT_EQ(GraphBucketFor(sizes, 9), 256);
  EXPECT_EQ(GraphBucketFor(sizes, 257), -1);
  EXPECT_EQ(GraphBucketFor({}, 1), -1);
}

}  // namespace
}  // namespace tg
