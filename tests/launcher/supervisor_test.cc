// Process supervision with real child processes (/bin/sh): output forwarding, exit reporting,
// staged shutdown, and children dying with their parent.
#include "launcher/supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/error.h"

namespace tg::launcher {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ProcessSpec Shell(const std::string& name, const std::string& script) {
  return {.name = name, .executable = "/bin/sh", .args = {"-c", script}};
}

auto In(std::chrono::milliseconds d) { return Supervisor::Clock::now() + d; }

// True once the process is gone or a zombie nobody reaped yet (it no longer runs).
bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string pid_text, comm, state;
  stat >> pid_text >> comm >> state;
  return state == "Z" || state == "X";
}

TEST(Supervisor, ForwardsLinesAndReportsHowAChildEnded) {
  Supervisor supervisor(LogFormat::kText);
  std::vector<std::string> lines;
  supervisor.set_line_observer([&](const ChildProcess& child, std::string_view line) {
    lines.push_back(child.name() + ":" + std::string(line));
  });
  supervisor.Start(Shell("worker", "echo one; echo two >&2; printf partial; exit 3"));
  EXPECT_EQ(supervisor.RunUntil([] { return false; }, In(seconds(10))),
            Supervisor::Wake::kChildExited);
  ASSERT_NE(supervisor.unexpected_exit(), nullptr);
  EXPECT_EQ(supervisor.unexpected_exit()->name(), "worker");
  EXPECT_EQ(DescribeWaitStatus(supervisor.unexpected_exit()->wait_status()), "exited with code 3");
  EXPECT_EQ(lines, (std::vector<std::string>{"worker:one", "worker:two", "worker:partial"}));
}

TEST(Supervisor, NamesTheSignalThatKilledAChild) {
  Supervisor supervisor(LogFormat::kText);
  ChildProcess& child = supervisor.Start(Shell("victim", "exec sleep 30"));
  child.Signal(SIGKILL);
  EXPECT_EQ(supervisor.RunUntil([] { return false; }, In(seconds(10))),
            Supervisor::Wake::kChildExited);
  EXPECT_EQ(DescribeWaitStatus(child.wait_status()), "was killed by signal 9 (SIGKILL)");
}

TEST(Supervisor, MissingProgramFailsAtSpawn) {
  Supervisor supervisor(LogFormat::kText);
  try {
    supervisor.Start({.name = "ghost", .executable = "/nonexistent/text-gen-shard"});
    FAIL() << "spawn should throw";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("cannot start ghost"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("No such file"), std::string::npos) << e.message();
  }
}

TEST(Supervisor, ShutdownSignalWakesTheLoopAndStagesStopInOrder) {
  Supervisor supervisor(LogFormat::kText);
  const std::string marker = ::testing::TempDir() + "/stage_order_" + std::to_string(getpid());
  std::remove(marker.c_str());
  // The first stage must be gone before the second gets SIGTERM.
  ChildProcess& first = supervisor.Start(Shell("first", "trap 'sleep 0.3; echo first >> " + marker +
                                                            "; exit 0' TERM; "
                                                            "while true; do sleep 0.05; done"));
  ChildProcess& second =
      supervisor.Start(Shell("second", "trap 'echo second >> " + marker +
                                           "; exit 0' TERM; while true; do sleep 0.05; done"));
  std::this_thread::sleep_for(milliseconds(200));  // let the traps be installed
  kill(getpid(), SIGTERM);
  EXPECT_EQ(supervisor.RunUntil([] { return false; }, In(seconds(10))),
            Supervisor::Wake::kShutdownSignal);
  EXPECT_EQ(supervisor.shutdown_signal(), SIGTERM);
  EXPECT_TRUE(supervisor.StopInStages({{&first}, {&second}}, seconds(5)));
  EXPECT_EQ(supervisor.unexpected_exit(), nullptr);
  std::ifstream order(marker);
  std::string a, b;
  order >> a >> b;
  EXPECT_EQ(a, "first");
  EXPECT_EQ(b, "second");
  std::remove(marker.c_str());
}

TEST(Supervisor, KillsAChildThatIgnoresSigterm) {
  Supervisor supervisor(LogFormat::kText);
  ChildProcess& stubborn =
      supervisor.Start(Shell("stubborn", "trap '' TERM; while true; do sleep 0.05; done"));
  std::this_thread::sleep_for(milliseconds(200));
  const auto start = Supervisor::Clock::now();
  EXPECT_FALSE(supervisor.StopInStages({{&stubborn}}, seconds(1)));
  EXPECT_LT(Supervisor::Clock::now() - start, seconds(4));
  EXPECT_FALSE(stubborn.running());
  EXPECT_EQ(DescribeWaitStatus(stubborn.wait_status()), "was killed by signal 9 (SIGKILL)");
}

TEST(Supervisor, ChildrenDieWhenTheLauncherIsKilled) {
  int pids[2];
  ASSERT_EQ(pipe(pids), 0);
  const pid_t launcher = fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    // Stands in for the launcher: starts a long-running child, reports its pid, waits.
    Supervisor supervisor(LogFormat::kText);
    ChildProcess& child = supervisor.Start(Shell("orphan", "exec sleep 60"));
    pid_t pid = child.pid();
    if (write(pids[1], &pid, sizeof(pid)) != sizeof(pid)) _exit(1);
    pause();
    _exit(0);
  }
  close(pids[1]);
  pid_t child = 0;
  ASSERT_EQ(read(pids[0], &child, sizeof(child)), ssize_t(sizeof(child)));
  close(pids[0]);
  ASSERT_FALSE(Gone(child));
  kill(launcher, SIGKILL);
  int status = 0;
  waitpid(launcher, &status, 0);
  const auto deadline = Supervisor::Clock::now() + seconds(5);
  while (!Gone(child) && Supervisor::Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(Gone(child)) << "child " << child << " outlived its killed parent";
  if (!Gone(child)) kill(child, SIGKILL);
}

}  // namespace
}  // namespace tg::launcher
