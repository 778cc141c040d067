// Host-side decode-graph shaping (shard/engine/decode_graph_batch.h): bucket choice, padding
// rows that write no KV, block tables widened to the graph's width, the capture batch.
#include "shard/engine/decode_graph_batch.h"

#include "shard/engine/types.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace tg::shard {
namespace {

// Two decode rows in a pool of `num_blocks`: token 11 at position 20 over blocks `first` (slot
// 52 with the default blocks), token 12 at position 3 over blocks `second` (slot 67).
ForwardBatch TwoSequences(const std::vector<uint32_t>& first = {1, 3},
                          const std::vector<uint32_t>& second = {4}, int num_blocks = 5) {
  const int32_t tokens[] = {11, 12};
  ForwardBatchBuilder b(kBlockSize, num_blocks);
  b.AddSequence({&tokens[0], 1}, 20, first).AddLogitRow(0);
  b.AddSequence({&tokens[1], 1}, 3, second).AddLogitRow(1);
  return b.Build();
}

TEST(DecodeGraphBatchTest, BucketIsSmallestCapturedSizeAtLeastRows) {
  const std::vector<int> sizes = {1, 2, 4, 8};
  EXPECT_EQ(DecodeGraphBucket(sizes, 1), 1);
  EXPECT_EQ(DecodeGraphBucket(sizes, 3), 4);
  EXPECT_EQ(DecodeGraphBucket(sizes, 8), 8);
  EXPECT_EQ(DecodeGraphBucket(sizes, 9), -1);
  EXPECT_EQ(DecodeGraphBucket({}, 1), -1);
}

TEST(DecodeGraphBatchTest, PaddingRowsWriteNoKvAndTablesWiden) {
  const ForwardBatch p = PadDecodeBatch(TwoSequences(), 4, 3);
  EXPECT_EQ(p.tokens, (std::vector<int32_t>{11, 12, 0, 0}));
  EXPECT_EQ(p.positions, (std::vector<int32_t>{20, 3, 0, 0}));
  EXPECT_EQ(p.slots, (std::vector<int32_t>{52, 67, -1, -1}));
  EXPECT_EQ(p.seq_lens, (std::vector<int32_t>{21, 4, 1, 1}));
  EXPECT_EQ(p.query_start, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(p.logit_rows, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(p.max_blocks, 3);
  EXPECT_EQ(p.block_tables, (std::vector<int32_t>{1, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(p.block_size, kBlockSize);
}

// The largest pool the engine plans (block ids travel as int32 slots: INT32_MAX / 16 blocks):
// the highest block ids and slots pass through the padding unchanged.
TEST(DecodeGraphBatchTest, HighestBlocksOfTheLargestPoolSurvivePadding) {
  constexpr int32_t kTopBlock = std::numeric_limits<int32_t>::max() / kBlockSize - 1;
  const ForwardBatch b = TwoSequences({kTopBlock - 1, kTopBlock}, {kTopBlock - 2}, kTopBlock + 1);
  const ForwardBatch p = PadDecodeBatch(b, 4, 3);
  EXPECT_EQ(p.block_tables, (std::vector<int32_t>{kTopBlock - 1, kTopBlock, 0, kTopBlock - 2, 0, 0,
                                                  0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(p.slots, (std::vector<int32_t>{kTopBlock * kBlockSize + 4,
                                           (kTopBlock - 2) * kBlockSize + 3, -1, -1}));
  EXPECT_GT(p.slots[0], 0);  // no wrap-around
}

TEST(DecodeGraphBatchTest, FitsOnlyWithinTheGraphsBlockTableAndContext) {
  const ForwardBatch b = TwoSequences();
  EXPECT_TRUE(FitsDecodeGraph(b, 2, 16));
  EXPECT_FALSE(FitsDecodeGraph(b, 1, 16));  // table wider than the graph's
  EXPECT_FALSE(FitsDecodeGraph(b, 0, 16));  // no graphs
  ForwardBatch prefill = b;
  prefill.tokens.push_back(13);  // two tokens for one sequence
  EXPECT_FALSE(FitsDecodeGraph(prefill, 2, 16));
  ForwardBatch longer = b;
  longer.seq_lens[0] = 33;  // more positions than two blocks hold
  EXPECT_FALSE(FitsDecodeGraph(longer, 2, 16));
}

TEST(DecodeGraphBatchTest, OversizedBatchIsRejected) {
  EXPECT_THROW(PadDecodeBatch(TwoSequences(), 1, 3), Error);
  EXPECT_THROW(PadDecodeBatch(TwoSequences(), 2, 1), Error);
}

TEST(DecodeGraphBatchTest, CaptureBatchCoversTheLongestContext) {
  const ForwardBatch c = DecodeGraphCaptureBatch(2, 4, 16);
  EXPECT_EQ(c.seq_lens, (std::vector<int32_t>{64, 1}));
  EXPECT_EQ(c.slots, (std::vector<int32_t>{-1, -1}));
  EXPECT_EQ(c.block_tables.size(), 8u);
  EXPECT_EQ(c.max_blocks, 4);
  EXPECT_EQ(c.block_size, 16);
}

}  // namespace
}  // namespace tg::shard
