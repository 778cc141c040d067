#include "router/scheduler/prefix_cache.h"

#include "common/error.h"

namespace tg::scheduler {
namespace {

// FNV-1a over 32-bit words, chained through the previous block's key.
uint64_t Mix(uint64_t hash, uint32_t word) {
  for (int i = 0; i < 4; ++i) {
    hash ^= (word >> (8 * i)) & 0xFF;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

std::vector<uint64_t> PrefixCache::BlockKeys(const std::vector<uint32_t>& prompt) const {
  std::vector<uint64_t> keys;
  if (prompt.empty()) return keys;
  const size_t shareable = (prompt.size() - 1) / block_size_;
  uint64_t hash = 14695981039346656037ull;
  for (size_t b = 0; b < shareable; ++b) {
    for (size_t i = b * block_size_; i < (b + 1) * block_size_; ++i) hash = Mix(hash, prompt[i]);
    keys.push_back(hash);
  }
  return keys;
}

std::vector<uint32_t> PrefixCache::Acquire(const std::vector<uint64_t>& keys) {
  std::vector<uint32_t> blocks;
  for (uint64_t key : keys) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) break;
    Entry& entry = by_block_.at(it->second);
    if (entry.refs++ == 0) lru_.erase(entry.lru);
    blocks.push_back(it->second);
  }
  return blocks;
}

bool PrefixCache::Insert(uint64_t key, uint32_t block) {
  if (by_key_.contains(key) || by_block_.contains(block)) return false;
  by_key_[key] = block;
  by_block_[block] = Entry{.key = key, .refs = 1};
  return true;
}

void PrefixCache::Release(uint32_t block) {
  Entry& entry = by_block_.at(block);
  TG_CHECK(entry.refs > 0, kInternal, "prefix cache block released twice");
  if (--entry.refs == 0) entry.lru = lru_.insert(lru_.end(), block);
}

std::vector<uint32_t> PrefixCache::Evict(uint32_t count) {
  std::vector<uint32_t> evicted;
  while (evicted.size() < count && !lru_.empty()) {
    const uint32_t block = lru_.front();
    lru_.pop_front();
    by_key_.erase(by_block_.at(block).key);
    by_block_.erase(block);
    evicted.push_back(block);
  }
  return evicted;
}

}  // namespace tg::scheduler
