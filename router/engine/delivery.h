// Runs the routes' callbacks on a thread of its own, in the order the engine produced them.
//
// Formatting a token as JSON and handing it to its HTTP connection costs microseconds per token;
// on the engine thread that is time between two shard calls, with the GPU idle (issue 19). The
// engine thread only copies each event into a batch, hands the whole step's batch over with one
// wake-up (Flush), and goes on to the next shard call while this thread delivers.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "router/engine/generation.h"

namespace tg::engine {

class Delivery {
 public:
  Delivery();
  // Delivers whatever was flushed, then stops.
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  // Callbacks that queue into this Delivery for `target`; call them from one thread only (the
  // engine's) and Flush from that thread. The result the event points to is copied when the
  // route may read it: on a request's first event (prompt logprobs) and its last.
  Callbacks Wrap(Callbacks target);
  // Hands what was queued since the last Flush to the delivery thread.
  void Flush();
  // Flushes, delivers everything and joins the thread; later events are dropped.
  void Stop();

 private:
  struct Item {
    std::shared_ptr<const Callbacks> target;
    TokenEvent event;
    std::unique_ptr<GenerationResult> result;  // so_far / done, when the event had one
    bool done = false;
    bool error = false;
    ErrorKind kind = ErrorKind::kInternal;
    std::string message;
  };

  void Loop();
  static void Deliver(Item& item);

  std::vector<Item> staged_;  // the engine thread's, until Flush

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Item> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tg::engine
