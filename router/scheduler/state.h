// The scheduler state: FIFO queue, batch formation under token budgets, KV block reservations.
//
// A plain class with no threads, clocks or sockets: the engine's single actor thread drives it,
// and unit tests drive it directly. Batching follows TGI's rules (DESIGN.md "KV memory"):
//  - a request reserves blocks for prompt + max_new_tokens when it leaves the queue;
//  - a batch takes requests in FIFO order while the prefill token budget, the KV pool and the
//    batch size limit hold (no skipping ahead, so large requests are not starved);
//  - while a batch is running, new requests interrupt decoding only when enough are waiting
//    (running * waiting_served_ratio) or decoding has gone max_waiting_tokens steps without one.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "router/scheduler/block_allocator.h"
#include "router/scheduler/prefix_cache.h"

namespace tg::scheduler {

struct SchedulerConfig {
  uint32_t block_size = 16;
  uint32_t num_blocks = 0;
  uint32_t max_batch_prefill_tokens = 4096;
  uint32_t max_batch_size = 0;  // 0: no limit
  double waiting_served_ratio = 1.2;
  uint32_t max_waiting_tokens = 20;
  bool prefix_caching = false;
};

struct QueuedRequest {
  uint64_t id = 0;
  uint32_t input_tokens = 0;
  uint32_t max_new_tokens = 0;
  // The prompt, for prefix caching; empty: this request neither uses nor fills the cache.
  std::vector<uint32_t> prompt_ids;
};

// A request admitted into a prefill batch, with its KV reservation.
struct ScheduledRequest {
  uint64_t id = 0;
  std::vector<uint32_t> blocks;
  std::vector<uint32_t> slots;  // one per position of prompt + max_new_tokens
  uint32_t cache_len = 0;       // leading prompt tokens whose K/V are already in `blocks`
};

class State {
 public:
  explicit State(const SchedulerConfig& config);

  // Appends to the queue. Throws kInvalidArgument when the request could never fit the KV pool
  // or the prefill budget, so it fails now instead of blocking the queue forever.
  void Enqueue(const QueuedRequest& request);
  // Drops a queued request (its client went away). Returns false when it is not queued.
  bool RemoveQueued(uint64_t id);

  // Forms the next prefill batch given how many requests are running, or returns an empty list.
  std::vector<ScheduledRequest> NextBatch(uint32_t running);
  // Counts one decode step without new requests (for max_waiting_tokens).
  void OnDecodeStep() { ++waiting_steps_; }
  // The request's prefill wrote its prompt K/V: its full prompt blocks join the prefix cache.
  void CommitPrefill(uint64_t id);
  // Returns the blocks of a running request to the pool (shared ones stay cached).
  void Release(uint64_t id);

  uint32_t queue_size() const { return static_cast<uint32_t>(queue_.size()); }
  uint32_t running_reservations() const { return static_cast<uint32_t>(reserved_.size()); }
  const BlockAllocator& allocator() const { return allocator_; }
  // Blocks held by requests (cached blocks nobody references count as free).
  uint32_t used_blocks() const { return allocator_.used_blocks() - cache_.evictable_blocks(); }
  const PrefixCache& prefix_cache() const { return cache_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  SchedulerConfig config_;
  BlockAllocator allocator_;
  std::deque<QueuedRequest> queue_;
  struct Reservation {
    std::vector<uint32_t> blocks;
    std::vector<uint64_t> keys;  // prefix keys of blocks[0..keys.size()) to cache at commit
  };
  std::optional<std::vector<uint32_t>> Allocate(uint32_t count);
  void Return(const std::vector<uint32_t>& blocks);

  PrefixCache cache_;
  std::unordered_map<uint64_t, Reservation> reserved_;
  uint32_t waiting_steps_ = 0;
};

}  // namespace tg::scheduler
