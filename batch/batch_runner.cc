#include "batch/batch_runner.h"

#include <optional>

#include "router/api/tgi_format.h"
#include "router/engine/engine.h"

namespace tg::batch {

using nlohmann::json;

namespace {

const char* ErrorType(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kUnsupported:
      return "validation";
    case ErrorKind::kUnavailable:
      return "generation";
    default:
      return "internal";
  }
}

json ErrorRecord(uint64_t index, const json& id, ErrorKind kind, const std::string& message) {
  json record = {{"index", index}};
  if (!id.is_null()) record["id"] = id;
  record["error"] = message;
  record["error_type"] = ErrorType(kind);
  return record;
}

}  // namespace

BatchRunner::BatchRunner(engine::Engine& engine, const LineParser& parser, OrderedOutput& output,
                         ProgressReporter& progress, uint32_t max_in_flight)
    : engine_(engine),
      parser_(parser),
      output_(output),
      progress_(progress),
      max_in_flight_(max_in_flight) {}

void BatchRunner::Stop() {
  std::lock_guard lock(mutex_);
  stop_ = true;
  changed_.notify_all();
}

std::string BatchRunner::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

ProgressSnapshot BatchRunner::Snapshot(uint64_t total) const {
  return {.total = total,
          .done = resumed_ + finished_,
          .resumed = resumed_,
          .errors = errors_,
          .tokens = tokens_,
          .elapsed_s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()};
}

void BatchRunner::Finish(uint64_t index, json record, bool error) {
  output_.Put(index, std::move(record));
  std::lock_guard lock(mutex_);
  ++finished_;
  errors_ += error;
  changed_.notify_all();
}

bool BatchRunner::Run(const std::vector<std::string>& lines) {
  const uint64_t total = lines.size();
  {
    std::lock_guard lock(mutex_);
    resumed_ = std::min<uint64_t>(output_.resumed(), total);
    start_ = std::chrono::steady_clock::now();
  }
  for (uint64_t index = resumed_; index < total; ++index) {
    {
      std::unique_lock lock(mutex_);
      while (!stop_ && in_flight_ >= max_in_flight_) {
        changed_.wait_for(lock, std::chrono::milliseconds(200));
        const ProgressSnapshot snapshot = Snapshot(total);
        lock.unlock();
        progress_.Report(snapshot);
        lock.lock();
      }
      if (stop_) return false;
    }
    std::optional<BatchItem> parsed;
    try {
      parsed = parser_.Parse(lines[index]);
      if (parsed->request.best_of() > 1) {
        throw Error(ErrorKind::kInvalidArgument, "`best_of` > 1 is not supported in batches");
      }
    } catch (const Error& e) {
      Finish(index, ErrorRecord(index, LineParser::IdOf(lines[index]), e.kind(), e.message()),
             true);
      continue;
    }
    BatchItem& item = *parsed;
    // Never refused: the engine's limit is twice what the runner keeps in flight.
    engine::Permit permit = std::move(engine_.Admit(1).front());
    {
      std::lock_guard lock(mutex_);
      ++in_flight_;
    }
    auto request = std::make_shared<api::ValidatedRequest>(item.request);
    engine::Callbacks callbacks;
    callbacks.on_token = [this, index, id = item.id, request](
                             const engine::TokenEvent&, const engine::GenerationResult* done) {
      {
        // Counted as they come, so tokens/s moves before the first line completes.
        std::lock_guard lock(mutex_);
        ++tokens_;
      }
      if (!done) return;
      json record = {{"index", index}};
      if (!id.is_null()) record["id"] = id;
      record.update(api::GenerateResponseJson(*request, *done, {}));
      record["finish_reason"] = engine::ToString(done->finish_reason);
      record["generated_tokens"] = done->generated_tokens;
      record["input_tokens"] = done->input_tokens;
      {
        std::lock_guard lock(mutex_);
        --in_flight_;
      }
      Finish(index, std::move(record), false);
    };
    callbacks.on_error = [this, index, id = item.id](ErrorKind kind, const std::string& message) {
      if (kind == ErrorKind::kUnavailable) {
        // A shard failed: the line is not at fault, so it gets no record and a rerun retries it.
        output_.Close();
        std::lock_guard lock(mutex_);
        --in_flight_;
        if (failure_.empty()) failure_ = "a shard failed: " + message;
        stop_ = true;
        changed_.notify_all();
        return;
      }
      {
        std::lock_guard lock(mutex_);
        --in_flight_;
      }
      Finish(index, ErrorRecord(index, id, kind, message), true);
    };
    engine_.Submit(std::move(permit), std::move(item.request), std::move(callbacks));
  }
  std::unique_lock lock(mutex_);
  while (!stop_ && resumed_ + finished_ < total) {
    changed_.wait_for(lock, std::chrono::milliseconds(200));
    const ProgressSnapshot snapshot = Snapshot(total);
    lock.unlock();
    progress_.Report(snapshot);
    lock.lock();
  }
  const bool complete = resumed_ + finished_ >= total;
  const ProgressSnapshot snapshot = Snapshot(total);
  lock.unlock();
  progress_.Report(snapshot, /*final=*/complete);
  return complete;
}

}  // namespace tg::batch
