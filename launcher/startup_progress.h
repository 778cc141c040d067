// What the first minute is spent on, drawn on a terminal: a bar for the shards' weight loading
// (from their "loading weights: layer i/N" lines) and a timer for the router's warm-up, on one
// line under the forwarded logs. Off when stderr is not a terminal or with --json-output /
// --disable-progress (the log lines still tell the story).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace tg::launcher {

class StartupProgress {
 public:
  explicit StartupProgress(bool enabled) : enabled_(enabled) {}
  ~StartupProgress() { Clear(); }

  // Feeds one forwarded line of child `name`, then redraws.
  void OnLine(const std::string& name, std::string_view line);
  // Redraws (timers move); call it on every supervisor tick.
  void Tick();
  // Erases the line (before a log line is written, and once start-up is over).
  void Clear();
  // No more drawing after this.
  void Done() {
    Clear();
    enabled_ = false;
  }

  // The text of the line for the current state (empty: nothing to show). Public for tests.
  std::string Render(std::chrono::steady_clock::time_point now) const;

 private:
  bool enabled_;
  bool drawn_ = false;
  std::map<std::string, std::pair<uint32_t, uint32_t>> layers_;  // shard -> (done, total)
  std::chrono::steady_clock::time_point loading_since_{};
  bool warming_ = false;
  bool warm_ = false;
  std::chrono::steady_clock::time_point warming_since_{};
};

}  // namespace tg::launcher
