#include "shard/engine/kv_pool.h"

#include <limits>
#include <string>

#include "common/error.h"

namespace tg::shard {

KvPool::KvPool(backend::Backend& backend, KvShape shape) : backend_(backend), shape_(shape) {
  TG_CHECK(shape.num_layers > 0 && shape.num_kv_heads > 0 && shape.head_dim > 0, kInvalidArgument,
           "KV pool shape must be positive (layers " + std::to_string(shape.num_layers) +
               ", KV heads " + std::to_string(shape.num_kv_heads) + ", head dim " +
               std::to_string(shape.head_dim) + ")");
}

uint64_t KvPool::BytesPerBlock(int block_size) const {
  return 2ull * static_cast<uint64_t>(shape_.num_layers) * static_cast<uint64_t>(block_size) *
         static_cast<uint64_t>(shape_.num_kv_heads * shape_.head_dim) *
         backend::DTypeSize(backend_.KvDType());
}

void KvPool::Allocate(int num_blocks, int block_size) {
  TG_CHECK(num_blocks > 0 && block_size > 0, kInvalidArgument,
           "KV pool of " + std::to_string(num_blocks) + " blocks of " + std::to_string(block_size) +
               " tokens");
  // Slots travel as int32 (ForwardBatch::slots).
  TG_CHECK(static_cast<int64_t>(num_blocks) * block_size <= std::numeric_limits<int32_t>::max(),
           kInvalidArgument,
           "KV pool of " + std::to_string(num_blocks) + " blocks has more slots than int32 holds");
  keys_.clear();
  values_.clear();
  num_blocks_ = 0;
  block_size_ = 0;
  const std::vector<int64_t> layer_shape = {num_blocks, block_size, shape_.num_kv_heads,
                                            shape_.head_dim};
  for (int i = 0; i < shape_.num_layers; ++i) {
    keys_.push_back(backend_.Allocate(backend_.KvDType(), layer_shape));
    values_.push_back(backend_.Allocate(backend_.KvDType(), layer_shape));
  }
  num_blocks_ = num_blocks;
  block_size_ = block_size;
}

}  // namespace tg::shard
