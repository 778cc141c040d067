#include "router/scheduler/state.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"

namespace tg::scheduler {

State::State(const SchedulerConfig& config)
    : config_(config), allocator_(config.num_blocks, config.block_size) {}

void State::Enqueue(const QueuedRequest& request) {
  const uint64_t tokens = uint64_t{request.input_tokens} + request.max_new_tokens;
  const uint32_t blocks = allocator_.BlocksFor(tokens);
  if (blocks > allocator_.total_blocks()) {
    throw Error(ErrorKind::kInvalidArgument,
                "request needs " + std::to_string(tokens) + " KV tokens but the cache holds " +
                    std::to_string(uint64_t{allocator_.total_blocks()} * config_.block_size));
  }
  if (request.input_tokens > config_.max_batch_prefill_tokens) {
    throw Error(ErrorKind::kInvalidArgument, "input of " + std::to_string(request.input_tokens) +
                                                 " tokens exceeds max_batch_prefill_tokens " +
                                                 std::to_string(config_.max_batch_prefill_tokens));
  }
  queue_.push_back(request);
}

bool State::RemoveQueued(uint64_t id) {
  auto it = std::find_if(queue_.begin(), queue_.end(),
                         [id](const QueuedRequest& r) { return r.id == id; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

std::vector<ScheduledRequest> State::NextBatch(uint32_t running) {
  if (queue_.empty()) return {};
  size_t min_size = 1;
  if (running > 0 && waiting_steps_ < config_.max_waiting_tokens) {
    min_size = std::max<size_t>(
        1, static_cast<size_t>(std::floor(running * config_.waiting_served_ratio)));
  }
  std::vector<ScheduledRequest> batch;
  uint64_t prefill_tokens = 0;
  for (const QueuedRequest& request : queue_) {
    if (config_.max_batch_size > 0 && running + batch.size() >= config_.max_batch_size) break;
    if (prefill_tokens + request.input_tokens > config_.max_batch_prefill_tokens) break;
    const uint32_t tokens = request.input_tokens + request.max_new_tokens;
    auto blocks = allocator_.Allocate(allocator_.BlocksFor(tokens));
    if (!blocks) break;
    prefill_tokens += request.input_tokens;
    ScheduledRequest scheduled{.id = request.id, .blocks = std::move(*blocks)};
    scheduled.slots = allocator_.Slots(scheduled.blocks, tokens);
    batch.push_back(std::move(scheduled));
  }
  if (batch.size() < min_size) {
    for (const ScheduledRequest& r : batch) allocator_.Free(r.blocks);
    return {};
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
  for (const ScheduledRequest& r : batch) reserved_[r.id] = r.blocks;
  waiting_steps_ = 0;
  return batch;
}

void State::Release(uint64_t id) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return;
  allocator_.Free(it->second);
  reserved_.erase(it);
}

}  // namespace tg::scheduler
