// The router's view of the paged KV cache (DESIGN.md "KV memory").
//
// The shards own the physical pool; the router owns the bookkeeping, so admission sees real
// memory. A request reserves enough blocks for prompt + max_new_tokens up front (TGI's rule), and
// receives one slot per token position (block * block_size + offset) to send to the shards.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace tg::scheduler {

class BlockAllocator {
 public:
  BlockAllocator(uint32_t num_blocks, uint32_t block_size);

  // Blocks needed to hold `tokens` token positions.
  uint32_t BlocksFor(uint64_t tokens) const;
  // Takes `count` free blocks, or returns nothing (and takes none) when too few are free.
  std::optional<std::vector<uint32_t>> Allocate(uint32_t count);
  void Free(const std::vector<uint32_t>& blocks);

  // One slot per position 0..tokens-1 laid out over `blocks` in order.
  std::vector<uint32_t> Slots(const std::vector<uint32_t>& blocks, uint32_t tokens) const;

  uint32_t block_size() const { return block_size_; }
  uint32_t total_blocks() const { return total_blocks_; }
  uint32_t free_blocks() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t used_blocks() const { return total_blocks_ - free_blocks(); }

 private:
  uint32_t total_blocks_;
  uint32_t block_size_;
  // A stack: recently freed blocks are handed out first, which keeps the working set small.
  std::vector<uint32_t> free_;
};

}  // namespace tg::scheduler
