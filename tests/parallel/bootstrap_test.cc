// The rank bootstrap between real processes over real loopback sockets: rank 0 serves an opaque
// 128-byte blob (the NCCL unique id in production), every other rank must receive it exactly,
// and every failure mode must end with a clear error within its deadline instead of a hang.
#include "shard/parallel/bootstrap.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

extern char** environ;

namespace tg::parallel {
namespace {

using Clock = std::chrono::steady_clock;

// A bootstrap_probe child with its stdout and stderr captured.
class Probe {
 public:
  explicit Probe(const std::vector<std::string>& args) {
    int out[2], err[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, err[0]);
    std::vector<std::string> all = {TG_BOOTSTRAP_PROBE};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Probe() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
    close(err_);
  }

  // The next stdout line, or "" after `timeout`.
  std::string ReadLine(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      size_t newline = stdout_.find('\n');
      if (newline != std::string::npos) {
        std::string line = stdout_.substr(0, newline);
        stdout_.erase(0, newline + 1);
        return line;
      }
      if (!ReadSome(out_, &stdout_, deadline)) return "";
    }
  }

  // Waits for the exit code (killing the child and failing after `timeout`); collects output.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (ReadSome(out_, &stdout_, deadline)) {
    }
    while (ReadSome(err_, &stderr_, deadline)) {
    }
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "probe did not exit in time";
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  // Appends available bytes; false at end of file or deadline.
  static bool ReadSome(int fd, std::string* into, Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return false;
    into->append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool exited_ = false;
  std::string stdout_, stderr_;
};

std::string ExpectedHex(int seed) {
  std::string out;
  char byte[3];
  for (size_t i = 0; i < kUniqueIdBytes; ++i) {
    std::snprintf(byte, sizeof(byte), "%02x", static_cast<uint8_t>(seed * 31 + i * 7));
    out += byte;
  }
  return out;
}

// A port nobody listens on right now (bound, read, released).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::vector<std::string> Fetch(int port, int world, int rank, int timeout_ms) {
  return {"fetch",
          "--port",
          std::to_string(port),
          "--world-size",
          std::to_string(world),
          "--rank",
          std::to_string(rank),
          "--timeout-ms",
          std::to_string(timeout_ms)};
}
std::vector<std::string> Serve(int port, int world, int timeout_ms, int seed) {
  return {"serve",
          "--port",
          std::to_string(port),
          "--world-size",
          std::to_string(world),
          "--timeout-ms",
          std::to_string(timeout_ms),
          "--seed",
          std::to_string(seed)};
}

constexpr auto kExitWait = std::chrono::seconds(20);

TEST(BootstrapTest, EveryRankReceivesTheExactBlob) {
  Probe server(Serve(0, 4, 10000, 5));
  std::string port_line = server.ReadLine(std::chrono::seconds(10));
  ASSERT_EQ(port_line.rfind("port ", 0), 0u) << port_line << server.err();
  int port = std::stoi(port_line.substr(5));
  std::vector<std::unique_ptr<Probe>> ranks;
  for (int r = 1; r < 4; ++r) ranks.push_back(std::make_unique<Probe>(Fetch(port, 4, r, 10000)));
  for (auto& rank : ranks) {
    ASSERT_EQ(rank->Wait(kExitWait), 0) << rank->err();
    EXPECT_EQ(rank->out(), "id " + ExpectedHex(5) + "\n");
  }
  ASSERT_EQ(server.Wait(kExitWait), 0) << server.err();
  EXPECT_EQ(server.out(), "served\n");
}

TEST(BootstrapTest, RanksStartedBeforeRankZeroRetryUntilItComes) {
  int port = FreePort();
  Probe early1(Fetch(port, 3, 1, 15000));
  Probe early2(Fetch(port, 3, 2, 15000));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // they get "connection refused"
  Probe server(Serve(port, 3, 15000, 9));
  ASSERT_EQ(early1.Wait(kExitWait), 0) << early1.err();
  ASSERT_EQ(early2.Wait(kExitWait), 0) << early2.err();
  EXPECT_EQ(early1.out(), "id " + ExpectedHex(9) + "\n");
  EXPECT_EQ(early2.out(), "id " + ExpectedHex(9) + "\n");
  EXPECT_EQ(server.Wait(kExitWait), 0) << server.err();
}

TEST(BootstrapTest, RankZeroThatNeverComesIsAClearErrorAtTheDeadline) {
  int port = FreePort();
  auto start = Clock::now();
  Probe rank(Fetch(port, 2, 1, 1000));
  EXPECT_EQ(rank.Wait(kExitWait), 3);
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::seconds(8));
  EXPECT_NE(rank.err().find("rank 0 never answered at 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << rank.err();
  EXPECT_NE(rank.err().find("Connection refused"), std::string::npos) << rank.err();
}

TEST(BootstrapTest, ARankThatNeverComesFailsRankZeroNamingIt) {
  Probe server(Serve(0, 3, 1500, 1));
  std::string port_line = server.ReadLine(std::chrono::seconds(10));
  ASSERT_EQ(port_line.rfind("port ", 0), 0u) << server.err();
  Probe rank1(Fetch(std::stoi(port_line.substr(5)), 3, 1, 5000));
  ASSERT_EQ(rank1.Wait(kExitWait), 0) << rank1.err();
  EXPECT_EQ(server.Wait(kExitWait), 3);
  EXPECT_NE(server.err().find("rank(s) 2 never connected"), std::string::npos) << server.err();
}

TEST(BootstrapTest, WorldSizeMismatchFailsBothSides) {
  Probe server(Serve(0, 2, 10000, 1));
  std::string port_line = server.ReadLine(std::chrono::seconds(10));
  ASSERT_EQ(port_line.rfind("port ", 0), 0u) << server.err();
  Probe rank(Fetch(std::stoi(port_line.substr(5)), 4, 1, 5000));
  EXPECT_EQ(rank.Wait(kExitWait), 2);
  EXPECT_NE(rank.err().find("world size 4 but rank 0"), std::string::npos) << rank.err();
  EXPECT_NE(rank.err().find("with 2"), std::string::npos) << rank.err();
  EXPECT_EQ(server.Wait(kExitWait), 2);
  EXPECT_NE(server.err().find("rank 1 was started with world size 4"), std::string::npos)
      << server.err();
}

TEST(BootstrapTest, DuplicateRankIsRefused) {
  Probe server(Serve(0, 3, 10000, 1));
  std::string port_line = server.ReadLine(std::chrono::seconds(10));
  ASSERT_EQ(port_line.rfind("port ", 0), 0u) << server.err();
  int port = std::stoi(port_line.substr(5));
  Probe first(Fetch(port, 3, 1, 5000));
  ASSERT_EQ(first.Wait(kExitWait), 0) << first.err();
  Probe second(Fetch(port, 3, 1, 5000));
  EXPECT_EQ(second.Wait(kExitWait), 2);
  EXPECT_NE(second.err().find("already registered"), std::string::npos) << second.err();
  EXPECT_EQ(server.Wait(kExitWait), 2);
  EXPECT_NE(server.err().find("two processes were started as rank 1"), std::string::npos)
      << server.err();
}

TEST(BootstrapTest, StrangersOnThePortAreIgnored) {
  // In-process server; a client that sends garbage must not end the bootstrap.
  UniqueIdBlob id{};
  id[0] = 42;
  BootstrapServer server({.master_addr = "127.0.0.1",
                          .master_port = 0,
                          .world_size = 2,
                          .timeout = std::chrono::seconds(10)},
                         id);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(server.port());
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const char garbage[] = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_GT(write(fd, garbage, sizeof(garbage)), 0);
  close(fd);
  UniqueIdBlob got = FetchUniqueId({.master_addr = "localhost",
                                    .master_port = server.port(),
                                    .world_size = 2,
                                    .timeout = std::chrono::seconds(10)},
                                   1);
  EXPECT_EQ(got, id);
  server.Wait();
}

TEST(BootstrapTest, BusyPortFailsAtOnce) {
  BootstrapServer first({.master_addr = "127.0.0.1",
                         .master_port = 0,
                         .world_size = 2,
                         .timeout = std::chrono::seconds(2)},
                        UniqueIdBlob{});
  try {
    BootstrapServer second({.master_addr = "127.0.0.1",
                            .master_port = first.port(),
                            .world_size = 2,
                            .timeout = std::chrono::seconds(2)},
                           UniqueIdBlob{});
    FAIL() << "second server on the same port";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(error.message().find("cannot listen"), std::string::npos) << error.message();
  }
}

TEST(BootstrapTest, SingleRankNeedsNoPeers) {
  BootstrapServer server({.master_addr = "127.0.0.1",
                          .master_port = 0,
                          .world_size = 1,
                          .timeout = std::chrono::seconds(1)},
                         UniqueIdBlob{});
  server.Wait();
  EXPECT_FALSE(server.Failed());
}

}  // namespace
}  // namespace tg::parallel
