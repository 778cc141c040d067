// Progress of a text-gen-batch run: a redrawn bar on a terminal, JSON lines otherwise (one per
// second), both on stderr so stdout stays free.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tg::batch {

enum class ProgressStyle { kBar, kJson, kNone };
// "auto" picks the bar when stderr is a terminal, JSON lines otherwise.
ProgressStyle ParseProgressStyle(const std::string& name);

struct ProgressSnapshot {
  uint64_t total = 0;      // input lines
  uint64_t done = 0;       // records written or pending, including resumed ones
  uint64_t resumed = 0;    // done before this run
  uint64_t errors = 0;     // error records this run
  uint64_t tokens = 0;     // generated this run
  double elapsed_s = 0.0;  // this run
};

class ProgressReporter {
 public:
  explicit ProgressReporter(ProgressStyle style) : style_(style) {}
  // Draws at most every 200 ms (bar) or 1 s (JSON) unless `final`.
  void Report(const ProgressSnapshot& snapshot, bool final = false);

  // tokens/s and the estimated seconds left (negative when unknown), from this run's rate.
  static double TokensPerSecond(const ProgressSnapshot& s);
  static double EtaSeconds(const ProgressSnapshot& s);
  // "[#####-----] 120/200  60% | 3456 tok/s | 2 errors | ETA 0:12", `width` cells of bar.
  static std::string Bar(const ProgressSnapshot& s, int width);

 private:
  ProgressStyle style_;
  std::chrono::steady_clock::time_point last_{};
  bool drawn_ = false;
};

}  // namespace tg::batch
