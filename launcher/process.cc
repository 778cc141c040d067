#include "launcher/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/error.h"

extern char** environ;

namespace tg::launcher {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

// The child's environment, built before fork: after fork only async-signal-safe calls are allowed.
std::vector<std::string> BuildEnvironment(const ProcessSpec& spec) {
  std::map<std::string, std::string> vars;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
  }
  for (const std::string& name : spec.unset_env) vars.erase(name);
  for (const auto& [name, value] : spec.env) vars[name] = value;
  std::vector<std::string> env;
  for (const auto& [name, value] : vars) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Reports errno to the launcher through the close-on-exec pipe and ends the child.
[[noreturn]] void FailInChild(int error_fd) {
  int error = errno;
  ssize_t ignored = write(error_fd, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

// Runs in the child between fork and exec; async-signal-safe calls only.
[[noreturn]] void ExecChild(pid_t launcher, int output_fd, int error_fd, char** argv, char** envp) {
  if (setpgid(0, 0) != 0) FailInChild(error_fd);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) FailInChild(error_fd);
  // The launcher may have died between fork and prctl; then nobody would ever kill us.
  if (getppid() != launcher) _exit(1);
  if (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0)
    FailInChild(error_fd);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  // The launcher blocks the signals it reads through signalfd; children start with defaults.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(argv[0], argv, envp);
  FailInChild(error_fd);
}

}  // namespace

ChildProcess ChildProcess::Spawn(const ProcessSpec& spec) {
  std::vector<std::string> args{spec.executable};
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  std::vector<std::string> env = BuildEnvironment(spec);
  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(env);

  int output[2];
  int exec_error[2];
  if (pipe2(output, O_CLOEXEC) != 0) {
    throw Error(ErrorKind::kUnavailable, "pipe: " + ErrnoText(errno));
  }
  if (pipe2(exec_error, O_CLOEXEC) != 0) {
    int error = errno;
    close(output[0]);
    close(output[1]);
    throw Error(ErrorKind::kUnavailable, "pipe: " + ErrnoText(error));
  }
  const pid_t launcher = getpid();
  const pid_t pid = fork();
  if (pid == 0) ExecChild(launcher, output[1], exec_error[1], argv.data(), envp.data());
  int fork_error = errno;
  close(output[1]);
  close(exec_error[1]);
  if (pid < 0) {
    close(output[0]);
    close(exec_error[0]);
    throw Error(ErrorKind::kUnavailable, "cannot fork " + spec.name + ": " + ErrnoText(fork_error));
  }
  // Also set the group from the parent, so Signal() works even before the child runs.
  setpgid(pid, pid);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_error[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_error[0]);
  if (n > 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    close(output[0]);
    throw Error(ErrorKind::kUnavailable, "cannot start " + spec.name + " (" + spec.executable +
                                             "): " + ErrnoText(child_errno));
  }
  fcntl(output[0], F_SETFL, fcntl(output[0], F_GETFL) | O_NONBLOCK);
  return ChildProcess(spec.name, pid, output[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : name_(std::move(other.name_)),
      pid_(other.pid_),
      output_fd_(other.output_fd_),
      reaped_(other.reaped_),
      wait_status_(other.wait_status_) {
  other.pid_ = -1;
  other.output_fd_ = -1;
  other.reaped_ = true;
}

ChildProcess::~ChildProcess() {
  CloseOutput();
  if (pid_ > 0 && !reaped_) {
    // Last resort (an exception unwound past the supervisor): never leave the child behind.
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void ChildProcess::CloseOutput() {
  if (output_fd_ >= 0) close(output_fd_);
  output_fd_ = -1;
}

void ChildProcess::Signal(int signal) const {
  if (pid_ <= 0 || reaped_) return;
  // The group may be gone when the child exec'd something that changed it; then the pid.
  if (kill(-pid_, signal) != 0) kill(pid_, signal);
}

void ChildProcess::MarkReaped(int wait_status) {
  reaped_ = true;
  wait_status_ = wait_status;
  // Anything the child left running in its group goes with it.
  kill(-pid_, SIGKILL);
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == 0 ? "exited normally (code 0)"
                                    : "exited with code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    std::string text = "was killed by signal " + std::to_string(sig);
    if (abbrev != nullptr) text += std::string(" (SIG") + abbrev + ")";
    if (WCOREDUMP(status)) text += ", core dumped";
    return text;
  }
  return "changed state (wait status " + std::to_string(status) + ")";
}

bool ExitedCleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace tg::launcher
