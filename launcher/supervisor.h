// The launcher's event loop: forwards child output line by line, reaps children, and turns
// SIGINT/SIGTERM into an orderly shutdown. Single-threaded on purpose: signals arrive through a
// signalfd next to the children's pipes, so there is no async handler and no race between a child
// exiting and the launcher reacting to it.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/logging.h"
#include "launcher/process.h"

namespace tg::launcher {

class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;
  using LineObserver = std::function<void(const ChildProcess&, std::string_view line)>;

  // Blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in the calling thread (call it before any thread
  // is created so every thread inherits the mask) and reads them through a signalfd.
  explicit Supervisor(LogFormat format);
  ~Supervisor();  // SIGKILLs and reaps whatever still runs
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  ChildProcess& Start(const ProcessSpec& spec);
  // Called for every complete output line of a child, after it was forwarded.
  void set_line_observer(LineObserver observer) { observer_ = std::move(observer); }
  // Called before each forwarded line (a progress display clears its line there).
  void set_before_forward(std::function<void()> hook) { before_forward_ = std::move(hook); }

  enum class Wake { kCondition, kChildExited, kShutdownSignal, kDeadline };
  // Pumps output and reaps children until `condition` holds (checked after every event and at
  // least every `tick`), a child exits on its own, a shutdown signal arrives, or `deadline`.
  Wake RunUntil(const std::function<bool()>& condition, Clock::time_point deadline,
                std::chrono::milliseconds tick = std::chrono::milliseconds(250));

  // The first child that exited while it was supposed to run, and the signal that asked us to
  // stop (0 when none).
  const ChildProcess* unexpected_exit() const { return unexpected_exit_; }
  int shutdown_signal() const { return shutdown_signal_; }

  // Stops children in stages: each stage gets SIGTERM and `grace` to exit, then SIGKILL. A second
  // SIGINT/SIGTERM skips straight to SIGKILL. Returns true when every child of every stage exited
  // with code 0 on its own.
  bool StopInStages(const std::vector<std::vector<ChildProcess*>>& stages,
                    std::chrono::seconds grace);

  // Every started child, in start order.
  std::list<ChildProcess>& children() { return children_; }

 private:
  void HandleSignals();
  void ReapChildren();
  void ReadOutput(ChildProcess& child);
  void Forward(const ChildProcess& child, std::string_view line);

  LogFormat format_;
  int signal_fd_ = -1;
  sigset_t previous_mask_;
  std::list<ChildProcess> children_;
  std::map<int, std::string> partial_lines_;  // by output fd
  LineObserver observer_;
  std::function<void()> before_forward_;
  bool stopping_ = false;
  bool force_kill_ = false;
  const ChildProcess* unexpected_exit_ = nullptr;
  int shutdown_signal_ = 0;
};

}  // namespace tg::launcher
