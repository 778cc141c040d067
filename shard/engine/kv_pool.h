// The paged KV cache of one rank, apart from any one model (llama.cpp's llama-kv-cache): per
// layer one K and one V tensor of [num_blocks, block_size, num_kv_heads, head_dim] in the
// backend's KvDType, laid out as shard/backend/backend.h describes. The router hands out its
// blocks; the engine sizes it at Warmup; a model's Forward writes and reads it layer by layer.
#pragma once

#include <cstdint>
#include <vector>

#include "shard/backend/backend.h"

namespace tg::shard {

// What one block holds per layer: this rank's KV heads (a tensor-parallel rank holds its slice).
struct KvShape {
  int num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
};

class KvPool {
 public:
  // An empty pool; Allocate gives it blocks. `backend` must outlive the pool.
  KvPool(backend::Backend& backend, KvShape shape);

  const KvShape& shape() const { return shape_; }
  // Bytes of K and V for one block of `block_size` tokens over all layers.
  uint64_t BytesPerBlock(int block_size) const;
  // (Re)allocates `num_blocks` blocks of `block_size` tokens; drops the previous contents (and
  // frees them first, so a temporary pool and its successor never coexist). Throws
  // kInvalidArgument for a size that is not positive or has more slots than int32 addresses.
  void Allocate(int num_blocks, int block_size);

  bool allocated() const { return num_blocks_ > 0; }
  int num_blocks() const { return num_blocks_; }
  int block_size() const { return block_size_; }
  // Token slots: num_blocks * block_size.
  int64_t num_slots() const { return static_cast<int64_t>(num_blocks_) * block_size_; }

  // Per layer, the K (keys) and V (values) tensors; empty until Allocate.
  std::vector<backend::Tensor>& keys() { return keys_; }
  std::vector<backend::Tensor>& values() { return values_; }

 private:
  backend::Backend& backend_;
  KvShape shape_;
  std::vector<backend::Tensor> keys_, values_;
  int num_blocks_ = 0, block_size_ = 0;
};

}  // namespace tg::shard
