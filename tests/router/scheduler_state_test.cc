#include "router/scheduler/state.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace tg::scheduler {
namespace {

SchedulerConfig SmallConfig() {
  return {.block_size = 4,
          .num_blocks = 10,
          .max_batch_prefill_tokens = 20,
          .max_batch_size = 0,
          .waiting_served_ratio = 1.2,
          .max_waiting_tokens = 3};
}

std::vector<uint64_t> Ids(const std::vector<ScheduledRequest>& batch) {
  std::vector<uint64_t> ids;
  for (const auto& r : batch) ids.push_back(r.id);
  return ids;
}

TEST(SchedulerStateTest, EmptyQueueGivesNoBatch) {
  State state(SmallConfig());
  EXPECT_TRUE(state.NextBatch(0).empty());
}

TEST(SchedulerStateTest, ReservesPromptPlusMaxNewTokens) {
  State state(SmallConfig());
  state.Enqueue({.id = 7, .input_tokens = 5, .max_new_tokens = 6});  // 11 tokens -> 3 blocks
  auto batch = state.NextBatch(0);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].blocks.size(), 3u);
  EXPECT_EQ(batch[0].slots.size(), 11u);
  EXPECT_EQ(batch[0].slots[4], batch[0].blocks[1] * 4);
  EXPECT_EQ(state.allocator().used_blocks(), 3u);
  state.Release(7);
  EXPECT_EQ(state.allocator().used_blocks(), 0u);
  EXPECT_EQ(state.queue_size(), 0u);
}

TEST(SchedulerStateTest, PrefillBudgetStopsTheBatchInFifoOrder) {
  State state(SmallConfig());
  state.Enqueue({.id = 1, .input_tokens = 8, .max_new_tokens = 0});
  state.Enqueue({.id = 2, .input_tokens = 8, .max_new_tokens = 0});
  state.Enqueue({.id = 3, .input_tokens = 8, .max_new_tokens = 0});  // 24 > 20
  state.Enqueue({.id = 4, .input_tokens = 1, .max_new_tokens = 0});  // would fit; no skipping
  EXPECT_EQ(Ids(state.NextBatch(0)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(state.queue_size(), 2u);
  EXPECT_EQ(Ids(state.NextBatch(0)), (std::vector<uint64_t>{3, 4}));
}

TEST(SchedulerStateTest, KvPoolLimitsAdmissionUntilBlocksAreReleased) {
  State state(SmallConfig());                                         // 10 blocks of 4 = 40 tokens
  state.Enqueue({.id = 1, .input_tokens = 4, .max_new_tokens = 20});  // 6 blocks
  state.Enqueue({.id = 2, .input_tokens = 4, .max_new_tokens = 16});  // 5 blocks
  EXPECT_EQ(Ids(state.NextBatch(0)), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(state.NextBatch(0).empty()) << "only 4 blocks left";
  state.Release(1);
  EXPECT_EQ(Ids(state.NextBatch(0)), (std::vector<uint64_t>{2}));
}

TEST(SchedulerStateTest, RejectsRequestsThatCanNeverFit) {
  State state(SmallConfig());
  EXPECT_THROW(state.Enqueue({.id = 1, .input_tokens = 4, .max_new_tokens = 40}), Error);
  EXPECT_THROW(state.Enqueue({.id = 2, .input_tokens = 21, .max_new_tokens = 1}), Error);
  EXPECT_EQ(state.queue_size(), 0u);
}

TEST(SchedulerStateTest, MaxBatchSizeCountsRunningRequests) {
  SchedulerConfig config = SmallConfig();
  config.max_batch_size = 3;
  config.max_waiting_tokens = 0;  // never wait for a larger group
  State state(config);
  for (uint64_t id = 1; id <= 4; ++id) state.Enqueue({.id = id, .input_tokens = 1});
  EXPECT_EQ(Ids(state.NextBatch(2)), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(state.NextBatch(3).empty());
}

TEST(SchedulerStateTest, WaitingServedRatioAndMaxWaitingTokens) {
  State state(SmallConfig());  // ratio 1.2, max_waiting_tokens 3
  state.Enqueue({.id = 1, .input_tokens = 1});
  // 2 running -> needs floor(2.4) = 2 waiting requests before interrupting decode.
  EXPECT_TRUE(state.NextBatch(2).empty());
  EXPECT_EQ(state.allocator().used_blocks(), 0u) << "a refused batch must release its blocks";
  state.Enqueue({.id = 2, .input_tokens = 1});
  EXPECT_EQ(Ids(state.NextBatch(2)), (std::vector<uint64_t>{1, 2}));
  // A lone waiter gets in after max_waiting_tokens decode steps.
  state.Enqueue({.id = 3, .input_tokens = 1});
  for (int step = 0; step < 2; ++step) {
    state.OnDecodeStep();
    EXPECT_TRUE(state.NextBatch(4).empty());
  }
  state.OnDecodeStep();
  EXPECT_EQ(Ids(state.NextBatch(4)), (std::vector<uint64_t>{3}));
}

TEST(SchedulerStateTest, RemoveQueuedDropsOnlyThatRequest) {
  State state(SmallConfig());
  state.Enqueue({.id = 1, .input_tokens = 1});
  state.Enqueue({.id = 2, .input_tokens = 1});
  EXPECT_TRUE(state.RemoveQueued(1));
  EXPECT_FALSE(state.RemoveQueued(1));
  EXPECT_EQ(Ids(state.NextBatch(0)), (std::vector<uint64_t>{2}));
}

}  // namespace
}  // namespace tg::scheduler
