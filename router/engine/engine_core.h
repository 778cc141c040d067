// The continuous-batching engine's core: a plain single-threaded class that owns the scheduler
// state and drives the shards one step at a time (DESIGN.md "Router internals"). Engine
// (engine.h) is the thread around it; tests drive it directly with a fake ShardClient.
//
// Each Step: drop cancelled requests (freeing their blocks, leaving them out of the shard
// batch); ask the scheduler for the step's plan; take preempted requests out of the shard's
// batch; send the step as one shard call (Prefill with the running batches when it has prompt
// chunks, so decodes and chunks share one forward pass; Decode otherwise); then wait for the
// oldest call in flight and detokenize, match stop strings, report tokens; leave finished
// requests out of the next call, which the shard filters by (no FilterBatch round trip).
//
// Async scheduling (EngineConfig): the next step is planned and sent before the running call's
// answer is handled, so two calls are in flight. It names the requests as they were: those the
// running call finishes (EOS, length, errors) are skipped by the shard; one that the router
// finds finished only while handling the answer (a stop string) computes one token more, which
// is dropped. A step that preempts, or prefills a preempted request again, waits for the answer
// first. A shard failure fails everything in flight and clears the shards' caches.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/serving_limits.h"
#include "router/api/request.h"
#include "router/client/shard_client.h"
#include "router/engine/admission.h"
#include "router/engine/generation.h"
#include "router/engine/text_codec.h"
#include "router/scheduler/state.h"

namespace tg::metrics {
class Registry;
}

namespace tg::engine {

struct EngineConfig {
  scheduler::SchedulerConfig scheduler;
  uint32_t max_concurrent_requests = limits::kMaxConcurrentRequests;
  // Plan and send a step while the step before it still runs (vLLM's async scheduling, SGLang's
  // overlap scheduler): the shard finds its next call waiting, so the answer's trip back, the
  // router's handling of it and the next call's trip out overlap the forward pass.
  bool async_scheduling = true;
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

// An admitted, validated request on its way into the engine.
struct Submission {
  uint64_t id = 0;
  Permit permit;  // held by the request's entry until the engine drops it
  api::ValidatedRequest request;
  Callbacks callbacks;
  std::shared_ptr<RequestHandle> handle;
  std::chrono::steady_clock::time_point queued_at;
};

class EngineCore {
 public:
  using Clock = std::chrono::steady_clock;

  EngineCore(EngineConfig config, client::ShardClient& shard, const TextCodec& codec,
             metrics::Registry& metrics);
  ~EngineCore();
  EngineCore(const EngineCore&) = delete;
  EngineCore& operator=(const EngineCore&) = delete;

  // Queues a request; one the scheduler cannot take fails at once (its callback runs here).
  void Add(Submission submission);
  // Runs one step; false when there was nothing to run (no request, or none can start yet).
  bool Step();
  // Fails every request still queued or running and forgets the shards' batches.
  void FailAll(ErrorKind kind, const std::string& message);

  bool has_work() const { return !queued_.empty() || !running_.empty() || !in_flight_.empty(); }
  size_t queued() const { return queued_.size(); }
  size_t running() const { return running_.size(); }
  // False after a shard failure; set before the failed requests' callbacks run. Thread-safe.
  bool healthy() const { return healthy_.load(); }

 private:
  struct Entry;
  // A shard call on its way, and the batch the shard will hold after it.
  struct InFlight {
    std::unique_ptr<client::PendingStep> call;
    bool prefill = false;
    Clock::time_point sent;
    // The requests it steps that may survive it, in the shard's order.
    client::CachedBatch expected;
  };

  void DropCancelled();
  // Takes the plan's preempted requests out of the running set (back to queued_).
  void ApplyPreemption(const scheduler::StepPlan& plan);
  // Sends the plan as one shard call; `pipelined`: a call is still in flight, and this one names
  // the requests of the batch that call will leave.
  void Send(const scheduler::StepPlan& plan, bool pipelined);
  // Waits for the oldest call in flight and handles its answer.
  void CompleteOldest();
  bool CanPipeline() const;
  // The plan cannot go before the answer of the call in flight is handled.
  static bool NeedsTheAnswerAhead(const scheduler::StepPlan& plan);
  // Waits out whatever is in flight, ignoring the answers (after a failure, at shutdown).
  void DrainInFlight();
  client::ShardRequest ChunkRequest(const scheduler::PrefillChunk& chunk);
  void HandleResult(const client::StepResult& result, bool prefill);
  void HandlePrefillTokens(Entry& entry, const client::ShardGeneration& gen);
  void HandleToken(Entry& entry, const client::ShardGeneration& gen, size_t index);
  void CompletePromptOnly(Entry& entry);
  void Finalize(Entry& entry);
  std::vector<TokenInfo> TokenInfos(const client::ShardTokens& tokens) const;
  void Fail(Entry& entry, ErrorKind kind, const std::string& message);
  void Remove(uint64_t id);
  // Fails the requests a call stepped that are missing from the batch it returned.
  void FailLost(const client::CachedBatch& expected);
  // Leaves ended requests out of batches_ (the next call's names).
  void ReconcileWithShard();
  void OnShardFailure(const std::string& message);
  void UpdateGauges();
  // Before and after each shard call: the engine thread's time between two calls while work
  // was waiting (tgi_batch_host_duration), i.e. the time the shard idles because of the router.
  void StartShardCall(Clock::time_point now, bool pipelined);
  void EndShardCall(Clock::time_point now);

  EngineConfig config_;
  client::ShardClient& shard_;
  const TextCodec& codec_;
  metrics::Registry& metrics_;
  scheduler::State state_;

  // queued_: not in a shard batch (waiting, part-way through its prompt, or preempted);
  // running_: in the shard's cached batch, decoding.
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> queued_;
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> running_;
  // The shard's cached batches (one after every step), less the requests that ended since: the
  // next step call names only those left (ReconcileWithShard).
  std::vector<client::CachedBatch> batches_;
  std::deque<InFlight> in_flight_;  // oldest first; two at most
  uint64_t next_batch_id_ = 1;
  uint64_t next_step_ = 1;  // proto PrefillRequest.step
  std::atomic<bool> healthy_{true};
  // When the last shard call returned; unset while the engine has nothing to run.
  std::optional<Clock::time_point> last_call_end_;
};

}  // namespace tg::engine
