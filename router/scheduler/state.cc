#include "router/scheduler/state.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"

namespace tg::scheduler {

State::State(const SchedulerConfig& config)
    : config_(config),
      allocator_(config.num_blocks, config.block_size),
      cache_(config.block_size) {}

std::optional<std::vector<uint32_t>> State::Allocate(uint32_t count) {
  auto blocks = allocator_.Allocate(count);
  if (blocks || count - allocator_.free_blocks() > cache_.evictable_blocks()) return blocks;
  allocator_.Free(cache_.Evict(count - allocator_.free_blocks()));
  return allocator_.Allocate(count);
}

void State::Return(const std::vector<uint32_t>& blocks) {
  for (uint32_t block : blocks) {
    if (cache_.Contains(block)) {
      cache_.Release(block);
    } else {
      allocator_.Free({block});
    }
  }
}

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
  std::vector<std::vector<uint64_t>> batch_keys;
  uint64_t prefill_tokens = 0;
  for (const QueuedRequest& request : queue_) {
    if (config_.max_batch_size > 0 && running + batch.size() >= config_.max_batch_size) break;
    const uint32_t tokens = request.input_tokens + request.max_new_tokens;
    std::vector<uint64_t> keys;
    std::vector<uint32_t> hits;
    if (config_.prefix_caching && !request.prompt_ids.empty()) {
      keys = cache_.BlockKeys(request.prompt_ids);
      hits = cache_.Acquire(keys);
    }
    const uint32_t cached_tokens = static_cast<uint32_t>(hits.size()) * config_.block_size;
    // Only the positions the shard computes count against the prefill budget.
    const uint32_t computed = request.input_tokens - cached_tokens;
    std::optional<std::vector<uint32_t>> fresh;
    if (prefill_tokens + computed <= config_.max_batch_prefill_tokens) {
      fresh = Allocate(allocator_.BlocksFor(tokens) - static_cast<uint32_t>(hits.size()));
    }
    if (!fresh) {
      Return(hits);
      break;
    }
    prefill_tokens += computed;
    ScheduledRequest scheduled{.id = request.id, .blocks = std::move(hits)};
    scheduled.blocks.insert(scheduled.blocks.end(), fresh->begin(), fresh->end());
    scheduled.slots = allocator_.Slots(scheduled.blocks, tokens);
    scheduled.cache_len = cached_tokens;
    batch.push_back(std::move(scheduled));
    batch_keys.push_back(std::move(keys));
  }
  if (batch.size() < min_size) {
    for (const ScheduledRequest& r : batch) Return(r.blocks);
    return {};
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    reserved_[batch[i].id] =
        Reservation{.blocks = batch[i].blocks, .keys = std::move(batch_keys[i])};
  }
  waiting_steps_ = 0;
  return batch;
}

void State::CommitPrefill(uint64_t id) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return;
  Reservation& r = it->second;
  // Blocks that were hits are cached already; a key another request cached first stays private.
  for (size_t i = 0; i < r.keys.size(); ++i) {
    if (!cache_.Contains(r.blocks[i])) cache_.Insert(r.keys[i], r.blocks[i]);
  }
  r.keys.clear();
}

void State::Release(uint64_t id) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return;
  Return(it->second.blocks);
  reserved_.erase(it);
}

}  // namespace tg::scheduler
