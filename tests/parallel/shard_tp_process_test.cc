// text-gen-shard's tensor-parallel flags, end to end through the real binary: rank flags (and
// their RANK / WORLD_SIZE environment fallbacks, which the launcher sets) are validated before
// anything loads, a rank whose rank 0 never comes fails at the init timeout naming the flags, and
// a single rank reports its group in Info and ServiceDiscovery. (Several CPU ranks serving
// together: tests/e2e/test_cpu_sharded_e2e.py.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "generate.grpc.pb.h"
#include "tests/shard/shard_process.h"

namespace tg::parallel {
namespace {

using Clock = std::chrono::steady_clock;

std::string StoriesDir() { return std::string(TG_ASSETS_DIR) + "/models/stories260K"; }

struct Exit {
  int code = -1;  // -1: killed at the deadline
  std::string output;
  Clock::duration took{};
};

// Runs text-gen-shard to completion (killed after `limit`) with extra environment variables.
Exit RunShard(const std::vector<std::string>& args, const std::vector<std::string>& env,
              std::chrono::seconds limit = std::chrono::seconds(20)) {
  int pipe_fds[2];
  EXPECT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  std::vector<std::string> all = {TG_SHARD_BINARY, "--model-id", StoriesDir(), "--uds-path",
                                  "/tmp/tg-tp-flags-test-" + std::to_string(getpid())};
  all.insert(all.end(), args.begin(), args.end());
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  Exit result;
  char buffer[4096];
  pollfd fd{pipe_fds[0], POLLIN, 0};
  while (Clock::now() - start < limit) {
    if (poll(&fd, 1, 100) > 0) {
      const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
      if (n <= 0) break;  // the child closed its output: it is exiting
      result.output.append(buffer, static_cast<size_t>(n));
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) {
    // Still running at the deadline (or just closing): give it a moment, then kill it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (waitpid(pid, &status, WNOHANG) != pid) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.took = Clock::now() - start;
      return result;
    }
  }
  result.took = Clock::now() - start;
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

TEST(ShardTpProcessTest, ARankWithoutRankZeroFailsAtTheInitTimeoutNamingTheFlags) {
  // Nothing listens on this port: rank 1 retries rank 0's store, then gives up at the deadline.
  const Exit exit = RunShard({"--device", "cpu", "--rank", "1", "--world-size", "2",
                              "--master-port", "1", "--init-timeout", "2"},
                             {});
  EXPECT_EQ(exit.code, 1) << exit.output;
  EXPECT_NE(exit.output.find("could not reach rank 0's rendezvous store at 127.0.0.1:1"),
            std::string::npos)
      << exit.output;
  EXPECT_NE(exit.output.find("--master-addr/--master-port"), std::string::npos) << exit.output;
  EXPECT_EQ(exit.output.find("loading"), std::string::npos) << exit.output;
  EXPECT_LT(exit.took, std::chrono::seconds(10));
}

TEST(ShardTpProcessTest, RankFlagsAreValidatedBeforeLoading) {
  Exit exit = RunShard({"--device", "cpu", "--rank", "2", "--world-size", "2"}, {});
  EXPECT_EQ(exit.code, 1) << exit.output;
  EXPECT_NE(exit.output.find("--rank (RANK) 2 is outside 0..1"), std::string::npos) << exit.output;
  EXPECT_EQ(exit.output.find("loading"), std::string::npos) << exit.output;

  exit = RunShard({"--device", "cpu", "--world-size", "2", "--master-port", "0"}, {});
  EXPECT_EQ(exit.code, 1) << exit.output;
  EXPECT_NE(exit.output.find("--master-port"), std::string::npos) << exit.output;
}

TEST(ShardTpProcessTest, LauncherEnvironmentIsHonoured) {
  // The launcher passes RANK / WORLD_SIZE in the environment too (torch.distributed style).
  const Exit exit = RunShard({"--device", "cpu"}, {"RANK=5", "WORLD_SIZE=4"});
  EXPECT_EQ(exit.code, 1) << exit.output;
  EXPECT_NE(exit.output.find("--rank (RANK) 5 is outside 0..3"), std::string::npos) << exit.output;
}

TEST(ShardTpProcessTest, OneRankReportsItsGroup) {
  shard::testing::ShardProcess shard(
      StoriesDir(), {"--device", "cpu", "--threads", "1", "--rank", "0", "--world-size", "1"});
  {
    grpc::ClientContext context;
    textgen::v1::InfoResponse info;
    ASSERT_TRUE(shard.stub().Info(&context, {}, &info).ok());
    EXPECT_EQ(info.rank(), 0u);
    EXPECT_EQ(info.world_size(), 1u);
    EXPECT_EQ(info.nccl_version(), "");  // one rank forms no NCCL group
    EXPECT_EQ(info.device_type(), "cpu");
  }
  {
    grpc::ClientContext context;
    textgen::v1::ServiceDiscoveryResponse discovery;
    ASSERT_TRUE(shard.stub().ServiceDiscovery(&context, {}, &discovery).ok());
    ASSERT_EQ(discovery.urls_size(), 1);
    EXPECT_EQ(discovery.urls(0), "unix://" + shard.socket_path());
  }
  EXPECT_EQ(shard.Stop(), 0);
}

}  // namespace
}  // namespace tg::parallel
