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

// A launch that splits: 2 sequences x 2 kv heads fill 4 of the 528 blocks a 132-SM device
// should run, so the 640-token context goes into tiles.
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
  p.max_blocks_per_seq = 40;
  p.max_context_len = 640;
  p.num_sms = 132;
  p.scratch_bytes = kernels::DecodeAttentionScratchBytes(p);
  return p;
}

TEST(KernelDispatchTest, DecodeAttentionChecksBeforeLaunch) {
  EXPECT_EQ(kernels::DecodeAttention(ValidDecode(), nullptr), Status::kUnsupported);
  auto p = ValidDecode();
  p.num_kv_heads = 3;  // 8 query heads do not split into 3 groups
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  ASSERT_GT(p.scratch_bytes, 0u);
  p.scratch_bytes -= 1;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  p.scratch = nullptr;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  p.max_blocks_per_seq = 39;  // 39 * 16 < 640 tokens
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
  p = ValidDecode();
  p.num_seqs = 0;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kOk);
  p = ValidDecode();
  p.out = nullptr;
  EXPECT_EQ(kernels::DecodeAttention(p, nullptr), Status::kInvalidArgument);
}

// Attention writes float32 or bf16 rows; other output dtypes are turned down before a launch,
// and FlashInfer's decode, without a kernel for bf16 outputs over an fp16 cache, leaves those to
// ours.
TEST(KernelDispatchTest, AttentionOutputDTypes) {
  using kernels::DType;
  EXPECT_TRUE(kernels::AttentionOutDTypeServed(DType::kFloat32));
  EXPECT_TRUE(kernels::AttentionOutDTypeServed(DType::kBFloat16));
  EXPECT_FALSE(kernels::AttentionOutDTypeServed(DType::kFloat16));
  auto d = ValidDecode();
  d.head_dim = 64;
  d.out_dtype = DType::kFloat16;
  EXPECT_EQ(kernels::DecodeAttention(d, nullptr), Status::kUnsupported);
  d.out_dtype = DType::kBFloat16;
  d.dtype = DType::kFloat16;
  EXPECT_FALSE(kernels::FlashInferDecodeServes(d));
  EXPECT_EQ(kernels::DecodeKernelFor(d), kernels::DecodeKernel::kOurs);

  kernels::PrefillAttentionParams p;
  p.q = static_cast<const float*>(Fake());
  p.k_cache = p.v_cache = p.out = Fake();
  p.block_tables = p.query_starts = p.seq_lens = static_cast<const int32_t*>(Fake());
  p.num_seqs = 1;
  p.num_q_heads = p.num_kv_heads = 4;
  p.block_size = 16;
  p.max_query_len = 5;
  p.head_dim = 64;
  p.out_dtype = DType::kFloat16;
  EXPECT_EQ(kernels::PrefillAttention(p, nullptr), Status::kUnsupported);
}

kernels::DecodeAttentionParams DecodeShape(int seqs, int hq, int hk, int d, int max_len) {
  kernels::DecodeAttentionParams p;
  p.num_seqs = seqs;
  p.num_q_heads = hq;
  p.num_kv_heads = hk;
  p.head_dim = d;
  p.block_size = 16;
  p.max_context_len = max_len;
  p.num_sms = 132;
  return p;
}

TEST(KernelDispatchTest, DecodeSplitsOnlyWhenTheGridUnderfills) {
  using kernels::PlanDecodeAttention;
  // Llama-3-8B (32 q / 8 kv heads of 128): one block per (tile, kv head, sequence), aiming at 4
  // blocks per SM (528 on 132 SMs). Batch 64: 512 blocks, so 2 tiles a sequence.
  auto p = DecodeShape(64, 32, 8, 128, 512);
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 2);
  EXPECT_EQ(kernels::DecodeAttentionScratchBytes(p), 64u * 32 * 2 * (128 + 2) * 4);
  // The grid depends on the launch shape only: a longer maximum context keeps 2 tiles (each
  // sequence's tiles grow on the device instead).
  p.max_context_len = 32768;
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 2);
  // Batch 1: 8 blocks; 66 tiles wanted, but never more than one per 64 tokens of the maximum.
  p = DecodeShape(1, 32, 8, 128, 512);
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 8);
  EXPECT_EQ(kernels::DecodeAttentionScratchBytes(p), 1u * 32 * 8 * (128 + 2) * 4);
  p.max_context_len = 2048;
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 32);
  p.max_context_len = 131072;
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 66);
  // Batch 16: 128 blocks, ceil(528 / 128) = 5 tiles.
  p = DecodeShape(16, 32, 8, 128, 32768);
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 5);
  // A GQA group of 16 takes 4 blocks of 4 heads per kv head: 256 x 4 x 4 blocks fill the GPU,
  // so one tile a sequence and no scratch.
  p = DecodeShape(256, 64, 4, 128, 4000);
  EXPECT_EQ(PlanDecodeAttention(p).tiles, 1);
  EXPECT_EQ(kernels::DecodeAttentionScratchBytes(p), 0u);
  EXPECT_EQ(PlanDecodeAttention(DecodeShape(0, 32, 8, 128, 512)).tiles, 0);
}

TEST(KernelDispatchTest, SkinnyGemmTakesDecodeRowCounts) {
  kernels::SkinnyGemmParams p;
  p.x = static_cast<const float*>(Fake());
  p.w = Fake();
  p.y = static_cast<float*>(Fake());
  p.n = 4096;
  p.k = 4096;
  for (int m : {1, 8, 9, 16, 17, 64}) {
    p.m = m;
    EXPECT_TRUE(kernels::SkinnyGemmApplies(p)) << m;  // bf16 weights: tensor cores to 64 rows
  }
  p.m = kernels::kSkinnyMaxRows + 1;
  EXPECT_FALSE(kernels::SkinnyGemmApplies(p));  // cuBLASLt
  p.m = 9;
  p.silu_gated_input = true;  // SiLU recomputed per block: only for a few rows
  EXPECT_FALSE(kernels::SkinnyGemmApplies(p));
  p.m = kernels::kSkinnyGatedMaxRows;
  EXPECT_TRUE(kernels::SkinnyGemmApplies(p));
  p.silu_gated_input = false;
  p.dtype = kernels::DType::kFloat32;  // CUDA cores, float32 throughout: up to 8 rows
  EXPECT_TRUE(kernels::SkinnyGemmApplies(p));
  p.m = kernels::kSkinnyFloatMaxRows + 1;
  EXPECT_FALSE(kernels::SkinnyGemmApplies(p));
  p.dtype = kernels::DType::kBFloat16;
  p.m = 4;
  p.k = 4100;  // 16-byte loads need k % 8 == 0
  EXPECT_FALSE(kernels::SkinnyGemmApplies(p));
  p.k = 4096;
  p.w = static_cast<const char*>(Fake()) + 2;  // and 16-byte aligned rows
  EXPECT_FALSE(kernels::SkinnyGemmApplies(p));
  p.w = Fake();
  p.m = 0;
  EXPECT_EQ(kernels::SkinnyGemm(p, nullptr), Status::kOk);  // empty: nothing to launch
  p.m = 4;
  p.y = nullptr;
  EXPECT_EQ(kernels::SkinnyGemm(p, nullptr), Status::kInvalidArgument);
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
