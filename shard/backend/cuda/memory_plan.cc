#include "shard/backend/cuda/memory_plan.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace tg::backend::cuda {

MemoryPlan PlanKvCache(const MemoryPlanInput& input) {
  TG_CHECK(input.utilization > 0.0 && input.utilization <= 1.0, kInvalidArgument,
           "--gpu-memory-utilization must be in (0, 1]");
  TG_CHECK(input.kv_bytes_per_block > 0, kInvalidArgument, "KV block size of zero bytes");
  MemoryPlan plan;
  plan.budget_bytes =
      static_cast<uint64_t>(static_cast<double>(input.total_bytes) * input.utilization);
  if (plan.budget_bytes > input.peak_used_bytes) {
    plan.num_blocks = static_cast<int64_t>((plan.budget_bytes - input.peak_used_bytes) /
                                           input.kv_bytes_per_block);
  }
  plan.kv_bytes = static_cast<uint64_t>(plan.num_blocks) * input.kv_bytes_per_block;
  return plan;
}

uint64_t KvBytesPerBlock(int num_layers, int block_size, int num_kv_heads, int head_dim,
                         int dtype_bytes) {
  return 2ull * num_layers * block_size * num_kv_heads * head_dim * dtype_bytes;
}

std::vector<int> ParseGraphBatchSizes(const std::string& list) {
  std::vector<int> sizes;
  if (list.empty() || list == "0") return sizes;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t comma = std::min(list.find(',', begin), list.size());
    const std::string item = list.substr(begin, comma - begin);
    begin = comma + 1;
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TG_CHECK(used == item.size() && value > 0, kInvalidArgument,
             "--cuda-graphs: '" + item + "' is not a positive batch size");
    sizes.push_back(value);
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

int GraphBucketFor(const std::vector<int>& sorted_sizes, int batch) {
  const auto it = std::lower_bound(sorted_sizes.begin(), sorted_sizes.end(), batch);
  return it == sorted_sizes.end() ? -1 : *it;
}

}  // namespace tg::backend::cuda
