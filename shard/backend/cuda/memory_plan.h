// Host-side planning for the CUDA backend, kept free of CUDA so it is unit-tested everywhere:
// how many KV blocks fit after warm-up, and which captured CUDA-graph batch size serves a
// decode batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tg::backend::cuda {

struct MemoryPlanInput {
  uint64_t total_bytes = 0;         // device memory
  uint64_t peak_used_bytes = 0;     // in use at the peak of warm-up: weights, activations,
                                    // workspaces, graphs (total - free measured then)
  double utilization = 0.9;         // --gpu-memory-utilization
  uint64_t kv_bytes_per_block = 0;  // K and V of every layer for one block
};

struct MemoryPlan {
  uint64_t budget_bytes = 0;  // total * utilization
  uint64_t kv_bytes = 0;      // given to the KV cache
  int64_t num_blocks = 0;
};

// KV blocks = (total * utilization - peak used) / bytes per block, at least 0. Throws
// tg::Error(kInvalidArgument) on a utilization outside (0, 1] or a zero block size.
MemoryPlan PlanKvCache(const MemoryPlanInput& input);

// K+V bytes of one block across all layers.
uint64_t KvBytesPerBlock(int num_layers, int block_size, int num_kv_heads, int head_dim,
                         int dtype_bytes);

// Parses --cuda-graphs ("1,2,4,8", "0" or "" = none): sorted, unique, positive. Throws
// tg::Error(kInvalidArgument) on anything else.
std::vector<int> ParseGraphBatchSizes(const std::string& list);

// The smallest captured batch size >= batch (the graph replayed with padding rows), or -1 when
// the batch is larger than every captured size and runs eagerly.
int GraphBucketFor(const std::vector<int>& sorted_sizes, int batch);

}  // namespace tg::backend::cuda
