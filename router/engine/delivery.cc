#include "router/engine/delivery.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace tg::engine {

Delivery::Delivery() {
  thread_ = std::thread([this] { Loop(); });
}

Delivery::~Delivery() { Stop(); }

Callbacks Delivery::Wrap(Callbacks target) {
  auto shared = std::make_shared<const Callbacks>(std::move(target));
  Callbacks queued;
  queued.on_token = [this, shared](const TokenEvent& event, const GenerationResult* done) {
    Item& item = staged_.emplace_back();
    item.target = shared;
    item.event = event;
    item.done = done != nullptr;
    // Valid only during the call: copied while still small (first event) or final (last).
    const GenerationResult* result = done ? done : event.so_far;
    if (result && (done || event.index == 0)) {
      item.result = std::make_unique<GenerationResult>(*result);
    }
    item.event.so_far = nullptr;
  };
  queued.on_error = [this, shared](ErrorKind kind, const std::string& message) {
    Item& item = staged_.emplace_back();
    item.target = shared;
    item.error = true;
    item.kind = kind;
    item.message = message;
  };
  return queued;
}

void Delivery::Flush() {
  if (staged_.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) {
      queue_.swap(staged_);
    } else {
      for (Item& item : staged_) queue_.push_back(std::move(item));
      staged_.clear();
    }
  }
  wake_.notify_one();
}

void Delivery::Stop() {
  Flush();
  {
    std::lock_guard lock(mutex_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Delivery::Loop() {
  pthread_setname_np(pthread_self(), "tg-delivery");  // found by name in perf and top -H
  std::vector<Item> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopped, and everything delivered
      batch.swap(queue_);
    }
    for (Item& item : batch) Deliver(item);
    batch.clear();  // keeps its capacity for the next step
  }
}

void Delivery::Deliver(Item& item) {
  try {
    if (item.error) {
      if (item.target->on_error) item.target->on_error(item.kind, item.message);
      return;
    }
    if (!item.target->on_token) return;
    item.event.so_far = item.result.get();
    item.target->on_token(item.event, item.done ? item.result.get() : nullptr);
  } catch (const std::exception& e) {
    // A route's failure to answer one request must not stop the others' answers.
    spdlog::error("request callback failed: {}", e.what());
  }
}

}  // namespace tg::engine
