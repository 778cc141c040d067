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
  return {.block_size = 4, .num_blocks = 8, .token_budget = 64, .prefix_caching = true};
}

std::vector<uint64_t> ChunkIds(const StepPlan& plan) {
  std::vector<uint64_t> ids;
  for (const auto& c : plan.chunks) ids.push_back(c.id);
  return ids;
}

TEST(PrefixCachingStateTest, SecondRequestReusesCommittedPrefixBlocks) {
  State state(CachingConfig());
  state.Enqueue({.id = 1, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  StepPlan first = state.Schedule();
  ASSERT_EQ(first.chunks.size(), 1u);
  EXPECT_EQ(first.chunks[0].start, 0u);
  state.CommitStep();
  state.Enqueue({.id = 2, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  StepPlan second = state.Schedule();
  ASSERT_EQ(second.chunks.size(), 1u);
  EXPECT_EQ(second.chunks[0].start, 8u) << "two full blocks before the last token are shared";
  EXPECT_EQ(second.chunks[0].length, 2u) << "only the rest is computed";
  EXPECT_TRUE(second.chunks[0].first);
  EXPECT_EQ(second.chunks[0].blocks[0], first.chunks[0].blocks[0]);
  EXPECT_EQ(second.chunks[0].blocks[1], first.chunks[0].blocks[1]);
  EXPECT_NE(second.chunks[0].blocks[2], first.chunks[0].blocks[2]) << "the last block is private";
  EXPECT_EQ(state.used_blocks(), 3u + 1u);
  state.Release(1);
  state.Release(2);
  EXPECT_EQ(state.used_blocks(), 0u);
  EXPECT_EQ(state.prefix_cache().evictable_blocks(), 2u);
}

TEST(PrefixCachingStateTest, UncommittedBlocksAreNeverShared) {
  State state(CachingConfig());
  state.Enqueue({.id = 1, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  state.Enqueue({.id = 2, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10)});
  StepPlan plan = state.Schedule();
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].start, 0u);
  EXPECT_EQ(plan.chunks[1].start, 0u) << "request 1's blocks are not written yet";
  state.Release(1);  // failed before its step returned: its blocks are not cached
  state.Release(2);
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 0u);
}

TEST(PrefixCachingStateTest, ChunksCacheTheirBlocksAsTheyComplete) {
  SchedulerConfig config = CachingConfig();
  config.token_budget = 8;
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 20, .max_new_tokens = 2, .prompt_ids = Prompt(20)});
  EXPECT_EQ(state.Schedule().chunks[0].length, 8u);
  state.CommitStep();
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 2u);
  // A second request with the same prompt takes the two written blocks and computes the rest.
  state.Enqueue({.id = 2, .input_tokens = 20, .max_new_tokens = 2, .prompt_ids = Prompt(20)});
  StepPlan plan = state.Schedule();
  ASSERT_EQ(ChunkIds(plan), (std::vector<uint64_t>{1}));
  state.CommitStep();
  state.Release(1);
  StepPlan hit = state.Schedule();
  ASSERT_EQ(ChunkIds(hit), (std::vector<uint64_t>{2}));
  EXPECT_EQ(hit.chunks[0].start, 16u) << "the four blocks before the last token";
}

TEST(PrefixCachingStateTest, AFullPoolEvictsTheLeastRecentlyUsedCachedBlocks) {
  State state(CachingConfig());  // 8 blocks of 4
  // Prompts A and B each leave two cached, unreferenced blocks; A is used again after B.
  state.Enqueue({.id = 1, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10, 100)});
  state.Schedule();
  state.CommitStep();
  state.Release(1);
  state.Enqueue({.id = 2, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10, 500)});
  state.Schedule();
  state.CommitStep();
  state.Release(2);
  state.Enqueue({.id = 3, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10, 100)});
  EXPECT_EQ(state.Schedule().chunks[0].start, 8u);
  state.Release(3);
  EXPECT_EQ(state.prefix_cache().evictable_blocks(), 4u);
  EXPECT_EQ(state.allocator().free_blocks(), 4u);
  // A request needing 6 blocks takes the 4 free ones and evicts B's (least recently used).
  state.Enqueue({.id = 4, .input_tokens = 24, .max_new_tokens = 1, .prompt_ids = Prompt(24, 900)});
  StepPlan big = state.Schedule();
  ASSERT_EQ(big.chunks.size(), 1u);
  EXPECT_EQ(big.chunks[0].blocks.size(), 6u);
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 2u);
  state.Release(4);
  state.Enqueue({.id = 5, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10, 100)});
  EXPECT_EQ(state.Schedule().chunks[0].start, 8u) << "A survived";
  state.Release(5);
  state.Enqueue({.id = 6, .input_tokens = 10, .max_new_tokens = 2, .prompt_ids = Prompt(10, 500)});
  EXPECT_EQ(state.Schedule().chunks[0].start, 0u) << "B was evicted";
}

TEST(PrefixCachingStateTest, APoolOfReferencedBlocksMakesNewRequestsWait) {
  State state(CachingConfig());  // 8 blocks of 4
  state.Enqueue({.id = 1, .input_tokens = 17, .max_new_tokens = 2, .prompt_ids = Prompt(17)});
  state.Enqueue({.id = 2, .input_tokens = 17, .max_new_tokens = 2, .prompt_ids = Prompt(17, 7)});
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1}));
  state.CommitStep();
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 4u);
  EXPECT_EQ(state.prefix_cache().evictable_blocks(), 0u) << "request 1 references them";
  // 5 blocks in use, 3 free: request 2 (5 blocks) waits; no referenced block is ever evicted.
  StepPlan plan = state.Schedule();
  EXPECT_TRUE(plan.chunks.empty());
  EXPECT_EQ(state.prefix_cache().cached_blocks(), 4u);
  state.Release(1);
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{2}));
}

}  // namespace
}  // namespace tg::scheduler
