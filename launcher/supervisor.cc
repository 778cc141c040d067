#include "launcher/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/error.h"

namespace tg::launcher {
namespace {

// A child that writes an endless line without a newline still gets forwarded in pieces.
constexpr size_t kMaxLineBytes = 64 * 1024;

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, sig);
  return set;
}

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr gone: nothing sensible left to do with the line
    text.remove_prefix(size_t(n));
  }
}

bool LooksLikeJsonObject(std::string_view line) {
  return line.size() >= 2 && line.front() == '{' && line.back() == '}';
}

std::string UtcNow() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, int(ms.count()));
  return out;
}

}  // namespace

Supervisor::Supervisor(LogFormat format) : format_(format) {
  sigset_t set = HandledSignals();
  if (pthread_sigmask(SIG_BLOCK, &set, &previous_mask_) != 0) {
    throw Error(ErrorKind::kInternal, "cannot block signals");
  }
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) {
    throw Error(ErrorKind::kInternal, std::string("signalfd: ") + std::strerror(errno));
  }
}

Supervisor::~Supervisor() {
  for (ChildProcess& child : children_) child.Signal(SIGKILL);
  for (ChildProcess& child : children_) {
    if (!child.running()) continue;
    int status = 0;
    if (waitpid(child.pid(), &status, 0) == child.pid()) child.MarkReaped(status);
  }
  if (signal_fd_ >= 0) close(signal_fd_);
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

ChildProcess& Supervisor::Start(const ProcessSpec& spec) {
  children_.push_back(ChildProcess::Spawn(spec));
  spdlog::info("started {} (pid {})", spec.name, children_.back().pid());
  return children_.back();
}

void Supervisor::Forward(const ChildProcess& child, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string out;
  if (format_ == LogFormat::kJson) {
    if (LooksLikeJsonObject(line)) {
      out.assign(line);
    } else {
      out = R"({"timestamp":")" + UtcNow() + R"(","level":"info","component":")" +
            JsonEscape(child.name()) + R"(","message":")" + JsonEscape(line) + "\"}";
    }
  } else {
    out = child.name() + " | ";
    out.append(line);
  }
  out.push_back('\n');
  if (before_forward_) before_forward_();
  WriteAll(STDERR_FILENO, out);
  if (observer_) observer_(child, line);
}

void Supervisor::ReadOutput(ChildProcess& child) {
  const int fd = child.output_fd();
  if (fd < 0) return;
  std::string& partial = partial_lines_[fd];
  char buffer[16384];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    // Nothing more for now; EOF comes once the child and anything it spawned are gone.
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) break;  // EOF (or an error we cannot act on)
    partial.append(buffer, size_t(n));
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      Forward(child, std::string_view(partial).substr(start, nl - start));
    }
    partial.erase(0, start);
    if (partial.size() > kMaxLineBytes) {
      Forward(child, partial);
      partial.clear();
    }
  }
  if (!partial.empty()) Forward(child, partial);
  partial_lines_.erase(fd);
  child.CloseOutput();
}

void Supervisor::ReapChildren() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (ChildProcess& child : children_) {
      if (child.pid() != pid || !child.running()) continue;
      ReadOutput(child);
      child.MarkReaped(status);
      if (stopping_) {
        spdlog::info("{} (pid {}) {}", child.name(), pid, DescribeWaitStatus(status));
      } else {
        spdlog::error("{} (pid {}) {}", child.name(), pid, DescribeWaitStatus(status));
        if (unexpected_exit_ == nullptr) unexpected_exit_ = &child;
      }
    }
  }
}

void Supervisor::HandleSignals() {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof(info)) == ssize_t(sizeof(info))) {
    const int sig = int(info.ssi_signo);
    if (sig == SIGCHLD) continue;  // reaped below, whatever woke us
    if (shutdown_signal_ != 0 || stopping_) {
      spdlog::warn("received SIG{} again: killing every child now", sigabbrev_np(sig));
      force_kill_ = true;
    } else {
      spdlog::info("received SIG{}: shutting down", sigabbrev_np(sig));
    }
    if (shutdown_signal_ == 0) shutdown_signal_ = sig;
  }
  ReapChildren();
}

Supervisor::Wake Supervisor::RunUntil(const std::function<bool()>& condition,
                                      Clock::time_point deadline, std::chrono::milliseconds tick) {
  const int signal_seen_before = shutdown_signal_;
  while (true) {
    ReapChildren();
    if (!stopping_ && unexpected_exit_ != nullptr) return Wake::kChildExited;
    if (!stopping_ && shutdown_signal_ != signal_seen_before) return Wake::kShutdownSignal;
    if (condition()) return Wake::kCondition;
    const auto now = Clock::now();
    if (now >= deadline) return Wake::kDeadline;

    std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
    std::vector<ChildProcess*> owners{nullptr};
    for (ChildProcess& child : children_) {
      if (child.output_fd() >= 0) {
        fds.push_back({child.output_fd(), POLLIN, 0});
        owners.push_back(&child);
      }
    }
    auto wait = std::min<Clock::duration>(tick, deadline - now);
    int timeout_ms = int(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
    int ready = poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      throw Error(ErrorKind::kInternal, std::string("poll: ") + std::strerror(errno));
    }
    for (size_t i = 1; i < fds.size() && ready > 0; ++i) {
      if (fds[i].revents != 0) ReadOutput(*owners[i]);
    }
    if (ready > 0 && fds[0].revents != 0) HandleSignals();
  }
}

bool Supervisor::StopInStages(const std::vector<std::vector<ChildProcess*>>& stages,
                              std::chrono::seconds grace) {
  stopping_ = true;
  bool clean = true;
  for (const auto& stage : stages) {
    auto all_exited = [&stage] {
      for (const ChildProcess* child : stage) {
        if (child->running()) return false;
      }
      return true;
    };
    if (!force_kill_) {
      for (ChildProcess* child : stage) child->Signal(SIGTERM);
      RunUntil([&] { return force_kill_ || all_exited(); }, Clock::now() + grace);
    }
    for (ChildProcess* child : stage) {
      if (child->running()) {
        spdlog::warn("{} (pid {}) did not stop{}; sending SIGKILL", child->name(), child->pid(),
                     force_kill_ ? "" : " within " + std::to_string(grace.count()) + " s");
        child->Signal(SIGKILL);
        clean = false;
      }
    }
    RunUntil(all_exited, Clock::now() + std::chrono::seconds(5));
    for (ChildProcess* child : stage) {
      if (child->running() || !ExitedCleanly(child->wait_status())) clean = false;
    }
  }
  return clean;
}

}  // namespace tg::launcher
