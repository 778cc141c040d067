#include "router/scheduler/prefix_cache.h"

#include <gtest/gtest.h>

#include <numeric>

#include "router/scheduler/state.h"

namespace tg::scheduler {
namespace {

std::vector<uint32_t> Prompt(size_t n, uint32_t first = 100) {
  std::vector<uint32_t> ids(n);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

TEST(PrefixCacheTest, KeysCoverFullBlocksBeforeTheLastToken) {
  PrefixCache cache(4);
  EXPECT_EQ(cache.BlockKeys(Prompt(4)).size(), 0u) << "the last token is always recomputed";
  EXPECT_EQ(cache.BlockKeys(Prompt(5)).size(), 1u);
  EXPECT_EQ(cache.BlockKeys(Prompt(9)).size(), 2u);
  auto a = cache.BlockKeys(Prompt(9));
  auto b = Prompt(9);
  b[1] = 7;  // a different first block changes every later key too
  auto kb = cache.BlockKeys(b);
  EXPECT_NE(a[0], kb[0]);
  EXPECT_NE(a[1], kb[1]);
}

TEST(PrefixCacheTest, ReferenceCountingAndLruEviction) {
  PrefixCache cache(4);
  EXPECT_TRUE(cache.Insert(11, 3));
  EXPECT_TRUE(cache.Insert(22, 5));
  EXPECT_FALSE(cache.Insert(11, 6));
  EXPECT_EQ(cache.evictable_blocks(), 0u);
  cache.Release(5);
  cache.Release(3);
  EXPECT_EQ(cache.evictable_blocks(), 2u);
  EXPECT_EQ(cache.Acquire({11, 99}), (std::vector<uint32_t>{3}));
  EXPECT_EQ(cache.Evict(2), (std::vector<uint32_t>{5})) << "block 3 is referenced again";
  EXPECT_TRUE(cache.Acquire({22}).empty());
}

SchedulerConfig CachingConfig() {
  return {.block_size = 4,
          .num_blocks = 8,
          .max_batch_prefill_tokens = 64,
          .max_waiting_tokens = 0,
          .prefix_caching = true};
}

TEST(PrefixCachingStateTest, SecondRequestReusesCommittedPrefixBlocks) {
  State state(CachingConfig());
  state.Enqueue({.id = 1, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  auto first = state.NextBatch(0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].cache_len, 0u);
  // Same batch, same prompt: nothing is shared before the prefill has written the blocks.
  state.Enqueue({.id = 2, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  state.CommitPrefill(1);
  auto second = state.NextBatch(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].cache_len, 8u);
  EXPECT_EQ(second[0].blocks[0], first[0].blocks[0]);
  EXPECT_EQ(second[0].blocks[1], first[0].blocks[1]);
  EXPECT_NE(second[0].blocks[2], first[0].blocks[2]) << "the last prompt block is private";
  EXPECT_EQ(state.used_blocks(), 3u + 1u);
  state.Release(1);
  state.Release(2);
  EXPECT_EQ(state.used_blocks(), 0u);
  EXPECT_EQ(state.prefix_cache().evictable_blocks(), 2u);
}

TEST(PrefixCachingStateTest, UncommittedPrefillsAreNeverShared) {
  State state(CachingConfig());
  state.Enqueue({.id = 1, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  state.Enqueue({.id = 2, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  auto batch = state.NextBatch(0);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].cache_len, 0u);
  EXPECT_EQ(batch[1].cache_len, 0u);
  state.Release(1);  // failed before its prefill was committed: its blocks are not cached
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 0u);
}

TEST(PrefixCachingStateTest, CachedBlocksAreEvictedWhenMemoryRunsShort) {
  State state(CachingConfig());  // 8 blocks
  state.Enqueue({.id = 1, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  state.NextBatch(0);
  state.CommitPrefill(1);
  state.Release(1);
  EXPECT_EQ(state.prefix_cache().evictable_blocks(), 2u);
  // A different prompt needing all 8 blocks forces the cached ones out.
  state.Enqueue({.id = 2, .input_tokens = 20, .max_new_tokens = 12, .prompt_ids = Prompt(20, 7)});
  auto batch = state.NextBatch(0);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].blocks.size(), 8u);
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 0u);
}

}  // namespace
}  // namespace tg::scheduler
