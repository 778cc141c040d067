// Feeds the lines of a text-gen-batch input through the engine with up to `max_in_flight`
// requests queued or running at once (the engine forms full batches from its queue), and hands
// each line's record to the ordered output.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "batch/batch_input.h"
#include "batch/ordered_output.h"
#include "batch/progress.h"

namespace tg::engine {
class Engine;
}

namespace tg::batch {

class BatchRunner {
 public:
  BatchRunner(engine::Engine& engine, const LineParser& parser, OrderedOutput& output,
              ProgressReporter& progress, uint32_t max_in_flight);

  // Runs lines[output.resumed()...]; returns when every line has a record (true) or after Stop()
  // (false). Called from one thread.
  bool Run(const std::vector<std::string>& lines);
  // Thread-safe: stops submitting; Run returns without waiting for requests in flight.
  void Stop();
  // Why the run stopped on its own (a shard failed), or empty.
  std::string failure() const;

 private:
  void Finish(uint64_t index, nlohmann::json record, bool error);
  ProgressSnapshot Snapshot(uint64_t total) const;  // mutex held

  engine::Engine& engine_;
  const LineParser& parser_;
  OrderedOutput& output_;
  ProgressReporter& progress_;
  const uint32_t max_in_flight_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  std::string failure_;
  uint32_t in_flight_ = 0;
  uint64_t finished_ = 0;  // this run
  uint64_t errors_ = 0;
  uint64_t tokens_ = 0;  // generated this run, counted per token
  uint64_t resumed_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tg::batch
