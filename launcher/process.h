// Child processes that cannot outlive the launcher.
//
// Each child runs in its own process group (so a signal reaches anything it spawns, and a Ctrl-C
// on the terminal reaches only the launcher, which then stops the group in order) and asks the
// kernel to SIGKILL it when the launcher dies, even by `kill -9` (PR_SET_PDEATHSIG, with the
// getppid() check for a launcher that died before the request took effect). Its stdout and
// stderr share one pipe, so the launcher forwards its lines in order.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace tg::launcher {

struct ProcessSpec {
  std::string name;  // "shard-0", "router": used in logs and error messages
  std::string executable;
  std::vector<std::string> args;                         // without argv[0]
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing) ours
  std::vector<std::string> unset_env;                    // removed from ours
};

class ChildProcess {
 public:
  // Forks and execs; throws tg::Error(kUnavailable) with errno text when fork/exec fails
  // (exec errors are reported through a close-on-exec pipe, so a missing binary is an error
  // here rather than an exit code later). Must be called from the main thread: the death signal
  // follows the thread that forked.
  static ChildProcess Spawn(const ProcessSpec& spec);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  int output_fd() const { return output_fd_; }  // read end of the stdout+stderr pipe; -1 at EOF
  void CloseOutput();

  // Signals the child's whole process group; a no-op once it has been reaped.
  void Signal(int signal) const;
  bool running() const { return !reaped_; }
  // Records the wait status of a reaped child.
  void MarkReaped(int wait_status);
  int wait_status() const { return wait_status_; }

 private:
  ChildProcess(std::string name, pid_t pid, int output_fd)
      : name_(std::move(name)), pid_(pid), output_fd_(output_fd) {}

  std::string name_;
  pid_t pid_ = -1;
  int output_fd_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// "exited with code 3", "was killed by signal 9 (SIGKILL)", "exited normally (code 0)".
std::string DescribeWaitStatus(int wait_status);
// True for exit code 0.
bool ExitedCleanly(int wait_status);

}  // namespace tg::launcher
