// The group wiring of one text-gen-shard process: flag validation, the socket URLs rank 0's
// ServiceDiscovery answers, and which communicator a backend gets (the NCCL path itself needs
// several GPUs: scripts/gpu/multi/run.sh).
#include "shard/parallel/shard_group.h"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>

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
  std::unique_ptr<Communicator> comm = MakeShardCommunicator(Valid(0, 1), *cpu);
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  backend::Tensor t = cpu->Allocate(backend::DType::kF32, {3});
  const float values[3] = {1.5f, -2.0f, 3.25f};
  cpu->CopyFromHost(values, t);
  comm->AllReduceSum(t);  // the sum over one rank is the tensor itself
  float back[3] = {};
  cpu->CopyToHost(t, back);
  EXPECT_EQ(back[0], 1.5f);
  EXPECT_EQ(back[1], -2.0f);
  EXPECT_EQ(back[2], 3.25f);
}

TEST(ShardGroupTest, SeveralRanksOnTheCpuFailClearlyWithoutWaitingForPeers) {
  auto cpu = backend::MakeCpuBackend({.threads = 1});
  const auto start = std::chrono::steady_clock::now();
  // Rank 1 would otherwise retry rank 0 until the init timeout.
  ExpectError([&] { MakeShardCommunicator(Valid(1, 2), *cpu); }, ErrorKind::kUnsupported,
              "needs the CUDA backend");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Bad flags are reported before the backend question.
  ExpectError([&] { MakeShardCommunicator(Valid(3, 2), *cpu); }, ErrorKind::kInvalidArgument,
              "--rank");
}

TEST(ShardGroupTest, NcclVersionIsReportedOnlyWithNccl) {
  const std::string version = NcclVersion();
#ifdef TG_HAVE_NCCL_COMMUNICATOR
  EXPECT_TRUE(std::regex_match(version, std::regex(R"(\d+\.\d+\.\d+)"))) << version;
#else
  EXPECT_EQ(version, "");
#endif
}

}  // namespace
}  // namespace tg::parallel
