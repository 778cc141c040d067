#include <gtest/gtest.h>

#include "bench/shard_sweep.h"
#include "common/error.h"

namespace tg::bench {
namespace {

TEST(ContiguousBlocksTest, OneSlotPerPositionInsideOwnedBlocks) {
  const BlockLayout layout = ContiguousBlocks(/*first_block=*/6, /*tokens=*/35, /*block_size=*/16);
  EXPECT_EQ(layout.blocks, (std::vector<uint32_t>{6, 7, 8}));
  ASSERT_EQ(layout.slots.size(), 35u);
  EXPECT_EQ(layout.slots.front(), 96u);
  EXPECT_EQ(layout.slots[15], 111u);
  EXPECT_EQ(layout.slots[16], 112u);
  EXPECT_EQ(layout.slots.back(), 8u * 16 + 2);
  EXPECT_EQ(ContiguousBlocks(0, 16, 16).blocks.size(), 1u);
  EXPECT_THROW(ContiguousBlocks(0, 4, 0), Error);
}

}  // namespace
}  // namespace tg::bench
