// The group wiring of one text-gen-shard process: flag validation, the socket URLs rank 0's
// ServiceDiscovery answers, which communicator a backend gets, and the Gloo group of CPU ranks
// over loopback (the NCCL path itself needs several GPUs: scripts/gpu/multi/run.sh).
#include "shard/parallel/shard_group.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>
#include <vector>

#include "common/error.h"

namespace tg::parallel {
namespace {

ShardGroupOptions Valid(int rank, int world) {
  ShardGroupOptions options;
  options.rank = rank;
  options.world_size = world;
  return options;
}

// Runs fn, expecting tg::Error of `kind` whose message contains `text`.
template <typename Fn>
void ExpectError(Fn&& fn, ErrorKind kind, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << text << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(e.message().find(text), std::string::npos) << e.message();
  }
}

TEST(ShardGroupTest, ValidRankFlagsPass) {
  EXPECT_NO_THROW(ValidateShardGroupOptions(Valid(0, 1)));
  EXPECT_NO_THROW(ValidateShardGroupOptions(Valid(0, 8)));
  EXPECT_NO_THROW(ValidateShardGroupOptions(Valid(7, 8)));
}

TEST(ShardGroupTest, BadRankFlagsNameTheFlag) {
  ExpectError([] { ValidateShardGroupOptions(Valid(0, 0)); }, ErrorKind::kInvalidArgument,
              "--world-size");
  ExpectError([] { ValidateShardGroupOptions(Valid(2, 2)); }, ErrorKind::kInvalidArgument,
              "--rank (RANK) 2 is outside 0..1");
  ExpectError([] { ValidateShardGroupOptions(Valid(-1, 2)); }, ErrorKind::kInvalidArgument,
              "--rank");
  ShardGroupOptions port = Valid(0, 2);
  port.master_port = 0;
  ExpectError([&] { ValidateShardGroupOptions(port); }, ErrorKind::kInvalidArgument,
              "--master-port");
  port.master_port = 65536;
  ExpectError([&] { ValidateShardGroupOptions(port); }, ErrorKind::kInvalidArgument,
              "--master-port");
  ShardGroupOptions addr = Valid(1, 2);
  addr.master_addr.clear();
  ExpectError([&] { ValidateShardGroupOptions(addr); }, ErrorKind::kInvalidArgument,
              "--master-addr");
  addr.world_size = 1;
  addr.rank = 0;
  EXPECT_NO_THROW(ValidateShardGroupOptions(addr));  // one rank needs no rendezvous
  ShardGroupOptions timeout = Valid(0, 2);
  timeout.collective_timeout = std::chrono::milliseconds(0);
  ExpectError([&] { ValidateShardGroupOptions(timeout); }, ErrorKind::kInvalidArgument, "timeouts");
}

TEST(ShardGroupTest, RankSocketUrlsListEveryRankInOrder) {
  EXPECT_EQ(RankSocketUrls("/tmp/text-gen-server", 1),
            std::vector<std::string>({"unix:///tmp/text-gen-server-0"}));
  EXPECT_EQ(RankSocketUrls("/run/tg/s", 4),
            std::vector<std::string>({"unix:///run/tg/s-0", "unix:///run/tg/s-1",
                                      "unix:///run/tg/s-2", "unix:///run/tg/s-3"}));
}

TEST(ShardGroupTest, OneRankOnTheCpuGetsTheSingleRankCommunicator) {
  auto cpu = backend::MakeCpuBackend({.threads = 1});
  EXPECT_EQ(cpu->NativeStream(), nullptr);
  ShardGroup group(Valid(0, 1), *cpu);
  Communicator& comm = group.communicator();
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  backend::Tensor t = cpu->Allocate(backend::DType::kF32, {3});
  const float values[3] = {1.5f, -2.0f, 3.25f};
  cpu->CopyFromHost(values, t);
  comm.AllReduceSum(t);  // the sum over one rank is the tensor itself
  float back[3] = {};
  cpu->CopyToHost(t, back);
  EXPECT_EQ(back[0], 1.5f);
  EXPECT_EQ(back[1], -2.0f);
  EXPECT_EQ(back[2], 3.25f);
  EXPECT_EQ(group.ExchangeUrls("unix:///tmp/x-0"), std::vector<std::string>{"unix:///tmp/x-0"});
  EXPECT_EQ(group.Failure(), "");
}

// A free TCP port on loopback (the kernel picks it; it is released before use).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Runs fn(rank, group) on `world` threads, each rank a ShardGroup on its own CPU backend,
// formed over loopback through the store and Gloo exactly as separate processes would.
template <typename Fn>
void RunGlooGroup(int world, Fn&& fn) {
  const int port = FreePort();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        auto cpu = backend::MakeCpuBackend({.threads = 1});
        ShardGroupOptions options = Valid(rank, world);
        options.master_port = port;
        options.init_timeout = std::chrono::seconds(20);
        options.collective_timeout = std::chrono::seconds(5);
        ShardGroup group(options, *cpu);
        fn(rank, group, *cpu);
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int rank = 0; rank < world; ++rank) EXPECT_EQ(errors[rank], "") << "rank " << rank;
}

constexpr int kWorld = 3;

TEST(ShardGroupTest, CpuRanksFormAGlooGroupWhoseCollectivesMatchTheReference) {
  RunGlooGroup(kWorld, [](int rank, ShardGroup& group, backend::Backend& cpu) {
    Communicator& comm = group.communicator();
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.world_size(), kWorld);

    // Small integers: every sum order gives the same float, so the check is exact.
    constexpr int kCount = 1001;  // odd, more than one ring chunk per rank
    std::vector<float> values(kCount), expected(kCount, 0.0f);
    for (int i = 0; i < kCount; ++i) {
      values[i] = static_cast<float>((i * 7 + rank * 13) % 97 - 48);
      for (int r = 0; r < kWorld; ++r)
        expected[i] += static_cast<float>((i * 7 + r * 13) % 97 - 48);
    }
    backend::Tensor t = cpu.Allocate(backend::DType::kF32, {kCount});
    cpu.CopyFromHost(values.data(), t);
    comm.AllReduceSum(t);
    std::vector<float> back(kCount);
    cpu.CopyToHost(t, back.data());
    EXPECT_EQ(back, expected) << "rank " << rank;

    // Vocab-parallel logits: 2 rows, 4 columns per rank, 10 columns in all (2 are padding).
    constexpr int64_t kRows = 2, kShard = 4, kTotal = 10;
    std::vector<float> local(kRows * kShard);
    for (int64_t row = 0; row < kRows; ++row) {
      for (int64_t c = 0; c < kShard; ++c)
        local[row * kShard + c] = float(row * 100 + rank * kShard + c);
    }
    backend::Tensor local_t = cpu.Allocate(backend::DType::kF32, {kRows, kShard});
    backend::Tensor out_t = cpu.Allocate(backend::DType::kF32, {kRows, kTotal});
    cpu.CopyFromHost(local.data(), local_t);
    comm.AllGatherColumns(local_t, out_t);
    std::vector<float> out(kRows * kTotal);
    cpu.CopyToHost(out_t, out.data());
    for (int64_t row = 0; row < kRows; ++row) {
      for (int64_t c = 0; c < kTotal; ++c) EXPECT_EQ(out[row * kTotal + c], float(row * 100 + c));
    }

    const std::vector<std::string> urls =
        group.ExchangeUrls("unix:///tmp/s-" + std::to_string(rank));
    EXPECT_EQ(urls,
              (std::vector<std::string>{"unix:///tmp/s-0", "unix:///tmp/s-1", "unix:///tmp/s-2"}));
    EXPECT_EQ(group.local_address(), "127.0.0.1");
    EXPECT_EQ(group.Failure(), "");
  });
}

TEST(ShardGroupTest, AGlooCollectiveWhosePeerNeverComesFailsTheGroupAtTheTimeout) {
  RunGlooGroup(2, [](int rank, ShardGroup& group, backend::Backend& cpu) {
    if (rank == 1) return;  // rank 1 leaves (with a goodbye) and never joins the collective
    backend::Tensor t = cpu.Allocate(backend::DType::kF32, {4});
    const float zeros[4] = {};
    cpu.CopyFromHost(zeros, t);
    ExpectError([&] { group.communicator().AllReduceSum(t); }, ErrorKind::kUnavailable,
                "Gloo AllReduceSum failed on rank 0");
    EXPECT_NE(group.Failure().find("Gloo AllReduceSum failed"), std::string::npos);
    ExpectError([&] { group.communicator().Fence(); }, ErrorKind::kUnavailable, "Gloo");
  });
}

TEST(ShardGroupTest, ARankStartedWithAnotherWorldSizeIsRefusedByName) {
  const int port = FreePort();
  auto cpu = backend::MakeCpuBackend({.threads = 1});
  std::thread rank0([&] {
    ShardGroupOptions options = Valid(0, 2);
    options.master_port = port;
    options.init_timeout = std::chrono::seconds(3);
    EXPECT_THROW(ShardGroup(options, *cpu), Error);  // its peer never joins
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ShardGroupOptions options = Valid(1, 3);
  options.master_port = port;
  options.init_timeout = std::chrono::seconds(3);
  ExpectError([&] { ShardGroup group(options, *cpu); }, ErrorKind::kInvalidArgument,
              "rank 1 was started with world size 3 but rank 0 with 2");
  rank0.join();
}

TEST(ShardGroupTest, BadRankFlagsAreReportedBeforeAnyRendezvous) {
  auto cpu = backend::MakeCpuBackend({.threads = 1});
  const auto start = std::chrono::steady_clock::now();
  ExpectError([&] { ShardGroup group(Valid(3, 2), *cpu); }, ErrorKind::kInvalidArgument, "--rank");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(ShardGroupTest, NcclVersionIsReportedOnlyWithNccl) {
  const std::string version = NcclVersion();
  // TG_BUILT_WITH_NCCL: set by tests/parallel/CMakeLists.txt from the build's TG_HAVE_CUDA.
  if (TG_BUILT_WITH_NCCL) {
    EXPECT_TRUE(std::regex_match(version, std::regex(R"(\d+\.\d+\.\d+)"))) << version;
  } else {
    EXPECT_EQ(version, "");
  }
}

}  // namespace
}  // namespace tg::parallel
