// The output file of text-gen-batch: one JSON record per input line, in input order, flushed line
// by line so an interrupted run leaves a valid prefix that a rerun resumes from.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace tg::batch {

class OrderedOutput {
 public:
  // Opens `path` for appending. Complete records already there are kept (their count is
  // `resumed()`); a torn last line (the previous run was killed mid-write) is cut off. Throws
  // tg::Error(kInvalidArgument) when a kept record is not the line it should be (another input's
  // output, or a file that is not ours).
  explicit OrderedOutput(const std::string& path);
  ~OrderedOutput();
  OrderedOutput(const OrderedOutput&) = delete;
  OrderedOutput& operator=(const OrderedOutput&) = delete;

  uint64_t resumed() const { return resumed_; }
  // Records the result of input line `index` (0-based); writes every record that is now next in
  // order. After Close() results are dropped, so an interrupted run writes nothing half-done.
  void Put(uint64_t index, nlohmann::json record);
  void Close();
  uint64_t written() const;

 private:
  void WriteReady();  // mutex held

  mutable std::mutex mutex_;
  std::FILE* file_ = nullptr;
  uint64_t resumed_ = 0;
  uint64_t next_ = 0;  // the index the file needs next
  std::map<uint64_t, nlohmann::json> pending_;
};

}  // namespace tg::batch
