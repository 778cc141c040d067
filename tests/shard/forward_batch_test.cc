// The architecture-free halves of a forward pass: ForwardBatchBuilder (positions, slots, query
// starts, KV lengths, padded block tables, logit rows derived from each sequence's blocks; bad
// input refused by name), CheckForwardBatchShape, UploadAttentionInputs (every part of a mixed
// step carries host lengths equal to its device lengths) and KvPool sizing, on the CPU backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "shard/backend/backend.h"
#include "shard/engine/attention_inputs.h"
#include "shard/engine/forward_batch.h"
#include "shard/engine/kv_pool.h"
#include "tests/common/invalid_argument.h"

namespace tg::shard {
namespace {

using ::testing::HasSubstr;
using tg::testing::InvalidArgumentMessage;

constexpr int kBlockSize = 4;

std::vector<int32_t> Host(backend::Backend& backend, const backend::Tensor& t) {
  std::vector<int32_t> out(static_cast<size_t>(t.numel()));
  backend.CopyToHost(t, out.data());
  return out;
}

// A mixed step over a pool of 8 blocks of 4: two decode rows (positions 9 and 2), then a prompt
// chunk of 3 tokens after 5 cached ones, with logits for each sequence's last token.
ForwardBatch MixedStep() {
  ForwardBatchBuilder b(kBlockSize, 8);
  const std::vector<int32_t> decode_a = {7}, decode_b = {8}, chunk = {1, 2, 3};
  b.AddSequence(decode_a, 9, std::vector<uint32_t>{6, 2, 5});
  b.AddSequence(decode_b, 2, std::vector<uint32_t>{0});
  b.AddSequence(chunk, 5, std::vector<uint32_t>{3, 1});
  return b.AddLogitRow(0).AddLogitRow(1).AddLogitRow(4).Build();
}

TEST(ForwardBatchBuilderTest, DerivesEveryFieldFromTheBlocks) {
  const ForwardBatch b = MixedStep();
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{7, 8, 1, 2, 3}));
  EXPECT_EQ(b.positions, (std::vector<int32_t>{9, 2, 5, 6, 7}));
  // Position p of a sequence sits at blocks[p / 4] * 4 + p % 4.
  EXPECT_EQ(b.slots, (std::vector<int32_t>{21, 2, 5, 6, 7}));
  EXPECT_EQ(b.query_start, (std::vector<int32_t>{0, 1, 2, 5}));
  EXPECT_EQ(b.seq_lens, (std::vector<int32_t>{10, 3, 8}));
  EXPECT_EQ(b.max_blocks, 3);
  EXPECT_EQ(b.block_tables, (std::vector<int32_t>{6, 2, 5, 0, 0, 0, 3, 1, 0}));
  EXPECT_EQ(b.block_size, kBlockSize);
  EXPECT_EQ(b.logit_rows, (std::vector<int32_t>{0, 1, 4}));
  EXPECT_NO_THROW(CheckForwardBatchShape(b));
}

TEST(ForwardBatchBuilderTest, StartsEmptyAgainAfterBuild) {
  ForwardBatchBuilder b(kBlockSize, 2);
  const std::vector<int32_t> token = {5};
  b.AddSequence(token, 0, std::vector<uint32_t>{1}).AddLogitRow(0).Build();
  EXPECT_EQ(b.num_seqs(), 0);
  EXPECT_EQ(b.num_tokens(), 0);
  const ForwardBatch second =
      b.AddSequence(token, 3, std::vector<uint32_t>{0}).AddLogitRow(0).Build();
  EXPECT_EQ(second.query_start, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(second.slots, (std::vector<int32_t>{3}));
  EXPECT_EQ(second.block_tables, (std::vector<int32_t>{0}));
}

TEST(ForwardBatchBuilderTest, RefusesBadSequencesByNameAndAddsNothing) {
  ForwardBatchBuilder b(kBlockSize, 4);
  const std::vector<int32_t> tokens = {1, 2, 3};
  const std::vector<uint32_t> blocks = {0, 1};
  EXPECT_THAT(InvalidArgumentMessage([&] { b.AddSequence({}, 0, blocks); }),
              HasSubstr("new token"));
  EXPECT_THAT(InvalidArgumentMessage([&] { b.AddSequence(tokens, -1, blocks); }),
              HasSubstr("negative position -1"));
  // Positions 6..8 need three blocks of 4.
  EXPECT_THAT(InvalidArgumentMessage([&] { b.AddSequence(tokens, 6, blocks); }),
              HasSubstr("9 positions needs 3 blocks of 4 tokens, has 2"));
  EXPECT_THAT(InvalidArgumentMessage([&] {
                b.AddSequence(tokens, 0, std::vector<uint32_t>{0, 4});
              }),
              HasSubstr("block 4 outside the pool of 4 blocks"));
  EXPECT_EQ(b.num_seqs(), 0);
  EXPECT_EQ(b.num_tokens(), 0);
}

TEST(ForwardBatchBuilderTest, RefusesBatchesWithoutSequenceOrWithBadLogitRows) {
  EXPECT_THAT(InvalidArgumentMessage([] { ForwardBatchBuilder empty_pool(kBlockSize, 0); }),
              HasSubstr("needs an allocated KV pool"));
  ForwardBatchBuilder b(kBlockSize, 4);
  EXPECT_THAT(InvalidArgumentMessage([&] { b.AddLogitRow(0).Build(); }),
              HasSubstr("needs a sequence"));
  ForwardBatchBuilder no_rows(kBlockSize, 4);
  const std::vector<int32_t> tokens = {1, 2};
  no_rows.AddSequence(tokens, 0, std::vector<uint32_t>{0});
  EXPECT_THAT(InvalidArgumentMessage([&] { no_rows.Build(); }), HasSubstr("needs a logits row"));
  no_rows.AddLogitRow(2);
  EXPECT_THAT(InvalidArgumentMessage([&] { no_rows.Build(); }),
              HasSubstr("logits row 2 is not one of its 2 token rows"));
}

TEST(ForwardBatchShapeTest, RefusesBatchesModelsWouldReadWrongly) {
  auto broken = [](const std::function<void(ForwardBatch&)>& breaks) {
    ForwardBatch b = MixedStep();
    breaks(b);
    return InvalidArgumentMessage([&] { CheckForwardBatchShape(b); });
  };
  EXPECT_THAT(broken([](ForwardBatch& b) { b.slots.pop_back(); }), HasSubstr("4 slots"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.query_start.back() = 4; }), HasSubstr("query starts"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.query_start[1] = 0; }),
              HasSubstr("sequence 0 has no new token"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.seq_lens[2] = 2; }),
              HasSubstr("sequence 2 has KV length 2"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.seq_lens[0] = 13; }),
              HasSubstr("sequence 0 has KV length 13"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.block_tables.pop_back(); }),
              HasSubstr("block tables"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.logit_rows.clear(); }), HasSubstr("no logits row"));
  EXPECT_THAT(broken([](ForwardBatch& b) { b.logit_rows[0] = 5; }),
              HasSubstr("logits row 5 is not one of its 5 token rows"));
}

class AttentionInputsTest : public ::testing::Test {
 protected:
  // What one AttentionBatch of a step must describe.
  struct Part {
    int max_query_len, max_seq_len;
    std::vector<int32_t> query_start, seq_lens, block_tables;
  };

  // `part` carries host lengths, and its device lengths equal them and `want`.
  void ExpectPart(const backend::AttentionBatch& part, const Part& want, const char* name) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(part.HasHostLengths());
    const int seqs = static_cast<int>(want.seq_lens.size());
    EXPECT_EQ(part.num_seqs, seqs);
    EXPECT_EQ(part.num_tokens, want.query_start.back());
    EXPECT_EQ(part.max_query_len, want.max_query_len);
    EXPECT_EQ(part.max_seq_len, want.max_seq_len);
    EXPECT_EQ(part.block_size, kBlockSize);
    EXPECT_EQ(part.host_query_start, want.query_start);
    EXPECT_EQ(part.host_seq_lens, want.seq_lens);
    EXPECT_EQ(Host(*cpu_, part.query_start), want.query_start);
    EXPECT_EQ(Host(*cpu_, part.seq_lens), want.seq_lens);
    EXPECT_EQ(part.block_tables.dim(0), seqs);
    EXPECT_EQ(Host(*cpu_, part.block_tables), want.block_tables);
  }

  std::unique_ptr<backend::Backend> cpu_ = backend::MakeCpuBackend({.threads = 1});
  KvPool pool_{*cpu_, {.num_layers = 2, .num_kv_heads = 2, .head_dim = 8}};
};

TEST_F(AttentionInputsTest, EveryPartOfAMixedStepCarriesItsOwnHostLengths) {
  pool_.Allocate(8, kBlockSize);
  const ForwardBatch batch = MixedStep();
  const AttentionInputs in = UploadAttentionInputs(batch, pool_, *cpu_);
  EXPECT_FALSE(in.decode);
  ASSERT_EQ(in.decode_seqs, 2);
  ExpectPart(in.whole, {3, 10, batch.query_start, batch.seq_lens, batch.block_tables}, "whole");
  EXPECT_EQ(Host(*cpu_, in.whole.slots), batch.slots);
  EXPECT_EQ(Host(*cpu_, in.whole.positions), batch.positions);
  ExpectPart(in.decode_part, {1, 10, {0, 1, 2}, {10, 3}, {6, 2, 5, 0, 0, 0}}, "decode part");
  ExpectPart(in.chunk_part, {3, 8, {0, 3}, {8}, {3, 1, 0}}, "chunk part");
}

TEST_F(AttentionInputsTest, AllDecodeStepIsOnePart) {
  pool_.Allocate(8, kBlockSize);
  ForwardBatchBuilder b(pool_);
  const std::vector<int32_t> token = {3};
  b.AddSequence(token, 4, std::vector<uint32_t>{1, 2}).AddLogitRow(0);
  b.AddSequence(token, 0, std::vector<uint32_t>{3}).AddLogitRow(1);
  const AttentionInputs in = UploadAttentionInputs(b.Build(), pool_, *cpu_);
  EXPECT_TRUE(in.decode);
  EXPECT_EQ(in.decode_seqs, 0);
  ExpectPart(in.whole, {1, 5, {0, 1, 2}, {5, 1}, {1, 2, 3, 0}}, "whole");
  EXPECT_FALSE(in.decode_part.query_start.defined());
  EXPECT_FALSE(in.chunk_part.query_start.defined());
}

TEST_F(AttentionInputsTest, RefusesAnUnallocatedPoolAndAnotherBlockSize) {
  const ForwardBatch batch = MixedStep();
  try {
    UploadAttentionInputs(batch, pool_, *cpu_);
    ADD_FAILURE() << "no error for an unallocated pool";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_THAT(e.message(), HasSubstr("KV cache not allocated"));
  }
  pool_.Allocate(8, 2 * kBlockSize);
  EXPECT_THAT(InvalidArgumentMessage([&] { UploadAttentionInputs(batch, pool_, *cpu_); }),
              HasSubstr("blocks of 4 tokens over a KV pool of blocks of 8"));
}

TEST_F(AttentionInputsTest, KvPoolBytesPerBlockIsWhatItAllocates) {
  EXPECT_FALSE(pool_.allocated());
  pool_.Allocate(5, kBlockSize);
  ASSERT_TRUE(pool_.allocated());
  EXPECT_EQ(pool_.num_slots(), 20);
  ASSERT_EQ(pool_.keys().size(), 2u);
  ASSERT_EQ(pool_.values().size(), 2u);
  uint64_t bytes = 0;
  for (int layer = 0; layer < 2; ++layer) {
    EXPECT_EQ(pool_.keys()[layer].shape(), (std::vector<int64_t>{5, kBlockSize, 2, 8}));
    EXPECT_EQ(pool_.keys()[layer].dtype(), cpu_->KvDType());
    bytes += pool_.keys()[layer].bytes() + pool_.values()[layer].bytes();
  }
  EXPECT_EQ(bytes, 5 * pool_.BytesPerBlock(kBlockSize));
  // Re-allocation replaces the tensors.
  pool_.Allocate(1, 2);
  EXPECT_EQ(pool_.keys().size(), 2u);
  EXPECT_EQ(pool_.keys()[0].shape(), (std::vector<int64_t>{1, 2, 2, 8}));
  EXPECT_THAT(InvalidArgumentMessage([&] { pool_.Allocate(0, kBlockSize); }),
              HasSubstr("0 blocks"));
  EXPECT_THAT(InvalidArgumentMessage([&] { pool_.Allocate(1 << 28, 16); }),
              HasSubstr("more slots than int32"));
  EXPECT_THAT(InvalidArgumentMessage([&] {
                KvPool no_heads(*cpu_, {.num_layers = 1, .num_kv_heads = 0, .head_dim = 8});
              }),
              HasSubstr("KV heads 0"));
}

}  // namespace
}  // namespace tg::shard
