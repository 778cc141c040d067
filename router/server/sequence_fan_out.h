// The engine sequences one HTTP request fans out to (TGI best_of, OpenAI n and prompt lists):
// the first error finishes the whole request and cancels its siblings, and a client that goes
// away cancels them all. Each route's pending state derives from it.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "router/engine/engine_core.h"

namespace tg::server {

struct SequenceFanOut {
  std::mutex mutex;  // also guards the deriving route's own per-request state
  std::vector<std::shared_ptr<engine::RequestHandle>> handles;
  bool finished = false;

  // A sequence submitted after the request finished (an error from an earlier one) is cancelled
  // at once.
  void Add(std::shared_ptr<engine::RequestHandle> handle) {
    {
      std::lock_guard lock(mutex);
      if (!finished) {
        handles.push_back(std::move(handle));
        return;
      }
    }
    handle->Cancel();
  }

  void CancelAll() {
    std::lock_guard lock(mutex);
    for (auto& h : handles) h->Cancel();
  }

  // Marks the request finished and cancels every sequence (outside the lock: a cancelled
  // sequence may call back); false when it had finished already, and nothing is done.
  bool FinishAndCancel() {
    std::vector<std::shared_ptr<engine::RequestHandle>> all;
    {
      std::lock_guard lock(mutex);
      if (finished) return false;
      finished = true;
      all.swap(handles);  // cancelled here, once
    }
    for (auto& h : all) h->Cancel();
    return true;
  }
};

}  // namespace tg::server
