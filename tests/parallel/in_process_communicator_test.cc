#include "shard/parallel/in_process_communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace tg::parallel {
namespace {

using backend::DeviceKind;
using backend::DType;
using backend::Tensor;

Tensor HostTensor(std::vector<int64_t> shape, DType dtype = DType::kF32) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  auto storage = std::shared_ptr<void>(std::malloc(static_cast<size_t>(n) * 4 + 4), std::free);
  return Tensor(storage, storage.get(), dtype, std::move(shape), DeviceKind::kCpu);
}

// Runs body(rank, communicator) on one thread per rank; rethrows nothing, collects messages.
std::vector<std::string> RunRanks(InProcessGroup& group,
                                  const std::function<void(int, Communicator&)>& body) {
  std::vector<std::string> errors(group.world_size());
  std::vector<std::thread> threads;
  for (int r = 0; r < group.world_size(); ++r) {
    threads.emplace_back([&, r] {
      auto comm = group.Join(r);
      try {
        body(r, *comm);
      } catch (const Error& error) {
        errors[r] = error.message();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

TEST(InProcessCommunicatorTest, AllReduceSumsInRankOrderOnEveryRank) {
  InProcessGroup group(3);
  std::vector<std::vector<float>> results(3);
  auto errors = RunRanks(group, [&](int rank, Communicator& comm) {
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.world_size(), 3);
    for (int step = 0; step < 50; ++step) {  // many rounds: the barrier must be reusable
      Tensor t = HostTensor({2, 3});
      for (int i = 0; i < 6; ++i)
        t.data_as<float>()[i] = static_cast<float>((rank + 1) * (i + step));
      comm.AllReduceSum(t);
      for (int i = 0; i < 6; ++i) {
        ASSERT_EQ(t.data_as<float>()[i], static_cast<float>(6 * (i + step))) << rank;
      }
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(InProcessCommunicatorTest, GatherColumnsDropsThePaddingOfTheLastShard) {
  // Vocabulary 10 over 4 ranks: shards of 3 columns, the last holds 1 real column.
  InProcessGroup group(4);
  auto errors = RunRanks(group, [&](int rank, Communicator& comm) {
    Tensor local = HostTensor({2, 3});
    for (int row = 0; row < 2; ++row) {
      for (int j = 0; j < 3; ++j) {
        int global = rank * 3 + j;
        local.data_as<float>()[row * 3 + j] = global < 10 ? 100.0f * row + global : -1.0f;
      }
    }
    Tensor out = HostTensor({2, 10});
    comm.AllGatherColumns(local, out);
    for (int row = 0; row < 2; ++row) {
      for (int c = 0; c < 10; ++c) {
        ASSERT_EQ(out.data_as<float>()[row * 10 + c], 100.0f * row + c) << rank;
      }
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(InProcessCommunicatorTest, GatherRejectsShapesThatCannotHoldTheVocabulary) {
  InProcessGroup group(2);
  auto comm = group.Join(0);
  Tensor local = HostTensor({1, 3});
  Tensor too_wide = HostTensor({1, 7});
  EXPECT_THROW(comm->AllGatherColumns(local, too_wide), Error);
  Tensor too_narrow = HostTensor({1, 3});
  EXPECT_THROW(comm->AllGatherColumns(local, too_narrow), Error);
}

TEST(InProcessCommunicatorTest, AMissingRankTimesOutWithItsName) {
  InProcessGroup group(3, std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  auto errors = RunRanks(group, [&](int rank, Communicator& comm) {
    if (rank == 1) return;  // never reaches the collective
    Tensor t = HostTensor({4});
    comm.AllReduceSum(t);
  });
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_NE(errors[0].find("rank(s) 1 did not join"), std::string::npos) << errors[0];
  EXPECT_NE(errors[2].find("rank(s) 1 did not join"), std::string::npos) << errors[2];
  EXPECT_EQ(errors[1], "");
}

TEST(InProcessCommunicatorTest, MismatchedCollectivesFailOnEveryRank) {
  InProcessGroup group(2);
  auto errors = RunRanks(group, [&](int rank, Communicator& comm) {
    Tensor t = HostTensor({rank == 0 ? 4 : 5});
    comm.AllReduceSum(t);
  });
  EXPECT_NE(errors[0].find("rank 1 passed"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0], errors[1]);
}

TEST(InProcessCommunicatorTest, RejectsNonFloatTensors) {
  InProcessGroup group(1);
  auto comm = group.Join(0);
  Tensor ints = HostTensor({4}, DType::kI32);
  EXPECT_THROW(comm->AllReduceSum(ints), Error);
  EXPECT_THROW(group.Join(0), Error);  // a rank joins once
}

TEST(SingleRankCommunicatorTest, CollectivesAreIdentities) {
  auto comm = MakeSingleRankCommunicator();
  EXPECT_EQ(comm->world_size(), 1);
  Tensor t = HostTensor({3});
  for (int i = 0; i < 3; ++i) t.data_as<float>()[i] = 1.5f * i;
  comm->AllReduceSum(t);
  EXPECT_EQ(t.data_as<float>()[2], 3.0f);
  Tensor row = t.Reshape({1, 3});
  comm->AllGatherColumns(row, row);  // logits computed in place: nothing to move
  Tensor out = HostTensor({1, 3});
  comm->AllGatherColumns(row, out);
  EXPECT_EQ(out.data_as<float>()[1], 1.5f);
  comm->Fence();
}

}  // namespace
}  // namespace tg::parallel
