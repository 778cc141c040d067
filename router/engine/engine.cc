#include "router/engine/engine.h"

#include <pthread.h>

#include <chrono>

#include "router/metrics/metrics.h"

namespace tg::engine {

Engine::Engine(EngineConfig config, client::ShardClient& shard, const TextCodec& codec,
               metrics::Registry& metrics)
    : metrics_(metrics),
      admission_(config.max_concurrent_requests),
      core_(std::move(config), shard, codec, metrics) {
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  delivery_.Stop();  // the requests failed at shutdown get their answers
}

std::shared_ptr<RequestHandle> Engine::Submit(Permit permit, api::ValidatedRequest request,
                                              Callbacks callbacks) {
  TG_CHECK(permit.held(), kInternal, "a request was submitted without an admission permit");
  auto handle = std::make_shared<RequestHandle>();
  {
    std::lock_guard lock(mutex_);
    incoming_.push_back({.id = next_request_id_.fetch_add(1),
                         .permit = std::move(permit),
                         .request = std::move(request),
                         .callbacks = delivery_.Wrap(std::move(callbacks)),
                         .handle = handle,
                         .queued_at = std::chrono::steady_clock::now()});
    queue_size_.fetch_add(1);
  }
  wake_.notify_one();
  return handle;
}

void Engine::Loop() {
  pthread_setname_np(pthread_self(), "tg-engine");
  while (true) {
    std::deque<Submission> incoming;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !incoming_.empty() || core_.has_work(); });
      if (stop_) break;
      incoming.swap(incoming_);
    }
    for (Submission& s : incoming) core_.Add(std::move(s));
    const bool stepped = core_.Step();
    delivery_.Flush();  // the step's tokens, delivered while the next step runs
    UpdateGauges();
    if (!stepped) {
      // Queued requests that cannot start yet (no KV blocks free): wait for news, not spin.
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(5),
                     [&] { return stop_ || !incoming_.empty(); });
    }
  }
  std::deque<Submission> incoming;
  {
    std::lock_guard lock(mutex_);
    incoming.swap(incoming_);
  }
  for (Submission& s : incoming) core_.Add(std::move(s));
  core_.FailAll(ErrorKind::kNotReady, "the server is shutting down");
  delivery_.Flush();
  UpdateGauges();
}

void Engine::UpdateGauges() {
  {
    std::lock_guard lock(mutex_);
    queue_size_.store(static_cast<uint32_t>(incoming_.size() + core_.queued()));
  }
  metrics_.Set("tgi_queue_size", queue_size_.load());
  metrics_.Set("tgi_running_requests", admission_.in_flight());
}

}  // namespace tg::engine
