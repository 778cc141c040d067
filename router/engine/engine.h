// The engine thread: one actor that owns an EngineCore (engine_core.h) and runs its steps,
// taking in requests that routes submit from other threads. The routes' callbacks run on a
// second thread (delivery.h), so that formatting and writing responses overlaps the next step.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "router/api/request.h"
#include "router/engine/admission.h"
#include "router/engine/delivery.h"
#include "router/engine/engine_core.h"
#include "router/engine/generation.h"
#include "router/engine/text_codec.h"

namespace tg::client {
class ShardClient;
}
namespace tg::metrics {
class Registry;
}

namespace tg::engine {

class Engine {
 public:
  Engine(EngineConfig config, client::ShardClient& shard, const TextCodec& codec,
         metrics::Registry& metrics);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // `count` of the --max-concurrent-requests permits, or throws Error(kResourceExhausted)
  // (HTTP 429) at once. Permits never submitted return when dropped.
  std::vector<Permit> Admit(uint32_t count) { return admission_.Acquire(count); }
  // Queues an admitted request; its entry holds `permit` until the engine drops it. Callbacks
  // run on the delivery thread, one request's in order (delivery.h).
  std::shared_ptr<RequestHandle> Submit(Permit permit, api::ValidatedRequest request,
                                        Callbacks callbacks);

  // False after a shard failure (HTTP /health answers 503).
  bool healthy() const { return core_.healthy(); }
  uint32_t in_flight() const { return admission_.in_flight(); }
  uint32_t queue_size() const { return queue_size_.load(); }
  // Stops the loop after failing whatever is still in flight.
  void Stop();

 private:
  void Loop();
  void UpdateGauges();

  metrics::Registry& metrics_;
  Admission admission_;
  Delivery delivery_;  // outlives core_, whose entries hold callbacks into it
  EngineCore core_;    // touched by the engine thread only (healthy() aside)

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Submission> incoming_;
  bool stop_ = false;

  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<uint32_t> queue_size_{0};  // submitted and not yet in the shard's batch
  std::thread thread_;
};

}  // namespace tg::engine
