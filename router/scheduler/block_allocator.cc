#include "router/scheduler/block_allocator.h"

#include "common/error.h"

namespace tg::scheduler {

BlockAllocator::BlockAllocator(uint32_t num_blocks, uint32_t block_size)
    : total_blocks_(num_blocks), block_size_(block_size) {
  TG_CHECK(block_size > 0, kInvalidArgument, "KV block size must be positive");
  free_.reserve(num_blocks);
  // Highest id at the bottom so that block 0 is handed out first.
  for (uint32_t i = num_blocks; i > 0; --i) free_.push_back(i - 1);
}

uint32_t BlockAllocator::BlocksFor(uint64_t tokens) const {
  return static_cast<uint32_t>((tokens + block_size_ - 1) / block_size_);
}

std::optional<std::vector<uint32_t>> BlockAllocator::Allocate(uint32_t count) {
  if (count > free_.size()) return std::nullopt;
  std::vector<uint32_t> blocks(free_.end() - count, free_.end());
  free_.resize(free_.size() - count);
  // Handed out in ascending order of the stack top so block tables read naturally in logs.
  std::vector<uint32_t> ordered(blocks.rbegin(), blocks.rend());
  return ordered;
}

void BlockAllocator::Free(const std::vector<uint32_t>& blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    TG_CHECK(*it < total_blocks_, kInternal, "freeing a KV block that does not exist");
    free_.push_back(*it);
  }
  TG_CHECK(free_.size() <= total_blocks_, kInternal, "KV block freed twice");
}

std::vector<uint32_t> BlockAllocator::Slots(const std::vector<uint32_t>& blocks,
                                            uint32_t tokens) const {
  TG_CHECK(BlocksFor(tokens) <= blocks.size(), kInternal, "block table too small for slots");
  std::vector<uint32_t> slots;
  slots.reserve(tokens);
  for (uint32_t pos = 0; pos < tokens; ++pos) {
    slots.push_back(blocks[pos / block_size_] * block_size_ + pos % block_size_);
  }
  return slots;
}

}  // namespace tg::scheduler
