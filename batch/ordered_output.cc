#include "batch/ordered_output.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace tg::batch {

using nlohmann::json;

OrderedOutput::OrderedOutput(const std::string& path) {
  uint64_t keep_bytes = 0;
  if (std::ifstream in(path, std::ios::binary); in.good()) {
    std::string line;
    uint64_t offset = 0;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no newline: torn by an interrupted write
      const json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      TG_CHECK(record.is_object() && record.value("index", json()) == json(resumed_),
               kInvalidArgument,
               path + " line " + std::to_string(resumed_ + 1) +
                   " is not the record of input line " + std::to_string(resumed_ + 1) +
                   "; is it the output of another input? (remove it to start over)");
      offset += line.size() + 1;
      keep_bytes = offset;
      ++resumed_;
    }
  }
  next_ = resumed_;
  if (std::filesystem::exists(path)) std::filesystem::resize_file(path, keep_bytes);
  file_ = std::fopen(path.c_str(), "ab");
  TG_CHECK(file_ != nullptr, kInvalidArgument,
           "cannot write " + path + ": " + std::strerror(errno));
}

OrderedOutput::~OrderedOutput() { Close(); }

void OrderedOutput::Put(uint64_t index, json record) {
  std::lock_guard lock(mutex_);
  if (!file_) return;
  pending_.emplace(index, std::move(record));
  WriteReady();
}

void OrderedOutput::WriteReady() {
  for (auto it = pending_.find(next_); it != pending_.end(); it = pending_.find(next_)) {
    const std::string line = it->second.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    TG_CHECK(std::fwrite(line.data(), 1, line.size(), file_) == line.size(), kInternal,
             std::string("writing the output failed: ") + std::strerror(errno));
    pending_.erase(it);
    ++next_;
  }
  std::fflush(file_);
}

void OrderedOutput::Close() {
  std::lock_guard lock(mutex_);
  if (!file_) return;
  std::fclose(file_);
  file_ = nullptr;
}

uint64_t OrderedOutput::written() const {
  std::lock_guard lock(mutex_);
  return next_;
}

}  // namespace tg::batch
