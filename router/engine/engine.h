// The continuous-batching engine: one actor thread that owns the scheduler state and drives the
// shards (DESIGN.md "Router internals").
//
// Each step: admit newly submitted requests into the queue; drop cancelled ones (freeing their
// blocks, filtering them out of the shard batch); ask the scheduler for the step's plan; take
// preempted requests out of the shard's batch; run the step as one shard call (Prefill with the
// running batches when it has prompt chunks, so decodes and chunks share one forward pass;
// Decode otherwise); detokenize, apply stop sequences, report tokens; filter finished requests
// out immediately.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "generate.pb.h"

#include "router/api/request.h"
#include "router/engine/generation.h"
#include "router/engine/text_codec.h"
#include "router/scheduler/state.h"

namespace tg::client {
class ShardedClient;
}
namespace tg::metrics {
class Registry;
}

namespace tg::engine {

struct EngineConfig {
  scheduler::SchedulerConfig scheduler;
  uint32_t max_concurrent_requests = 128;
};

// Lets a route cancel its request (client disconnected). Thread-safe.
// The engine checks the flag every step, so a cancelled request leaves within one step.
class RequestHandle {
 public:
  void Cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

class Engine {
 public:
  Engine(EngineConfig config, client::ShardedClient& client, const TextCodec& codec,
         metrics::Registry& metrics);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Reserves `count` of the --max-concurrent-requests permits, or throws
  // Error(kResourceExhausted) (HTTP 429) at once. Each Submit consumes one permit.
  void Admit(uint32_t count);
  // Returns permits reserved by Admit but never submitted.
  void Unadmit(uint32_t count);
  // Queues an admitted request. Callbacks run on the engine thread.
  std::shared_ptr<RequestHandle> Submit(api::ValidatedRequest request, Callbacks callbacks);

  // False after a shard failure (HTTP /health answers 503).
  bool healthy() const { return healthy_.load(); }
  uint32_t in_flight() const { return in_flight_.load(); }
  uint32_t queue_size() const { return queue_size_.load(); }
  // Stops the loop after failing whatever is still in flight.
  void Stop();

 private:
  struct Entry;
  void Loop();
  void TakeIncoming(std::deque<std::unique_ptr<Entry>>& incoming);
  void DropCancelled();
  // Runs the scheduler's next step; false when there was nothing to run.
  bool RunStep();
  void AddChunk(const scheduler::PrefillChunk& chunk, textgen::v1::Batch& batch);
  void HandleGenerations(
      const google::protobuf::RepeatedPtrField<textgen::v1::Generation>& gens,
      const google::protobuf::RepeatedPtrField<textgen::v1::RequestError>& errors, bool prefill);
  void HandleToken(Entry& entry, const textgen::v1::Generation& gen, int index);
  void Complete(Entry& entry);
  // max_new_tokens 0: the prompt was scored; the token the shard sampled is dropped.
  void CompletePromptOnly(Entry& entry);
  // Timings and metrics of a finished request; marks it done.
  void Finalize(Entry& entry);
  std::vector<TokenInfo> TokenInfos(const textgen::v1::Tokens& tokens) const;
  void Fail(Entry& entry, ErrorKind kind, const std::string& message);
  void Remove(uint64_t id);
  void ReconcileWithShard();
  void FailAll(ErrorKind kind, const std::string& message);
  void UpdateGauges();

  EngineConfig config_;
  client::ShardedClient& client_;
  const TextCodec& codec_;
  metrics::Registry& metrics_;
  scheduler::State state_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Entry>> incoming_;
  bool stop_ = false;

  // Owned by the engine thread. queued_: not in a shard batch (waiting, part-way through its
  // prompt, or preempted); running_: in the shard's cached batch, decoding.
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> queued_;
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> running_;
  // The shard's cached batches (one after every step; FilterBatch keeps it in step).
  std::vector<textgen::v1::CachedBatch> batches_;
  uint64_t next_batch_id_ = 1;
  std::atomic<uint64_t> next_request_id_{1};

  std::atomic<bool> healthy_{true};
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint32_t> queue_size_{0};
  std::thread thread_;
};

}  // namespace tg::engine
