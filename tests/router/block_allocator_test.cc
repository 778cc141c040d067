#include "router/scheduler/block_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/error.h"

namespace tg::scheduler {
namespace {

TEST(BlockAllocatorTest, BlocksForRoundsUp) {
  BlockAllocator allocator(10, 16);
  EXPECT_EQ(allocator.BlocksFor(0), 0u);
  EXPECT_EQ(allocator.BlocksFor(1), 1u);
  EXPECT_EQ(allocator.BlocksFor(16), 1u);
  EXPECT_EQ(allocator.BlocksFor(17), 2u);
}

TEST(BlockAllocatorTest, AllocatesDistinctBlocksAndRefusesWhenFull) {
  BlockAllocator allocator(5, 4);
  auto a = allocator.Allocate(3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(allocator.used_blocks(), 3u);
  EXPECT_FALSE(allocator.Allocate(3).has_value());
  EXPECT_EQ(allocator.used_blocks(), 3u) << "a refused allocation must take nothing";
  auto b = allocator.Allocate(2);
  ASSERT_TRUE(b.has_value());
  std::set<uint32_t> all(a->begin(), a->end());
  all.insert(b->begin(), b->end());
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(*all.rbegin(), 4u);
  allocator.Free(*a);
  EXPECT_EQ(allocator.free_blocks(), 3u);
  allocator.Free(*b);
  EXPECT_EQ(allocator.used_blocks(), 0u);
}

TEST(BlockAllocatorTest, SlotsFollowTheBlockTable) {
  BlockAllocator allocator(8, 4);
  const std::vector<uint32_t> blocks = {5, 2};
  const auto slots = allocator.Slots(blocks, 6);
  EXPECT_EQ(slots, (std::vector<uint32_t>{20, 21, 22, 23, 8, 9}));
  EXPECT_THROW(allocator.Slots(blocks, 9), Error);
}

TEST(BlockAllocatorTest, DoubleFreeIsDetected) {
  BlockAllocator allocator(2, 4);
  auto a = allocator.Allocate(1);
  allocator.Free(*a);
  auto all = allocator.Allocate(2);
  allocator.Free(*all);
  EXPECT_THROW(allocator.Free(*a), Error);
}

}  // namespace
}  // namespace tg::scheduler
