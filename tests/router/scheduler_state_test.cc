#include "router/scheduler/state.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace tg::scheduler {
namespace {

SchedulerConfig SmallConfig() {
  return {.block_size = 4,
          .num_blocks = 10,
          .token_budget = 20,
          .max_batch_size = 0,
          .prefix_caching = false,
          .chunked_prefill = true};
}

std::vector<uint64_t> ChunkIds(const StepPlan& plan) {
  std::vector<uint64_t> ids;
  for (const auto& c : plan.chunks) ids.push_back(c.id);
  return ids;
}

TEST(SchedulerStateTest, EmptyQueueGivesAnEmptyPlan) {
  State state(SmallConfig());
  EXPECT_TRUE(state.Schedule().empty());
}

TEST(SchedulerStateTest, BlocksAreGrantedAsTheSequenceGrows) {
  State state(SmallConfig());
  state.Enqueue({.id = 7, .input_tokens = 5, .max_new_tokens = 6});
  StepPlan prefill = state.Schedule();
  ASSERT_EQ(prefill.chunks.size(), 1u);
  EXPECT_EQ(prefill.chunks[0].start, 0u);
  EXPECT_EQ(prefill.chunks[0].length, 5u);
  EXPECT_TRUE(prefill.chunks[0].last);
  EXPECT_TRUE(prefill.chunks[0].first);
  EXPECT_EQ(prefill.chunks[0].blocks.size(), 2u) << "only the prompt's positions get blocks";
  // Decodes compute positions 5, 6, 7 (blocks 0..1), then 8 needs a third block.
  for (int step = 0; step < 3; ++step) {
    StepPlan decode = state.Schedule();
    EXPECT_EQ(decode.decodes, (std::vector<uint64_t>{7}));
    EXPECT_TRUE(decode.grants.empty()) << step;
  }
  StepPlan grow = state.Schedule();
  ASSERT_EQ(grow.grants.size(), 1u);
  EXPECT_EQ(grow.grants[0].id, 7u);
  EXPECT_EQ(grow.grants[0].blocks.size(), 1u);
  EXPECT_EQ(state.used_blocks(), 3u);
  EXPECT_TRUE(state.Release(7));
  EXPECT_EQ(state.used_blocks(), 0u);
  EXPECT_FALSE(state.Release(7));
}

TEST(SchedulerStateTest, LongPromptsAreChunkedAfterTheRunningDecodes) {
  SchedulerConfig config = SmallConfig();
  config.token_budget = 8;
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 4, .max_new_tokens = 8});
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1}));
  state.Enqueue({.id = 2, .input_tokens = 20, .max_new_tokens = 4});
  // Each step: request 1 decodes (1 token of the budget), request 2 gets the other 7.
  uint32_t start = 0;
  for (uint32_t expected : {7u, 7u, 6u}) {
    StepPlan plan = state.Schedule();
    EXPECT_EQ(plan.decodes, (std::vector<uint64_t>{1}));
    ASSERT_EQ(plan.chunks.size(), 1u);
    EXPECT_EQ(plan.chunks[0].id, 2u);
    EXPECT_EQ(plan.chunks[0].start, start);
    EXPECT_EQ(plan.chunks[0].length, expected);
    EXPECT_EQ(plan.chunks[0].first, start == 0);
    EXPECT_EQ(plan.chunks[0].last, start + expected == 20);
    EXPECT_EQ(plan.chunks[0].blocks.size(), (start + expected + 3) / 4);
    start += expected;
  }
  StepPlan both = state.Schedule();
  EXPECT_EQ(both.decodes, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(both.chunks.empty());
}

TEST(SchedulerStateTest, WholePromptsTakeTheQueueInOrderWithoutSkipping) {
  SchedulerConfig config = SmallConfig();
  config.chunked_prefill = false;
  config.num_blocks = 40;
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 8, .max_new_tokens = 1});
  state.Enqueue({.id = 2, .input_tokens = 8, .max_new_tokens = 1});
  state.Enqueue({.id = 3, .input_tokens = 8, .max_new_tokens = 1});  // 24 > 20
  state.Enqueue({.id = 4, .input_tokens = 1, .max_new_tokens = 1});  // would fit; no skipping
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(state.queue_size(), 2u);
  StepPlan next = state.Schedule();
  EXPECT_EQ(ChunkIds(next), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(next.decodes, (std::vector<uint64_t>{1, 2})) << "decodes ride along";
}

TEST(SchedulerStateTest, UnchunkablePromptOverTheBudgetGoesAlone) {
  SchedulerConfig config = SmallConfig();
  config.token_budget = 8;
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 3, .max_new_tokens = 1});
  state.Enqueue({.id = 2, .input_tokens = 12, .max_new_tokens = 1, .chunkable = false});
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1}));
  StepPlan alone = state.Schedule();
  ASSERT_EQ(ChunkIds(alone), (std::vector<uint64_t>{2}));
  EXPECT_EQ(alone.chunks[0].length, 12u);
  EXPECT_TRUE(alone.chunks[0].last);
}

TEST(SchedulerStateTest, RejectsRequestsThatCanNeverFit) {
  State state(SmallConfig());
  EXPECT_THROW(state.Enqueue({.id = 1, .input_tokens = 4, .max_new_tokens = 40}), Error);
  EXPECT_NO_THROW(state.Enqueue({.id = 2, .input_tokens = 21, .max_new_tokens = 1}))
      << "chunked: a prompt longer than the budget is split";
  SchedulerConfig whole = SmallConfig();
  whole.chunked_prefill = false;
  State unchunked(whole);
  EXPECT_THROW(unchunked.Enqueue({.id = 3, .input_tokens = 21, .max_new_tokens = 1}), Error);
  EXPECT_EQ(unchunked.queue_size(), 0u);
}

TEST(SchedulerStateTest, MaxBatchSizeCountsRunningRequests) {
  SchedulerConfig config = SmallConfig();
  config.max_batch_size = 3;
  State state(config);
  for (uint64_t id = 1; id <= 4; ++id) state.Enqueue({.id = id, .input_tokens = 1});
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(state.Schedule().chunks.empty());
  state.Release(2);
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{4}));
}

TEST(SchedulerStateTest, PreemptsTheLatestArrivalByRecomputeWhenThePoolRunsDry) {
  SchedulerConfig config = SmallConfig();
  config.num_blocks = 4;  // 16 token positions
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 4, .max_new_tokens = 8});
  state.Enqueue({.id = 2, .input_tokens = 4, .max_new_tokens = 8});
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1, 2}));
  // Positions 4..7 of both fill the pool (2 blocks each); position 8 of request 1 needs a fifth.
  for (int step = 0; step < 4; ++step) {
    StepPlan plan = state.Schedule();
    EXPECT_EQ(plan.decodes, (std::vector<uint64_t>{1, 2}));
    EXPECT_TRUE(plan.preempted.empty());
  }
  StepPlan squeezed = state.Schedule();
  EXPECT_EQ(squeezed.preempted, (std::vector<uint64_t>{2}));
  EXPECT_EQ(squeezed.decodes, (std::vector<uint64_t>{1}));
  ASSERT_EQ(squeezed.grants.size(), 1u);
  EXPECT_EQ(squeezed.grants[0].id, 1u);
  EXPECT_EQ(state.queue_size(), 1u);
  EXPECT_EQ(state.used_blocks(), 3u);
  // Request 2 had generated 5 tokens: it comes back with them, once request 1 is done.
  state.Release(1);
  StepPlan again = state.Schedule();
  ASSERT_EQ(again.chunks.size(), 1u);
  EXPECT_EQ(again.chunks[0].id, 2u);
  EXPECT_EQ(again.chunks[0].generated, 5u);
  EXPECT_EQ(again.chunks[0].start, 0u);
  EXPECT_EQ(again.chunks[0].length, 9u);
  EXPECT_FALSE(again.chunks[0].first);
  EXPECT_TRUE(again.chunks[0].last);
}

TEST(SchedulerStateTest, ALoneRequestThatOutgrowsThePoolPreemptsItself) {
  SchedulerConfig config = SmallConfig();
  config.num_blocks = 3;
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 4, .max_new_tokens = 8});  // fits: 12 positions
  state.Enqueue({.id = 2, .input_tokens = 4, .max_new_tokens = 8});
  EXPECT_EQ(ChunkIds(state.Schedule()), (std::vector<uint64_t>{1, 2}));
  StepPlan plan = state.Schedule();  // both need a second block; only one is free
  EXPECT_EQ(plan.decodes, (std::vector<uint64_t>{1}));
  EXPECT_EQ(plan.preempted, (std::vector<uint64_t>{2}));
}

TEST(SchedulerStateTest, ReleasingPartlyPrefilledAndWaitingRequestsFreesTheirBlocks) {
  SchedulerConfig config = SmallConfig();
  config.token_budget = 8;
  State state(config);
  state.Enqueue({.id = 1, .input_tokens = 20, .max_new_tokens = 4});
  state.Enqueue({.id = 2, .input_tokens = 20, .max_new_tokens = 4});
  StepPlan plan = state.Schedule();
  EXPECT_EQ(ChunkIds(plan), (std::vector<uint64_t>{1}));
  EXPECT_EQ(state.used_blocks(), 2u);
  EXPECT_TRUE(state.Release(1));
  EXPECT_TRUE(state.Release(2));
  EXPECT_EQ(state.used_blocks(), 0u);
  EXPECT_EQ(state.queue_size(), 0u);
  EXPECT_TRUE(state.Schedule().empty());
}

}  // namespace
}  // namespace tg::scheduler
