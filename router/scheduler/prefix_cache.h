// Prefix caching over the router's KV blocks (DESIGN.md "KV memory").
//
// Full prompt blocks whose K/V a finished prefill wrote are kept under a chained hash of their
// tokens (each block's key covers the whole prefix up to it, so equal keys mean equal prefixes).
// A later request with the same prefix takes references on those blocks and sends `cache_len`, so
// the shard skips their positions. Blocks are reference counted; unreferenced cached blocks stay
// until the allocator runs short, then the least recently used are evicted.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace tg::scheduler {

class PrefixCache {
 public:
  explicit PrefixCache(uint32_t block_size) : block_size_(block_size) {}

  // Keys of the full blocks of `prompt` that may be shared: those that end before the last
  // prompt token (the shard always recomputes the last one to get logits).
  std::vector<uint64_t> BlockKeys(const std::vector<uint32_t>& prompt) const;

  // The longest run of cached blocks matching keys[0..]; takes one reference on each.
  std::vector<uint32_t> Acquire(const std::vector<uint64_t>& keys);
  // Caches `block` (referenced once by its owner) under `key`; false if the key is taken.
  bool Insert(uint64_t key, uint32_t block);
  bool Contains(uint32_t block) const { return by_block_.contains(block); }
  // Drops one reference on a cached block; at zero it becomes evictable.
  void Release(uint32_t block);
  // Removes up to `count` unreferenced blocks, least recently used first, and returns them.
  std::vector<uint32_t> Evict(uint32_t count);

  uint32_t evictable_blocks() const { return static_cast<uint32_t>(lru_.size()); }
  uint32_t cached_blocks() const { return static_cast<uint32_t>(by_block_.size()); }

 private:
  struct Entry {
    uint64_t key = 0;
    uint32_t refs = 0;
    std::list<uint32_t>::iterator lru;  // valid when refs == 0
  };
  uint32_t block_size_;
  std::unordered_map<uint64_t, uint32_t> by_key_;  // key -> block
  std::unordered_map<uint32_t, Entry> by_block_;
  std::list<uint32_t> lru_;  // unreferenced cached blocks, oldest first
};

}  // namespace tg::scheduler
